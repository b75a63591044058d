package hub

import (
	"context"
	"net/http/httptest"
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
