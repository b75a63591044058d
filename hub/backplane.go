package hub

import (
	"context"
	"encoding/json"
	"slices"
	"sync"

	"github.com/hubbub-go/hubbub/hub/protocol"
)

// SelectorKind says how a [Selector] picks connections.
type SelectorKind int

// [Selector] kinds.
const (
	SelectAll         SelectorKind = iota // every connection
	SelectConnections                     // the connections named in IDs
	SelectGroups                          // members of the groups named in IDs
	SelectUsers                           // connections of the users named in IDs
)

// Selector picks the connections a message goes to. It is plain data so that a
// backplane can carry it to other nodes.
type Selector struct {
	Kind SelectorKind `json:"k"`
	// IDs are connection IDs, group names or user IDs, depending on Kind.
	IDs []string `json:"i,omitempty"`
	// Except lists connection IDs that must not receive the message.
	Except []string `json:"x,omitempty"`
	// ExceptGroups lists groups whose members must not receive the message: an
	// InterestRouter backplane splits a Groups target into one envelope per group
	// and sets it so that a member of several gets the message once.
	ExceptGroups []string `json:"xg,omitempty"`
}

// Envelope is one message on its way to the connections a [Selector] picks: an
// invocation of Method with Args on each client.
//
// The arguments travel encoded once for each hub protocol, as ASP.NET Core's
// backplanes carry a message serialized per protocol: a node builds the frame of
// each protocol its receivers speak from these forms, once for all of them,
// without decoding anything. On the node that sent it, an envelope also keeps the
// Go values given to Send, and encodes them for a protocol only when a receiver
// speaks it (the in-memory backplane passes the envelope as it is); before it
// hands an envelope to any other backplane, the hub fills in every form.
type Envelope struct {
	Hub      string   `json:"h"`
	Selector Selector `json:"s"`
	Method   string   `json:"m"`
	// Args are the arguments, each encoded in JSON.
	Args []json.RawMessage `json:"a"`
	// MessagePackArgs are the arguments, each one MessagePack value; nil when
	// they have not been encoded (a node then encodes them from the sender's Go
	// values if it has them, else converts Args, which turns a []byte argument
	// into its base64 string).
	MessagePackArgs [][]byte `json:"p,omitempty"`

	// The Go values given to Send, on the sending node only, and the protocol
	// of the RawValues among them (see encodeValue).
	values []any
	src    protocol.Protocol
}

// Backplane carries envelopes between the nodes that serve a hub and answers
// cluster-wide questions. Each node keeps its own connections and their groups;
// the backplane only moves envelopes and keeps cluster-wide membership for presence.
//
// Implementations must be safe for concurrent use.
type Backplane interface {
	// Attach registers this node for hubName: deliver is called with every envelope
	// published for that hub by any node, this one included, in publish order per
	// publisher. Call detach to leave.
	Attach(hubName string, deliver func(*Envelope)) (detach func(), err error)
	// Publish sends env to every node attached to env.Hub. A backplane that
	// delivers on this node before it publishes returns, when only that local
	// delivery happened, an error wrapping ErrClusterDelivery.
	Publish(ctx context.Context, env *Envelope) error
	// AddToGroup and RemoveFromGroup record cluster-wide group membership.
	AddToGroup(ctx context.Context, hubName, group, connectionID string) error
	RemoveFromGroup(ctx context.Context, hubName, group, connectionID string) error
	// GroupMembers returns the sorted connection IDs of group across all nodes.
	GroupMembers(ctx context.Context, hubName, group string) ([]string, error)
}

// MemoryBackplane is the default backplane: one process, no outside service.
type MemoryBackplane struct {
	mu     sync.RWMutex
	subs   map[string]map[int]func(*Envelope)
	nextID int
	groups map[string]map[string]map[string]struct{} // hub -> group -> connection IDs
}

// NewMemoryBackplane returns an empty in-memory backplane. Several hubs (or several
// [Hub] values with the same name, as in tests of multi-node behaviour) may share one.
func NewMemoryBackplane() *MemoryBackplane {
	return &MemoryBackplane{
		subs:   map[string]map[int]func(*Envelope){},
		groups: map[string]map[string]map[string]struct{}{},
	}
}

// Attach implements [Backplane].
func (b *MemoryBackplane) Attach(hubName string, deliver func(*Envelope)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[hubName] == nil {
		b.subs[hubName] = map[int]func(*Envelope){}
	}
	id := b.nextID
	b.nextID++
	b.subs[hubName][id] = deliver
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs[hubName], id)
	}, nil
}

// Publish implements [Backplane]. Delivery is synchronous: the hub's delivery only
// enqueues to bounded per-connection queues, so it never blocks on a client.
func (b *MemoryBackplane) Publish(_ context.Context, env *Envelope) error {
	b.mu.RLock()
	subs := make([]func(*Envelope), 0, len(b.subs[env.Hub]))
	for _, deliver := range b.subs[env.Hub] {
		subs = append(subs, deliver)
	}
	b.mu.RUnlock()
	for _, deliver := range subs {
		deliver(env)
	}
	return nil
}

// AddToGroup implements [Backplane].
func (b *MemoryBackplane) AddToGroup(_ context.Context, hubName, group, connectionID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	groups := b.groups[hubName]
	if groups == nil {
		groups = map[string]map[string]struct{}{}
		b.groups[hubName] = groups
	}
	if groups[group] == nil {
		groups[group] = map[string]struct{}{}
	}
	groups[group][connectionID] = struct{}{}
	return nil
}

// RemoveFromGroup implements [Backplane].
func (b *MemoryBackplane) RemoveFromGroup(_ context.Context, hubName, group, connectionID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	members := b.groups[hubName][group]
	delete(members, connectionID)
	if len(members) == 0 {
		delete(b.groups[hubName], group)
	}
	return nil
}

// GroupMembers implements [Backplane].
func (b *MemoryBackplane) GroupMembers(_ context.Context, hubName, group string) ([]string, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	members := make([]string, 0, len(b.groups[hubName][group]))
	for id := range b.groups[hubName][group] {
		members = append(members, id)
	}
	slices.Sort(members)
	return members, nil
}
