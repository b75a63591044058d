package transport

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/internal/idleconn"
	"github.com/hubbub-go/hubbub/transports"
)

// Each switch of Options that turns a trick of internal/idleconn off is seen to
// take effect where the goroutines wait, which a dump of their stacks shows, and
// the connection still works with the trick off.

// goroutinesIn returns the stacks of the goroutines running fn (a function name as
// stack traces print it, such as "(*WebSocket).readLoop").
func goroutinesIn(fn string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var in []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn+"(") {
			in = append(in, g)
		}
	}
	return in
}

// waitGoroutines waits until ok accepts the stacks of the goroutines running fn,
// and returns them.
func waitGoroutines(t *testing.T, fn, what string, ok func([]string) bool) []string {
	t.Helper()
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(5 * time.Millisecond) {
		gs := goroutinesIn(fn)
		if ok(gs) {
			return gs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never; goroutines in %s:\n%s", what, fn, strings.Join(gs, "\n\n"))
		}
	}
}

// TestDisableIdleReadHandoff: by default an idle WebSocket's reader waits in
// idleconn.WaitReadable, and after a message and a second of silence a fresh
// goroutine takes the wait over; with DisableIdleReadHandoff it waits in
// gorilla/websocket's NextReader on the goroutine AcceptWebSocket started, and
// messages still arrive.
func TestDisableIdleReadHandoff(t *testing.T) {
	const reader = "(*WebSocket).readLoop"
	for _, disabled := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "disabled"}[disabled], func(t *testing.T) {
			if !disabled && !idleconn.CanWaitReadable {
				t.Skip("no shallow wait on this platform")
			}
			waitGoroutines(t, reader, "the readers of earlier tests end", func(gs []string) bool { return len(gs) == 0 })
			srv := newWSServer(t, transports.Options{DisableIdleReadHandoff: disabled}, false)
			c, _ := srv.dial(t, nil)

			waitIn := "idleconn.WaitReadable("
			if disabled {
				waitIn = "websocket.(*Conn).NextReader("
			}
			waitGoroutines(t, reader, "the reader waits in "+waitIn, func(gs []string) bool {
				return len(gs) == 1 && strings.Contains(gs[0], waitIn)
			})

			if err := c.WriteMessage(websocket.TextMessage, []byte("after a wait")); err != nil {
				t.Fatal(err)
			}
			if got := srv.units.next(t); !bytes.Equal(got, []byte("after a wait")) {
				t.Fatalf("unit = %q", got)
			}
			handedOff := "created by github.com/hubbub-go/hubbub/internal/transport.(*WebSocket).readLoop"
			if disabled {
				// Where it waits tells that no handoff can come: that starts
				// only from a wait in WaitReadable.
				waitGoroutines(t, reader, "the reader waits in NextReader again", func(gs []string) bool {
					return len(gs) == 1 && strings.Contains(gs[0], waitIn) && !strings.Contains(gs[0], handedOff)
				})
			} else {
				waitGoroutines(t, reader, "a fresh reader takes over the idle wait", func(gs []string) bool {
					return len(gs) == 1 && strings.Contains(gs[0], waitIn) && strings.Contains(gs[0], handedOff)
				})
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte("still read")); err != nil {
				t.Fatal(err)
			}
			if got := srv.units.next(t); !bytes.Equal(got, []byte("still read")) {
				t.Fatalf("unit = %q", got)
			}
		})
	}
}

// TestDisableCloseWatcherSSE: by default (on Linux) a taken-over SSE stream is
// watched by idleconn.WatchClose and has no reading goroutine of its own; with
// DisableCloseWatcher it has one, and a client that leaves still ends the
// transport.
func TestDisableCloseWatcherSSE(t *testing.T) {
	const own = "(*SSE).watch"
	for _, disabled := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "disabled"}[disabled], func(t *testing.T) {
			waitGoroutines(t, own, "the streams of earlier tests end", func(gs []string) bool { return len(gs) == 0 })
			srv := newSSEServer(t, transports.Options{DisableCloseWatcher: disabled})
			resp, _ := srv.open(t)
			waitClosed(t, srv.streamDone, "ServeStream return (taken over)")
			watched := idleconn.CanWatchClose && !disabled
			srv.sse.writeMu.Lock()
			hasWatch := srv.sse.stopWatch != nil
			srv.sse.writeMu.Unlock()
			if hasWatch != watched {
				t.Errorf("watched by the close watcher: %v, want %v", hasWatch, watched)
			}
			if watched {
				if gs := goroutinesIn(own); len(gs) != 0 {
					t.Errorf("a watched stream has a goroutine of its own:\n%s", strings.Join(gs, "\n\n"))
				}
			} else {
				waitGoroutines(t, own, "the stream reads its connection", func(gs []string) bool { return len(gs) == 1 })
			}
			resp.Body.Close()
			waitClosed(t, srv.sse.Done(), "Done after the client left")
		})
	}
}

// TestDisableCloseWatcherLongPoll: by default (on Linux) a taken-over poll is
// watched, and one whose client leaves is let go at once; with DisableCloseWatcher
// it is not watched, and is let go when it is answered. Either way the unit meant
// for it goes to the next poll (clientLeft checks all three).
func TestDisableCloseWatcherLongPoll(t *testing.T) {
	takeOverPollsAfter = time.Millisecond
	defer func() { takeOverPollsAfter = 0 }()
	for _, disabled := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "disabled"}[disabled], func(t *testing.T) {
			clientLeft(t, newLPServer(t, transports.Options{PollTimeout: time.Hour, DisableCloseWatcher: disabled}))
		})
	}
}
