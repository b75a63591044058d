package hub

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/transports"
)

// idleTransport is a transport that accepts everything and never ends by itself.
type idleTransport struct{ done chan struct{} }

func newIdleTransport() *idleTransport { return &idleTransport{done: make(chan struct{})} }

func (t *idleTransport) Kind() transports.Kind              { return transports.WebSockets }
func (t *idleTransport) Send(context.Context, []byte) error { return nil }
func (t *idleTransport) Close() error {
	select {
	case <-t.done:
	default:
		close(t.done)
	}
	return nil
}
func (t *idleTransport) Done() <-chan struct{} { return t.done }
func (t *idleTransport) Err() error            { return nil }
func (t *idleTransport) OnEnd(func(error))     {}

// An ended Conn must not have its liveness timer armed again, neither by a check
// that was already running when end stopped the timer, nor by a link attached
// after the end (a resume racing it): an armed timer keeps the Conn (and all it
// holds) alive for up to ClientTimeout, and fires on a dead connection.
func TestLivenessTimerNotRearmedAfterEnd(t *testing.T) {
	tests := []struct {
		name     string
		afterEnd func(c *Conn)
	}{
		{"check running while end stops the timer", func(c *Conn) { c.livenessDue() }},
		{"link attached after end", func(c *Conn) { c.attach(newIdleTransport()) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Options{KeepAliveInterval: time.Hour, ClientTimeout: 2 * time.Hour})
			defer h.Close(context.Background())
			s := &session{id: "liveness", token: "liveness"}
			c := newConn(h, s, httptest.NewRequest("GET", "/hub", nil), transports.WebSockets)
			c.attach(newIdleTransport())
			c.end(ErrConnectionClosed)
			tc.afterEnd(c)
			c.mu.Lock()
			timer := c.livenessTimer
			c.mu.Unlock()
			if timer != nil && timer.Stop() {
				t.Error("the liveness timer of an ended connection is armed")
			}
		})
	}
}
