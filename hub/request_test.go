package hub

import (
	"context"
	"net/http/httptest"
	"reflect"
	"testing"
)

type ctxKey struct{}

// TestKeptRequest: Conn.Request gives back what an application reads of the request
// that opened the transport, less the transport's own headers, with its context's
// values but not its cancellation.
func TestKeptRequest(t *testing.T) {
	r := httptest.NewRequest("GET", "http://example.com/hub?id=abc&user=bob", nil)
	r.Header["Cookie"] = []string{"a=1", "b=2"}
	r.Header.Set("User-Agent", "test/1.0")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Key", "x")
	r.RemoteAddr = "127.0.0.1:4242"
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
	r = r.WithContext(ctx)

	k := keepRequest(r)
	cancel()
	got := k.request()
	if got.Method != "GET" || got.Host != "example.com" || got.RemoteAddr != "127.0.0.1:4242" || got.RequestURI != r.RequestURI || got.Proto != r.Proto {
		t.Errorf("request line: %s %s %s %s %s", got.Method, got.Host, got.RemoteAddr, got.RequestURI, got.Proto)
	}
	if got.URL.String() != r.URL.String() || got.URL.Query().Get("user") != "bob" {
		t.Errorf("URL = %s, want %s", got.URL, r.URL)
	}
	want := map[string][]string{"Cookie": {"a=1", "b=2"}, "User-Agent": {"test/1.0"}}
	if !reflect.DeepEqual(map[string][]string(got.Header), want) {
		t.Errorf("Header = %v, want %v", got.Header, want)
	}
	if got.Context().Value(ctxKey{}) != "v" || got.Context().Err() != nil {
		t.Errorf("context: value %v, err %v; want the value and no cancellation", got.Context().Value(ctxKey{}), got.Context().Err())
	}
	// Each call is a copy of its own.
	got.Header.Set("User-Agent", "changed")
	if k.request().Header.Get("User-Agent") != "test/1.0" {
		t.Error("a change to one copy shows in the next")
	}
}
