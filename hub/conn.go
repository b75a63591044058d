package hub

// A Conn's life. Its methods are spread over conn.go (the type, its lifecycle),
// conn_write.go (the queue and the writer), conn_read.go (receiving and routing),
// call.go (invocations) and reconnect.go (stateful reconnect).
//
// States. Each is kept once reached. A connection may never be handshaken, and may
// be ended before it is closing, but every attached connection ends finished.
//   - open: newConn, then attach puts it on a transport and arms its timers.
//   - handshaken (c.handshaken): handshake has set c.proto, and hub.addConn has made
//     the connection reachable. onConnected runs OnConnected on a goroutine of its
//     own (c.connecting meanwhile); calls wait until it has returned (c.isReady,
//     c.ready).
//   - closing (c.closing): nothing more is queued or taken from the client. The
//     writer sends what is queued, then the Close message, then calls end. closeWith
//     enters it (Conn.Close, the timeouts, the limits, bad input), as do
//     refuseHandshake and linkLost (a write that timed out).
//   - ended (c.ctx cancelled; context.Cause tells why): the writer stops, receive
//     drops what arrives, every call's context ends. finish enters it and runs end on
//     another goroutine; abort is finish counted as a close by the Observer (the
//     handshake timeout, a reconnect window run out, Hub.Close).
//   - finished (c.finished, then Done closed): end, run once (c.ended is its
//     sync.Once), has set closing, cancelled c.ctx, closed the transport, stopped the
//     timers, removed the connection from the hub, written its access log line,
//     waited for OnConnected, and run OnDisconnected if OnConnected ran (c.connected).
//
// A stateful connection (c.resume) may also be detached after its handshake: link
// lost, c.transport nil, until attach resumes it or its reconnect window aborts it.
//
// Locks. c.mu guards the writer's side: the bool flags but canResume, the queue,
// the control messages (reply, closeMsg) and closeReason, transport, resume and its
// sending side, the timers, and the channels connecting, ready, drained and done.
// c.invMu guards the calls: invocations, uploads, results, streams, running, and
// each call's registered and answered. c.recvMu keeps receive to one goroutine at a
// time, and with it what only receive touches: the token bucket (tokens, refilledAt,
// strikes), resume's receiving side, and calls and slots, which route makes before
// it starts the first dispatcher. The hub's mu guards c.groups. Every other field is
// atomic or set before the connection is shared; c.proto is set once, before
// c.handshaken.
//
// Lock order: c.recvMu, then one of c.mu, c.invMu, the hub's mu and an upload's mu,
// never two of them at once. Under c.mu only the transport's setters (Polled,
// OnPoll, SetBinary), the Observer, the Logger and the ended-sessions list
// (endedAway) are called: no hook, no handler, and no transport Send or Close runs
// with any of these locks held.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/transport"
	"github.com/hubbub-go/hubbub/transports"
)

// Conn is one client connection to a hub, from its transport opening to its end.
//
// Concurrency: all methods are safe for concurrent use. Messages sent to a Conn are
// written in the order they were queued, by one writer goroutine at a time, which
// exists only while there is something to write: an idle connection holds no
// goroutine of the hub's (its timers are [time.AfterFunc]), only its transport's.
type Conn struct {
	hub *Hub
	id  string
	// session is the negotiated session the connection was opened for: its
	// token, identity and the client's address (as the per-IP limits count it)
	// are read there, fixed since the negotiation, rather than copied here
	// (80 bytes per connection).
	session   *session
	request   keptRequest
	kind      transports.Kind
	transport transport.Transport
	started   time.Duration // when its first transport opened (monotonic), for the access log
	traffic   traffic       // what it carried, for the access log

	ctx    context.Context // ends when the connection ends
	cancel context.CancelCauseFunc

	proto      protocol.Protocol // set once, before handshaken becomes true
	handshaken atomic.Bool
	connected  atomic.Bool // OnConnected ran, so OnDisconnected must run too
	// connecting is closed when OnConnected has returned; end waits for it, so
	// that OnDisconnected follows it. Guarded by mu; nil until it starts, and nil
	// again once it is closed (an idle connection keeps no channel for it).
	connecting chan struct{}
	// Flags, side by side: a bool between wider fields costs 8 bytes, and every
	// 64 bytes of Conn is a size class (TestConnFitsItsSizeClass). Guarded by mu
	// but canResume, fixed at creation, and reported.
	writing   bool // a writer goroutine is running
	closing   bool // write what is queued, then the Close message, then end
	pingDue   bool
	canResume bool // the session negotiated stateful reconnect
	isReady   bool // OnConnected has returned; ready is closed then, if it was made
	finished  bool // ended and OnDisconnected has returned; done is closed then, if made
	joining   bool // hub.addConn is at work: nothing is written, the handshake reply first
	// reported: the client sent its fallback report (fallback.go); touched only
	// by receive, not guarded by mu.
	reported bool

	mu          sync.Mutex
	queue       [][]byte // hub messages to write, in order (trackable ones only: types 1-5)
	queueBytes  int      // the size of what queue holds (MaxQueueBytes)
	closeReason error    // why closing was asked for, for OnDisconnected
	// Control messages the writer puts around the queue: the handshake reply
	// first of all, a Ping when due, the Close message last.
	reply, closeMsg []byte
	// link counts the transports attached so far; a transport's units are taken
	// only while it is the latest (see newLink). recvMu keeps receive to one
	// goroutine at a time when an old link and its successor overlap.
	link   atomic.Uint64
	recvMu sync.Mutex
	// resume is the stateful-reconnect state, made at the handshake of a
	// connection that negotiated it (reconnect.go); nil otherwise.
	resume *resumeState
	// drained is signalled by the writer each time it empties the queue, for
	// enqueuePaced; made with calls, as only invocations (streams) wait on it.
	drained  chan struct{}
	lastRecv atomic.Int64 // unix nanoseconds of the last unit received
	lastSent atomic.Int64 // unix nanoseconds of the last unit sent
	// Timers, stopped at the end. The handshake timer is dropped once the handshake
	// is done, so an idle connection holds only the liveness timer (and expiry).
	handshakeTimer, livenessTimer, expiryTimer *time.Timer
	ended                                      sync.Once
	dispatching                                atomic.Bool // a dispatcher goroutine is running

	// ready is closed when OnConnected has returned (isReady), if it was made.
	// Guarded by mu.
	ready chan struct{}
	// calls, slots, drained (and ready, if needed) are made by the first
	// invocation (in route, before any dispatcher starts): most connections of a
	// broadcast-heavy app never invoke, and every channel costs an idle connection.
	calls chan *call    // invocations waiting for the dispatcher, in arrival order
	slots chan struct{} // MaxParallelInvocations

	// Created on first use: most connections of a broadcast-heavy app never invoke.
	invMu       sync.Mutex
	invocations map[string]*call   // running invocations by client invocation ID
	uploads     map[string]*upload // open client-to-server streams by stream ID
	results     map[string]chan protocol.Message
	streams     int
	// backlogBytes is what the upload streams' backlogs hold (upload.go).
	backlogBytes atomic.Int64
	// running counts the calls that have arrived and not yet ended (waiting,
	// running or streaming either way), for Hub.Close's drain (drain.go).
	running    int
	nextResult atomic.Int64

	// The inbound token bucket, touched only by receive (one goroutine at a time).
	// refilledAt is monotonicNow's, 0 before the first message: a time.Time
	// would take 16 bytes more.
	tokens     float64
	refilledAt time.Duration
	strikes    int

	// items is Items' map, made by its first call: most connections never use it,
	// and a sync.Map takes 48 bytes.
	items atomic.Pointer[sync.Map]
	// groups this connection is in; guarded by hub.mu.
	groups map[string]struct{}

	// done is closed once the connection has ended and OnDisconnected has
	// returned (finished). Made by the first call of Done; guarded by mu.
	done chan struct{}

	// traced ends the connection's span (Options.Tracer), in end.
	traced func(reason error)
}

func newConn(h *Hub, s *session, r *http.Request, kind transports.Kind) *Conn {
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &Conn{
		hub:       h,
		id:        s.id,
		session:   s,
		request:   keepRequest(r),
		kind:      kind,
		ctx:       ctx,
		cancel:    cancel,
		canResume: s.stateful,
	}
	if tr := h.opts.Tracer; tr != nil {
		c.ctx, c.traced = tr.StartConnection(ctx, r, ConnectionInfo{Hub: h.opts.Name, ConnectionID: s.id, Transport: kind})
	}
	c.started = monotonicNow()
	now := time.Now().UnixNano()
	c.lastRecv.Store(now)
	c.lastSent.Store(now)
	return c
}

// openFailed ends a connection whose transport never opened, which end will
// not: its span ends with why, and its context with it.
func (c *Conn) openFailed(why error) {
	c.cancel(why)
	if c.traced != nil {
		c.traced(why)
		c.traced = nil
	}
}

// ID is the public connection ID.
func (c *Conn) ID() string { return c.id }

// UserID is the identity [Options.UserID] gave the connection, or "" if anonymous.
func (c *Conn) UserID() string { return c.session.identity.UserID }

// Identity is the connection's identity, with the claims [Options.Authenticate] found.
func (c *Conn) Identity() Identity { return c.session.identity }

// Transport tells which transport the connection uses.
func (c *Conn) Transport() transports.Kind { return c.kind }

// Request is a copy of the HTTP request that opened the transport: its method,
// URL, headers (cookies, query and all, less the transport's own: Connection,
// Upgrade, Sec-WebSocket-*, Content-Length and Content-Type), host, remote address
// and TLS state. Its context is detached from the request's lifetime but keeps its
// values. Each call returns a new copy, with no body.
func (c *Conn) Request() *http.Request { return c.request.request() }

// Context ends when the connection ends; [context.Cause] tells why.
func (c *Conn) Context() context.Context { return c.ctx }

// Done is closed once the connection has ended and OnDisconnected has returned.
func (c *Conn) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.finished {
			close(c.done)
		}
	}
	return c.done
}

// Items is a per-connection store for whatever the application keeps with a
// connection (a nickname, a session). It lives as long as the connection.
func (c *Conn) Items() *sync.Map {
	if m := c.items.Load(); m != nil {
		return m
	}
	c.items.CompareAndSwap(nil, new(sync.Map))
	return c.items.Load()
}

// Send invokes method on this client with args, without waiting for an answer.
// Arguments are encoded in the client's protocol; a [protocol.RawValue] is taken
// to be in it already.
func (c *Conn) Send(method string, args ...any) error {
	if !c.handshaken.Load() {
		return fmt.Errorf("hub: connection %s: %w: handshake not complete", c.id, ErrConnectionClosed)
	}
	raw, err := encodeArgs(c.proto, c.proto, args)
	if err != nil {
		return err
	}
	frame, err := c.encode(&protocol.Message{Type: protocol.InvocationType, Target: method, Arguments: raw})
	if err != nil {
		return err
	}
	return c.enqueue(frame)
}

// Invoke calls method on this client and waits for its result ("client results").
// The client answers with a Completion; an error completion is a *[ClientError]. The
// result is in the client's protocol: decode it with Protocol().DecodeValue. Without
// a deadline on ctx, [Options.InvokeClientTimeout] applies.
func (c *Conn) Invoke(ctx context.Context, method string, args ...any) (protocol.RawValue, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.hub.opts.InvokeClientTimeout)
		defer cancel()
	}
	id := "h" + strconv.FormatInt(c.nextResult.Add(1), 10)
	tr, ok := c.hub.opts.Tracer.(ClientInvocationTracer)
	if !ok {
		return c.invokeClient(ctx, id, method, args)
	}
	ctx, end := tr.StartClientInvocation(ctx, ClientInvocationInfo{Hub: c.hub.opts.Name, ConnectionID: c.id, Method: method, InvocationID: id})
	result, err := c.invokeClient(ctx, id, method, args)
	end(err)
	return result, err
}

// invokeClient is Invoke's call with invocation ID id, once ctx has its deadline.
func (c *Conn) invokeClient(ctx context.Context, id, method string, args []any) (protocol.RawValue, error) {
	if !c.handshaken.Load() {
		return nil, fmt.Errorf("hub: connection %s: %w: handshake not complete", c.id, ErrConnectionClosed)
	}
	raw, err := encodeArgs(c.proto, c.proto, args)
	if err != nil {
		return nil, err
	}
	reply := make(chan protocol.Message, 1)
	c.invMu.Lock()
	if c.results == nil {
		c.results = map[string]chan protocol.Message{}
	}
	c.results[id] = reply
	c.invMu.Unlock()
	defer func() {
		c.invMu.Lock()
		delete(c.results, id)
		c.invMu.Unlock()
	}()
	frame, err := c.encode(&protocol.Message{Type: protocol.InvocationType, InvocationID: id, Target: method, Arguments: raw})
	if err != nil {
		return nil, err
	}
	if err := c.enqueue(frame); err != nil {
		return nil, err
	}
	select {
	case m := <-reply:
		if m.HasError {
			return nil, &ClientError{Message: m.Error}
		}
		return m.Result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("hub: invoke %q on client: %w", method, ctx.Err())
	case <-c.ctx.Done():
		return nil, ErrConnectionClosed
	}
}

// Close ends the connection with a Close message carrying message (may be empty).
// With allowReconnect, clients configured to reconnect will do so.
func (c *Conn) Close(message string, allowReconnect bool) {
	c.closeWith(message, allowReconnect, nil)
}

// isClosing reports whether the connection is ending or has ended: nothing the
// client sends counts any more.
func (c *Conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing || c.ctx.Err() != nil
}

// closeWith queues a Close message (past the queue limit: it must get out); the
// writer ends the connection once it is written. reason is what OnDisconnected
// will be told (nil: a normal close).
func (c *Conn) closeWith(message string, allowReconnect bool, reason error) {
	c.mu.Lock()
	endNow := c.closeWithLocked(message, allowReconnect, reason)
	c.mu.Unlock()
	if endNow {
		go c.end(reason)
	}
}

// closeWithLocked is closeWith with c.mu held; it reports whether the caller must
// end the connection itself (go c.end(reason)) once it has released c.mu.
func (c *Conn) closeWithLocked(message string, allowReconnect bool, reason error) (endNow bool) {
	if c.closing || c.ctx.Err() != nil {
		return false
	}
	c.closing, c.closeReason = true, reason
	if c.handshaken.Load() {
		c.closeMsg, _ = c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.CloseType, Error: message, AllowReconnect: allowReconnect})
	}
	if reason != nil {
		c.hub.opts.Observer.Closed(c.hub.opts.Name, reason)
	}
	c.startWriterLocked()
	// Nothing to write (no handshake yet), or no link to write it on: a client
	// that comes back later finds its connection gone.
	return !c.writing && (c.transport != nil || c.resume != nil && c.resume.window != nil)
}

// abort ends the connection at once, without a Close message.
func (c *Conn) abort(reason error) {
	if c.ctx.Err() == nil {
		c.hub.opts.Observer.Closed(c.hub.opts.Name, reason)
	}
	c.finish(reason)
}

// finish cancels the connection and tears it down on another goroutine, so that
// whoever noticed the end (a broadcaster, a timer) never runs OnDisconnected.
func (c *Conn) finish(reason error) {
	c.cancel(reason)
	go c.end(reason)
}

// end tears the connection down, once: the transport, the timers, the hub's
// indexes, then OnDisconnected.
func (c *Conn) end(reason error) {
	c.ended.Do(func() {
		if reason == nil {
			reason = transports.ErrClosed
		}
		c.cancel(reason)
		c.mu.Lock()
		// Closed by the server for no error of its own (Conn.Close, Hub.Close…).
		serverClosed := c.closing && c.closeReason == nil
		c.closing = true
		c.queue, c.queueBytes = nil, 0
		for _, t := range []*time.Timer{c.handshakeTimer, c.livenessTimer, c.expiryTimer} {
			if t != nil {
				t.Stop()
			}
		}
		if c.resume != nil {
			c.resume.stop()
			if c.transport == nil && c.handshaken.Load() {
				c.endedAway(reason)
			}
		}
		t := c.transport
		c.mu.Unlock()
		if t != nil {
			t.Close()
		}
		c.hub.removeConn(c)
		// Before the hooks: the connection's life is over, whatever they do.
		why := c.hub.endReason(reason, serverClosed)
		c.logAccess(why)
		c.mu.Lock()
		connecting := c.connecting
		c.mu.Unlock()
		if connecting != nil {
			<-connecting
		}
		if c.connected.Load() {
			obs := c.hub.opts.Observer
			obs.Disconnected(c.hub.opts.Name, c.kind, reason)
			if e, ok := obs.(EndObserver); ok {
				e.Ended(c.hub.opts.Name, c.kind, why)
			}
			c.hub.disconnected(c, reason)
		}
		if c.traced != nil {
			c.traced(reason)
		}
		c.mu.Lock()
		c.finished = true
		if c.done != nil {
			close(c.done)
		}
		c.mu.Unlock()
	})
}

// onConnected runs OnConnected; invocations start once it has returned.
func (c *Conn) onConnected() {
	c.mu.Lock()
	if c.ctx.Err() != nil {
		// Ended before OnConnected could run: neither hook runs.
		c.mu.Unlock()
		return
	}
	c.connecting = make(chan struct{})
	c.mu.Unlock()
	err := c.hub.connected(c)
	c.mu.Lock()
	close(c.connecting)
	c.connecting = nil // end waits no more; nothing kept for it
	c.mu.Unlock()
	if err != nil {
		c.hub.logFailure(slog.LevelWarn, "hub: OnConnected failed", err, "hub", c.hub.opts.Name, "connection", c.id)
		text := "Connection closed with an error."
		if c.hub.opts.DetailedErrors || errors.As(err, new(*Error)) {
			text += " " + err.Error()
		}
		c.closeWith(text, false, nil)
		return
	}
	c.mu.Lock()
	c.isReady = true
	if c.ready != nil {
		close(c.ready)
	}
	c.mu.Unlock()
}

// attach puts the connection on a transport: its first, or, on a stateful
// connection, one that resumes it after a lost link (the old one, if still open, is
// closed). It starts the timers and a writer for anything waiting, and has the
// transport's end detach or end the connection (linkLost).
func (c *Conn) attach(t transport.Transport) {
	opts := &c.hub.opts
	c.mu.Lock()
	old := c.transport
	c.transport = t
	c.setFrameTypeLocked()
	// end cancels ctx before it stops the timers under c.mu: a timer armed here
	// after that would keep the ended Conn alive until it fires.
	ended := c.ctx.Err() != nil
	if c.resume != nil {
		c.resume.resumed(c)
	} else if !ended {
		if !c.handshaken.Load() {
			c.handshakeTimer = time.AfterFunc(opts.HandshakeTimeout, func() {
				if !c.handshaken.Load() {
					c.abort(ErrHandshakeTimeout)
				}
			})
		}
		if at := c.session.identity.ExpiresAt; !at.IsZero() {
			c.expiryTimer = time.AfterFunc(time.Until(at), func() {
				opts.Logger.Info("hub: credentials expired", "hub", opts.Name, "connection", c.id, "user", c.session.identity.UserID)
				c.closeWith("Authentication expired: reconnect with fresh credentials.", true, nil)
			})
		}
	}
	c.lastRecv.Store(time.Now().UnixNano())
	if c.kind != transports.LongPolling && !ended {
		// Long polling has its own liveness: a client that stops polling is ended
		// by the transport, and the protocol sends no pings over it.
		first := min(opts.KeepAliveInterval, opts.ClientTimeout)
		if c.livenessTimer != nil {
			c.livenessTimer.Reset(first)
		} else {
			c.livenessTimer = time.AfterFunc(first, c.livenessDue)
		}
	}
	if p, ok := t.(transport.Poller); ok {
		p.OnPoll(func() { c.pollOpened(t) })
	}
	c.startWriterLocked()
	c.mu.Unlock()
	if old != nil && old != t {
		old.Close()
	}
	if c.ctx.Err() != nil {
		t.Close() // ended before it had a transport to close
	}
	t.OnEnd(func(err error) { c.linkLost(t, err) })
}

// linkLost handles the end of transport t. A stateful connection outlives a lost
// link for ReconnectWindow (reconnect.go); any other connection ends with it.
func (c *Conn) linkLost(t transport.Transport, err error) {
	opts := &c.hub.opts
	if err == nil {
		err = transports.ErrClosed
	}
	c.mu.Lock()
	if c.transport != t && resumableEnd(err) {
		c.mu.Unlock() // replaced by a resumed link
		return
	}
	if c.transport == t && c.resume != nil && !c.closing && c.ctx.Err() == nil && resumableEnd(err) {
		c.resume.detach(c, err)
		c.mu.Unlock()
		return
	}
	// A client that took nothing for WriteTimeout (it does not read its socket) is
	// a slow consumer, as one whose queue overflows: say so here, as its socket is
	// full and the client cannot be told. (A stateful connection, which may be
	// behind a dead link instead, has been left to resume above.)
	stuck := c.transport == t && !c.closing && c.ctx.Err() == nil && isWriteTimeout(err)
	if stuck {
		c.closing, c.closeReason = true, ErrSlowConsumer
	}
	c.mu.Unlock()
	if stuck {
		opts.Logger.Warn("hub: closing slow consumer", "hub", opts.Name, "connection", c.id, "err", err)
		err = fmt.Errorf("%w: no write finished within %s: %w", ErrSlowConsumer, opts.TransportOptions.WriteTimeout, err)
		opts.Observer.Closed(opts.Name, err)
	}
	if errors.Is(err, transports.ErrTooLarge) {
		opts.Logger.Warn("hub: transport message over the size limit; connection closed", "hub", opts.Name, "connection", c.id, "limit", opts.TransportOptions.MaxTransportMessageSize)
		opts.Observer.Closed(opts.Name, err)
	}
	c.finish(err)
}

// livenessDue runs when the liveness timer fires: it checks, and arms the timer
// for the next check.
func (c *Conn) livenessDue() {
	if next := c.checkLiveness(); next > 0 {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.ctx.Err() == nil { // see attach: end may have stopped the timer meanwhile
			c.livenessTimer.Reset(next)
		}
	}
}

// isWriteTimeout reports whether a transport ended because a write to its client
// did not finish within WriteTimeout.
func isWriteTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// checkLiveness sends a Ping when nothing was sent for KeepAliveInterval and closes
// the connection when nothing was received for ClientTimeout. It returns when to
// check again (0: never, the connection is closing).
func (c *Conn) checkLiveness() time.Duration {
	opts := &c.hub.opts
	c.mu.Lock()
	detached := c.transport == nil
	c.mu.Unlock()
	if detached {
		return 0 // attach starts the timer again
	}
	now := time.Now()
	idle := now.Sub(time.Unix(0, c.lastRecv.Load()))
	if idle >= opts.ClientTimeout {
		opts.Logger.Info("hub: client timeout", "hub", opts.Name, "connection", c.id, "idle", idle.Round(time.Millisecond))
		c.closeWith(fmt.Sprintf("Server closed the connection: no message from the client for %s.", opts.ClientTimeout), true, ErrClientTimeout)
		return 0
	}
	silent := now.Sub(time.Unix(0, c.lastSent.Load()))
	if silent >= opts.KeepAliveInterval && c.handshaken.Load() {
		c.mu.Lock()
		c.pingDue = true
		c.startWriterLocked()
		c.mu.Unlock()
		silent = 0
	}
	return min(opts.KeepAliveInterval-silent, opts.ClientTimeout-idle)
}
