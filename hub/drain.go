package hub

import (
	"context"
	"fmt"
	"time"
)

// ShutdownMessage is the text of the Close message [Hub.Close] sends every client.
const ShutdownMessage = "Server is shutting down."

// errShuttingDown answers the invocations still running when Options.DrainTimeout
// passes.
var errShuttingDown = NewError("Invocation canceled: the server is shutting down.")

// Close drains the hub, so that a restart or a scale-down loses no work and leaves
// no client wondering:
//
//  1. It stops taking new connections at once: negotiate, a WebSocket opened
//     without negotiate, and the first transport request of a connection
//     negotiated before (forgotten at once) get 503 with Retry-After, as does,
//     once its connection has ended, any request for it.
//  2. The connections it has keep working while their work finishes: invocations
//     that arrive are served, running invocations and streams (either way) run on,
//     until no connection has any left, [Options.DrainTimeout] passes or ctx ends.
//     The hub keeps no goroutine per connection for this: the end of a
//     connection's last call wakes Close.
//  3. Then every invocation still running is cancelled (its context ends) and
//     answered with an error Completion, and every connection gets a Close message
//     ([ShutdownMessage]) that allows reconnecting, after what was queued before it.
//     On long polling the Close waits for the client's next poll; a connection
//     whose handshake has not completed is ended without one.
//  4. It waits for the connections to end, up to 5 s (closeTakeWait; a
//     long-polling client that does not poll meanwhile is given up) or until ctx
//     ends, ends any left without ceremony, and leaves the backplane.
//
// Serve the hub until Close returns: long-polling and SSE clients still send their
// requests during the drain. [Serve] and [ServeListener] do this, then shut the
// server down. Close returns an error wrapping ctx.Err() when ctx
// ended first. A later call waits for the first one's end (or ctx) and returns nil.
func (h *Hub) Close(ctx context.Context) error {
	conns, first := h.stopAccepting()
	if !first {
		select {
		case <-h.closeDone:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("hub: close %s: %w", h.opts.Name, ctx.Err())
		}
	}
	defer close(h.closeDone)
	defer h.detach()
	defer h.closeRelays()
	h.opts.Logger.Info("hub: draining", "hub", h.opts.Name, "connections", len(conns), "timeout", h.opts.DrainTimeout)
	finished := h.awaitIdle(ctx, conns)
	for _, c := range conns {
		if !c.handshaken.Load() {
			c.abort(ErrConnectionClosed)
			continue
		}
		if !finished {
			if n := c.cancelCalls(errShuttingDown); n > 0 {
				h.opts.Logger.Info("hub: invocations cancelled by shutdown", "hub", h.opts.Name, "connection", c.id, "invocations", n)
			}
		}
		c.Close(ShutdownMessage, true)
	}
	return h.awaitEnd(ctx, conns)
}

// stopAccepting refuses new connections from now on and returns those to drain:
// every connection with a transport, including those still in their handshake.
// Sessions negotiated but not claimed yet are forgotten: their transport request
// would be refused anyway (503), and their expiry timers would keep them until
// NegotiateTimeout. first is false when Close had already been called.
func (h *Hub) stopAccepting() (conns []*Conn, first bool) {
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	if h.closed {
		return nil, false
	}
	h.closed = true
	h.closeDone = make(chan struct{})
	for _, s := range h.sessions {
		switch {
		case s.conn != nil:
			conns = append(conns, s.conn)
		case s.kind == 0:
			s.expiry.Stop()
			h.dropSessionLocked(s)
		}
	}
	return conns, true
}

// awaitIdle waits until no connection has a call under way, and reports whether
// that came before Options.DrainTimeout or the end of ctx.
func (h *Hub) awaitIdle(ctx context.Context, conns []*Conn) bool {
	h.draining.Store(true)
	defer h.draining.Store(false)
	timer := time.NewTimer(max(h.opts.DrainTimeout, 0))
	defer timer.Stop()
	// Every connection must be idle at once: each wake-up checks them all again,
	// starting with the one found busy last time.
	from := 0
	for {
		busy := -1
		for i := range conns {
			if j := (from + i) % len(conns); conns[j].busy() {
				busy = j
				break
			}
		}
		if busy < 0 {
			return true
		}
		from = busy
		select {
		case <-h.drainWake:
		case <-timer.C:
			h.opts.Logger.Warn("hub: drain timeout: cancelling what still runs", "hub", h.opts.Name, "timeout", h.opts.DrainTimeout)
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// wakeDrain tells a draining Close that a connection may have become idle or ended.
func (h *Hub) wakeDrain() {
	if h.draining.Load() {
		select {
		case h.drainWake <- struct{}{}:
		default:
		}
	}
}

// closeTakeWait bounds how long Close waits for a long-polling client to come for
// its Close message: a client polls again at once after each answer, and ours retry
// a failed poll within 2 s, so a client that has not come by then is not coming (a
// node that lost its clients, a client gone without a DELETE).
const closeTakeWait = 5 * time.Second

// awaitEnd waits for the connections told to close to end: up to closeTakeWait
// (PollTimeout if shorter), for a
// long-polling client to come for its Close message; then it ends the others
// without one and waits for their OnDisconnected. ctx bounds it all.
func (h *Hub) awaitEnd(ctx context.Context, conns []*Conn) error {
	wait := min(h.opts.TransportOptions.PollTimeout, closeTakeWait)
	giveUp := time.NewTimer(wait)
	defer giveUp.Stop()
	for i, c := range conns {
		select {
		case <-c.Done():
			continue
		case <-giveUp.C:
			h.opts.Logger.Warn("hub: ending connections that did not take their Close message", "hub", h.opts.Name, "after", wait)
		case <-ctx.Done():
		}
		rest := conns[i:]
		for _, c := range rest {
			c.abort(ErrConnectionClosed)
		}
		for _, c := range rest {
			select {
			case <-c.Done():
				continue
			default:
			}
			select {
			case <-c.Done():
			case <-ctx.Done():
				return fmt.Errorf("hub: close %s: %w", h.opts.Name, ctx.Err())
			}
		}
		return nil
	}
	return nil
}

// busy reports whether the connection is open and has a call under way: one
// waiting for its turn, running, or streaming either way.
func (c *Conn) busy() bool {
	if c.ctx.Err() != nil {
		return false
	}
	c.invMu.Lock()
	defer c.invMu.Unlock()
	return c.running > 0
}

// cancelCalls cancels the calls under way that the client waits for (those with an
// invocation ID) and answers each with err; the call's own Completion, should its
// handler still return, is not sent. Calls without an ID end with the connection.
// It returns how many it cancelled.
func (c *Conn) cancelCalls(err error) int {
	c.invMu.Lock()
	calls := make([]*call, 0, len(c.invocations))
	for _, cl := range c.invocations {
		cl.answered = true
		c.unregisterLocked(cl)
		calls = append(calls, cl)
	}
	c.invMu.Unlock()
	for _, cl := range calls {
		cl.cancel(err)
		c.complete(cl.msg.InvocationID, cl.msg.Target, nil, err)
	}
	return len(calls)
}
