package hub

// The write side of a Conn: the queue, and the writer goroutine that empties it.

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/transport"
	"github.com/hubbub-go/hubbub/transports"
)

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

// startWriterLocked starts a writer unless one runs or the transport is not
// attached yet (attach starts it then). Over long polling it leaves frames for the
// next poll to send (pollOpened) while none is open: a writer started then would
// stop at once, a goroutine per message queued between two polls. c.mu is held.
func (c *Conn) startWriterLocked() {
	if !c.writing && c.transport != nil && c.hasWorkLocked() {
		if p, ok := c.transport.(transport.Poller); ok && !c.closing && !p.Polled() {
			return
		}
		c.writing = true
		go c.write(false)
	}
}

// hasWorkLocked reports whether the writer has anything to write. c.mu is held.
func (c *Conn) hasWorkLocked() bool {
	if c.joining && !c.closing {
		return false // the end of the handshake starts the writer (or a poll's)
	}
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
		if p, ok := t.(transport.Poller); ok && c.hasFramesLocked() && !p.Polled() {
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
// transport.Poller): when something waits to be sent and no writer runs, that
// goroutine becomes the writer and answers its own poll at once. A writer started
// elsewhere would wait for the poll and then hand it the unit: two waits for the
// scheduler per poll, behind every other runnable goroutine, which under load were
// most of a poll's round trip. The writer stops again once no poll is open (write),
// so the poll's handler goes back to net/http as soon as its answer is written.
func (c *Conn) pollOpened(t transport.Transport) {
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
func (c *Conn) writeFailed(t transport.Transport, err error) {
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
func (c *Conn) sendUnit(t transport.Transport, frames [][]byte, messages int) error {
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
