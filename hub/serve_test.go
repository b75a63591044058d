package hub_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	hubclient "github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/transports"
)

// serveWait bounds every wait of these tests: generous, as the machine is shared.
const serveWait = 60 * time.Second

// startServe runs ServeListener on a loopback port with a conformance hub at /hub
// and returns the hub's URL, the cancel that starts the shutdown, and a channel
// closed when Serve returns, after its result is in *result.
func startServe(t *testing.T, opts hub.Options, mux *http.ServeMux) (hubURL string, h *hub.Hub, cancel context.CancelFunc, served <-chan struct{}, result *error) {
	t.Helper()
	h = conformance.NewHub(opts)
	mux.Handle("/hub", h)
	mux.Handle("/hub/", h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	result = new(error)
	go func() {
		defer close(done)
		*result = hub.ServeListener(ctx, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln, h)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(serveWait):
			t.Error("ServeListener did not return")
		}
	})
	return "http://" + ln.Addr().String() + "/hub", h, cancel, done, result
}

// TestServeShutsDownHubsAndServer: once Serve's context ends, a client on each
// transport sees its stream under way finish, then the Close message that allows
// reconnecting (a long-polling client takes it with one more poll, so the server
// must still serve during the drain); Serve returns nil and the port is closed.
// http.Server.Shutdown alone would leave the taken-over connections open.
func TestServeShutsDownHubsAndServer(t *testing.T) {
	hubURL, h, cancel, served, result := startServe(t, hub.Options{DrainTimeout: 20 * time.Second}, http.NewServeMux())
	ctx, stop := context.WithTimeout(context.Background(), serveWait)
	defer stop()

	kinds := []transports.Kind{transports.WebSockets, transports.ServerSentEvents, transports.LongPolling}
	conns := make([]*hubclient.Conn, len(kinds))
	streams := make([]*hubclient.Stream, len(kinds))
	for i, kind := range kinds {
		c, err := hubclient.Dial(ctx, hubURL, hubclient.Options{Transports: kind})
		if err != nil {
			t.Fatalf("%v: %v", kind, err)
		}
		defer c.Close()
		s, err := c.Stream(ctx, "Counter", 3, 300)
		if err != nil {
			t.Fatalf("%v: %v", kind, err)
		}
		if _, err := s.Next(ctx); err != nil {
			t.Fatalf("%v: first item: %v", kind, err)
		}
		conns[i], streams[i] = c, s
	}

	cancel()
	for i, kind := range kinds {
		for want := 1; ; want++ {
			item, err := streams[i].Next(ctx)
			if errors.Is(err, io.EOF) && want == 3 {
				break
			}
			if err != nil || string(item) != fmt.Sprint(want) {
				t.Fatalf("%v: item %d = %s, %v; want the stream to finish during the drain", kind, want, item, err)
			}
		}
		select {
		case <-conns[i].Done():
		case <-ctx.Done():
			t.Fatalf("%v: the connection did not end", kind)
		}
		var ce *hubclient.CloseError
		if err := conns[i].Err(); !errors.As(err, &ce) || !ce.AllowReconnect || ce.Message != hub.ShutdownMessage {
			t.Errorf("%v: Err = %v, want a *CloseError %q allowing reconnection", kind, err, hub.ShutdownMessage)
		}
	}
	select {
	case <-served:
		if *result != nil {
			t.Errorf("ServeListener = %v, want nil", *result)
		}
	case <-ctx.Done():
		t.Fatal("ServeListener did not return")
	}
	if err := h.Health(); !errors.Is(err, hub.ErrHubClosing) {
		t.Errorf("hub health %v, want %v", err, hub.ErrHubClosing)
	}
	if conn, err := net.Dial("tcp", hubURL[len("http://"):len(hubURL)-len("/hub")]); err == nil {
		conn.Close()
		t.Error("the server still accepts connections")
	}
}

// TestServeClosesRequestsThatOutlastTheGrace: a client trickling a request body to
// another route holds neither the shutdown up nor makes it fail: past
// ShutdownGrace its connection is closed and Serve returns nil.
func TestServeClosesRequestsThatOutlastTheGrace(t *testing.T) {
	mux := http.NewServeMux()
	reached := make(chan struct{})
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		close(reached)
		io.Copy(io.Discard, r.Body)
	})
	hubURL, _, cancel, served, result := startServe(t, hub.Options{}, mux)
	addr := hubURL[len("http://") : len(hubURL)-len("/hub")]
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: 20000\r\n\r\nx", addr)
	select {
	case <-reached:
	case <-time.After(serveWait):
		t.Fatal("the request did not reach its handler")
	}

	cancel()
	select {
	case <-served:
		if *result != nil {
			t.Errorf("ServeListener = %v, want nil", *result)
		}
	case <-time.After(serveWait):
		t.Fatal("ServeListener did not return: the trickling request holds it")
	}
	conn.SetReadDeadline(time.Now().Add(serveWait))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("the trickling connection is still open")
	}
}

// TestServeClosesHubsWhenTheServerStops: when the server stops before ctx ends
// (it cannot listen, or it is closed elsewhere), Serve returns why and the hubs
// are closed all the same.
func TestServeClosesHubsWhenTheServerStops(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name  string
		serve func(h *hub.Hub) error
		want  string
	}{
		{"address in use", func(h *hub.Hub) error {
			return hub.Serve(context.Background(), &http.Server{Addr: taken.Addr().String()}, h)
		}, "address already in use"},
		{"server closed elsewhere", func(h *hub.Hub) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: h}
			time.AfterFunc(100*time.Millisecond, func() { srv.Close() })
			return hub.ServeListener(context.Background(), srv, ln, h)
		}, http.ErrServerClosed.Error()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := conformance.NewHub(hub.Options{})
			err := tc.serve(h)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Serve = %v, want an error saying %q", err, tc.want)
			}
			if err := h.Health(); !errors.Is(err, hub.ErrHubClosing) {
				t.Errorf("hub health %v, want %v", err, hub.ErrHubClosing)
			}
		})
	}
}
