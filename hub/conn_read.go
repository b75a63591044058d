package hub

// The read side of a Conn: what its transport receives, the handshake, and routing
// each message to where it is handled.

import (
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/transport"
	"github.com/hubbub-go/hubbub/transports"
)

// newLink returns the Receiver for a transport about to be attached. From now on
// only its units are taken: a link that this one replaces may still be delivering.
// On a stateful connection the client is ignored from here until its Sequence
// message arrives (it replays what it sent after it).
func (c *Conn) newLink() transport.Receiver {
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
	if o, ok := opts.Observer.(RateLimitObserver); ok {
		o.RateLimitStrike(opts.Name)
	}
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
	// Nothing goes out until addConn returns, though what is sent to the
	// connection meanwhile is queued (it can be found): the reply would tell the
	// client it is connected before the backplane routes its messages here.
	c.joining = true
	c.mu.Unlock()
	c.hub.addConn(c)
	c.mu.Lock()
	c.joining = false
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
		if isFallbackReport(m) {
			c.fallbackReport(m)
			return true
		}
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
			if c.ctx.Err() != nil {
				c.abandon() // the dispatcher may have exited before cl was queued
			}
		case <-c.ctx.Done():
			cl.endTrace(ErrConnectionClosed)
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
