package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// Stateful reconnect (docs/reconnect.md), the client's side.
//
// A connection is carried by one link at a time: one transport exchange (a
// WebSocket, an SSE stream and its POSTs, a run of long polls). The reader owns
// the links: when its link fails (or the writer or the server timer cut it), it
// opens a new one on the same connection token, with backoff, for up to
// Options.ReconnectWindow, and discards what arrives until the server's Sequence.
// The writer stops sending when its link is cut and waits on Conn.linkUp for the
// next one; its first act on it is the client's Sequence and the replay of every
// unacked message. Over WebSockets the reader hands the new link to the writer as
// soon as it is open; over SSE and long polling once the server's Sequence came,
// since the POSTs would race the resuming GET.

// link is one transport exchange carrying the connection.
type link struct {
	tr     transport
	broken chan struct{} // closed once the link is cut
	once   sync.Once
	err    error // why it was cut; written before broken is closed
}

func newLink(tr transport) *link { return &link{tr: tr, broken: make(chan struct{})} }

// breakOff marks the link as cut with err (the first cause wins) and cuts its
// transport, so that its reader and writer return soon. Any goroutine.
func (l *link) breakOff(err error) {
	l.once.Do(func() {
		l.err = err
		close(l.broken)
		l.tr.cut()
	})
}

// cause returns why the link was cut, nil while it is not.
func (l *link) cause() error {
	select {
	case <-l.broken:
		return l.err
	default:
		return nil
	}
}

func (c *Conn) currentLink() *link {
	c.linkMu.Lock()
	defer c.linkMu.Unlock()
	return c.link
}

// install makes l the current link, unless the connection is ending.
func (c *Conn) install(l *link) bool {
	c.linkMu.Lock()
	defer c.linkMu.Unlock()
	if c.closingCtx.Err() != nil {
		return false
	}
	c.link = l
	return true
}

// handToWriter lets the writer send on l (a stale link not taken yet is dropped:
// only the reader sends on linkUp).
func (c *Conn) handToWriter(l *link) {
	select {
	case <-c.linkUp:
	default:
	}
	select {
	case c.linkUp <- l:
	default:
	}
}

// outage is the reader's record of a link being resumed.
type outage struct {
	since   time.Time // the cut
	attempt int       // attempts made so far
	last    error     // the last failure
}

// errClosing tells the reader the connection is ending: it just returns.
var errClosing = errors.New("client: closing")

// reopen opens a new link on the same connection, waiting between attempts, until
// one opens, the server no longer knows the connection (404), the reconnect
// window passes or the connection ends (errClosing).
func (c *Conn) reopen(o *outage) (*link, error) {
	for {
		remaining := c.opts.ReconnectWindow - time.Since(o.since)
		if remaining <= 0 {
			return nil, &lostError{fmt.Errorf("no %s link within the reconnect window (%s): %w", c.kind, c.opts.ReconnectWindow, o.last)}
		}
		if !sleepCtx(c.closingCtx, min(reconnectDelay(o.attempt), remaining)) {
			return nil, errClosing
		}
		o.attempt++
		ctx, cancel := context.WithTimeout(c.closingCtx, min(remaining, c.opts.HandshakeTimeout))
		tr, err := c.openLink(ctx)
		cancel()
		if err == nil {
			l := newLink(tr)
			if !c.install(l) {
				tr.discard()
				return nil, errClosing
			}
			c.lastRecv.Store(c.now())
			c.stats.resumes.Add(1)
			if c.kind == transports.WebSockets {
				c.handToWriter(l) // the Sequence and the replay go out at once
			}
			return l, nil
		}
		if c.closingCtx.Err() != nil {
			return nil, errClosing
		}
		if gone(err) {
			return nil, &lostError{err}
		}
		var he *HTTPError
		if errors.As(err, &he) && he.StatusCode < 500 {
			return nil, fmt.Errorf("%w: resuming the %s link: %w", ErrClosed, c.kind, err)
		}
		o.last = err
		c.log.Debug("client: resume attempt failed", "transport", c.kind, "attempt", o.attempt, "err", err)
	}
}

// openLink opens a new link on the connection token: a WebSocket, an event stream,
// or a long polling transport whose requests carry the link's number and whose
// first poll carries the resume marker.
func (c *Conn) openLink(ctx context.Context) (transport, error) {
	switch c.kind {
	case transports.WebSockets:
		return dialWebSocket(ctx, c.sess, c.connectURL)
	case transports.ServerSentEvents:
		return connectSSE(ctx, c.sess, c.connectURL)
	default:
		c.pollLinks++
		t := newLongPolling(c.sess, withQuery(c.connectURL, "link", strconv.FormatUint(c.pollLinks, 10)))
		t.resumeTimeout = c.opts.HandshakeTimeout
		t.resume.Store(true)
		return t, nil
	}
}

// gone tells the server's answer that it no longer knows the connection.
func gone(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.StatusCode == http.StatusNotFound
}

// resumable tells a link failure after which a stateful connection resumes.
func (c *Conn) resumable(err error) bool {
	var he *HTTPError
	var tl errTooLarge
	var le *lostError
	var wc *wsCloseError
	var cut *writeCut
	switch {
	case errors.As(err, &cut):
		return true // the resume tells whether the server still knows the connection
	case errors.As(err, &le), gone(err), errors.As(err, &wc):
		return false
	case errors.As(err, &he):
		return he.StatusCode >= 500
	case errors.Is(err, io.EOF):
		// A WebSocket's close frame 1000 is the server ending the link on purpose.
		// An SSE stream's end is a cut. A 204 to a poll may be the server ending a
		// link it saw fail just before our poll came: resumed too (a server that
		// ended the connection sent a Close message, or answers the resume 404).
		return c.kind != transports.WebSockets
	case errors.As(err, &tl), errors.Is(err, errEventTooLarge), errors.Is(err, websocket.ErrReadLimit):
		return false
	}
	return true
}

// endError is how a link failure that is not resumed ends the connection.
func (c *Conn) endError(err error) error {
	var le *lostError
	switch {
	case errors.As(err, &le):
		return err
	case gone(err):
		return &lostError{err}
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: the server ended the %s transport", ErrClosed, c.kind)
	case errors.Is(err, ErrClosed):
		return err
	}
	return fmt.Errorf("%w: %s transport: %w", ErrClosed, c.kind, err)
}

// refused tells a POST the server refused (413, 400…) without processing it: the
// connection goes on, only that unit's calls fail.
func refused(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.StatusCode < 500 && he.StatusCode != http.StatusNotFound
}

// linkFailed acts on a failed write on l of a stateful connection: the link is cut
// and resumed. Even a 404 only cuts it: a POST in flight at a cut may reach the
// server after it detached the connection; the resume tells whether the server
// still knows it.
func (c *Conn) linkFailed(l *link, err error) {
	l.breakOff(&writeCut{err})
}

// writeCut is a link cut by a failed write: always resumed.
type writeCut struct{ err error }

func (e *writeCut) Error() string { return e.err.Error() }
func (e *writeCut) Unwrap() error { return e.err }

func (c *Conn) reconnecting(err error) {
	c.log.Debug("client: link lost, reconnecting", "transport", c.kind, "connectionId", c.connectionID, "err", err)
	if f := c.opts.OnReconnecting; f != nil {
		c.call("OnReconnecting", func() { f(err) })
	}
}

func (c *Conn) reconnected(resumed bool) {
	c.log.Debug("client: link back", "transport", c.kind, "connectionId", c.connectionID, "resumed", resumed)
	if f := c.opts.OnReconnected; f != nil {
		c.call("OnReconnected", func() { f(resumed) })
	}
}

// Acks: the reader acks what it received about ackDelay after receiving it,
// coalesced, and at once after ackBytes received since the last ack.
const (
	ackDelay = time.Second
	ackBytes = 32 << 10
)

// pokeAck asks the writer to send an Ack.
func (c *Conn) pokeAck() {
	select {
	case c.ackNow <- struct{}{}:
	default:
	}
}

// armAck pokes the writer ackDelay from now, unless that is already planned.
func (c *Conn) armAck() {
	if !c.ackArmed.CompareAndSwap(false, true) {
		return
	}
	c.timerMu.Lock()
	defer c.timerMu.Unlock()
	if c.closingCtx.Err() != nil {
		return
	}
	if c.ackTimer == nil {
		c.ackTimer = time.AfterFunc(ackDelay, func() {
			c.ackArmed.Store(false)
			c.pokeAck()
		})
		return
	}
	c.ackTimer.Reset(ackDelay)
}

// inbound is the reader's numbering of the server's trackable messages.
type inbound struct {
	nextIn    int64 // the number the next trackable message carries
	processed int64 // the highest number processed
	awaiting  bool  // a link was cut: discard everything until the server's Sequence
	unacked   int   // bytes received since the last ack was asked for
}

// isTrackable tells the messages numbered by stateful reconnect.
func isTrackable(t protocol.MessageType) bool {
	return t >= protocol.InvocationType && t <= protocol.CancelInvocationType
}

// sendBuffer keeps the trackable messages written and not yet acked by the server,
// numbered from 1, to write again after a cut. Room is reserved when a message is
// queued, so that senders wait while the buffer is full.
type sendBuffer struct {
	limit int

	mu      sync.Mutex
	used    int           // bytes reserved: queued or kept
	freed   chan struct{} // closed and replaced whenever room is freed
	entries []*outbound   // kept messages, in number order
	first   int64         // the number of entries[0]
	next    int64         // the number of the next message
}

func (b *sendBuffer) init(limit int) {
	b.limit, b.freed, b.first, b.next = limit, make(chan struct{}), 1, 1
}

// reserve waits for room for n bytes. A message larger than the whole buffer gets
// in when the buffer is empty.
func (b *sendBuffer) reserve(ctx, closing context.Context, n int) error {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.limit {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		freed := b.freed
		b.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		case <-closing.Done():
			return errClosing
		}
	}
}

func (b *sendBuffer) release(n int) {
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// push numbers it and keeps it until acked.
func (b *sendBuffer) push(it *outbound) {
	b.mu.Lock()
	if len(b.entries) == 0 {
		b.first = b.next
	}
	b.entries = append(b.entries, it)
	b.next++
	b.mu.Unlock()
}

// unpush takes back the last n messages pushed (a unit the server refused, which
// it did not count), so that the numbering stays the server's.
func (b *sendBuffer) unpush(n int) {
	b.mu.Lock()
	size := 0
	for range n {
		last := len(b.entries) - 1
		size += len(b.entries[last].data)
		b.entries[last] = nil
		b.entries = b.entries[:last]
		b.next--
	}
	b.used -= size
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// ack drops the messages numbered up to n. A message acked before its write was
// reported (a POST that reached the server, then failed) is reported written.
func (b *sendBuffer) ack(n int64) {
	b.mu.Lock()
	size := 0
	for len(b.entries) > 0 && b.first <= n {
		it := b.entries[0]
		b.entries[0] = nil
		b.entries = b.entries[1:]
		b.first++
		size += len(it.data)
		it.finish(nil)
	}
	if size > 0 {
		b.used -= size
		close(b.freed)
		b.freed = make(chan struct{})
	}
	b.mu.Unlock()
}

// unacked returns the number of the oldest kept message (or of the next one) and
// the kept messages, for a replay.
func (b *sendBuffer) unacked() (int64, []*outbound) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.entries) == 0 {
		return b.next, nil
	}
	return b.first, append([]*outbound(nil), b.entries...)
}
