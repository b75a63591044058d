// Client shows the stream example's two directions from Go, with package client,
// against a running `go run ./stream`:
//
//	go run ./stream/client [-url http://127.0.0.1:8080/hubs/stream]
//
// It reads a few ticks and cancels the stream, uploads lines to completion, then
// starts another upload and fails it halfway, printing what the server answered
// each time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/hubbub-go/hubbub/client"
)

// Tick and UploadSummary mirror the server's types (their JSON field names).
type Tick struct {
	N    int    `json:"n"`
	Time string `json:"time"`
}

type UploadSummary struct {
	Lines int `json:"lines"`
	Bytes int `json:"bytes"`
}

// ticksToRead is how many ticks are read before the stream is cancelled.
const ticksToRead = 3

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/hubs/stream", "the stream example's hub URL")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, *url); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, url string) error {
	conn, err := client.Dial(ctx, url, client.Options{})
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Println("connected over", conn.Transport())

	// Server to client: read a few items, then Cancel, which makes the server's
	// method see its context end and stop its goroutine.
	s, err := conn.Stream(ctx, "Ticks", 100)
	if err != nil {
		return err
	}
	for tick, err := range client.Items[Tick](s) {
		if errors.Is(err, client.ErrCanceled) {
			break // what reading a canceled stream ends with
		}
		if err != nil {
			return fmt.Errorf("ticks: %w", err)
		}
		fmt.Printf("tick %d at %s\n", tick.N, tick.Time)
		if tick.N == ticksToRead {
			s.Cancel()
		}
	}
	fmt.Printf("canceled the ticks after %d\n", ticksToRead)

	// Client to server, to the end: Close completes the stream, and the method's
	// result comes back.
	lines := []string{"alpha", "beta", "gamma", "delta"}
	sum, err := client.InvokeAs[UploadSummary](ctx, conn, "Upload", upload(ctx, lines, nil))
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	fmt.Printf("uploaded %d lines: the server counted %d lines, %d bytes\n", len(lines), sum.Lines, sum.Bytes)

	// Client to server, cut short: CloseWithError fails the stream halfway; the
	// server's channel closes with its context ended, and the call fails.
	_, err = client.InvokeAs[UploadSummary](ctx, conn, "Upload", upload(ctx, lines, errors.New("changed my mind")))
	var refused *client.InvocationError
	if !errors.As(err, &refused) {
		return fmt.Errorf("canceled upload: want the server's error, got %v", err)
	}
	fmt.Println("canceled an upload halfway; the server said:", refused.Message)
	return nil
}

// upload returns a stream that sends lines from a goroutine (the invocation waits
// for the result meanwhile) and then completes, or, when cut is not nil, sends half
// of them and fails with cut.
func upload(ctx context.Context, lines []string, cut error) *client.UploadStream {
	up := client.NewUploadStream()
	go func() {
		for i, line := range lines {
			if cut != nil && i == len(lines)/2 {
				up.CloseWithError(cut)
				return
			}
			if err := up.Send(ctx, line); err != nil {
				return
			}
		}
		up.Close()
	}()
	return up
}
