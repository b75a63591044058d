package hub_test

import (
	"encoding/json"
	"iter"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
)

// A panicking handler costs the client an error Completion that carries the
// panic's message at most (with DetailedErrors), never the stack; the stack is
// logged at ERROR as an attribute of its own, not folded into err.
func TestPanicStackNotSentToClient(t *testing.T) {
	const panicMessage = "boom, the handler gave up"
	calls := []struct {
		name, method string
		messages     []string // what the client sends; the call's invocation ID is "p"
	}{
		{"invocation", "Boom", []string{`{"type":1,"invocationId":"p","target":"Boom","arguments":[]}`}},
		{"server-to-client stream", "BoomStream", []string{`{"type":4,"invocationId":"p","target":"BoomStream","arguments":[]}`}},
		{"client-to-server stream", "BoomUpload", []string{
			`{"type":1,"invocationId":"p","target":"BoomUpload","arguments":[],"streamIds":["s"]}`,
			`{"type":2,"invocationId":"s","item":1}`,
		}},
	}
	for _, detailed := range []bool{false, true} {
		for _, tc := range calls {
			name := tc.name + "/DetailedErrors=false"
			if detailed {
				name = tc.name + "/DetailedErrors=true"
			}
			t.Run(name, func(t *testing.T) {
				logs := &logBuffer{}
				srv, h := server(t, hub.Options{
					DetailedErrors: detailed,
					Logger:         slog.New(slog.NewJSONHandler(logs, nil)),
				})
				h.On("Boom", func() { panic(panicMessage) })
				h.On("BoomStream", func() iter.Seq[int] {
					return func(yield func(int) bool) {
						yield(1)
						panic(panicMessage)
					}
				})
				h.On("BoomUpload", func(items <-chan int) {
					<-items
					panic(panicMessage)
				})
				ws := dialWS(t, srv)
				for _, m := range tc.messages {
					write(t, ws, m+rs)
				}
				got := awaitCompletionError(t, ws, "p")
				want := "An unexpected error occurred invoking '" + tc.method + "' on the server."
				if detailed {
					want += " panic: " + panicMessage
				}
				if got != want {
					t.Errorf("client got error %q, want %q", got, want)
				}
				wantPanicLogged(t, logs, panicMessage)
			})
		}
	}
}

// awaitCompletionError reads until the Completion of invocation id and returns its error.
func awaitCompletionError(t *testing.T, ws *websocket.Conn, id string) string {
	t.Helper()
	for {
		for _, rec := range strings.Split(strings.TrimSuffix(read(t, ws), rs), rs) {
			var m struct {
				Type         int     `json:"type"`
				InvocationID string  `json:"invocationId"`
				Error        *string `json:"error"`
			}
			if err := json.Unmarshal([]byte(rec), &m); err != nil {
				t.Fatalf("record %q: %v", rec, err)
			}
			if m.Type == 3 && m.InvocationID == id {
				if m.Error == nil {
					t.Fatalf("completion %s has no error", rec)
				}
				return *m.Error
			}
		}
	}
}

// wantPanicLogged checks the log has one ERROR record for the panic, with its
// message in err and its stack in stack, and no stack anywhere else.
func wantPanicLogged(t *testing.T, logs *logBuffer, message string) {
	t.Helper()
	found := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		errText, _ := rec["err"].(string)
		stack, hasStack := rec["stack"].(string)
		if strings.Contains(errText, "goroutine ") || strings.Contains(errText, ".go:") {
			t.Errorf("a stack folded into err: %s", line)
		}
		if !strings.Contains(errText, message) {
			continue
		}
		found++
		if rec["level"] != "ERROR" {
			t.Errorf("panic logged at %v, want ERROR: %s", rec["level"], line)
		}
		if !hasStack || !strings.Contains(stack, "goroutine ") || !strings.Contains(stack, "panic_test.go") {
			t.Errorf("panic logged without its stack as an attribute: %s", line)
		}
	}
	if found != 1 {
		t.Errorf("%d log records for the panic, want 1:\n%s", found, logs.String())
	}
}

// A panic in OnConnected closes the connection with the panic's message at most
// (DetailedErrors), never the stack; one in OnDisconnected is logged alike.
func TestLifecycleHookPanicStackNotSentToClient(t *testing.T) {
	for _, detailed := range []bool{false, true} {
		t.Run(map[bool]string{false: "DetailedErrors=false", true: "DetailedErrors=true"}[detailed], func(t *testing.T) {
			logs := &logBuffer{}
			srv, h := server(t, hub.Options{DetailedErrors: detailed, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
			h.OnConnected(func(*hub.Context) error { panic("hello hook gave up") })
			disconnected := make(chan struct{})
			h.OnDisconnected(func(*hub.Context, error) {
				defer close(disconnected)
				panic("goodbye hook gave up")
			})
			n := negotiate(t, srv)
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub?id="+n.ConnectionToken, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			write(t, ws, `{"protocol":"json","version":1}`+rs)
			got := ""
			for !strings.Contains(got, `"type":7`) {
				got += read(t, ws)
			}
			var closeMsg struct {
				Type  int    `json:"type"`
				Error string `json:"error"`
			}
			rest, _ := strings.CutPrefix(got, "{}"+rs)
			if err := json.Unmarshal([]byte(strings.TrimSuffix(rest, rs)), &closeMsg); err != nil {
				t.Fatalf("want the handshake reply and a Close message, got %q: %v", got, err)
			}
			want := "Connection closed with an error."
			if detailed {
				want += " panic: hello hook gave up"
			}
			if closeMsg.Error != want {
				t.Errorf("Close message error %q, want %q", closeMsg.Error, want)
			}
			<-disconnected
			// OnDisconnected's log line follows its return: wait for it.
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String(), "goodbye hook gave up") && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			wantPanicLogged(t, logs, "hello hook gave up")
			wantPanicLogged(t, logs, "goodbye hook gave up")
		})
	}
}
