package hub_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
)

// A connection negotiated before Close but not opened yet is a new connection:
// its first transport request is refused with 503 and Retry-After.
func TestCloseRefusesTransportsNegotiatedBefore(t *testing.T) {
	srv, h := server(t, hub.Options{})
	tests := []struct {
		name string
		open func(token string) (*http.Response, error)
	}{
		{"WebSockets", func(token string) (*http.Response, error) {
			ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub?id="+token, nil)
			if err == nil {
				ws.Close()
			}
			if resp == nil {
				return nil, err
			}
			return resp, nil
		}},
		{"ServerSentEvents", func(token string) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/hub?id="+token, nil)
			req.Header.Set("Accept", "text/event-stream")
			return http.DefaultClient.Do(req)
		}},
		{"LongPolling", func(token string) (*http.Response, error) {
			return http.Get(srv.URL + "/hub?id=" + token)
		}},
	}
	tokens := make([]string, len(tests))
	for i := range tests {
		tokens[i] = negotiate(t, srv).ConnectionToken
	}
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.open(tokens[i])
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		})
	}
}

// What outlives DrainTimeout is answered once, with an error Completion, before the
// Close message; a cancelled stream does not also complete as if it had ended.
func TestDrainTimeoutAnswersOnceBeforeClose(t *testing.T) {
	srv, h := server(t, hub.Options{DrainTimeout: 200 * time.Millisecond})
	ws := dialWS(t, srv)
	write(t, ws, `{"type":4,"invocationId":"s","target":"Counter","arguments":[100000,20]}`+rs)
	if got := read(t, ws); !strings.Contains(got, `"type":2`) {
		t.Fatalf("first message %q, want a StreamItem", got)
	}
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := contextWithTimeout(10 * time.Second)
		defer cancel()
		closed <- h.Close(ctx)
	}()
	var completions []map[string]any
	var closeMsg map[string]any
	for closeMsg == nil {
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v (completions so far: %v)", err, completions)
		}
		for _, rec := range strings.Split(strings.TrimSuffix(string(b), rs), rs) {
			var m map[string]any
			if err := json.Unmarshal([]byte(rec), &m); err != nil {
				t.Fatalf("record %q: %v", rec, err)
			}
			switch m["type"] {
			case 3.0:
				completions = append(completions, m)
			case 7.0:
				closeMsg = m
			}
		}
	}
	if len(completions) != 1 || completions[0]["invocationId"] != "s" ||
		!strings.Contains(completions[0]["error"].(string), "shutting down") {
		t.Errorf("completions before Close: %v, want one error Completion for s saying the server is shutting down", completions)
	}
	if closeMsg["allowReconnect"] != true || closeMsg["error"] != hub.ShutdownMessage {
		t.Errorf("Close message %v", closeMsg)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, b, err := ws.ReadMessage(); err == nil {
		t.Errorf("after the Close message: %q", b)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}
