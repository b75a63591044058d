package hub

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// Stateful reconnect (docs/reconnect.md): a connection that negotiated it and
// shook hands with protocol version 2 outlives a lost link. Both sides number the
// trackable messages (types 1-5) they send, keep what the other has not acked, and
// on a new link send a Sequence message and everything unacked again; the receiver
// drops what it has already taken.

// ackInterval is how long after receiving a trackable message the server acks it,
// coalescing whatever arrives meanwhile, as ASP.NET Core does.
const ackInterval = time.Second

// eagerAckBytes: once this much has arrived since the last Ack was asked for, the
// next trackable message is acked at once, so that a client sending fast does not
// stall on its buffer waiting for the timer.
const eagerAckBytes = 32 << 10

// ErrReconnectTimeout is why a stateful connection whose link was lost ended: the
// client did not come back within [Options.ReconnectWindow].
var ErrReconnectTimeout = errors.New("hub: the client did not come back within the reconnect window")

// resumeState is what a stateful connection keeps to survive a lost link.
type resumeState struct {
	// The sending side, guarded by Conn.mu.
	unacked      [][]byte // written and not acked yet; unacked[0] has number first
	unackedBytes int
	first        int64 // the number of unacked[0], or of the next message when none
	resent       int   // how many of unacked the current link has carried
	// awaiting is the receiving side's (below), here beside the bools: with it
	// there, a stateful connection's resumeState is 112 bytes, a size class.
	awaiting     atomic.Bool   // ignore the client until its Sequence message
	announce     bool          // a link resumed: write Sequence(first) before anything else
	ackDue       bool          // an Ack of the client's messages is due
	ackScheduled bool          // ackTimer runs
	ackedUpTo    int64         // the highest number an Ack of ours carried
	ackTimer     *time.Timer   // made on first use
	window       *time.Timer   // runs while the connection has no link
	detachedAt   time.Duration // monotonicNow when the link was lost, while there is none

	// The receiving side, touched by receive only (one goroutine at a time), and
	// awaiting (above), which a new link sets.
	next      int64        // the number of the client's next trackable message
	processed atomic.Int64 // the highest number taken; the writer acks it
	sinceAck  int          // bytes received since the last Ack was asked for
}

func newResumeState() *resumeState { return &resumeState{first: 1, next: 1} }

// trackable reports whether messages of type t are numbered and buffered.
func trackable(t protocol.MessageType) bool {
	return t >= protocol.InvocationType && t <= protocol.CancelInvocationType
}

// resumableEnd reports whether a link that ended with err may be resumed: not when
// the client ended the connection on purpose or broke a limit.
func resumableEnd(err error) bool {
	return !errors.Is(err, transports.ErrTooLarge) && !errors.Is(err, transports.ErrEndedByClient)
}

// take numbers a message from the client. It reports whether the message is to be
// routed: Ack and Sequence messages are handled here, duplicates are dropped, and
// on a resumed link everything before the client's Sequence is ignored.
func (r *resumeState) take(c *Conn, m *protocol.Message) bool {
	switch {
	case m.Type == protocol.SequenceType:
		// The client numbers what follows from SequenceID on. Past the highest taken
		// plus one, messages in between were lost: over a WebSocket that is a broken
		// client, but a POST can overtake one that failed for the client (and that it
		// will send again after resuming), so there what follows waits for that.
		limit := r.processed.Load() + 1
		switch {
		case m.SequenceID < 1 || m.SequenceID > limit && c.kind == transports.WebSockets:
			c.hub.opts.Logger.Info("hub: client resumed past what it sent", "hub", c.hub.opts.Name, "connection", c.id, "sequence", m.SequenceID, "expected", limit)
			c.closeWith("Connection closed with an error. Sequence ID greater than amount of messages we've received.", false, nil)
		case m.SequenceID > limit:
			r.awaiting.Store(true)
		default:
			r.next = m.SequenceID
			r.awaiting.Store(false)
		}
		return false
	case r.awaiting.Load():
		return false
	case m.Type == protocol.AckType:
		c.acked(m.SequenceID)
		return false
	case !trackable(m.Type):
		return true
	}
	n := r.next
	r.next++
	if n <= r.processed.Load() {
		return false // sent again after a resume; taken already
	}
	r.processed.Store(n)
	c.scheduleAck()
	return true
}

// scheduleAck asks for an Ack of what the client sent: within ackInterval, or at
// once when eagerAckBytes have arrived since the last one.
func (c *Conn) scheduleAck() {
	r := c.resume
	eager := r.sinceAck >= eagerAckBytes
	if eager {
		r.sinceAck = 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case eager:
		r.ackDue = true
		c.startWriterLocked()
	case r.ackScheduled:
	case r.ackTimer == nil:
		r.ackScheduled = true
		r.ackTimer = time.AfterFunc(ackInterval, c.ackDue)
	default:
		r.ackScheduled = true
		r.ackTimer.Reset(ackInterval)
	}
}

// ackDue has the writer send an Ack.
func (c *Conn) ackDue() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resume.ackScheduled = false
	c.resume.ackDue = true
	c.startWriterLocked()
}

// acked drops the messages the client has acked, up to number n, and lets the
// writer go on if it waited for room.
func (c *Conn) acked(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.resume
	if r == nil {
		return
	}
	k := int(min(n-r.first+1, int64(len(r.unacked))))
	if k <= 0 {
		return
	}
	for _, f := range r.unacked[:k] {
		r.unackedBytes -= len(f)
	}
	left := copy(r.unacked, r.unacked[k:])
	clear(r.unacked[left:])
	r.unacked = r.unacked[:left]
	if left == 0 {
		r.unacked = nil // an idle connection keeps no buffer
	}
	r.resent = max(0, r.resent-k)
	r.first += int64(k)
	c.startWriterLocked()
}

// pending reports whether the writer has control messages or a replay to write.
// Conn.mu is held.
func (r *resumeState) pending(c *Conn) bool {
	return r.announce || r.resent < len(r.unacked) || r.ackDue && r.processed.Load() > r.ackedUpTo
}

// hasRoom reports whether the buffer takes more messages.
func (r *resumeState) hasRoom(limit int) bool { return r.unackedBytes < limit }

// control appends what a stateful connection writes ahead of queued messages: on a
// resumed link the Sequence message and every unacked message again, then an Ack
// when due. It also returns how many messages it sent again. Conn.mu is held.
func (r *resumeState) control(c *Conn, frames [][]byte) (_ [][]byte, replayed int) {
	if r.announce {
		r.announce = false
		seq, _ := c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.SequenceType, SequenceID: r.first})
		frames = append(frames, seq)
	}
	frames = append(frames, r.unacked[r.resent:]...)
	replayed = len(r.unacked) - r.resent
	r.resent = len(r.unacked)
	if r.ackDue {
		r.ackDue = false
		if p := r.processed.Load(); p > r.ackedUpTo {
			r.ackedUpTo = p
			ack, _ := c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.AckType, SequenceID: p})
			frames = append(frames, ack)
		}
	}
	return frames, replayed
}

// admit returns how many of the queued messages the buffer has room for now.
func (r *resumeState) admit(queue [][]byte, limit int) int {
	n, size := 0, r.unackedBytes
	for n < len(queue) && size < limit {
		size += len(queue[n])
		n++
	}
	return n
}

// track records messages about to be written for the first time.
func (r *resumeState) track(frames [][]byte) {
	for _, f := range frames {
		r.unackedBytes += len(f)
	}
	r.unacked = append(r.unacked, frames...)
	r.resent = len(r.unacked)
}

// detach leaves the connection without a link, for ReconnectWindow at most. It
// holds no goroutine meanwhile: a timer ends it. Conn.mu is held.
func (r *resumeState) detach(c *Conn, err error) {
	opts := &c.hub.opts
	c.transport = nil
	r.detachedAt = monotonicNow()
	if c.livenessTimer != nil {
		c.livenessTimer.Stop()
	}
	opts.Logger.Debug("hub: link lost; waiting for the client to resume", "hub", opts.Name, "connection", c.id, "err", err, "window", opts.ReconnectWindow)
	opts.Observer.LinkLost(opts.Name, c.kind)
	r.window = time.AfterFunc(opts.ReconnectWindow, func() {
		opts.Logger.Info("hub: client did not resume its connection in time", "hub", opts.Name, "connection", c.id, "window", opts.ReconnectWindow)
		c.abort(ErrReconnectTimeout)
	})
}

// resumed starts a new link: the replay begins with a Sequence message. Conn.mu
// is held.
func (r *resumeState) resumed(c *Conn) {
	opts := &c.hub.opts
	if r.window != nil {
		r.window.Stop()
		r.window = nil
	}
	r.resent = 0
	r.announce = true
	away := time.Duration(0)
	if r.detachedAt != 0 {
		away = monotonicNow() - r.detachedAt
		r.detachedAt = 0
	}
	opts.Logger.Debug("hub: connection resumed", "hub", opts.Name, "connection", c.id, "away", away, "replay", len(r.unacked))
	opts.Observer.Resumed(opts.Name, c.kind)
}

// stop stops the timers, as the connection ends. Conn.mu is held.
func (r *resumeState) stop() {
	for _, t := range []*time.Timer{r.window, r.ackTimer} {
		if t != nil {
			t.Stop()
		}
	}
}

// resumableLocked reports whether a new link may resume the connection: it is
// stateful and not ending. Conn.mu is held.
func (c *Conn) resumableLocked() bool {
	return c.resume != nil && !c.closing && c.ctx.Err() == nil
}

// detached reports whether the connection waits for its client to resume it.
func (c *Conn) detached() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resumableLocked() && c.transport == nil
}

// resumable reports whether a new link may resume the connection.
func (c *Conn) resumable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resumableLocked()
}

// maxEndedSessions bounds how many ended connections endedSessions remembers.
const maxEndedSessions = 10_000

// endedSessions remembers for a while why stateful connections ended while their
// client was away, so that a client coming back learns why its connection is gone
// (the body of the 404) rather than only that it is.
type endedSessions struct {
	mu    sync.Mutex
	why   map[string]string // by connection token
	order []endedSession    // oldest first
}

type endedSession struct {
	token string
	until time.Time
}

func (e *endedSessions) add(token, why string, keep time.Duration) {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.order) > 0 && (len(e.order) >= maxEndedSessions || now.After(e.order[0].until)) {
		delete(e.why, e.order[0].token)
		e.order = e.order[1:]
	}
	if e.why == nil {
		e.why = map[string]string{}
	}
	e.why[token] = why
	e.order = append(e.order, endedSession{token, now.Add(keep)})
}

func (e *endedSessions) reason(token string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.why[token]
}

// endedAway records why a stateful connection ended while it had no link.
func (c *Conn) endedAway(reason error) {
	opts := &c.hub.opts
	why := reason.Error()
	switch {
	case errors.Is(reason, ErrReconnectTimeout):
		why = fmt.Sprintf("the client did not come back within the reconnect window (%s)", opts.ReconnectWindow)
	case errors.Is(reason, ErrSlowConsumer):
		why = fmt.Sprintf("more than %d messages or %d bytes waited for the client while it was away (slow consumer)", opts.MaxQueueLength, opts.MaxQueueBytes)
	}
	c.hub.ended.add(c.session.token, why, opts.ReconnectWindow)
}

// notFound answers 404 for a connection token this node does not know, saying why
// when the connection ended while its client was away.
func (h *Hub) notFound(w http.ResponseWriter, token string) {
	msg := "No Connection with that ID"
	if why := h.ended.reason(token); why != "" {
		msg += ": the connection ended because " + why
	}
	http.Error(w, msg, http.StatusNotFound)
}
