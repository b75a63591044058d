package hub_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
)

// OnConnected and OnDisconnected may be set while the hub serves: connections
// that open and end meanwhile run the old hook or the new one, never a torn one
// (run with -race).
func TestLifecycleHooksSetWhileServing(t *testing.T) {
	srv, h := server(t, hub.Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			h.OnConnected(func(*hub.Context) error { return nil })
			h.OnDisconnected(func(*hub.Context, error) {})
		}
	}()
	for range 5 {
		ws := dialWS(t, srv)
		write(t, ws, `{"type":1,"invocationId":"1","target":"Echo","arguments":["hi"]}`+rs)
		read(t, ws)
		ws.Close()
	}
	close(stop)
	wg.Wait()
}

// Once Close has begun (while it drains, and after it), no new connection opens:
// negotiate, a WebSocket without negotiate, and the first transport request of a
// connection negotiated before Close all get 503 "Server is shutting down" with
// Retry-After; the sessions negotiated before are forgotten at once rather than
// kept until NegotiateTimeout; and no invocation runs over such a request.
func TestNoConnectionOpensAfterClose(t *testing.T) {
	attempts := []struct {
		name string
		open func(srv *httptest.Server, token string) *http.Response
	}{
		{"negotiate", func(srv *httptest.Server, _ string) *http.Response {
			resp, err := http.Post(srv.URL+"/hub/negotiate?negotiateVersion=1", "", nil)
			if err != nil {
				return nil
			}
			return resp
		}},
		{"WebSocket without negotiate", func(srv *httptest.Server, _ string) *http.Response {
			return openWSAndEcho(srv, "")
		}},
		{"WebSocket", func(srv *httptest.Server, token string) *http.Response { return openWSAndEcho(srv, token) }},
		{"ServerSentEvents", func(srv *httptest.Server, token string) *http.Response {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/hub?id="+token, nil)
			req.Header.Set("Accept", "text/event-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return nil
			}
			if resp.StatusCode == http.StatusOK {
				postEcho(srv, token)
			}
			return resp
		}},
		{"LongPolling", func(srv *httptest.Server, token string) *http.Response {
			resp, err := http.Get(srv.URL + "/hub?id=" + token)
			if err != nil {
				return nil
			}
			if resp.StatusCode == http.StatusOK {
				postEcho(srv, token)
			}
			return resp
		}},
	}
	for _, phase := range []string{"while draining", "after Close"} {
		t.Run(phase, func(t *testing.T) {
			srv, h := server(t, hub.Options{DrainTimeout: time.Minute})
			var echoes atomic.Int64
			h.On("Echo", func(s string) string { echoes.Add(1); return s })
			tokens := make([]string, len(attempts))
			for i := range attempts {
				tokens[i] = negotiate(t, srv).ConnectionToken
			}
			closed := make(chan error, 1)
			if phase == "while draining" {
				// A stream keeps Close draining until the test cancels it.
				busy := dialWS(t, srv)
				write(t, busy, `{"type":4,"invocationId":"s","target":"Counter","arguments":[100000,20]}`+rs)
				read(t, busy)
				go func() { closed <- h.Close(t.Context()) }()
				defer func() {
					write(t, busy, `{"type":5,"invocationId":"s"}`+rs)
					if err := <-closed; err != nil {
						t.Error(err)
					}
				}()
				waitShuttingDown(t, srv)
			} else if err := h.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if n := hub.PendingSessions(h); n != 0 {
				t.Errorf("%d sessions negotiated before Close still pending", n)
			}
			for i, a := range attempts {
				resp := a.open(srv, tokens[i])
				if resp == nil {
					t.Errorf("%s: no answer", a.name)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
					!strings.Contains(string(body), "Server is shutting down") {
					t.Errorf("%s: status %d, Retry-After %q, body %q; want 503 Server is shutting down, with Retry-After",
						a.name, resp.StatusCode, resp.Header.Get("Retry-After"), body)
				}
			}
			if n := echoes.Load(); n != 0 {
				t.Errorf("Echo ran %d times over connections opened after Close", n)
			}
		})
	}
}

// openWSAndEcho opens a WebSocket (token "" skips negotiate) and, should it open,
// does the handshake and invokes Echo. It returns the upgrade's response.
func openWSAndEcho(srv *httptest.Server, token string) *http.Response {
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/hub"
	if token != "" {
		url += "?id=" + token
	}
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return resp
	}
	defer ws.Close()
	ws.WriteMessage(websocket.TextMessage, []byte(`{"protocol":"json","version":1}`+rs+`{"type":1,"invocationId":"e","target":"Echo","arguments":["x"]}`+rs))
	ws.SetReadDeadline(time.Now().Add(time.Second))
	ws.ReadMessage()
	return resp
}

// postEcho sends the handshake and an Echo invocation on an SSE or long-polling token.
func postEcho(srv *httptest.Server, token string) {
	resp, err := http.Post(srv.URL+"/hub?id="+token, "text/plain",
		strings.NewReader(`{"protocol":"json","version":1}`+rs+`{"type":1,"invocationId":"e","target":"Echo","arguments":["x"]}`+rs))
	if err == nil {
		resp.Body.Close()
	}
	time.Sleep(100 * time.Millisecond) // let a wrongly opened connection run Echo
}

// waitShuttingDown waits until negotiate is refused: Close has begun.
func waitShuttingDown(t *testing.T, srv *httptest.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Post(srv.URL+"/hub/negotiate?negotiateVersion=1", "", nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("Close did not begin")
}
