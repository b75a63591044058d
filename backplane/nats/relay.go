package nats

import (
	"context"
	"errors"
	"fmt"

	"github.com/hubbub-go/hubbub/backplane/internal/forwarding"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// Relayed links (hub.LinkRelay): a stateful connection resumed with a WebSocket or
// an SSE stream on a node other than its owner is served there (the front) and
// relayed to the owner, with the messages of the Redis backplane's relay
// (forwarding.TypeRelayOpen and the others), here on the nodes' subjects:
//
//	front → owner  open      {id, hub, token, kind, user}, a request to the
//	                         connection's session subject, else the token's node;
//	                         the reply names the owner (From) and says Err: ""
//	                         ok, notfound, active, forbidden, transport
//	front → owner  up        {id, unit}: a unit from the client
//	owner → front  down      {id, unit}: a unit for the client
//	front → owner  end up    {id, reason}: the front's side has ended
//	owner → front  end down  {id, reason}: the owner's side has ended
//
// A link is named by the front's node ID and a number the front chose. Its units
// go to the other node's subject, published one after another by one goroutine,
// and that subject has one subscription, handled in order: they arrive in order.
// A unit for a link the receiver does not know is answered with the link's end.
// A node that stops heartbeating ends its links within NodeTTL; losing NATS, or
// NATS dropping messages of this node's subject (a slow consumer), ends every
// link, since units may have been lost. The client resumes.

// relayKey names a link on one node: the front's number for it, which side this
// node is, and, on the owner, the front's node (a front's numbers are its own,
// and it learns the owner only from the owner's reply).
type relayKey struct {
	front bool
	id    uint64
	from  string // the front's node, on the owner; "" on the front
}

// relayLink is this node's side of a link: its endpoint and the other side's node
// ("" on the front until the owner's reply).
type relayLink struct {
	end     hub.RelayEndpoint
	peer    string
	partial []byte // the parts of a unit received so far (b.forward.mu)
}

// relayPeer is the other side of a link, as hub.RelayPeer.
type relayPeer struct {
	b      *Backplane
	key    relayKey
	peer   string
	binary bool
}

// Binary implements hub.BinaryLink.
func (p *relayPeer) Binary() bool { return p.binary }

var (
	_ hub.LinkRelay  = (*Backplane)(nil)
	_ hub.RelayPeer  = (*relayPeer)(nil)
	_ hub.BinaryLink = (*relayPeer)(nil)
)

var errRelayEnded = fmt.Errorf("nats backplane: relayed link ended: %w", transports.ErrClosed)

// OpenRelay implements [hub.LinkRelay].
func (b *Backplane) OpenRelay(ctx context.Context, hubName, tok string, req hub.RelayRequest, front hub.RelayEndpoint) (hub.RelayPeer, error) {
	if !b.Healthy() {
		return nil, fmt.Errorf("nats backplane: relay link: %w", ErrUnavailable)
	}
	key := relayKey{front: true, id: b.nextCall.Add(1)}
	// Registered before the owner hears of it: its first units may come before
	// its reply.
	link := &relayLink{end: front}
	b.forward.mu.Lock()
	b.forward.relays[key] = link
	b.forward.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout*2)
	defer cancel()
	open := &forwarding.Message{Type: forwarding.TypeRelayOpen, ID: key.id, Hub: hubName, Token: tok, Relay: &req}
	reply, err := b.call(ctx, "", b.sessionSubject(hubName, tok), open)
	if node := nodeOf(tok); errors.Is(err, errNodeGone) && node != "" && node != b.nodeID {
		reply, err = b.call(ctx, node, b.nodeSubject(node), open)
	}
	if err == nil && reply.Err == "" && reply.From != "" {
		b.forward.mu.Lock()
		link.peer = reply.From
		b.forward.mu.Unlock()
		return &relayPeer{b: b, key: key, peer: reply.From, binary: reply.Binary}, nil
	}
	b.forward.mu.Lock()
	delete(b.forward.relays, key)
	b.forward.mu.Unlock()
	if reply != nil && reply.From != "" {
		// The owner may have attached the link: tell it.
		b.sendRelayEnd(key, reply.From, nil)
	}
	switch {
	case errors.Is(err, errNodeGone):
		return nil, fmt.Errorf("nats backplane: relay link: %w", hub.ErrSessionNotFound)
	case err != nil:
		return nil, fmt.Errorf("nats backplane: relay link: %w", err)
	}
	return nil, forwarding.Refused("nats backplane: relay link", reply)
}

// Send implements hub.RelayPeer: it publishes unit on the other side's subject.
func (p *relayPeer) Send(_ context.Context, unit []byte) error {
	b := p.b
	b.forward.mu.Lock()
	_, open := b.forward.relays[p.key]
	b.forward.mu.Unlock()
	if !open {
		return errRelayEnded
	}
	typ := forwarding.TypeRelayDown
	if p.key.front {
		typ = forwarding.TypeRelayUp
	}
	// A unit over one message (max_payload; the body goes base64 in JSON) goes
	// in parts, published in order like units.
	part := (int(b.nc.MaxPayload()) - 512) / 4 * 3
	for {
		n := min(len(unit), part)
		data, _ := forwarding.Marshal(&forwarding.Message{Type: typ, ID: p.key.id, From: b.nodeID, Body: unit[:n], More: n < len(unit)})
		if err := b.nc.Publish(b.nodeSubject(p.peer), data); err != nil {
			return fmt.Errorf("nats backplane: relayed link: %w", err)
		}
		unit = unit[n:]
		if len(unit) == 0 {
			return nil
		}
	}
}

// Close implements hub.RelayPeer: it forgets the link and tells the other side.
func (p *relayPeer) Close(reason error) {
	b := p.b
	b.forward.mu.Lock()
	_, open := b.forward.relays[p.key]
	delete(b.forward.relays, p.key)
	b.forward.mu.Unlock()
	if open {
		b.sendRelayEnd(p.key, p.peer, reason)
	}
}

// sendRelayEnd tells the other side of a link, on node peer, that it has ended.
func (b *Backplane) sendRelayEnd(key relayKey, peer string, reason error) {
	typ := forwarding.TypeRelayEndDown
	if key.front {
		typ = forwarding.TypeRelayEndUp
	}
	data, _ := forwarding.Marshal(&forwarding.Message{Type: typ, ID: key.id, From: b.nodeID, Err: forwarding.EndReason(reason)})
	if err := b.nc.Publish(b.nodeSubject(peer), data); err != nil {
		b.log.Debug("nats backplane: end of a relayed link not told", "to", peer, "err", err)
	}
}

// receiveRelay handles a unit or the end of a link, on the node subject's
// goroutine: it never waits.
func (b *Backplane) receiveRelay(m *forwarding.Message) {
	// What comes down from the owner is for a link this node fronts.
	key := relayKey{front: true, id: m.ID}
	if m.Type == forwarding.TypeRelayUp || m.Type == forwarding.TypeRelayEndUp {
		key = relayKey{id: m.ID, from: m.From}
	}
	ending := m.Type == forwarding.TypeRelayEndUp || m.Type == forwarding.TypeRelayEndDown
	b.forward.mu.Lock()
	link := b.forward.relays[key]
	if ending {
		delete(b.forward.relays, key)
	}
	unit := m.Body
	if link != nil && !ending && (m.More || link.partial != nil) {
		link.partial = append(link.partial, m.Body...)
		unit = link.partial
		if !m.More {
			link.partial = nil
		}
	}
	b.forward.mu.Unlock()
	switch {
	case ending:
		if link != nil {
			link.end.Ended(forwarding.EndError("nats backplane", m.Err))
		}
	case link != nil && m.More:
		// The rest of the unit follows.
	case link != nil:
		link.end.Receive(unit)
	default:
		// A unit for a link this node does not know (any more): the other side
		// must let go of it.
		b.sendRelayEnd(key, m.From, nil)
	}
}

// serveRelayOpen attaches a link relayed by another node to a connection of this
// node's, and answers.
func (b *Backplane) serveRelayOpen(m *forwarding.Message) *forwarding.Message {
	sessions := b.sessions(m.Hub)
	if sessions == nil || m.Relay == nil {
		return &forwarding.Message{Err: forwarding.ErrNotFound}
	}
	key := relayKey{id: m.ID, from: m.From}
	peer := &relayPeer{b: b, key: key, peer: m.From}
	link := &relayLink{end: pendingEndpoint{}, peer: m.From}
	b.forward.mu.Lock()
	b.forward.relays[key] = link
	b.forward.mu.Unlock()
	end, err := sessions.AttachRelay(m.Token, *m.Relay, peer)
	b.forward.mu.Lock()
	if err == nil {
		if b.forward.relays[key] == link {
			link.end = end
		} else {
			err = errRelayEnded
		}
	} else {
		delete(b.forward.relays, key)
	}
	b.forward.mu.Unlock()
	switch {
	case errors.Is(err, errRelayEnded):
		end.Ended(nil)
		return &forwarding.Message{Err: forwarding.ErrNotFound}
	case err != nil:
		return forwarding.Refusal(err)
	}
	bl, ok := end.(hub.BinaryLink)
	return &forwarding.Message{Binary: ok && bl.Binary()}
}

// pendingEndpoint holds a link's place while the hub attaches it.
type pendingEndpoint struct{}

func (pendingEndpoint) Receive([]byte) {}
func (pendingEndpoint) Ended(error)    {}

// endRelays ends the links whose other side is node (every link for ""), without
// telling it: it is gone, or unreachable.
func (b *Backplane) endRelays(node string, reason error) int {
	b.forward.mu.Lock()
	var ends []hub.RelayEndpoint
	for key, link := range b.forward.relays {
		if node == "" || link.peer == node {
			ends = append(ends, link.end)
			delete(b.forward.relays, key)
		}
	}
	b.forward.mu.Unlock()
	for _, end := range ends {
		end.Ended(reason)
	}
	return len(ends)
}
