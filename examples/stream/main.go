// Stream shows streams both ways, and how either side stops one early.
//
//	go run ./stream            # from examples/; then open http://127.0.0.1:8080
//	go run ./stream/client     # the same from Go, against the running server
//
// Server to client: Ticks(everyMs) returns a channel; the hub sends each value
// the method puts in it as a stream item, and cancels the method's context when
// the client cancels the stream (the page's Stop button; Stream.Cancel in Go), so
// the goroutine feeding the channel ends.
//
// Client to server: Upload(lines) takes a <-chan string parameter; the client
// sends the items after its invocation, and the hub closes the channel when the
// client completes the stream. A client that fails the stream (the page's Cancel
// button; UploadStream.CloseWithError in Go) or leaves closes it too, with the
// method's context ended, which is how Upload tells a cut from an end.
package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hubbub-go/hubbub/hub"
)

const (
	// The fastest and slowest tick rates a client may ask for.
	minTickEvery = 50 * time.Millisecond
	maxTickEvery = 10 * time.Second
	// drainTimeout is how long shutdown lets streams run before cancelling them
	// (hub.Options.DrainTimeout, default 10 s): Ticks never ends by itself.
	drainTimeout = 2 * time.Second
)

// Tick is one item of the Ticks stream (a JSON object in the page).
type Tick struct {
	N    int    `json:"n"`
	Time string `json:"time"`
}

// UploadSummary is Upload's result.
type UploadSummary struct {
	Lines int `json:"lines"`
	Bytes int `json:"bytes"`
}

//go:embed index.html stream.js
var page embed.FS

func newStreamHub() *hub.Hub {
	h := hub.New(hub.Options{Name: "stream", DrainTimeout: drainTimeout})
	h.On("Ticks", func(ctx *hub.Context, everyMs int) (<-chan Tick, error) {
		every := time.Duration(everyMs) * time.Millisecond
		if every < minTickEvery || every > maxTickEvery {
			return nil, hub.NewError("ticks come every %d to %d ms", minTickEvery.Milliseconds(), maxTickEvery.Milliseconds())
		}
		ticks := make(chan Tick)
		go func() {
			defer close(ticks) // the end of the stream
			t := time.NewTicker(every)
			defer t.Stop()
			for n := 1; ; n++ {
				select {
				case now := <-t.C:
					select {
					case ticks <- Tick{N: n, Time: now.Format(time.TimeOnly)}:
						continue
					case <-ctx.Done():
					}
				case <-ctx.Done():
				}
				// Without this, the goroutine would tick on for nobody.
				slog.Info("ticks stopped", "connection", ctx.ConnectionID(), "sent", n-1, "why", context.Cause(ctx))
				return
			}
		}()
		return ticks, nil
	})
	h.On("Upload", func(ctx *hub.Context, lines <-chan string) (UploadSummary, error) {
		var sum UploadSummary
		for line := range lines {
			sum.Lines++
			sum.Bytes += len(line)
		}
		// The channel is closed both when the client completes the stream and when
		// the call ends otherwise; only then has the context ended.
		if err := ctx.Err(); err != nil {
			slog.Info("upload cut short", "connection", ctx.ConnectionID(), "lines", sum.Lines, "why", context.Cause(ctx))
			return sum, hub.NewError("upload stopped after %d lines", sum.Lines)
		}
		return sum, nil
	})
	return h
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string) error {
	streams := newStreamHub()
	mux := http.NewServeMux()
	mux.Handle("/hubs/stream", streams)  // negotiate and every transport...
	mux.Handle("/hubs/stream/", streams) // ...and the client script, /hubs/stream/hubbub.js
	mux.Handle("/", http.FileServerFS(page))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	// Until SIGINT or SIGTERM; then running streams end with an error Completion
	// (after the hub's DrainTimeout) and every client gets a Close message.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return hub.ServeListener(ctx, srv, ln, streams)
}
