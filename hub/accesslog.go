package hub

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// The access log (Options.DisableAccessLog): one line per connection when it ends.
// An HTTP access log in front of the hub cannot write it: a WebSocket, an SSE
// stream or a held poll is logged when its connection is taken over, long before
// it ends, and a connection spans many requests.

// traffic counts what a connection carried, for its access log line. The receive
// path and the writer each add once per unit, without a lock.
type traffic struct {
	bytesIn, bytesOut       atomic.Int64
	messagesIn, messagesOut atomic.Int64
}

// received counts a unit from the client.
func (t *traffic) received(unit []byte) { t.bytesIn.Add(int64(len(unit))) }

// receivedMessages counts the messages parsed from a unit, except pings and
// stateful reconnect's Acks and Sequences.
func (t *traffic) receivedMessages(msgs []protocol.Message) {
	n := 0
	for i := range msgs {
		if !isUpkeep(msgs[i].Type) {
			n++
		}
	}
	if n > 0 {
		t.messagesIn.Add(int64(n))
	}
}

// sent counts a unit written to the client, which held messages messages.
func (t *traffic) sent(bytes, messages int) {
	t.bytesOut.Add(int64(bytes))
	if messages > 0 {
		t.messagesOut.Add(int64(messages))
	}
}

// clockStart anchors monotonicNow.
var clockStart = time.Now()

// monotonicNow is the monotonic time since the process started. A Conn keeps its
// start time so, in 8 bytes: a time.Time's 24 would put every Conn in the next
// allocation size class (from 768 bytes to 896).
func monotonicNow() time.Duration { return time.Since(clockStart) }

// isUpkeep reports whether messages of type t keep the connection going rather
// than carry what the application sends: pings, and stateful reconnect's Acks and
// Sequences. The access log does not count them as messages.
func isUpkeep(t protocol.MessageType) bool {
	return t == protocol.PingType || t == protocol.AckType || t == protocol.SequenceType
}

// logAccess writes the connection's access log line. It runs once, as the
// connection ends, with why it ended in endReason's words.
func (c *Conn) logAccess(why string) {
	opts := &c.hub.opts
	if opts.DisableAccessLog {
		return
	}
	proto := ""
	if c.handshaken.Load() {
		proto = c.proto.Name()
	}
	// The request's context, for a handler that adds what it carries (a trace ID).
	opts.Logger.LogAttrs(c.request.ctx, slog.LevelInfo, "hub: connection",
		slog.String("hub", opts.Name),
		slog.String("connection", c.id),
		slog.String("transport", c.kind.String()),
		slog.String("protocol", proto),
		slog.String("remote", c.session.remoteIP),
		slog.String("user", c.session.identity.UserID),
		slog.Duration("duration", monotonicNow()-c.started),
		slog.Int64("bytes_in", c.traffic.bytesIn.Load()),
		slog.Int64("bytes_out", c.traffic.bytesOut.Load()),
		slog.Int64("messages_in", c.traffic.messagesIn.Load()),
		slog.Int64("messages_out", c.traffic.messagesOut.Load()),
		slog.Uint64("links", c.link.Load()),
		slog.String("reason", why),
	)
}

// endReason says in a few stable words why a connection ended: reason is what
// ended it, serverClosed whether the server had closed it (Conn.Close, a Close
// message of the hub's) with no error of its own. The errors the hub closes
// connections for (those package metrics counts by reason) and the usual ends
// have words of their own; any other end is told by its error's text.
func (h *Hub) endReason(reason error, serverClosed bool) string {
	switch {
	case errors.Is(reason, ErrSlowConsumer):
		return "slow consumer"
	case errors.Is(reason, ErrClientTimeout):
		return "timeout"
	case errors.Is(reason, ErrHandshakeTimeout):
		return "handshake timeout"
	case errors.Is(reason, ErrRateLimited):
		return "rate limited"
	case errors.Is(reason, transports.ErrTooLarge):
		return "message too large"
	case errors.Is(reason, ErrReconnectTimeout):
		return "reconnect window passed"
	case (serverClosed || errors.Is(reason, ErrConnectionClosed)) && h.closing():
		return "hub closed"
	case serverClosed:
		return "server closed"
	case errors.Is(reason, transports.ErrClosed):
		// A Close message from the client, a WebSocket close frame 1000, 1001 or
		// 1005, an SSE stream dropped, a long-polling DELETE.
		return "client closed"
	}
	return reason.Error()
}
