package hub

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/hubbub-go/hubbub/transports"
)

// What an idle connection keeps is what 10,000 of them cost (hubbench's idle
// scenario, issue 15's targets). A Conn that outgrows 576 bytes moves to the
// next allocation size class (640, then 704, 768): 64 bytes more per connection
// for a field or two, plus the fragmentation of bigger objects among the garbage
// of the requests that open connections. Make rarely used state on first use
// rather than grow the Conn; the same holds for what stateful reconnect adds.
func TestConnFitsItsSizeClass(t *testing.T) {
	tests := []struct {
		name      string
		size, max uintptr
	}{
		{"Conn", unsafe.Sizeof(Conn{}), 576},
		{"resumeState (stateful reconnect)", unsafe.Sizeof(resumeState{}), 112},
	}
	for _, tc := range tests {
		if tc.size > tc.max {
			t.Errorf("%s is %d bytes, over the %d-byte size class", tc.name, tc.size, tc.max)
		}
	}
}

// Once OnConnected has returned, a connection keeps no channel for it: end only
// waits for an OnConnected still running.
func TestConnectedConnKeepsNoConnectingChannel(t *testing.T) {
	h := New(Options{KeepAliveInterval: time.Hour, ClientTimeout: 2 * time.Hour})
	defer h.Close(context.Background())
	s := &session{id: "idle", token: "idle"}
	c := newConn(h, s, httptest.NewRequest("GET", "/hub", nil), transports.WebSockets)
	c.attach(newIdleTransport())
	c.onConnected()
	c.mu.Lock()
	connecting := c.connecting
	c.mu.Unlock()
	if connecting != nil {
		t.Error("a connected Conn still holds its connecting channel")
	}
	c.end(ErrConnectionClosed)
}

// A long-polling connection keeps no Done channel of its transport: the polls
// after the first ask whether the transport ended, and asking Done made it.
func TestLongPollingConnKeepsNoDoneChannel(t *testing.T) {
	h := New(Options{})
	defer h.Close(context.Background())
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/negotiate?negotiateVersion=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var n transports.NegotiateResponse
	err = json.NewDecoder(resp.Body).Decode(&n)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	url := srv.URL + "/?id=" + n.ConnectionToken
	poll := func() {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("poll: HTTP %d", resp.StatusCode)
		}
	}
	poll() // the first poll opens the transport
	resp, err = http.Post(url, "text/plain", strings.NewReader(`{"protocol":"json","version":1}`+"\x1e"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	poll() // the handshake reply
	s := h.session(n.ConnectionToken)
	h.sessionsMu.Lock()
	poller := s.poller
	h.sessionsMu.Unlock()
	if !reflect.ValueOf(poller).Elem().FieldByName("done").IsNil() {
		t.Error("a polled long-polling transport holds its Done channel")
	}
	// End it as the clients do, so that Close does not wait for a poll.
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// A connected Conn's context has made no Done channel and has no children: with a
// backplane that does not route by interest, nothing waits on it at the handshake.
// A context derived from it for that wait (and cancelled) left both behind, about
// 0.4 KiB per idle connection.
func TestConnectedConnContextStaysBare(t *testing.T) {
	h := New(Options{KeepAliveInterval: time.Hour, ClientTimeout: 2 * time.Hour})
	defer h.Close(context.Background())
	s := &session{id: "bare", token: "bare"}
	c := newConn(h, s, httptest.NewRequest("GET", "/hub", nil), transports.WebSockets)
	c.attach(newIdleTransport())
	h.addConn(c)
	v := reflect.ValueOf(c.ctx).Elem() // context.cancelCtx
	if done := v.FieldByName("done"); !done.IsValid() || !done.FieldByName("v").IsNil() {
		t.Error("the connection's context made its Done channel")
	}
	if children := v.FieldByName("children"); !children.IsValid() || !children.IsNil() {
		t.Error("the connection's context holds a children map")
	}
	c.end(ErrConnectionClosed)
}
