package client_test

// Hub.Close drains: the hub refuses new connections at once, lets the work under
// way on its connections finish (up to Options.DrainTimeout), then tells every
// client, long polling included, with a Close message that allows reconnecting.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

func TestDrain(t *testing.T) {
	scenarios := []scenario{
		{"IdleClientGetsClose", testDrainIdle},
		{"WorkFinishes", testDrainWorkFinishes},
		{"DeadlineCancels", testDrainDeadline},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					sc.run(t, k.kind)
				})
			}
		})
	}
}

// shutdownMessage is the text of the Close message a draining hub sends.
const shutdownMessage = "Server is shutting down."

// expectShutdownClose waits for c to end and checks that it ended with the
// draining hub's Close message, which allows reconnecting.
func expectShutdownClose(t *testing.T, c *client.Conn) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not end")
	}
	var ce *client.CloseError
	if err := c.Err(); !errors.As(err, &ce) || !ce.AllowReconnect || ce.Message != shutdownMessage {
		t.Fatalf("Err = %v, want a *CloseError %q allowing reconnection", err, shutdownMessage)
	}
}

// closeHub starts hub.Close and returns what it returns, once it does.
func closeHub(h *hub.Hub) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- h.Close(ctx)
	}()
	return done
}

// expectClosed waits for hub.Close to return nil.
func expectClosed(t *testing.T, closed <-chan error) {
	t.Helper()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("hub.Close: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("hub.Close did not return")
	}
}

// waitRefusing waits until negotiate answers 503 with Retry-After: the hub has
// begun to drain.
func waitRefusing(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Post(url+"/negotiate?negotiateVersion=1", "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("negotiate still answers %d", resp.StatusCode)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A client with nothing under way gets the Close message, on every transport:
// long-polling clients too, rather than a bare 204.
func testDrainIdle(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	if _, err := c.Invoke(testCtx(t), "Echo", 1); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, closeHub(th.Hub))
	expectShutdownClose(t, c)
}

// Work under way when the drain starts finishes: a server-to-client stream
// delivers every item and its Completion, a client-to-server stream is summed,
// and an invocation made during the drain is answered. New connections are refused
// meanwhile.
func testDrainWorkFinishes(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ctx := testCtx(t)
	s, err := c.Stream(ctx, "Counter", 6, 400)
	if err != nil {
		t.Fatal(err)
	}
	if item, err := s.Next(ctx); err != nil || string(item) != "0" {
		t.Fatalf("first item = %s, %v", item, err)
	}
	up := client.NewUploadStream()
	sum := make(chan error, 1)
	go func() {
		n, err := client.InvokeAs[float64](ctx, c, "Sum", up)
		if err == nil && n != 6 {
			err = fmt.Errorf("Sum = %v, want 6", n)
		}
		sum <- err
	}()
	if err := up.Send(ctx, 1); err != nil {
		t.Fatal(err)
	}

	closed := closeHub(th.Hub)
	waitRefusing(t, th.URL)
	dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
	defer dcancel()
	var he *client.HTTPError
	if c2, err := client.Dial(dctx, th.URL, client.Options{Transports: kind, Logger: quiet}); err == nil {
		c2.Close()
		t.Error("Dial during the drain succeeded")
	} else if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("Dial during the drain: %v, want a 503", err)
	}
	if kind == transports.WebSockets {
		_, err := client.Dial(dctx, th.URL, client.Options{Transports: kind, SkipNegotiation: true, Logger: quiet})
		if !errors.As(err, &he) || he.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("Dial (skipping negotiate) during the drain: %v, want a 503", err)
		}
	}

	for _, n := range []float64{2, 3} {
		if err := up.Send(ctx, n); err != nil {
			t.Fatalf("upload during the drain: %v", err)
		}
	}
	up.Close()
	if err := <-sum; err != nil {
		t.Errorf("Sum during the drain: %v", err)
	}
	// After Sum: invocations of a connection run one at a time.
	if got, err := client.InvokeAs[string](ctx, c, "Echo", "still here"); err != nil || got != "still here" {
		t.Errorf("Echo during the drain = %q, %v", got, err)
	}
	for want := 1; want < 6; want++ {
		item, err := s.Next(ctx)
		if err != nil || string(item) != fmt.Sprint(want) {
			t.Fatalf("item %d = %s, %v", want, item, err)
		}
	}
	if _, err := s.Next(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("after the last item: %v, want io.EOF (the stream's Completion)", err)
	}
	expectClosed(t, closed)
	expectShutdownClose(t, c)
}

// Work that outlives Options.DrainTimeout is cancelled: the client gets an error
// Completion for each invocation and stream, then the Close message.
func testDrainDeadline(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{DrainTimeout: 300 * time.Millisecond}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ctx := testCtx(t)
	s, err := c.Stream(ctx, "Counter", 100_000, 50)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(ctx); err != nil {
		t.Fatal(err)
	}
	up := client.NewUploadStream()
	defer up.Close()
	sum := make(chan error, 1)
	go func() {
		_, err := c.Invoke(ctx, "Sum", up)
		sum <- err
	}()
	if err := up.Send(ctx, 1); err != nil {
		t.Fatal(err)
	}

	closed := closeHub(th.Hub)
	isShutdown := func(err error) bool {
		var ie *client.InvocationError
		return errors.As(err, &ie) && strings.Contains(ie.Message, "shutting down")
	}
	for {
		_, err := s.Next(ctx)
		if err == nil {
			continue
		}
		if !isShutdown(err) {
			t.Errorf("stream ended with %v, want an error Completion saying the server is shutting down", err)
		}
		break
	}
	select {
	case err := <-sum:
		if !isShutdown(err) {
			t.Errorf("Sum ended with %v, want an error Completion saying the server is shutting down", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sum is still waiting")
	}
	expectClosed(t, closed)
	expectShutdownClose(t, c)
}
