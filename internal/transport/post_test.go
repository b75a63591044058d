package transport

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/transports"
)

// sender is what SSE and LongPoll share for the client-to-server half.
type sender interface {
	Transport
	ServeSend(http.ResponseWriter, *http.Request)
}

var senders = []struct {
	name string
	new  func(transports.Options, Receiver) sender
}{
	{"SSE", func(o transports.Options, r Receiver) sender { return NewServerSentEvents(o, r) }},
	{"LongPolling", func(o transports.Options, r Receiver) sender { return NewLongPolling(o, r) }},
}

// postServer serves ServeSend of a fresh transport whose Receiver is receive.
func postServer(t *testing.T, newSender func(transports.Options, Receiver) sender, opts transports.Options, receive Receiver) (*httptest.Server, sender) {
	t.Helper()
	s := newSender(opts, receive)
	srv := httptest.NewServer(http.HandlerFunc(s.ServeSend))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { s.Close() })
	return srv, s
}

func TestServeSend(t *testing.T) {
	const limit = 32
	tests := []struct {
		name       string
		method     string
		body       string
		chunked    bool // hide the length, so only the reader's cap can refuse
		closeFirst bool
		wantStatus int
		wantBody   string
		wantUnit   string // "" when nothing must reach the Receiver
	}{
		{name: "text", method: "POST", body: "{\"type\":6}\x1e", wantStatus: 200, wantUnit: "{\"type\":6}\x1e"},
		{name: "at the limit", method: "POST", body: strings.Repeat("a", limit), wantStatus: 200, wantUnit: strings.Repeat("a", limit)},
		{name: "too large", method: "POST", body: strings.Repeat("a", limit+1), wantStatus: 413, wantBody: "message too large"},
		{name: "too large without length", method: "POST", body: strings.Repeat("a", limit+1), chunked: true, wantStatus: 413, wantBody: "message too large"},
		{name: "after close", method: "POST", body: "x", closeFirst: true, wantStatus: 404, wantBody: "connection closed"},
		{name: "wrong method", method: "PUT", body: "x", wantStatus: 405},
	}
	for _, s := range senders {
		for _, tc := range tests {
			t.Run(s.name+"/"+tc.name, func(t *testing.T) {
				got := newUnits()
				srv, tr := postServer(t, s.new, transports.Options{MaxTransportMessageSize: limit}, got.receive)
				if tc.closeFirst {
					tr.Close()
				}
				var body io.Reader = strings.NewReader(tc.body)
				if tc.chunked {
					body = io.MultiReader(body) // no Len method: sent chunked
				}
				req, _ := http.NewRequest(tc.method, srv.URL+"/hub?id=x", body)
				req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				text := readBody(t, resp)
				if resp.StatusCode != tc.wantStatus {
					t.Errorf("status = %d, want %d (%q)", resp.StatusCode, tc.wantStatus, text)
				}
				if tc.wantBody != "" && strings.TrimSpace(text) != tc.wantBody {
					t.Errorf("body = %q, want %q", text, tc.wantBody)
				}
				if tc.wantStatus == 200 && text != "" {
					t.Errorf("200 body = %q, want empty", text)
				}
				if tc.wantUnit != "" {
					if u := got.next(t); string(u) != tc.wantUnit {
						t.Errorf("unit = %q, want %q", u, tc.wantUnit)
					}
				}
				got.mu.Lock()
				n := len(got.got)
				got.mu.Unlock()
				if tc.wantUnit == "" && n != 0 {
					t.Errorf("Receiver called %d times", n)
				}
			})
		}
	}
}

// TestServeSendConcurrent: while one POST is being handled, another gets 409 and the
// transport carries on.
func TestServeSendConcurrent(t *testing.T) {
	for _, s := range senders {
		t.Run(s.name, func(t *testing.T) {
			inReceive := make(chan struct{})
			release := make(chan struct{})
			srv, tr := postServer(t, s.new, transports.Options{}, func([]byte) {
				inReceive <- struct{}{}
				<-release
			})
			first := make(chan int, 1)
			go func() {
				resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("one\x1e"))
				if err != nil {
					first <- 0
					return
				}
				resp.Body.Close()
				first <- resp.StatusCode
			}()
			select {
			case <-inReceive:
			case <-time.After(waitTimeout):
				t.Fatal("first POST not received")
			}
			resp, err := http.Post(srv.URL, "application/octet-stream", strings.NewReader("two"))
			if err != nil {
				t.Fatal(err)
			}
			if text := readBody(t, resp); resp.StatusCode != http.StatusConflict || strings.TrimSpace(text) != "another send is in progress" {
				t.Errorf("concurrent POST = %d %q, want 409", resp.StatusCode, text)
			}
			close(release)
			if code := <-first; code != http.StatusOK {
				t.Errorf("first POST = %d, want 200", code)
			}
			if isClosed(tr.Done()) {
				t.Error("a refused POST ended the transport")
			}
			// And the channel is free again.
			go func() { <-inReceive }()
			resp, err = http.Post(srv.URL, "text/plain", strings.NewReader("three\x1e"))
			if err != nil {
				t.Fatal(err)
			}
			if readBody(t, resp); resp.StatusCode != http.StatusOK {
				t.Errorf("POST after the busy one = %d, want 200", resp.StatusCode)
			}
		})
	}
}
