package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	natsgo "github.com/nats-io/nats.go"
)

// presence is the backplane's part that answers GroupMembers: every node keeps
// the memberships of its own connections in memory and answers queries for them;
// nodes tell each other they are alive with heartbeats.
type presence struct {
	beat chan struct{} // wakes heartbeatLoop (after a reconnection)

	membersMu sync.Mutex
	members   map[string]map[string]map[string]struct{} // hub -> group -> connection IDs

	nodesMu sync.Mutex
	nodes   map[string]time.Time // other nodes, when last heard
}

func (p *presence) init() {
	p.beat = make(chan struct{}, 1)
	p.members = map[string]map[string]map[string]struct{}{}
	p.nodes = map[string]time.Time{}
}

// presenceQuery asks every node for its members of a group.
type presenceQuery struct {
	Hub   string `json:"h"`
	Group string `json:"g"`
	// RawGroup is the group's name when it is not valid UTF-8, which a JSON
	// string would carry as U+FFFD, naming another group.
	RawGroup []byte `json:"gb,omitempty"`
}

func newPresenceQuery(hubName, group string) presenceQuery {
	if utf8.ValidString(group) {
		return presenceQuery{Hub: hubName, Group: group}
	}
	return presenceQuery{Hub: hubName, RawGroup: []byte(group)}
}

func (q presenceQuery) group() string {
	if q.RawGroup != nil {
		return string(q.RawGroup)
	}
	return q.Group
}

// presenceReply is one node's answer to a presenceQuery, or a part of it: IDs
// that do not fit in one NATS message (max_payload) go in several replies, each
// but the last with More.
type presenceReply struct {
	Node string   `json:"n"`
	IDs  []string `json:"i,omitempty"`
	More bool     `json:"mo,omitempty"`
}

// AddToGroup implements [hub.Backplane]: membership is recorded on this node only,
// which answers presence queries for it.
func (b *Backplane) AddToGroup(_ context.Context, hubName, group, connectionID string) error {
	b.membersMu.Lock()
	defer b.membersMu.Unlock()
	groups := b.members[hubName]
	if groups == nil {
		groups = map[string]map[string]struct{}{}
		b.members[hubName] = groups
	}
	if groups[group] == nil {
		groups[group] = map[string]struct{}{}
	}
	groups[group][connectionID] = struct{}{}
	return nil
}

// RemoveFromGroup implements [hub.Backplane], as AddToGroup.
func (b *Backplane) RemoveFromGroup(_ context.Context, hubName, group, connectionID string) error {
	b.membersMu.Lock()
	defer b.membersMu.Unlock()
	if set := b.members[hubName][group]; set != nil {
		delete(set, connectionID)
		if len(set) == 0 {
			delete(b.members[hubName], group)
		}
	}
	return nil
}

func (b *Backplane) localMembers(hubName, group string) []string {
	b.membersMu.Lock()
	defer b.membersMu.Unlock()
	ids := make([]string, 0, len(b.members[hubName][group]))
	for id := range b.members[hubName][group] {
		ids = append(ids, id)
	}
	return ids
}

// GroupMembers implements [hub.Backplane]: the sorted connection IDs of group on
// every node. It asks every node and waits for the answer of each node heard
// within NodeTTL, at most OpTimeout (a node that crashed since its last
// heartbeat costs that wait, and its members are not listed: they died with it).
// While NATS is down it fails with an error wrapping [ErrUnavailable].
func (b *Backplane) GroupMembers(ctx context.Context, hubName, group string) ([]string, error) {
	if !b.Healthy() {
		return nil, fmt.Errorf("nats backplane: members of group %q: %w", group, ErrUnavailable)
	}
	waiting := b.liveNodes()
	ids := b.localMembers(hubName, group)
	if len(waiting) > 0 {
		ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
		defer cancel()
		// A synchronous subscription: its pending limits (nats.go's defaults, 64
		// MiB) hold the parts of big answers, which a small channel would drop.
		inbox := b.nc.NewRespInbox()
		sub, err := b.nc.SubscribeSync(inbox)
		if err != nil {
			return nil, fmt.Errorf("nats backplane: members of group %q: %w", group, err)
		}
		defer sub.Unsubscribe()
		q, _ := json.Marshal(newPresenceQuery(hubName, group))
		if err := b.nc.PublishRequest(b.subject("presence"), inbox, q); err != nil {
			return nil, fmt.Errorf("nats backplane: members of group %q: %w", group, err)
		}
		for len(waiting) > 0 {
			m, err := sub.NextMsgWithContext(ctx)
			if err != nil {
				b.log.Debug("nats backplane: presence query without every answer", "missing", len(waiting))
				break
			}
			var r presenceReply
			if json.Unmarshal(m.Data, &r) != nil {
				continue
			}
			b.heard(r.Node)
			ids = append(ids, r.IDs...)
			if !r.More { // a node's parts arrive in order
				delete(waiting, r.Node)
			}
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// answerPresence answers another node's presence query.
func (b *Backplane) answerPresence(m *natsgo.Msg) {
	var q presenceQuery
	if json.Unmarshal(m.Data, &q) != nil || m.Reply == "" {
		return
	}
	ids := b.localMembers(q.Hub, q.group())
	limit := int(b.nc.MaxPayload()) - 512 // the reply's other fields
	budget := limit
	for {
		// As many IDs as fit by their length (quoted, with a comma); half as
		// many bytes' worth when escapes made the JSON longer.
		n, size := 0, 0
		for n < len(ids) && (n == 0 || size+len(ids[n])+3 <= budget) {
			size += len(ids[n]) + 3
			n++
		}
		data, _ := json.Marshal(presenceReply{Node: b.nodeID, IDs: ids[:n], More: n < len(ids)})
		if len(data) > limit && n > 1 {
			budget = size / 2
			continue
		}
		budget = limit
		if err := m.Respond(data); err != nil {
			b.log.Warn("nats backplane: answering a presence query", "err", err)
			return
		}
		ids = ids[n:]
		if len(ids) == 0 {
			return
		}
	}
}

// liveNodes is the other nodes heard within NodeTTL.
func (b *Backplane) liveNodes() map[string]bool {
	b.nodesMu.Lock()
	defer b.nodesMu.Unlock()
	live := map[string]bool{}
	for node, at := range b.nodes {
		if time.Since(at) < b.opts.NodeTTL {
			live[node] = true
		}
	}
	return live
}

func (b *Backplane) heard(node string) {
	if node == "" || node == b.nodeID {
		return
	}
	b.nodesMu.Lock()
	b.nodes[node] = time.Now()
	b.nodesMu.Unlock()
}

// gone forgets a node that left or stopped heartbeating, and fails the requests
// in flight to it.
func (b *Backplane) gone(node, why string) {
	if node == "" || node == b.nodeID {
		return // "" would fail every call
	}
	b.nodesMu.Lock()
	_, known := b.nodes[node]
	delete(b.nodes, node)
	b.nodesMu.Unlock()
	failed := b.forward.failNode(node, errNodeGone)
	links := b.endRelays(node, fmt.Errorf("nats backplane: relayed link: %w", errNodeGone))
	if known {
		b.log.Info("nats backplane: a node is gone", "node", node, "why", why, "requests_failed", failed, "links_ended", links)
	}
}

// heartbeatLoop tells the other nodes this one is alive every HeartbeatInterval
// (and at once after a reconnection), and forgets the nodes not heard within
// NodeTTL.
func (b *Backplane) heartbeatLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		case <-b.beat:
		}
		if b.Healthy() {
			b.nc.Publish(b.subject("hb"), []byte(b.nodeID))
		}
		b.nodesMu.Lock()
		var stale []string
		for node, at := range b.nodes {
			if time.Since(at) >= b.opts.NodeTTL {
				stale = append(stale, node)
			}
		}
		b.nodesMu.Unlock()
		for _, node := range stale {
			b.gone(node, "no heartbeat within NodeTTL")
		}
	}
}

// serve subscribes to the subjects every node listens on: heartbeats, goodbyes,
// presence queries, and this node's requests (forward.go).
func (b *Backplane) serve() error {
	subs := []struct {
		subject string
		handle  natsgo.MsgHandler
	}{
		{b.subject("hb"), func(m *natsgo.Msg) { b.heard(string(m.Data)) }},
		{b.subject("bye"), func(m *natsgo.Msg) { b.gone(string(m.Data), "it closed") }},
		{b.subject("presence"), b.answerPresence},
		{b.nodeSubject(b.nodeID), b.serveRPC},
	}
	for _, s := range subs {
		if _, err := b.nc.Subscribe(s.subject, s.handle); err != nil {
			return fmt.Errorf("nats backplane: subscribe %s: %w", s.subject, err)
		}
	}
	return nil
}
