package redis

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
// relayed to the owner over the two nodes' channels, with these messages:
//
//	front → owner  rpcRelayOpen  {id, hub, token, kind, user}, answered by rpcReply
//	                             (Err: "" ok, notfound, active, forbidden, transport)
//	front → owner  rpcRelayUp    {id, unit}: a unit from the client
//	owner → front  rpcRelayDown  {id, unit}: a unit for the client
//	front → owner  rpcRelayEndUp   {id, reason}: the front's side has ended
//	owner → front  rpcRelayEndDown {id, reason}: the owner's side has ended
//
// A link is named by the front's node ID and a number the front chose (id). Its
// units travel on one channel each way, published one after another by one
// goroutine, so they arrive in order. A unit for a link the receiver does not know
// (it ended, or the receiver restarted) is answered with rpcRelayEnd, so that a
// side never waits on a link the other has forgotten.
//
// Each side watches the other as it watches the nodes it awaits replies from
// (liveness.go): a peer declared dead ends its links at once, within
// HeartbeatInterval of a process's death; and losing Redis ends every link, since
// units published meanwhile are lost.

const (
	rpcRelayOpen    = forwarding.TypeRelayOpen
	rpcRelayUp      = forwarding.TypeRelayUp
	rpcRelayDown    = forwarding.TypeRelayDown
	rpcRelayEndUp   = forwarding.TypeRelayEndUp
	rpcRelayEndDown = forwarding.TypeRelayEndDown
)

// relayKey names a link on one node: the other side's node, the front's number
// for it, and which side this node is.
type relayKey struct {
	peer  string
	id    uint64
	front bool // this node is the link's front
}

// relayPeer is the other side of a link, as hub.RelayPeer.
type relayPeer struct {
	b      *Backplane
	key    relayKey
	binary bool // the front's: the owner said its connection speaks a binary protocol
}

// Binary implements hub.BinaryLink.
func (p *relayPeer) Binary() bool { return p.binary }

var (
	_ hub.LinkRelay  = (*Backplane)(nil)
	_ hub.RelayPeer  = (*relayPeer)(nil)
	_ hub.BinaryLink = (*relayPeer)(nil)
)

// errRelayEnded is returned by Send on a link that has ended.
var errRelayEnded = fmt.Errorf("redis backplane: relayed link ended: %w", transports.ErrClosed)

// OpenRelay implements [hub.LinkRelay].
func (b *Backplane) OpenRelay(ctx context.Context, hubName, token string, req hub.RelayRequest, front hub.RelayEndpoint) (hub.RelayPeer, error) {
	if !b.Healthy() {
		return nil, fmt.Errorf("redis backplane: relay link: %w", ErrUnavailable)
	}
	node, err := b.owner(ctx, hubName, token)
	switch {
	case err != nil:
		return nil, err
	case node == "" || node == b.nodeID:
		return nil, hub.ErrSessionNotFound
	}
	key := relayKey{peer: node, id: b.nextCall.Add(1), front: true}
	// Registered before the owner hears of it: the owner's first units may come
	// before its reply.
	b.relaysMu.Lock()
	b.relays[key] = front
	b.relaysMu.Unlock()
	peer := &relayPeer{b: b, key: key}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout*2)
	defer cancel()
	reply, err := b.call(ctx, node, &rpcMessage{Type: rpcRelayOpen, ID: key.id, Hub: hubName, Token: token, Relay: &req})
	if err == nil && reply.Err == "" {
		peer.binary = reply.Binary
		return peer, nil
	}
	// The owner may have attached the link and its reply been lost: tell it.
	peer.Close(nil)
	switch {
	case errors.Is(err, errNodeGone):
		return nil, fmt.Errorf("redis backplane: relay link: %w", hub.ErrSessionNotFound)
	case err != nil:
		return nil, fmt.Errorf("redis backplane: relay link: %w", err)
	}
	return nil, forwarding.Refused("redis backplane: relay link", reply)
}

// Send implements hub.RelayPeer: it publishes unit on the other side's channel.
func (p *relayPeer) Send(ctx context.Context, unit []byte) error {
	b := p.b
	b.relaysMu.Lock()
	_, open := b.relays[p.key]
	b.relaysMu.Unlock()
	if !open {
		return errRelayEnded
	}
	typ := rpcRelayDown
	if p.key.front {
		typ = rpcRelayUp
	}
	n, err := b.send(ctx, p.key.peer, &rpcMessage{Type: typ, ID: p.key.id, From: b.nodeID, Body: unit})
	switch {
	case err != nil:
		return err
	case n == 0:
		return fmt.Errorf("redis backplane: relayed link: %w", errNodeGone)
	}
	return nil
}

// Close implements hub.RelayPeer: it forgets the link and tells the other side.
func (p *relayPeer) Close(reason error) {
	b := p.b
	b.relaysMu.Lock()
	_, open := b.relays[p.key]
	delete(b.relays, p.key)
	b.relaysMu.Unlock()
	if !open {
		return
	}
	b.sendRelayEnd(p.key, reason)
}

// sendRelayEnd tells the other side of a link that it has ended.
func (b *Backplane) sendRelayEnd(key relayKey, reason error) {
	typ := rpcRelayEndDown
	if key.front {
		typ = rpcRelayEndUp
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
	defer cancel()
	if _, err := b.send(ctx, key.peer, &rpcMessage{Type: typ, ID: key.id, From: b.nodeID, Err: forwarding.EndReason(reason)}); err != nil {
		b.log.Debug("redis backplane: end of a relayed link not told", "to", key.peer, "err", err)
	}
}

// receiveRelay handles a unit or the end of a link, on the subscriber goroutine:
// it never waits.
func (b *Backplane) receiveRelay(m *rpcMessage) {
	// What comes down from the owner is for a link this node fronts.
	key := relayKey{peer: m.From, id: m.ID, front: m.Type == rpcRelayDown || m.Type == rpcRelayEndDown}
	b.relaysMu.Lock()
	end := b.relays[key]
	ending := m.Type == rpcRelayEndUp || m.Type == rpcRelayEndDown
	if ending {
		delete(b.relays, key)
	}
	b.relaysMu.Unlock()
	switch {
	case ending:
		if end != nil {
			end.Ended(forwarding.EndError("redis backplane", m.Err))
		}
		return
	case end != nil:
		end.Receive(m.Body)
		return
	}
	// A unit for a link this node does not know (any more): the other side must
	// let go of it.
	select {
	case b.slots <- struct{}{}:
	default:
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.slots }()
		b.sendRelayEnd(key, nil)
	}()
}

// serveRelayOpen attaches a link relayed by another node to a connection of this
// node's, and answers.
func (b *Backplane) serveRelayOpen(m *rpcMessage) {
	sessions := b.sessions(m.Hub)
	if sessions == nil || m.Relay == nil {
		b.reply(m, &rpcMessage{Err: errNotFound})
		return
	}
	key := relayKey{peer: m.From, id: m.ID}
	peer := &relayPeer{b: b, key: key}
	// Registered first, so that the link's first units (sent by attach) find it.
	b.relaysMu.Lock()
	b.relays[key] = pendingEndpoint{}
	b.relaysMu.Unlock()
	end, err := sessions.AttachRelay(m.Token, *m.Relay, peer)
	b.relaysMu.Lock()
	if err == nil {
		if _, open := b.relays[key]; open {
			b.relays[key] = end
		} else {
			err = errRelayEnded // closed while attaching: the front was told
		}
	} else {
		delete(b.relays, key)
	}
	b.relaysMu.Unlock()
	switch {
	case errors.Is(err, errRelayEnded):
		end.Ended(nil)
		b.reply(m, &rpcMessage{Err: errNotFound})
	case err != nil:
		b.reply(m, forwarding.Refusal(err))
	default:
		bl, ok := end.(hub.BinaryLink)
		b.reply(m, &rpcMessage{Binary: ok && bl.Binary()})
	}
}

// pendingEndpoint holds a link's place while the hub attaches it: what arrives
// meanwhile (nothing, from a well-behaved front) is dropped.
type pendingEndpoint struct{}

func (pendingEndpoint) Receive([]byte) {}
func (pendingEndpoint) Ended(error)    {}

// endRelays ends the links whose other side is node (every link for ""), without
// telling it: it is gone, or unreachable.
func (b *Backplane) endRelays(node string, reason error) int {
	b.relaysMu.Lock()
	var ends []hub.RelayEndpoint
	for key, end := range b.relays {
		if node == "" || key.peer == node {
			ends = append(ends, end)
			delete(b.relays, key)
		}
	}
	b.relaysMu.Unlock()
	for _, end := range ends {
		end.Ended(reason)
	}
	return len(ends)
}
