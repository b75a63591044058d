package hub

import (
	"context"
	"reflect"
	"sync"
)

// upload is a client-to-server stream feeding a handler's <-chan T parameter.
//
// The receiving goroutine never waits for a handler, so that what follows a
// stream's items on the wire (a Completion answering Conn.Invoke, a
// CancelInvocation, a Ping, an Ack) is always read. An item goes into the channel
// when it has room (Options.StreamBufferCapacity), else into the stream's backlog,
// which a pump goroutine, running only while the backlog is not empty, feeds into
// the channel as the handler takes items. The backlogs of one connection hold at
// most Options.MaxStreamBacklogBytes (counted in encoded bytes); an item past it
// fails the stream's call.
//
// The channel is closed once, under mu, when no sender is at work: the receiver
// sends only under mu and never blocks, and the pump, while it runs, is the only
// other sender and closes the channel itself on its way out. That happens when
// the client completes the stream (after the backlog has been delivered) and when
// the call ends for any other reason (its context: the client cancels, fails the
// stream or leaves, the hub closes), which drops whatever is still in the backlog.
type upload struct {
	ch     reflect.Value // chan T
	elem   reflect.Type
	ctx    context.Context         // the call's
	cancel context.CancelCauseFunc // the call's: a stream that fails fails the call

	mu      sync.Mutex
	backlog []backlogItem
	pumping bool // a pump goroutine runs: it is the channel's sender
	ended   bool // no more items: close the channel once the backlog is delivered
	closed  bool
}

// errInvocationCanceled answers a call with upload streams that the client
// cancelled (CancelInvocation) before completing them.
var errInvocationCanceled = NewError("Invocation canceled.")

type backlogItem struct {
	value reflect.Value
	size  int
}

// put hands one item to the handler without waiting. It reports false when the
// connection's backlogs are full: the caller fails the stream.
func (up *upload) put(c *Conn, item reflect.Value, size int) bool {
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.ended || up.ctx.Err() != nil {
		return true // the call is over: nobody takes items any more
	}
	if !up.pumping && up.ch.TrySend(item) {
		return true
	}
	if c.backlogBytes.Add(int64(size)) > int64(c.hub.opts.MaxStreamBacklogBytes) {
		c.backlogBytes.Add(-int64(size))
		return false
	}
	up.backlog = append(up.backlog, backlogItem{item, size})
	if !up.pumping {
		up.pumping = true
		go up.pump(c)
	}
	return true
}

// pump feeds the backlog into the channel as the handler takes items, and ends
// once the backlog is empty or the call has ended.
func (up *upload) pump(c *Conn) {
	done := reflect.ValueOf(up.ctx.Done())
	for {
		up.mu.Lock()
		if len(up.backlog) == 0 || up.ctx.Err() != nil {
			up.pumping = false
			if up.ctx.Err() != nil {
				up.ended = true
				up.dropLocked(c)
			}
			if up.ended {
				up.closeLocked()
			}
			up.mu.Unlock()
			return
		}
		next := up.backlog[0]
		up.mu.Unlock()
		chosen, _, _ := reflect.Select([]reflect.SelectCase{
			{Dir: reflect.SelectSend, Chan: up.ch, Send: next.value},
			{Dir: reflect.SelectRecv, Chan: done},
		})
		if chosen == 0 {
			up.mu.Lock()
			up.backlog[0] = backlogItem{}
			up.backlog = up.backlog[1:]
			c.backlogBytes.Add(-int64(next.size))
			up.mu.Unlock()
		}
	}
}

// finish ends the stream as the client completed it: the handler gets what is in
// the backlog, then sees the channel closed.
func (up *upload) finish() {
	up.mu.Lock()
	defer up.mu.Unlock()
	up.ended = true
	if !up.pumping {
		up.closeLocked()
	}
}

// abort ends the stream as its call ends: the backlog is dropped and the channel
// closed, so that a handler ranging over it returns.
func (up *upload) abort(c *Conn) {
	up.mu.Lock()
	defer up.mu.Unlock()
	up.ended = true
	if !up.pumping {
		up.dropLocked(c)
		up.closeLocked()
	}
	// else the pump sees the context end, drops the backlog and closes.
}

func (up *upload) dropLocked(c *Conn) {
	for _, it := range up.backlog {
		c.backlogBytes.Add(-int64(it.size))
	}
	up.backlog = nil
}

func (up *upload) closeLocked() {
	if !up.closed {
		up.closed = true
		up.ch.Close()
	}
}
