package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// Conn is one connection to a hub. Create it with [Dial], or with [New] and Start when
// handlers must be registered before the first message can arrive.
//
// A Conn is one connection: once it has ended (Done is closed) it cannot be
// restarted; dial again for a new one, with a new connection ID.
//
// Concurrency: every method may be called from any goroutine. Handlers registered
// with On and OnInvoke run one at a time, in arrival order, on a goroutine of the
// connection; they may call Invoke, Send and [Conn.Stream] (replies are read by another
// goroutine, so this does not deadlock) and Close.
type Conn struct {
	url   string
	opts  Options
	proto protocol.Protocol // opts.Protocol: encodes every message and value
	log   *slog.Logger
	sess  *session

	// Set by Start before ready is closed; read-only afterwards.
	kind         transports.Kind
	connectionID string
	connectURL   string // {hub}?id=<token>: where links are resumed
	stateful     bool   // stateful reconnect negotiated

	// The link carrying the connection (link.go). The reader replaces it on a
	// resume; linkUp hands a resumed link to the writer.
	linkMu sync.Mutex
	link   *link
	linkUp chan *link // buffered 1
	// pollLinks counts the long-polling links opened to resume the connection;
	// each carries its number on its requests (&link=N), so that the server can
	// tell a poll of an abandoned link that arrives late (docs/reconnect.md).
	// Touched by the reader only.
	pollLinks uint64

	// Stateful reconnect: the sent messages kept until acked, the highest number
	// received (what the next Ack says), and the writer's cue to send an Ack.
	sent     sendBuffer
	recvSeq  atomic.Int64
	ackNow   chan struct{} // buffered 1
	ackArmed atomic.Bool

	epoch    time.Time    // origin of the monotonic clock below
	lastRecv atomic.Int64 // ns since epoch of the last unit received
	lastSent atomic.Int64 // ns since epoch of the last unit sent
	stats    counters

	started atomic.Bool
	ready   chan struct{} // closed once the handshake succeeded

	// Ending. fail records the first cause and cancels closingCtx; the supervisor
	// tears down and closes done.
	closeOnce  sync.Once
	cause      error // written before closingCtx is canceled
	local      bool  // Close was called; written with cause
	closingCtx context.Context
	closing    context.CancelFunc
	done       chan struct{}

	// handlerCtx is handed to OnInvoke handlers; canceled when the connection has
	// ended (after the reader and writer stopped).
	handlerCtx    context.Context
	handlerCancel context.CancelFunc
	// sendCtx bounds the writer's transport writes; canceled early on an abnormal
	// end, a few seconds after Close on a normal one.
	sendCtx    context.Context
	sendCancel context.CancelFunc

	handshakeResult chan error // the reader's verdict on the handshake reply
	out             chan *outbound
	inbox           chan protocol.Message
	readerDone      chan struct{}
	writerDone      chan struct{}
	dispatcherDone  chan struct{}
	inHandler       atomic.Bool
	wg              sync.WaitGroup // upload pumps

	nextID atomic.Uint64

	mu             sync.Mutex
	pending        map[string]*pending
	handlers       map[string][]*handlerEntry // key: lower-case target
	resultHandlers map[string]ResultHandler   // key: lower-case target

	timerMu     sync.Mutex
	serverTimer *time.Timer // nil when ServerTimeout is off or stopped
	ackTimer    *time.Timer // nil until the first ack was planned
}

// outbound is one or more framed records waiting for the writer.
type outbound struct {
	data      []byte
	n         int        // records in data
	done      chan error // buffered; receives the write's outcome. nil: nobody waits
	trackable bool       // one message of types 1-5: numbered when stateful
	finished  atomic.Bool
}

// finish reports the write's outcome, once.
func (it *outbound) finish(err error) {
	if it.done != nil && it.finished.CompareAndSwap(false, true) {
		it.done <- err
	}
}

// pending is an invocation waiting for its Completion.
type pending struct {
	method string
	result chan completion // Invoke; buffered 1
	stream *Stream         // Stream
}

type completion struct {
	result Result
	err    error
}

// Limits of the writer and of Close.
const (
	// maxBatch caps what the writer puts into one unit (one WebSocket message or one
	// POST) when several messages are queued. Servers cap each message (ASP.NET
	// Core and Hubbub at 32 KiB by default), but Hubbub before its
	// MaxTransportMessageSize capped the whole unit there. A single larger message
	// is sent alone.
	maxBatch = 16 << 10
	// closeFlushTimeout bounds how long Close waits for the queued messages and the
	// Close message to be written.
	closeFlushTimeout = 5 * time.Second
	// releaseTimeout bounds the transport's last act: the WebSocket close, the long
	// polling DELETE.
	releaseTimeout = 5 * time.Second
)

// handshakeRequest is the handshake request for proto (JSON text, whatever the
// protocol): version 2 asks for stateful reconnect's Ack and Sequence messages,
// sent when the server agreed to it at negotiate; version 1 otherwise.
func handshakeRequest(proto protocol.Protocol, stateful bool) []byte {
	version := 1
	if stateful {
		version = 2
	}
	req, _ := json.Marshal(struct {
		Protocol string `json:"protocol"`
		Version  int    `json:"version"`
	}{proto.Name(), version})
	return append(req, 0x1e)
}

// Dial connects to the hub at url (e.g. "http://127.0.0.1:8080/hubs/chat"):
// negotiate, connect a transport (falling back to the next one if it fails), and the
// hub handshake. ctx bounds only these steps; the connection then lives until Close,
// the server or the network ends it.
//
// Messages the server sends before a handler is registered with On are dropped;
// when a hub sends on connect, use [New], register the handlers, then Start.
func Dial(ctx context.Context, url string, opts Options) (*Conn, error) {
	c, err := New(url, opts)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// New returns a connection to the hub at url that is not started yet: register
// handlers with On and OnInvoke, then call Start. It checks the URL and does no I/O.
func New(url string, opts Options) (*Conn, error) {
	base, err := parseHubURL(url)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if opts.SkipNegotiation && opts.Transports != transports.WebSockets {
		return nil, errors.New("client: SkipNegotiation requires Transports to be exactly transports.WebSockets")
	}
	if opts.Protocol.TransferFormat() == protocol.BinaryFormat && opts.Transports&^transports.ServerSentEvents == 0 {
		return nil, fmt.Errorf("%w: the %s protocol needs the Binary transfer format, which ServerSentEvents cannot carry; allow WebSockets or LongPolling", ErrNoTransport, opts.Protocol.Name())
	}
	c := &Conn{
		url:             base,
		opts:            opts,
		proto:           opts.Protocol,
		log:             opts.Logger,
		epoch:           time.Now(),
		ready:           make(chan struct{}),
		done:            make(chan struct{}),
		handshakeResult: make(chan error, 1),
		out:             make(chan *outbound, opts.MaxQueueLength),
		inbox:           make(chan protocol.Message, opts.MaxQueueLength),
		readerDone:      make(chan struct{}),
		linkUp:          make(chan *link, 1),
		ackNow:          make(chan struct{}, 1),
		writerDone:      make(chan struct{}),
		dispatcherDone:  make(chan struct{}),
		pending:         make(map[string]*pending),
		handlers:        make(map[string][]*handlerEntry),
		resultHandlers:  make(map[string]ResultHandler),
	}
	c.closingCtx, c.closing = context.WithCancel(context.Background())
	c.handlerCtx, c.handlerCancel = context.WithCancel(context.Background())
	c.sendCtx, c.sendCancel = context.WithCancel(context.Background())
	c.sess = newSession(&c.opts)
	c.sent.init(opts.StatefulReconnectBufferSize)
	return c, nil
}

// Start connects: negotiate, transport (with fallback), handshake. It may be
// called once. On failure the connection has ended: Done is closed and Err returns
// the same error as Start. ctx bounds only the start; canceling it later has no
// effect on the connection.
func (c *Conn) Start(ctx context.Context) error {
	if c.closingCtx.Err() != nil {
		return c.closedErr()
	}
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("client: Start called more than once")
	}
	// Close during the start aborts it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.closingCtx, cancel)
	defer stop()

	cn, err := c.connect(ctx)
	if err != nil {
		if c.closingCtx.Err() != nil && c.cause == ErrClosed {
			err = fmt.Errorf("%w during Start: %w", ErrClosed, err)
		}
		c.fail(err, false)
		c.finish()
		return err
	}
	c.kind, c.connectionID, c.connectURL, c.stateful = cn.tr.kind(), cn.connectionID, cn.connectURL, cn.stateful
	c.link = newLink(cn.tr)
	if lp, ok := cn.tr.(*lpTransport); ok && !c.stateful {
		// Without stateful reconnect, failed polls are retried on the connection.
		lp.retry = &pollRetry{window: c.opts.ReconnectWindow, onRetry: c.reconnecting, onRecovered: func() { c.reconnected(false) }}
	}
	connectionID := cn.connectionID
	c.log.Debug("client: transport connected", "url", c.url, "transport", c.kind, "connectionId", connectionID, "stateful", c.stateful)

	now := c.now()
	c.lastRecv.Store(now)
	c.lastSent.Store(now)
	if c.kind != transports.LongPolling && c.opts.ServerTimeout > 0 {
		c.timerMu.Lock()
		c.serverTimer = time.AfterFunc(c.opts.ServerTimeout, c.checkServerTimeout)
		c.timerMu.Unlock()
	}
	go c.supervise()
	go c.readLoop()
	go c.writeLoop()
	go c.dispatchLoop()

	fail := func(err error) error {
		c.fail(err, false)
		<-c.done
		return c.cause
	}
	hs := &outbound{data: handshakeRequest(c.proto, c.stateful), n: 1, done: make(chan error, 1)}
	if err := c.enqueue(ctx, hs); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrHandshake, err))
	}
	timer := time.NewTimer(c.opts.HandshakeTimeout)
	defer timer.Stop()
	written := hs.done
	for {
		select {
		case err := <-written:
			written = nil
			if err != nil {
				return fail(fmt.Errorf("%w: sending the handshake request: %w", ErrHandshake, err))
			}
			continue
		case err := <-c.handshakeResult:
			if err != nil {
				return fail(err)
			}
		case <-timer.C:
			return fail(fmt.Errorf("%w: %w: no handshake reply within %s", ErrHandshake, ErrTimeout, c.opts.HandshakeTimeout))
		case <-ctx.Done():
			// The reader hands over the handshake's outcome before it acts on the
			// messages behind it: a connection the server closes right after a
			// successful handshake has started (and ended; Err tells why).
			select {
			case err := <-c.handshakeResult:
				if err != nil {
					return fail(err)
				}
				break
			default:
				if c.closingCtx.Err() != nil {
					<-c.done
					return c.closedErr()
				}
				return fail(fmt.Errorf("%w: %w", ErrHandshake, ctx.Err()))
			}
		}
		break
	}
	// As the official client: a Ping right after the handshake, so that the server
	// arms its client timeout (not on long polling, which needs no keep-alive).
	if c.kind != transports.LongPolling {
		if c.enqueueMessage(ctx, &protocol.Message{Type: protocol.PingType}, false) == nil {
			c.stats.pingsSent.Add(1)
		}
	}
	close(c.ready)
	c.log.Debug("client: connected", "url", c.url, "transport", c.kind, "connectionId", connectionID)
	return nil
}

// ConnectionID returns the connection's public ID from negotiate: the one hub code
// and other clients see. Empty before Start and with SkipNegotiation.
func (c *Conn) ConnectionID() string {
	if !c.isReady() {
		return ""
	}
	return c.connectionID
}

// Transport returns the transport in use, e.g. [transports.WebSockets]; zero before
// Start has connected one.
func (c *Conn) Transport() transports.Kind {
	if !c.isReady() {
		return 0
	}
	return c.kind
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection runs. Once Done is closed it tells why it
// ended:
//   - [ErrClosed] after Close;
//   - a *[CloseError] when the server sent a Close message (its text and its
//     AllowReconnect flag);
//   - an error wrapping [ErrTimeout] when the server was silent too long;
//   - an error wrapping the transport's error (an *[HTTPError], a WebSocket close
//     code…) when the transport ended without a Close message, or a protocol error.
//
// All of these wrap ErrClosed. After a failed Start, Err returns Start's error.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.cause
	default:
		return nil
	}
}

// Close ends the connection: it sends what is queued and a Close message (waiting a
// few seconds at most), closes the transport (a WebSocket close frame; the end of
// the SSE stream; for long polling, the end of polling and a DELETE), fails pending
// invocations and streams with [ErrClosed], and returns once the connection's
// goroutines have ended (except a handler that is still running: Close may be called
// from a handler). Close is idempotent and returns nil; Err tells how the connection
// ended.
func (c *Conn) Close() error {
	c.fail(ErrClosed, true)
	if c.started.CompareAndSwap(false, true) {
		c.finish() // never started: nothing else will end it
		return nil
	}
	<-c.done
	if !c.inHandler.Load() {
		<-c.dispatcherDone
	}
	return nil
}

// Stats are counters of one connection's traffic, for tests and load tools.
type Stats struct {
	// MessagesSent and MessagesReceived count hub messages (records), pings and
	// the handshake included.
	MessagesSent, MessagesReceived uint64
	// PingsSent and PingsReceived count Ping messages.
	PingsSent, PingsReceived uint64
	// UnitsSent and UnitsReceived count transport units: WebSocket messages, POSTs,
	// SSE events, non-empty poll responses.
	UnitsSent, UnitsReceived uint64
	// BytesSent and BytesReceived count the bytes of those units.
	BytesSent, BytesReceived uint64
	// Resumes counts links opened to resume the connection after a cut (stateful
	// reconnect), successful or not.
	Resumes uint64
	// AcksSent counts Ack messages sent; Replayed counts messages sent again after
	// a cut; Duplicates counts messages from the server dropped as already
	// received; Discarded counts messages dropped while waiting for the server's
	// Sequence after a cut (the server sends them again).
	AcksSent, Replayed, Duplicates, Discarded uint64
}

type counters struct {
	messagesSent, messagesReceived atomic.Uint64
	pingsSent, pingsReceived       atomic.Uint64
	unitsSent, unitsReceived       atomic.Uint64
	bytesSent, bytesReceived       atomic.Uint64
	resumes, acksSent, replayed    atomic.Uint64
	duplicates, discarded          atomic.Uint64
}

// Stats returns the connection's counters so far.
func (c *Conn) Stats() Stats {
	return Stats{
		MessagesSent:     c.stats.messagesSent.Load(),
		MessagesReceived: c.stats.messagesReceived.Load(),
		PingsSent:        c.stats.pingsSent.Load(),
		PingsReceived:    c.stats.pingsReceived.Load(),
		UnitsSent:        c.stats.unitsSent.Load(),
		UnitsReceived:    c.stats.unitsReceived.Load(),
		BytesSent:        c.stats.bytesSent.Load(),
		BytesReceived:    c.stats.bytesReceived.Load(),
		Resumes:          c.stats.resumes.Load(),
		AcksSent:         c.stats.acksSent.Load(),
		Replayed:         c.stats.replayed.Load(),
		Duplicates:       c.stats.duplicates.Load(),
		Discarded:        c.stats.discarded.Load(),
	}
}

func (c *Conn) now() int64 { return int64(time.Since(c.epoch)) }

func (c *Conn) isReady() bool {
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// waitReady waits for the handshake of a starting connection.
func (c *Conn) waitReady(ctx context.Context) error {
	if !c.started.Load() {
		return errors.New("client: connection not started")
	}
	select {
	case <-c.ready:
		if c.closingCtx.Err() != nil {
			return c.closedErr()
		}
		return nil
	case <-c.closingCtx.Done():
		return c.closedErr()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fail starts ending the connection; the first cause wins.
func (c *Conn) fail(err error, local bool) {
	c.closeOnce.Do(func() {
		c.cause, c.local = err, local
		c.closing()
	})
}

// closedErr is the error for a call on an ended (or ending) connection.
func (c *Conn) closedErr() error {
	<-c.closingCtx.Done()
	if errors.Is(c.cause, ErrClosed) {
		return c.cause
	}
	return fmt.Errorf("%w: %w", ErrClosed, c.cause)
}

// finish ends a connection whose goroutines never started.
func (c *Conn) finish() {
	c.handlerCancel()
	c.sendCancel()
	c.sess.closeIdle()
	close(c.dispatcherDone)
	close(c.done)
}

// supervise tears the connection down once it starts ending.
func (c *Conn) supervise() {
	<-c.closingCtx.Done()
	if c.local {
		// Let the writer flush the queue and the Close message, for a while.
		t := time.AfterFunc(closeFlushTimeout, c.sendCancel)
		<-c.writerDone
		t.Stop()
		c.currentLink().tr.interrupt()
	} else {
		c.sendCancel()
		c.currentLink().tr.interrupt()
		<-c.writerDone
	}
	c.timerMu.Lock()
	if c.serverTimer != nil {
		c.serverTimer.Stop()
		c.serverTimer = nil
	}
	if c.ackTimer != nil {
		c.ackTimer.Stop()
	}
	c.timerMu.Unlock()
	<-c.readerDone
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	c.currentLink().tr.release(ctx)
	cancel()
	c.sendCancel()
	c.handlerCancel()

	// Nothing reads anymore: fail what waits for the server.
	err := c.closedErr()
	c.mu.Lock()
	pend := c.pending
	c.pending = make(map[string]*pending)
	c.mu.Unlock()
	for _, p := range pend {
		if p.stream != nil {
			p.stream.finish(err)
		} else {
			p.result <- completion{err: err}
		}
	}
	c.wg.Wait()
	c.sess.closeIdle()
	if c.cause != ErrClosed {
		c.log.Debug("client: connection ended", "url", c.url, "transport", c.kind, "connectionId", c.connectionID, "err", c.cause)
	}
	close(c.done)
}

func (c *Conn) checkServerTimeout() {
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if c.serverTimer == nil {
		return
	}
	idle := time.Duration(c.now() - c.lastRecv.Load())
	if idle < c.opts.ServerTimeout {
		c.serverTimer.Reset(c.opts.ServerTimeout - idle)
		return
	}
	err := fmt.Errorf("%w: %w: server timeout elapsed without receiving a message from the server (%s)", ErrClosed, ErrTimeout, c.opts.ServerTimeout)
	if c.stateful && c.isReady() {
		// The link is silent, maybe black-holed: cut it and resume.
		c.currentLink().breakOff(err)
		c.lastRecv.Store(c.now())
		c.serverTimer.Reset(c.opts.ServerTimeout)
		return
	}
	c.fail(err, false)
}

// readLoop is the only goroutine that receives from the transport. It owns the
// links: on a stateful connection it resumes a failed one (link.go).
func (c *Conn) readLoop() {
	defer close(c.readerDone)
	l := c.currentLink()
	in := inbound{nextIn: 1}
	var cut *outage // not nil while a link is being resumed
	handshaken := false
	var msgs []protocol.Message
	for {
		unit, err := l.tr.receive()
		if err != nil {
			if c.closingCtx.Err() != nil {
				return // we are closing; the transport was interrupted
			}
			if !handshaken {
				err = fmt.Errorf("%w: the %s transport closed before the handshake reply: %w", ErrHandshake, c.kind, err)
				c.handshakeResult <- err
				c.fail(err, false)
				return
			}
			if why := l.cause(); why != nil {
				err = why // cut on purpose (a failed write, the server timeout): say why
			}
			if !c.stateful || !c.resumable(err) {
				c.fail(c.endError(err), false)
				return
			}
			l.breakOff(err)
			l.tr.discard()
			if cut == nil {
				cut = &outage{since: time.Now(), last: err}
				in.awaiting = true
				c.reconnecting(err)
			} else {
				cut.last = err
			}
			if l, err = c.reopen(cut); err != nil {
				if err != errClosing {
					c.fail(err, false)
				}
				return
			}
			continue
		}
		c.lastRecv.Store(c.now())
		c.stats.unitsReceived.Add(1)
		c.stats.bytesReceived.Add(uint64(len(unit)))
		if !handshaken {
			errText, rest, err := protocol.ParseHandshakeResponse(unit)
			switch {
			case err != nil:
				err = fmt.Errorf("%w: %w", ErrHandshake, err)
			case errText != "":
				err = fmt.Errorf("%w: server returned handshake error: %s", ErrHandshake, errText)
			}
			if err != nil {
				c.handshakeResult <- err
				c.fail(err, false)
				return
			}
			handshaken = true
			c.stats.messagesReceived.Add(1)
			c.handshakeResult <- nil
			unit = rest
		}
		var perr error
		msgs, perr = c.proto.ParseMessages(unit, msgs[:0])
		received := false // trackable messages processed: to ack
		for i := range msgs {
			m := &msgs[i]
			c.stats.messagesReceived.Add(1)
			if c.stateful {
				switch {
				case m.Type == protocol.SequenceType:
					if m.SequenceID > in.processed+1 {
						err := fmt.Errorf("%w: %w: Sequence ID greater than amount of messages we've received (%d > %d)", ErrClosed, ErrProtocol, m.SequenceID, in.processed+1)
						if c.kind == transports.WebSockets {
							c.fail(err, false)
							return
						}
						// Over HTTP an answer can be lost unseen (a request the HTTP stack
						// sent again): resume, and the server sends it again.
						in.awaiting = true
						l.breakOff(err)
						continue
					}
					in.nextIn = m.SequenceID
					if in.awaiting {
						in.awaiting, cut = false, nil
						if c.kind != transports.WebSockets {
							c.handToWriter(l)
						}
						c.reconnected(true)
					}
					continue
				case in.awaiting && m.Type != protocol.CloseType:
					c.stats.discarded.Add(1) // the server sends it again after its Sequence
					continue
				case m.Type == protocol.AckType:
					c.sent.ack(m.SequenceID)
					continue
				case isTrackable(m.Type):
					n := in.nextIn
					in.nextIn++
					if n <= in.processed {
						c.stats.duplicates.Add(1)
						continue
					}
					in.processed = n
					c.recvSeq.Store(n)
					received = true
				}
			}
			if !c.handleMessage(m) {
				return
			}
		}
		if lp, ok := l.tr.(*lpTransport); ok && received {
			lp.ack.Store(in.processed) // the next poll acks
		} else if received {
			in.unacked += len(unit)
			if in.unacked >= ackBytes {
				in.unacked = 0
				c.pokeAck()
			} else {
				c.armAck()
			}
		}
		if perr != nil {
			c.fail(fmt.Errorf("%w: %w: %w", ErrClosed, ErrProtocol, perr), false)
			return
		}
	}
}

// handleMessage acts on one message from the server. It returns false when the
// reader must stop.
func (c *Conn) handleMessage(m *protocol.Message) bool {
	switch m.Type {
	case protocol.InvocationType:
		select {
		case c.inbox <- *m:
		case <-c.closingCtx.Done():
			return false
		}
	case protocol.StreamItemType:
		c.mu.Lock()
		p := c.pending[m.InvocationID]
		if p != nil && p.stream == nil {
			delete(c.pending, m.InvocationID)
		}
		c.mu.Unlock()
		switch {
		case p == nil:
			c.log.Debug("client: StreamItem for an unknown invocation", "invocationId", m.InvocationID)
		case p.stream == nil:
			p.result <- completion{err: fmt.Errorf("%w: a StreamItem arrived for the non-streaming invocation %s", ErrProtocol, p.method)}
		default:
			select {
			case p.stream.items <- m.Item:
			case <-p.stream.canceled:
			case <-c.closingCtx.Done():
				return false
			}
		}
	case protocol.CompletionType:
		c.mu.Lock()
		p := c.pending[m.InvocationID]
		delete(c.pending, m.InvocationID)
		c.mu.Unlock()
		switch {
		case p == nil:
			c.log.Debug("client: Completion for an unknown invocation", "invocationId", m.InvocationID)
		case p.stream != nil:
			if m.HasError {
				p.stream.finish(&InvocationError{Method: p.method, Message: m.Error})
			} else {
				p.stream.finish(io.EOF)
			}
		case m.HasError:
			p.result <- completion{err: &InvocationError{Method: p.method, Message: m.Error}}
		default:
			p.result <- completion{result: Result{Raw: m.Result, proto: c.proto}}
		}
	case protocol.PingType:
		c.stats.pingsReceived.Add(1)
	case protocol.CloseType:
		c.fail(&CloseError{Message: m.Error, AllowReconnect: m.AllowReconnect}, false)
		return false
	default:
		c.log.Debug("client: ignoring message", "type", m.Type)
	}
	return true
}

// enqueue puts it on the send queue, waiting while the queue is full (and, for a
// trackable message of a stateful connection, while the send buffer is).
func (c *Conn) enqueue(ctx context.Context, it *outbound) error {
	if c.closingCtx.Err() != nil {
		return c.closedErr()
	}
	reserved := c.stateful && it.trackable
	if reserved {
		if err := c.sent.reserve(ctx, c.closingCtx, len(it.data)); err != nil {
			if err == errClosing {
				return c.closedErr()
			}
			return err
		}
	}
	select {
	case c.out <- it:
		return nil
	case <-c.closingCtx.Done():
		return c.closedErr()
	case <-ctx.Done():
		if reserved {
			c.sent.release(len(it.data))
		}
		return ctx.Err()
	}
}

// enqueueMessage encodes m and queues it; with wait, it returns once the message
// was written (or failed to be).
func (c *Conn) enqueueMessage(ctx context.Context, m *protocol.Message, wait bool) error {
	data, err := c.proto.AppendMessage(nil, m)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	it := &outbound{data: data, n: 1, trackable: isTrackable(m.Type)}
	if wait {
		it.done = make(chan error, 1)
	}
	if err := c.enqueue(ctx, it); err != nil {
		return err
	}
	if !wait {
		return nil
	}
	return c.waitWritten(ctx, it)
}

func (c *Conn) waitWritten(ctx context.Context, it *outbound) error {
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		select {
		case err := <-it.done:
			return err
		default:
			return c.closedErr()
		}
	}
}

// writeLoop is the only goroutine that sends on the transport. It batches what is
// queued into one unit and sends keep-alive pings and acks.
func (c *Conn) writeLoop() {
	defer close(c.writerDone)
	keepAlive := c.opts.KeepAliveInterval
	if keepAlive <= 0 || c.kind == transports.LongPolling {
		c.writeLoopWith(nil, nil)
		return
	}
	t := time.NewTimer(keepAlive)
	defer t.Stop()
	ping := func(l *link) {
		idle := time.Duration(c.now() - c.lastSent.Load())
		if idle < keepAlive {
			t.Reset(keepAlive - idle)
			return
		}
		t.Reset(keepAlive)
		if l == nil {
			return // no link: nothing to keep alive
		}
		data, _ := c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.PingType})
		if _, ok := c.write(l, []*outbound{{data: data, n: 1}}, nil); ok {
			c.stats.pingsSent.Add(1)
		}
	}
	c.writeLoopWith(t.C, ping)
}

// writeLoopWith is the writer's loop. l is the link it sends on; nil while the
// link is cut, until the reader hands it a resumed one on linkUp.
func (c *Conn) writeLoopWith(tick <-chan time.Time, ping func(*link)) {
	l := c.currentLink()
	var batch []*outbound
	var buf []byte
	var acked int64 // the last number acked
	for {
		if l != nil && l.cause() != nil {
			l = nil // cut while we were busy: write nothing more on it
		}
		var out chan *outbound
		var broken <-chan struct{}
		var ackNow chan struct{}
		var up chan *link
		if l != nil {
			out, broken, ackNow = c.out, l.broken, c.ackNow
		} else {
			up = c.linkUp
		}
		select {
		case nl := <-up:
			if nl.cause() == nil && c.replay(nl, &buf) {
				l = nl
			}
		case <-broken:
			l = nil
		case it := <-out:
			batch = c.collect(append(batch[:0], it))
			c.number(batch)
			var ok bool
			if buf, ok = c.write(l, batch, buf); !ok && c.stateful {
				l = nil
			}
			if c.closingCtx.Err() != nil && !c.local {
				c.drain()
				return
			}
		case <-ackNow:
			n := c.recvSeq.Load()
			if n <= acked {
				continue
			}
			data, _ := c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.AckType, SequenceID: n})
			var ok bool
			if buf, ok = c.write(l, []*outbound{{data: data, n: 1}}, buf); ok {
				acked = n
				c.stats.acksSent.Add(1)
			} else if c.stateful {
				l = nil
			}
		case <-tick:
			ping(l)
		case <-c.closingCtx.Done():
			if !c.local || l == nil {
				c.drain()
				return
			}
			// Close: flush what is queued, then the Close message.
			batch = batch[:0]
			for {
				select {
				case it := <-c.out:
					batch = append(batch, it)
					continue
				default:
				}
				break
			}
			c.number(batch)
			data, _ := c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.CloseType})
			batch = append(batch, &outbound{data: data, n: 1})
			c.write(l, batch, buf)
			return
		}
	}
}

// number keeps the trackable messages of batch in the send buffer, numbered, when
// the connection is stateful.
func (c *Conn) number(batch []*outbound) {
	if !c.stateful {
		return
	}
	for _, it := range batch {
		if it.trackable {
			c.sent.push(it)
		}
	}
}

// replay is the writer's first act on a resumed link: the client's Sequence, then
// every message not acked yet, in order. It reports whether it all went out.
func (c *Conn) replay(l *link, buf *[]byte) bool {
	first, kept := c.sent.unacked()
	data, _ := c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.SequenceType, SequenceID: first})
	items := append([]*outbound{{data: data, n: 1}}, kept...)
	var ok bool
	*buf, ok = c.write(l, items, *buf)
	if ok {
		c.stats.replayed.Add(uint64(len(kept)))
	}
	return ok
}

// collect adds to batch what else is queued, up to maxBatch bytes.
func (c *Conn) collect(batch []*outbound) []*outbound {
	size := len(batch[0].data)
	for size < maxBatch {
		select {
		case it := <-c.out:
			batch = append(batch, it)
			size += len(it.data)
		default:
			return batch
		}
	}
	return batch
}

// drain fails every queued message: the connection ended abnormally.
func (c *Conn) drain() {
	err := c.closedErr()
	for {
		select {
		case it := <-c.out:
			it.finish(err)
		default:
			return
		}
	}
}

// write sends items on l as units of at most maxBatch bytes (a larger item alone)
// and reports the outcome to whoever waits. buf is scratch space, returned for
// reuse; ok is false when a unit failed.
//
// On a stateful connection a failed write cuts the link (or ends the connection,
// see linkFailed) and stops: the trackable items stay in the send buffer, unreported,
// to be written again after the resume.
func (c *Conn) write(l *link, items []*outbound, buf []byte) ([]byte, bool) {
	ok := true
	for len(items) > 0 {
		n, size := 1, len(items[0].data)
		for n < len(items) && size+len(items[n].data) <= maxBatch {
			size += len(items[n].data)
			n++
		}
		g := items[:n]
		items = items[n:]
		var unit []byte
		records := 0
		if len(g) == 1 {
			unit = g[0].data
			records = g[0].n
		} else {
			buf = buf[:0]
			for _, it := range g {
				buf = append(buf, it.data...)
				records += it.n
			}
			unit = buf
		}
		ctx, cancel := context.WithTimeout(c.sendCtx, c.opts.RequestTimeout)
		err := l.tr.send(ctx, unit)
		cancel()
		c.lastSent.Store(c.now())
		if err == nil {
			c.stats.unitsSent.Add(1)
			c.stats.bytesSent.Add(uint64(len(unit)))
			c.stats.messagesSent.Add(uint64(records))
			for _, it := range g {
				it.finish(nil)
			}
			continue
		}
		if c.closingCtx.Err() != nil {
			err = fmt.Errorf("%w (%w)", c.closedErr(), err)
		} else {
			err = fmt.Errorf("client: send on %s: %w", c.kind, err)
		}
		if c.stateful && refused(err) && c.closingCtx.Err() == nil {
			// The server refused this unit and did not count it: take its messages
			// and the rest back, fail this unit's calls, number the rest again.
			rest := 0
			for _, it := range append(g, items...) {
				if it.trackable {
					rest++
				}
			}
			c.sent.unpush(rest)
			for _, it := range g {
				it.finish(err)
			}
			c.number(items)
			continue
		}
		ok = false
		if c.stateful {
			if c.closingCtx.Err() == nil {
				c.linkFailed(l, err)
			}
			for _, it := range append(g, items...) {
				if !it.trackable || c.closingCtx.Err() != nil {
					it.finish(err)
				}
			}
			return buf, false
		}
		if c.kind == transports.WebSockets {
			// A failed WebSocket write leaves the socket unusable.
			c.fail(fmt.Errorf("%w: websocket write: %w", ErrClosed, err), false)
		}
		for _, it := range g {
			it.finish(err)
		}
	}
	return buf, ok
}

// newID returns the next invocation or stream ID: decimal strings from one
// per-connection counter, as the official client.
func (c *Conn) newID() string {
	return strconv.FormatUint(c.nextID.Add(1)-1, 10)
}
