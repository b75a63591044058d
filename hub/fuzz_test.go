package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/transports"
)

// fuzzHub is a conformance hub with short timeouts and a small receive limit, for
// one fuzz iteration; closing it (the returned func) ends every connection.
func fuzzHub(t *testing.T) (*hub.Hub, func()) {
	h := conformance.NewHub(hub.Options{
		TransportOptions: transports.Options{
			MaxReceiveSize:          4 << 10,
			MaxTransportMessageSize: 16 << 10,
			PollTimeout:             5 * time.Millisecond,
			DisconnectTimeout:       2 * time.Second, // generous: fuzz workers share a busy machine
			WriteTimeout:            time.Second,
		},
		HandshakeTimeout: time.Second,
		NegotiateTimeout: time.Second,
		Logger:           slog.New(slog.DiscardHandler),
	})
	return h, func() {
		ctx, cancel := contextWithTimeout(2 * time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Fatalf("hub did not close: %v", err)
		}
	}
}

// serve runs one request through h.ServeHTTP with a recorder, bounded in time (an
// event stream or a held poll ends with the request's context), and fails if the
// handler hangs or answers with a status outside 100–599.
func serve(t *testing.T, h *hub.Hub, method, target string, header http.Header, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://hub.test"+target, bytes.NewReader(body))
	if err != nil {
		return nil // not a request net/http would hand a handler
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s %q: ServeHTTP still running after 5 s", method, target)
	}
	if rec.Code < 100 || rec.Code > 599 {
		t.Fatalf("%s %q: status %d", method, target, rec.Code)
	}
	return rec
}

// negotiateRec negotiates a connection through ServeHTTP and returns its token.
func negotiateRec(t *testing.T, h *hub.Hub) string {
	t.Helper()
	rec := serve(t, h, "POST", "/hub/negotiate?negotiateVersion=1", nil, nil)
	var n negotiation
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &n) != nil || n.ConnectionToken == "" {
		t.Fatalf("negotiate: %d %q", rec.Code, rec.Body)
	}
	return n.ConnectionToken
}

// parseHeader reads "Name: value" lines.
func parseHeader(s string) http.Header {
	h := http.Header{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSuffix(line, "\r"), ":"); ok && k != "" {
			h.Add(k, strings.TrimSpace(v))
		}
	}
	return h
}

// FuzzServeHTTP sends arbitrary requests (method, path and query, headers, body)
// through Hub.ServeHTTP: it must never panic or hang, and must answer with a status
// in 100–599. "$NEG" in the target or body stands for the token of a negotiated,
// unclaimed connection and "$LP" for one of a long-polling connection past its
// handshake, so inputs reach the transports and the receive path too.
func FuzzServeHTTP(f *testing.F) {
	f.Add("POST", "/hub/negotiate?negotiateVersion=1", "", []byte(nil))
	f.Add("GET", "/hub/negotiate", "", []byte(nil))
	f.Add("POST", "/hub/negotiate?negotiateVersion=99999999999999999999", "Origin: http://evil.example", []byte("x"))
	f.Add("OPTIONS", "/hub/negotiate", "Origin: http://evil.example\nAccess-Control-Request-Headers: x", []byte(nil))
	f.Add("GET", "/hub?id=$NEG", "Accept: text/event-stream", []byte(nil))
	f.Add("GET", "/hub?id=$NEG", "Upgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", []byte(nil))
	f.Add("GET", "/hub", "Upgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", []byte(nil))
	f.Add("GET", "/hub?id=$LP", "", []byte(nil))
	f.Add("GET", "/hub?id=$LP", "Accept: text/event-stream", []byte(nil))
	f.Add("POST", "/hub?id=$LP", "Content-Type: text/plain", []byte(`{"type":1,"invocationId":"1","target":"Echo","arguments":["$LP"]}`+rs))
	f.Add("POST", "/hub?id=$NEG", "", []byte(`{"protocol":"json","version":1}`+rs))
	f.Add("DELETE", "/hub?id=$LP", "", []byte(nil))
	f.Add("DELETE", "/hub?id=$NEG", "", []byte(nil))
	f.Add("PUT", "/hub?ID=$LP&id=x", "", []byte(nil))
	f.Add("GET", "/hub/script.js", "", []byte(nil))
	f.Add("POST", "/hub?id=$LP", "", bytes.Repeat([]byte("x"), 5000))

	f.Fuzz(func(t *testing.T, method, target, header string, body []byte) {
		h, closeHub := fuzzHub(t)
		defer closeHub()
		neg := negotiateRec(t, h)
		lp := negotiateRec(t, h)
		if rec := serve(t, h, "GET", "/hub?id="+lp, nil, nil); rec.Code != 200 {
			t.Fatalf("first poll: %d", rec.Code)
		}
		if rec := serve(t, h, "POST", "/hub?id="+lp, nil, []byte(`{"protocol":"json","version":1}`+rs)); rec.Code != 200 {
			t.Fatalf("handshake POST: %d", rec.Code)
		}
		subst := strings.NewReplacer("$NEG", neg, "$LP", lp)
		target = subst.Replace(target)
		body = []byte(subst.Replace(string(body)))
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		serve(t, h, method, target, parseHeader(header), body)
	})
}

// FuzzLongPollingReceive sends arbitrary bytes as the first unit (where the
// handshake belongs) and as a later unit of a long-polling connection. Each POST
// must be answered 200, 404 (the connection has ended) or 413 (over the limit), the
// hub must not crash or hang, and a well-behaved connection opened afterwards on
// the same hub must work.
func FuzzLongPollingReceive(f *testing.F) {
	hs := `{"protocol":"json","version":1}` + rs
	f.Add([]byte(hs), []byte(`{"type":1,"invocationId":"1","target":"Add","arguments":[1,2]}`+rs))
	f.Add([]byte(hs+`{"type":4,"invocationId":"s","target":"Counter","arguments":[1000000,0]}`+rs), []byte(`{"type":5,"invocationId":"s"}`+rs))
	f.Add([]byte(hs+`{"type":1,"invocationId":"u","target":"Sum","arguments":[],"streamIds":["a"]}`+rs), []byte(`{"type":2,"invocationId":"a","item":"x"}`+rs))
	f.Add([]byte(hs), []byte(`{"type":1,`+rs))
	f.Add([]byte(hs), []byte("{\"type\":1,\"target\":\"\xff\",\"arguments\":[]}"+rs))
	f.Add([]byte(`{"protocol":"xml","version":1}`+rs), []byte(hs))
	f.Add([]byte(`{"protocol":"json","version":1}`), []byte(rs))
	f.Add([]byte(hs+`{"type":7}`+rs), []byte(`{"type":6}`+rs))
	f.Add([]byte(hs+`{"type":1,"invocationId":"d","target":"Disconnect","arguments":[false]}`+rs), []byte(`{"type":6}`+rs))
	f.Add([]byte(hs), []byte(`{"type":1,"invocationId":"1","target":"Echo","arguments":[`+strings.Repeat("[", 2000)+strings.Repeat("]", 2000)+`]}`+rs))
	f.Add([]byte(hs), bytes.Repeat([]byte("x"), 5000))
	f.Add([]byte{}, []byte{})

	f.Fuzz(func(t *testing.T, first, later []byte) {
		h, closeHub := fuzzHub(t)
		defer closeHub()
		token := negotiateRec(t, h)
		if rec := serve(t, h, "GET", "/hub?id="+token, nil, nil); rec.Code != 200 {
			t.Fatalf("first poll: %d", rec.Code)
		}
		for _, unit := range [][]byte{first, later} {
			rec := serve(t, h, "POST", "/hub?id="+token, http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}, unit)
			switch rec.Code {
			case 200, 404, 413:
			default:
				t.Fatalf("POST %q: %d %q", unit, rec.Code, rec.Body)
			}
			// A poll between the units, as the client's loop would have.
			serve(t, h, "GET", "/hub?id="+token, nil, nil)
		}

		// The hub still serves a well-behaved client.
		ok := negotiateRec(t, h)
		if rec := serve(t, h, "GET", "/hub?id="+ok, nil, nil); rec.Code != 200 {
			t.Fatalf("bystander first poll: %d", rec.Code)
		}
		if rec := serve(t, h, "POST", "/hub?id="+ok, nil, []byte(hs+`{"type":1,"invocationId":"1","target":"Add","arguments":[40,2]}`+rs)); rec.Code != 200 {
			t.Fatalf("bystander POST: %d", rec.Code)
		}
		var got []byte
		deadline := time.Now().Add(5 * time.Second)
		for !bytes.Contains(got, []byte(`{"type":3,"invocationId":"1","result":42}`+rs)) {
			if time.Now().After(deadline) {
				t.Fatalf("bystander got %q, want the handshake reply and its completion", got)
			}
			rec := serve(t, h, "GET", "/hub?id="+ok, nil, nil)
			if rec.Code != 200 {
				t.Fatalf("bystander poll: %d", rec.Code)
			}
			got = append(got, rec.Body.Bytes()...)
		}
		if !bytes.HasPrefix(got, []byte("{}"+rs)) {
			t.Fatalf("bystander got %q, want the handshake reply first", got)
		}
	})
}
