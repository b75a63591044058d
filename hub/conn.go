package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// Conn is one client connection to a hub, from its transport opening to its end.
//
// Concurrency: all methods are safe for concurrent use. Messages sent to a Conn are
// written in the order they were queued, by one writer goroutine at a time, which
// exists only while there is something to write: an idle connection holds no
// goroutine of the hub's (its timers are time.AfterFunc), only its transport's.
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
	transport transports.Transport
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
	// but canResume, fixed at creation.
	writing   bool // a writer goroutine is running
	closing   bool // write what is queued, then the Close message, then end
	pingDue   bool
	canResume bool // the session negotiated stateful reconnect
	isReady   bool // OnConnected has returned; ready is closed then, if it was made
	finished  bool // ended and OnDisconnected has returned; done is closed then, if made

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
	c.started = monotonicNow()
	now := time.Now().UnixNano()
	c.lastRecv.Store(now)
	c.lastSent.Store(now)
	return c
}

// keptRequest is what a Conn keeps of the request that opened its transport, for
// Conn.Request: the method, URL, headers, host, remote address, TLS state and
// context (for its values), with every string a slice of one allocation.
//
// Keeping an *http.Request instead, even an empty one, costs an idle connection
// about 2 KiB more than its size: requests are allocated by the dozen while
// connections open, and one kept among them keeps a mostly empty page of the heap
// alive. Conn.Request builds a fresh *http.Request from this on each call.
type keptRequest struct {
	// blob holds, back to back, the keptFields fields (method, proto, host,
	// remote address, request URI, then the URL's), then the headers as key,
	// value pairs, in the request's order per key; ends has where each one ends.
	// Offsets of 4 bytes rather than a string header of 16 each: about 200
	// bytes per connection.
	blob                   string
	ends                   []uint32
	tls                    *tls.ConnectionState
	ctx                    context.Context
	protoMajor, protoMinor uint8 // HTTP/1.1 and 2: an int each would cost 16 bytes
}

// keptFields is the number of request and URL fields at the start of a
// keptRequest.
const keptFields = 13

// str is the i-th string of k: a field below keptFields, a header key or value
// above.
func (k *keptRequest) str(i int) string {
	start := uint32(0)
	if i > 0 {
		start = k.ends[i-1]
	}
	return k.blob[start:k.ends[i]]
}

func keepRequest(r *http.Request) keptRequest {
	u := r.URL
	fields := [keptFields]string{r.Method, r.Proto, r.Host, r.RemoteAddr, r.RequestURI,
		u.Scheme, u.Opaque, u.Host, u.Path, u.RawPath, u.RawQuery, u.Fragment, u.RawFragment}
	size, pairs := 0, 0
	for _, s := range fields {
		size += len(s)
	}
	for k, v := range r.Header {
		if !transportHeaders[k] {
			pairs += len(v)
			for _, s := range v {
				size += len(k) + len(s)
			}
		}
	}
	var b strings.Builder
	b.Grow(size)
	ends := make([]uint32, 0, len(fields)+2*pairs)
	add := func(s string) { b.WriteString(s); ends = append(ends, uint32(b.Len())) }
	for _, s := range fields {
		add(s)
	}
	for k, v := range r.Header {
		if !transportHeaders[k] {
			for _, s := range v {
				add(k)
				add(s)
			}
		}
	}
	return keptRequest{
		blob: b.String(), ends: ends, tls: r.TLS, ctx: context.WithoutCancel(r.Context()),
		protoMajor: uint8(r.ProtoMajor), protoMinor: uint8(r.ProtoMinor),
	}
}

// request builds a fresh *http.Request from k.
func (k *keptRequest) request() *http.Request {
	f := k.str
	r := &http.Request{
		Method: f(0), Proto: f(1), Host: f(2), RemoteAddr: f(3), RequestURI: f(4),
		ProtoMajor: int(k.protoMajor), ProtoMinor: int(k.protoMinor), TLS: k.tls, Body: http.NoBody,
		URL: &url.URL{Scheme: f(5), Opaque: f(6), Host: f(7), Path: f(8), RawPath: f(9),
			RawQuery: f(10), Fragment: f(11), RawFragment: f(12)},
		Header: make(http.Header, (len(k.ends)-keptFields)/2),
	}
	for i := keptFields; i+1 < len(k.ends); i += 2 {
		key := f(i)
		r.Header[key] = append(r.Header[key], f(i+1))
	}
	return r.WithContext(k.ctx)
}

// transportHeaders are request headers of the transport's own, which a kept request
// leaves out.
var transportHeaders = map[string]bool{
	"Connection": true, "Upgrade": true, "Sec-Websocket-Key": true, "Sec-Websocket-Version": true,
	"Sec-Websocket-Extensions": true, "Sec-Websocket-Protocol": true, "Content-Length": true, "Content-Type": true,
}

// ID is the public connection ID.
func (c *Conn) ID() string { return c.id }

// UserID is the identity Options.UserID gave the connection, or "" if anonymous.
func (c *Conn) UserID() string { return c.session.identity.UserID }

// Identity is the connection's identity, with the claims Options.Authenticate found.
func (c *Conn) Identity() Identity { return c.session.identity }

// Transport tells which transport the connection uses.
func (c *Conn) Transport() transports.Kind { return c.kind }

// Request is a copy of the HTTP request that opened the transport: its method,
// URL, headers (cookies, query and all, less the transport's own: Connection,
// Upgrade, Sec-WebSocket-*, Content-Length and Content-Type), host, remote address
// and TLS state. Its context is detached from the request's lifetime but keeps its
// values. Each call returns a new copy, with no body.
func (c *Conn) Request() *http.Request { return c.request.request() }

// Context ends when the connection ends; context.Cause tells why.
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
// Arguments are encoded in the client's protocol; a protocol.RawValue is taken
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
// The client answers with a Completion; an error completion is a *ClientError. The
// result is in the client's protocol: decode it with Protocol().DecodeValue. Without
// a deadline on ctx, Options.InvokeClientTimeout applies.
func (c *Conn) Invoke(ctx context.Context, method string, args ...any) (protocol.RawValue, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.hub.opts.InvokeClientTimeout)
		defer cancel()
	}
	if !c.handshaken.Load() {
		return nil, fmt.Errorf("hub: connection %s: %w: handshake not complete", c.id, ErrConnectionClosed)
	}
	raw, err := encodeArgs(c.proto, c.proto, args)
	if err != nil {
		return nil, err
	}
	id := "h" + strconv.FormatInt(c.nextResult.Add(1), 10)
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

// encode frames m in the connection's protocol.
func (c *Conn) encode(m *protocol.Message) ([]byte, error) {
	if !c.handshaken.Load() {
		return nil, fmt.Errorf("hub: connection %s: %w: handshake not complete", c.id, ErrConnectionClosed)
	}
	return c.proto.AppendMessage(nil, m)
}

// enqueue queues one encoded frame. It never blocks: a queue over MaxQueueLength
// or MaxQueueBytes closes the connection as a slow consumer, so one slow client
// cannot hold up a broadcast.
func (c *Conn) enqueue(frame []byte) error {
	opts := &c.hub.opts
	c.mu.Lock()
	if c.closing || c.ctx.Err() != nil {
		c.mu.Unlock()
		return ErrConnectionClosed
	}
	// (A message larger than MaxQueueBytes is taken when nothing else waits.)
	if len(c.queue) >= opts.MaxQueueLength || len(c.queue) > 0 && c.queueBytes+len(frame) > opts.MaxQueueBytes {
		queued, queuedBytes := len(c.queue), c.queueBytes
		// What is queued could not reach the client in time anyway: drop it, so
		// that the Close message saying why goes next (a stateful client must not
		// resume: its state is gone). Once closing, nothing more is queued, so
		// this is logged once per connection.
		clear(c.queue)
		c.queue, c.queueBytes = nil, 0
		endNow := c.closeWithLocked(fmt.Sprintf("Connection closed: slow consumer: more than %d messages or %d bytes waited for the client.", opts.MaxQueueLength, opts.MaxQueueBytes), true, ErrSlowConsumer)
		c.mu.Unlock()
		opts.Logger.Warn("hub: closing slow consumer", "hub", opts.Name, "connection", c.id, "queued", queued, "bytes", queuedBytes)
		if endNow {
			go c.end(ErrSlowConsumer)
		}
		return ErrSlowConsumer
	}
	if c.queue == nil {
		c.queue = takeSlots()
	}
	c.queue = append(c.queue, frame)
	c.queueBytes += len(frame)
	c.startWriterLocked()
	c.mu.Unlock()
	return nil
}

// isClosing reports whether the connection is ending or has ended: nothing the
// client sends counts any more.
func (c *Conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing || c.ctx.Err() != nil
}

// startWriterLocked starts a writer unless one runs or the transport is not
// attached yet (attach starts it then). Over long polling it leaves frames for the
// next poll to send (pollOpened) while none is open: a writer started then would
// stop at once, a goroutine per message queued between two polls. c.mu is held.
func (c *Conn) startWriterLocked() {
	if !c.writing && c.transport != nil && c.hasWorkLocked() {
		if p, ok := c.transport.(transports.Poller); ok && !c.closing && !p.Polled() {
			return
		}
		c.writing = true
		go c.write(false)
	}
}

// hasWorkLocked reports whether the writer has anything to write. c.mu is held.
func (c *Conn) hasWorkLocked() bool {
	return c.closing || c.hasFramesLocked()
}

// hasFramesLocked reports whether nextUnitLocked has something to send. c.mu is
// held.
func (c *Conn) hasFramesLocked() bool {
	if c.reply != nil || c.pingDue || c.closeMsg != nil {
		return true
	}
	if c.resume != nil {
		return c.resume.pending(c) || len(c.queue) > 0 && (c.closing || c.resume.hasRoom(c.hub.opts.StatefulReconnectBufferSize))
	}
	return len(c.queue) > 0
}

// enqueuePaced queues a frame once the queue is at most half full, waiting for the
// writer otherwise. Producers that can wait (streams) use it instead of enqueue.
func (c *Conn) enqueuePaced(ctx context.Context, frame []byte) error {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || len(c.queue) < c.hub.opts.MaxQueueLength/2+1 && c.queueBytes+len(frame) <= c.hub.opts.MaxQueueBytes/2+1 {
			c.mu.Unlock()
			return c.enqueue(frame)
		}
		drained := c.drained
		c.mu.Unlock()
		select {
		case <-drained:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.ctx.Done():
			return ErrConnectionClosed
		}
	}
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

// attach puts the connection on a transport: its first, or, on a stateful
// connection, one that resumes it after a lost link (the old one, if still open, is
// closed). It starts the timers and a writer for anything waiting, and has the
// transport's end detach or end the connection (linkLost).
func (c *Conn) attach(t transports.Transport) {
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
	if p, ok := t.(transports.Poller); ok {
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
func (c *Conn) linkLost(t transports.Transport, err error) {
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

var unitPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// pooledSlots is the length of the arrays that back queues and writers' frame
// lists. An idle connection keeps no queue (its memory counts ten thousand times),
// so a queue starts anew with each burst: taking the array from a pool saves an
// allocation per connection per burst. A queue that outgrows it grows as usual and
// is not pooled.
const pooledSlots = 64

var slotsPool = sync.Pool{New: func() any { return new([pooledSlots][]byte) }}

// takeSlots returns an empty slice backed by a pooled array.
func takeSlots() [][]byte {
	return slotsPool.Get().(*[pooledSlots][]byte)[:0]
}

// releaseSlots gives the array behind s back to the pool, if it came from there;
// s must not be used afterwards.
func releaseSlots(s [][]byte) {
	if cap(s) != pooledSlots {
		return
	}
	a := (*[pooledSlots][]byte)(s[:pooledSlots])
	clear(a[:])
	slotsPool.Put(a)
}

// write is the connection's writer: it sends what is waiting, as one unit per
// round, until nothing is left, then exits; over long polling also when no poll is
// open to take the next unit (the next poll runs the writer: pollOpened). Only one
// runs at a time. inPoll says it runs in a poll's handler (pollOpened): the end
// of the connection, with its hooks, then runs on a goroutine of its own, so that
// the handler goes back to net/http whatever the hooks do.
func (c *Conn) write(inPoll bool) {
	frames := takeSlots()
	defer func() { releaseSlots(frames) }()
	lingered := false
	for {
		c.mu.Lock()
		t := c.transport
		if t == nil || c.ctx.Err() != nil {
			c.writing = false
			c.mu.Unlock()
			return
		}
		if p, ok := t.(transports.Poller); ok && c.hasFramesLocked() && !p.Polled() {
			// Gather only once a poll is there to take it: the poll is answered with
			// everything queued by then, not with what was queued when the previous
			// answer left. (With nothing to send, go on: a closing connection ends.)
			// The poll, once it opens, runs the writer in its own goroutine
			// (pollOpened); c.mu held from the check on, it cannot miss this one
			// stopping.
			c.writing = false
			c.mu.Unlock()
			return
		}
		var messages int
		frames, messages = c.nextUnitLocked(frames[:0])
		if len(frames) == 0 && !c.closing && !lingered {
			// Before exiting, let the goroutines that are ready run once: in a burst,
			// the publisher queues the next message meanwhile, and this writer carries
			// on instead of exiting and being started again (a goroutine start and its
			// stack growth per message, about 15% of the server's CPU at 2,000
			// connections).
			lingered = true
			c.mu.Unlock()
			runtime.Gosched()
			continue
		}
		lingered = false
		if len(frames) == 0 {
			closing, reason := c.closing, c.closeReason
			c.writing = false
			if len(c.queue) == 0 {
				releaseSlots(c.queue) // an idle connection keeps no queue
				c.queue = nil
			}
			c.mu.Unlock()
			switch {
			case closing && inPoll:
				go c.end(reason)
			case closing:
				c.end(reason)
			}
			return
		}
		drained := c.drained
		c.mu.Unlock()
		select {
		case drained <- struct{}{}: // a nil channel (no invocation yet) is never ready
		default:
		}
		err := c.sendUnit(t, frames, messages)
		clear(frames)
		c.lastSent.Store(time.Now().UnixNano())
		if err != nil {
			c.writeFailed(t, err)
			return
		}
	}
}

// pollOpened runs in the goroutine of a poll that has just opened on t (see
// transports.Poller): when something waits to be sent and no writer runs, that
// goroutine becomes the writer and answers its own poll at once. A writer started
// elsewhere would wait for the poll and then hand it the unit: two waits for the
// scheduler per poll, behind every other runnable goroutine, which under load were
// most of a poll's round trip. The writer stops again once no poll is open (write),
// so the poll's handler goes back to net/http as soon as its answer is written.
func (c *Conn) pollOpened(t transports.Transport) {
	c.mu.Lock()
	if c.writing || c.transport != t || c.ctx.Err() != nil || !c.hasWorkLocked() {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.mu.Unlock()
	c.write(true)
}

// writeFailed ends the writer after a failed write on t.
func (c *Conn) writeFailed(t transports.Transport, err error) {
	c.mu.Lock()
	c.writing = false
	current := c.transport == t
	if !current {
		c.startWriterLocked() // a resumed link took over: carry on there
	}
	c.mu.Unlock()
	if current {
		c.linkLost(t, err)
	}
}

// nextUnitLocked gathers what the writer sends next, in the order the client must
// see it: the handshake reply; on a resumed link the Sequence message and the
// unacked messages again; an Ack and a Ping when due; the queued messages (up to
// maxBatch bytes; on a stateful connection, as many as the reconnect buffer has
// room for); and once nothing is queued, the Close message. It also returns how
// many of the frames are messages the access log counts: not the handshake reply,
// Pings, Acks or Sequences. c.mu is held.
func (c *Conn) nextUnitLocked(frames [][]byte) (_ [][]byte, messages int) {
	if c.reply != nil {
		frames = append(frames, c.reply)
		c.reply = nil
	}
	n := batchLen(c.queue)
	if r := c.resume; r != nil {
		start, next, announced := len(frames), r.first+int64(r.resent), r.announce
		frames, messages = r.control(c, frames)
		if !c.closing {
			n = r.admit(c.queue[:n], c.hub.opts.StatefulReconnectBufferSize)
		}
		r.track(c.queue[:n])
		if c.kind == transports.LongPolling && !announced && r.first+int64(r.resent) > next {
			// Each poll answer says the number of its first message: an answer lost
			// unseen (a browser sends a failed poll again by itself) shows as a gap,
			// and the client resumes instead of numbering the next ones wrong.
			seq, _ := c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.SequenceType, SequenceID: next})
			frames = slices.Insert(frames, start, seq)
		}
	}
	if c.pingDue {
		c.pingDue = false
		ping, _ := c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.PingType})
		frames = append(frames, ping)
	}
	for _, f := range c.queue[:n] {
		c.queueBytes -= len(f)
	}
	frames = append(frames, c.queue[:n]...)
	messages += n
	left := copy(c.queue, c.queue[n:])
	clear(c.queue[left:])
	c.queue = c.queue[:left]
	if left == 0 && c.closeMsg != nil {
		frames = append(frames, c.closeMsg)
		c.closeMsg = nil
		messages++
	}
	return frames, messages
}

// sendUnit joins frames into one unit: the protocol allows many records per
// WebSocket message, SSE event or poll response, and one write beats many.
// messages is how many of the frames the access log counts (nextUnitLocked). They
// are counted before the write: a client that closes as soon as it reads a Close
// message may end the connection, and have it logged, before Send returns.
func (c *Conn) sendUnit(t transports.Transport, frames [][]byte, messages int) error {
	if len(frames) == 1 {
		c.hub.opts.Observer.Sent(c.hub.opts.Name, c.kind, len(frames[0]), 1)
		c.traffic.sent(len(frames[0]), messages)
		return t.Send(c.ctx, frames[0])
	}
	bp := unitPool.Get().(*[]byte)
	unit := (*bp)[:0]
	for _, f := range frames {
		unit = append(unit, f...)
	}
	c.hub.opts.Observer.Sent(c.hub.opts.Name, c.kind, len(unit), len(frames))
	c.traffic.sent(len(unit), messages)
	err := t.Send(c.ctx, unit)
	if cap(unit) <= 64<<10 {
		*bp = unit[:0]
		unitPool.Put(bp)
	}
	return err
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
		c.logAccess(reason, serverClosed)
		c.mu.Lock()
		connecting := c.connecting
		c.mu.Unlock()
		if connecting != nil {
			<-connecting
		}
		if c.connected.Load() {
			c.hub.opts.Observer.Disconnected(c.hub.opts.Name, c.kind, reason)
			c.hub.disconnected(c, reason)
		}
		c.mu.Lock()
		c.finished = true
		if c.done != nil {
			close(c.done)
		}
		c.mu.Unlock()
	})
}

// newLink returns the Receiver for a transport about to be attached. From now on
// only its units are taken: a link that this one replaces may still be delivering.
// On a stateful connection the client is ignored from here until its Sequence
// message arrives (it replays what it sent after it).
func (c *Conn) newLink() transports.Receiver {
	link := c.link.Add(1)
	c.mu.Lock()
	if c.resume != nil {
		c.resume.awaiting.Store(true)
	}
	c.mu.Unlock()
	return func(unit []byte) {
		c.recvMu.Lock()
		defer c.recvMu.Unlock()
		if c.link.Load() == link {
			c.receive(unit)
		}
	}
}

// receive takes the units of the current link, one at a time and in order. It
// parses and routes messages but never runs a hub method itself.
func (c *Conn) receive(unit []byte) {
	c.lastRecv.Store(time.Now().UnixNano())
	c.hub.opts.Observer.Received(c.hub.opts.Name, c.kind, len(unit))
	c.traffic.received(unit)
	if c.isClosing() {
		return
	}
	limit := c.hub.opts.TransportOptions.MaxReceiveSize
	if !c.handshaken.Load() {
		// The handshake is a JSON record whatever the protocol it names.
		if int64(recordLen(protocol.JSON, unit)) > limit {
			text, _ := messageTooLarge(limit)
			c.refuseHandshake("An unexpected error occurred during connection handshake. " + text)
			return
		}
		rest, ok := c.handshake(unit)
		if !ok {
			return
		}
		unit = rest
	}
	unit, oversized := recordsWithin(c.proto, unit, limit)
	msgs, err := c.proto.ParseMessages(unit, nil)
	c.traffic.receivedMessages(msgs)
	if c.resume != nil {
		c.resume.sinceAck += len(unit)
	}
	for i := range msgs {
		if c.resume != nil && !c.resume.take(c, &msgs[i]) {
			continue
		}
		if !c.allow(&msgs[i]) {
			if c.strikes >= c.hub.opts.RateLimitStrikes {
				c.hub.logSampled(slog.LevelWarn, "hub: closing a connection over its rate limit", "hub", c.hub.opts.Name, "connection", c.id, "limit", c.hub.opts.MaxMessagesPerSecond)
				c.closeWith("Connection closed: too many messages.", false, ErrRateLimited)
				return
			}
			continue
		}
		if c.isClosing() || !c.route(&msgs[i]) {
			return
		}
	}
	switch {
	case err != nil:
		c.hub.logSampled(slog.LevelInfo, "hub: invalid message from client", "hub", c.hub.opts.Name, "connection", c.id, "err", err)
		c.closeWith("Connection closed with an error. InvalidDataException: "+err.Error(), false, nil)
	case oversized:
		c.hub.logSampled(slog.LevelWarn, "hub: message over the size limit; connection closed", "hub", c.hub.opts.Name, "connection", c.id, "limit", limit)
		text, reason := messageTooLarge(limit)
		c.closeWith("Connection closed with an error. "+text, false, reason)
	}
}

// allow takes a token from the inbound bucket for m. A refused invocation is told
// why; every refusal is a strike.
func (c *Conn) allow(m *protocol.Message) bool {
	if m.Type == protocol.PingType {
		return true
	}
	opts := &c.hub.opts
	now := monotonicNow()
	if c.refilledAt == 0 {
		c.tokens = float64(opts.MessageBurst)
	} else {
		c.tokens = min(float64(opts.MessageBurst), c.tokens+(now-c.refilledAt).Seconds()*opts.MaxMessagesPerSecond)
	}
	c.refilledAt = now
	if c.tokens >= 1 {
		c.tokens--
		return true
	}
	c.strikes++
	if c.strikes == 1 {
		c.hub.logSampled(slog.LevelInfo, "hub: inbound rate limit hit", "hub", opts.Name, "connection", c.id, "limit", opts.MaxMessagesPerSecond)
	}
	if (m.Type == protocol.InvocationType || m.Type == protocol.StreamInvocationType) && m.InvocationID != "" {
		c.complete(m.InvocationID, m.Target, nil, NewError("Rate limit exceeded: at most %g messages per second.", opts.MaxMessagesPerSecond))
	}
	return false
}

// handshake reads the handshake request and answers it. On success it returns the
// bytes after the request.
func (c *Conn) handshake(unit []byte) ([]byte, bool) {
	req, rest, err := protocol.ParseHandshakeRequest(unit)
	p := protocolNamed(req.Protocol)
	var reply string
	switch {
	case err != nil:
		reply = "An unexpected error occurred during connection handshake. " + err.Error()
	case p == nil:
		reply = fmt.Sprintf("The protocol '%s' is not supported.", req.Protocol)
	case req.Version < 0 || req.Version > p.Version():
		reply = fmt.Sprintf("The server does not support version %d of the '%s' protocol.", req.Version, req.Protocol)
	case isBinary(p) && c.kind == transports.ServerSentEvents:
		// ASP.NET Core's words: SSE carries text only.
		reply = fmt.Sprintf("Cannot use the '%s' protocol on the current transport. The transport does not support '%s' transfer format.", p.Name(), p.TransferFormat())
	}
	if reply != "" {
		c.refuseHandshake(reply)
		return nil, false
	}
	c.proto = p
	c.handshaken.Store(true)
	// Reachable before the client can see the reply: a message sent to it by anyone
	// once it knows it is connected must find it. The reply still goes first, as it
	// is queued before the connection can be found.
	c.mu.Lock()
	c.setFrameTypeLocked()
	c.reply = protocol.AppendHandshakeResponse(nil, "")
	if c.canResume && req.Version >= 2 {
		c.resume = newResumeState()
	}
	if c.handshakeTimer != nil {
		c.handshakeTimer.Stop()
		c.handshakeTimer = nil
	}
	c.mu.Unlock()
	c.hub.addConn(c)
	c.mu.Lock()
	c.startWriterLocked()
	c.mu.Unlock()
	go c.onConnected()
	return rest, true
}

// refuseHandshake answers the handshake with an error, which ends the connection.
func (c *Conn) refuseHandshake(reply string) {
	c.hub.logSampled(slog.LevelInfo, "hub: handshake refused", "hub", c.hub.opts.Name, "connection", c.id, "reason", reply)
	c.mu.Lock()
	c.reply = protocol.AppendHandshakeResponse(nil, reply)
	c.closing = true
	c.startWriterLocked()
	c.mu.Unlock()
}

// route handles one message. It returns false when the connection is over.
func (c *Conn) route(m *protocol.Message) bool {
	switch m.Type {
	case protocol.InvocationType, protocol.StreamInvocationType:
		cl := c.prepare(m)
		if c.calls == nil {
			c.calls = make(chan *call, c.hub.opts.InvocationQueueLength)
			c.slots = make(chan struct{}, c.hub.opts.MaxParallelInvocations)
			c.mu.Lock()
			c.drained = make(chan struct{}, 1)
			if !c.isReady {
				c.ready = make(chan struct{})
			}
			c.mu.Unlock()
		}
		select {
		case c.calls <- cl:
		case <-c.ctx.Done():
			c.release(cl)
			return false
		}
		if c.dispatching.CompareAndSwap(false, true) {
			go c.dispatch()
		}
	case protocol.StreamItemType:
		c.invMu.Lock()
		up := c.uploads[m.InvocationID]
		c.invMu.Unlock()
		if up == nil {
			c.hub.opts.Logger.Debug("hub: stream item for an unknown stream", "connection", c.id, "stream", m.InvocationID)
			return true
		}
		item := reflect.New(up.elem)
		if err := c.proto.DecodeValue(m.Item, item.Interface()); err != nil {
			c.closeWith(fmt.Sprintf("Connection closed with an error. InvalidDataException: stream item for stream '%s': %v", m.InvocationID, err), false, nil)
			return false
		}
		// Never waits for the handler (see upload): what follows must be read.
		if !up.put(c, item.Elem(), len(m.Item)) {
			c.hub.logSampled(slog.LevelInfo, "hub: upload stream overran its backlog", "hub", c.hub.opts.Name, "connection", c.id, "stream", m.InvocationID, "limit", c.hub.opts.MaxStreamBacklogBytes)
			up.cancel(NewError("Stream '%s' overran its buffer: the server did not keep up with its items (limit %d bytes).", m.InvocationID, c.hub.opts.MaxStreamBacklogBytes))
		}
	case protocol.CompletionType:
		c.invMu.Lock()
		if reply, ok := c.results[m.InvocationID]; ok {
			delete(c.results, m.InvocationID)
			c.invMu.Unlock()
			reply <- *m
			return true
		}
		up := c.uploads[m.InvocationID]
		delete(c.uploads, m.InvocationID)
		c.invMu.Unlock()
		switch {
		case up != nil && m.HasError:
			// The client's source failed: the handler must not take what it got so
			// far for the whole stream.
			c.hub.logSampled(slog.LevelInfo, "hub: client ended an upload stream with an error", "hub", c.hub.opts.Name, "connection", c.id, "stream", m.InvocationID, "err", m.Error)
			up.cancel(NewError("Stream '%s' ended with an error: %s", m.InvocationID, m.Error))
		case up != nil:
			up.finish()
		}
	case protocol.CancelInvocationType:
		c.invMu.Lock()
		cl := c.invocations[m.InvocationID]
		c.invMu.Unlock()
		if cl != nil {
			cl.cancel(errInvocationCanceled)
		}
	case protocol.CloseType:
		// The client is leaving: no Close message back, just end.
		c.finish(transports.ErrClosed)
		return false
	}
	return true
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

// dispatch starts the invocations waiting in calls, in order, once OnConnected has
// returned, and exits when none is left: an idle connection has no dispatcher. It
// runs apart from the receive path so that a handler waiting for a client result
// (Conn.Invoke) still gets the client's Completion.
func (c *Conn) dispatch() {
	c.mu.Lock()
	ready, isReady := c.ready, c.isReady
	c.mu.Unlock()
	if !isReady {
		select {
		case <-ready:
		case <-c.ctx.Done():
			return
		}
	}
	for {
		select {
		case cl := <-c.calls:
			c.invoke(cl)
			continue
		case <-c.ctx.Done():
			return
		default:
		}
		c.dispatching.Store(false)
		// A call may have arrived between the empty check and the store.
		if len(c.calls) == 0 || !c.dispatching.CompareAndSwap(false, true) {
			return
		}
	}
}

// completion queues a Completion; with an empty id (fire-and-forget) it only logs errors.
func (c *Conn) complete(id, method string, result protocol.RawValue, err error) {
	if err != nil && id == "" {
		c.hub.logFailure(slog.LevelInfo, "hub: fire-and-forget invocation failed", err, "hub", c.hub.opts.Name, "connection", c.id, "method", method)
		return
	}
	if id == "" {
		return
	}
	m := protocol.Message{Type: protocol.CompletionType, InvocationID: id, Result: result}
	if err != nil {
		m.Result = nil
		m.Error, m.HasError = errorText(method, err, c.hub.opts.DetailedErrors), true
		var hubErr *Error
		var bindErr *bindingError
		if !errors.As(err, &hubErr) && !errors.As(err, &bindErr) {
			c.hub.logFailure(slog.LevelWarn, "hub: method failed", err, "hub", c.hub.opts.Name, "connection", c.id, "method", method)
		}
	}
	if frame, encErr := c.encode(&m); encErr == nil {
		c.enqueue(frame)
	}
}

// call is an invocation between its arrival and its end. It is registered as soon
// as it arrives, so that a CancelInvocation or a stream item that follows it at once
// finds it even before the dispatcher has started it.
type call struct {
	msg     protocol.Message
	method  *method // nil for an unknown method
	ctx     context.Context
	cancel  context.CancelCauseFunc // the cause is what a call with uploads answers
	uploads []*upload
	streams int // streams this call holds against Options.MaxStreams
	// registered: the call holds its IDs and stream slots (guarded by Conn.invMu)
	registered bool
	// answered: Hub.Close's drain has sent the call's error Completion, so nobody
	// else may (guarded by Conn.invMu)
	answered bool
	err      error // set when the call is refused before it runs
}

// prepare registers a call that has just arrived.
func (c *Conn) prepare(m *protocol.Message) *call {
	ctx, cancel := context.WithCancelCause(c.ctx)
	cl := &call{msg: *m, method: c.hub.method(m.Target), ctx: ctx, cancel: cancel}
	meth := cl.method
	if meth != nil && len(m.StreamIDs) == len(meth.uploads) {
		for i := range m.StreamIDs {
			elem := meth.args[meth.uploads[i]].Elem()
			ch := reflect.MakeChan(reflect.ChanOf(reflect.BothDir, elem), c.hub.opts.StreamBufferCapacity)
			cl.uploads = append(cl.uploads, &upload{ch: ch, elem: elem, ctx: ctx, cancel: cancel})
		}
		cl.streams = len(cl.uploads)
		if meth.stream != notStreaming {
			cl.streams++
		}
	}
	c.invMu.Lock()
	defer c.invMu.Unlock()
	c.running++ // until release
	refuse := func(err error) *call {
		cl.err, cl.uploads, cl.streams = err, nil, 0
		return cl
	}
	if _, inUse := c.invocations[m.InvocationID]; inUse && m.InvocationID != "" {
		return refuse(NewError("Invocation ID '%s' is already in use.", m.InvocationID))
	}
	for _, id := range m.StreamIDs {
		if _, inUse := c.uploads[id]; inUse {
			return refuse(NewError("Stream ID '%s' is already in use.", id))
		}
	}
	if cl.streams > 0 && c.streams+cl.streams > c.hub.opts.MaxStreams {
		return refuse(NewError("Too many streams open on this connection (limit %d).", c.hub.opts.MaxStreams))
	}
	c.streams += cl.streams
	cl.registered = true
	if m.InvocationID != "" {
		if c.invocations == nil {
			c.invocations = map[string]*call{}
		}
		c.invocations[m.InvocationID] = cl
	}
	for i, up := range cl.uploads {
		if c.uploads == nil {
			c.uploads = map[string]*upload{}
		}
		c.uploads[m.StreamIDs[i]] = up
		// However the call ends, its handler sees its streams closed: one that
		// ranges over them returns instead of leaking.
		context.AfterFunc(ctx, func() { up.abort(c) })
	}
	return cl
}

// release forgets a call that has ended and cancels its context; it is called
// once per call. It reports whether the call is still to be answered (see
// unregister).
func (c *Conn) release(cl *call) bool {
	c.invMu.Lock()
	c.unregisterLocked(cl)
	answer := !cl.answered
	c.running--
	idle := c.running == 0
	c.invMu.Unlock()
	cl.cancel(nil)
	if idle {
		c.hub.wakeDrain()
	}
	return answer
}

// unregister frees a call's invocation ID, stream IDs and stream slots, so that a
// client that sees the call's Completion may reuse them at once. Idempotent. It
// reports whether the call is still to be answered: false once Hub.Close's drain
// has answered it.
func (c *Conn) unregister(cl *call) bool {
	c.invMu.Lock()
	defer c.invMu.Unlock()
	c.unregisterLocked(cl)
	return !cl.answered
}

func (c *Conn) unregisterLocked(cl *call) {
	if !cl.registered {
		return
	}
	cl.registered = false
	c.streams -= cl.streams
	if id := cl.msg.InvocationID; id != "" {
		delete(c.invocations, id)
	}
	for _, id := range cl.msg.StreamIDs {
		delete(c.uploads, id)
	}
}

// invoke binds a call to its handler and starts it.
func (c *Conn) invoke(cl *call) {
	m, meth := &cl.msg, cl.method
	fail := func(err error) {
		if c.release(cl) {
			c.complete(m.InvocationID, m.Target, nil, err)
		}
	}
	switch {
	case meth == nil:
		fail(&bindingError{msg: fmt.Sprintf("Unknown hub method '%s'", m.Target)})
		return
	case cl.err != nil:
		fail(cl.err)
		return
	case m.Type == protocol.StreamInvocationType && meth.stream == notStreaming:
		fail(&bindingError{msg: fmt.Sprintf("The client attempted to invoke the non-streaming '%s' method with a streaming invocation.", meth.name)})
		return
	case m.Type == protocol.InvocationType && meth.stream != notStreaming:
		fail(&bindingError{msg: fmt.Sprintf("The client attempted to invoke the streaming '%s' method with a non-streaming invocation.", meth.name)})
		return
	}
	args, err := c.bind(cl)
	if err != nil {
		fail(err)
		return
	}
	if meth.stream != notStreaming {
		go c.run(cl, args, nil)
		return
	}
	select {
	case c.slots <- struct{}{}:
		go c.run(cl, args, c.slots)
	case <-c.ctx.Done():
		c.release(cl)
	}
}

// bind decodes the arguments of a call into the handler's parameter types.
func (c *Conn) bind(cl *call) ([]reflect.Value, error) {
	m, meth := &cl.msg, cl.method
	if len(m.Arguments) != meth.valueArgs {
		return nil, bindFailure(meth.name, "Invocation provides %d argument(s) but target expects %d.", len(m.Arguments), meth.valueArgs)
	}
	if len(m.StreamIDs) != len(meth.uploads) {
		return nil, bindFailure(meth.name, "Invocation provides %d stream(s) but target expects %d.", len(m.StreamIDs), len(meth.uploads))
	}
	args := make([]reflect.Value, 0, len(meth.args)+1)
	next, nextUpload := 0, 0
	for _, t := range meth.args {
		if t.Kind() == reflect.Chan && t.ChanDir() == reflect.RecvDir {
			args = append(args, cl.uploads[nextUpload].ch.Convert(t))
			nextUpload++
			continue
		}
		v := reflect.New(t)
		raw := m.Arguments[next]
		if err := c.proto.DecodeValue(raw, v.Interface()); err != nil || (isNull(c.proto, raw) && !nullable(t)) {
			return nil, bindFailure(meth.name, "Error binding arguments. Argument %d cannot be read as %s (got %s).", next+1, t, shortValue(c.proto, raw))
		}
		next++
		args = append(args, v.Elem())
	}
	return args, nil
}

// isNull reports whether a value is null (nil in MessagePack).
func isNull(p protocol.Protocol, raw protocol.RawValue) bool {
	if isBinary(p) {
		return len(raw) == 1 && raw[0] == msgpackNil
	}
	return string(bytes.TrimSpace(raw)) == "null"
}

// msgpackNil is MessagePack's nil.
const msgpackNil = 0xc0

// nullable reports whether null is a meaningful value of t, as it is for pointers,
// maps, slices and interfaces. Elsewhere JSON decoding would quietly turn null into
// a zero value, which would hide a client's mistake.
func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return true
	}
	return false
}

// shortValue quotes the start of a value for an error message: text as it is,
// a binary encoding in hex.
func shortValue(p protocol.Protocol, raw protocol.RawValue) string {
	if isBinary(p) {
		if len(raw) > 16 {
			return fmt.Sprintf("0x%x...", raw[:13])
		}
		return fmt.Sprintf("0x%x", []byte(raw))
	}
	if len(raw) > 32 {
		return string(raw[:29]) + "..."
	}
	return string(raw)
}
