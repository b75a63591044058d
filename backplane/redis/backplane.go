package redis

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hubbub-go/hubbub/backplane/internal/envelope"
	"github.com/hubbub-go/hubbub/hub"
)

// ErrUnavailable means Redis cannot be reached right now: the backplane delivers on
// this node only until it is back.
var ErrUnavailable = errors.New("redis backplane: Redis unavailable")

// ErrPublishQueueFull means a Publish found no room among the publishes waiting
// for Redis ([Options.MaxPendingPublishes]) before its context or [Options.OpTimeout]
// ended: the node publishes faster than Redis answers. It comes wrapped in
// [hub.ErrClusterDelivery].
var ErrPublishQueueFull = errors.New("redis backplane: publish queue full")

// nodeIDLen is the length of a node ID: 8 random bytes in unpadded base64url. A
// connection token is the node ID followed by a transports.NewToken.
const nodeIDLen = 11

// Backplane is a [hub.Backplane] (and [hub.SessionForwarder] and [hub.LinkRelay]) over Redis. See the
// package documentation for the design. One Backplane serves any number of hubs of
// one process; give each hub of a cluster the same name on every node.
//
// Concurrency: all methods are safe for concurrent use.
type Backplane struct {
	opts       Options
	rdb        goredis.UniversalClient
	topology   Topology
	nodeID     string
	ownChannel string // this node's channel, for forwarding
	log        *slog.Logger

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	closed atomic.Bool
	wg     sync.WaitGroup

	parts []*partition  // subscription connections (interest.go)
	kick  chan struct{} // wakes subscriptionLoop

	// mu guards hubs, channels and the partitions' subscription state.
	mu       sync.Mutex
	hubs     map[string]*hubState
	channels map[string]*channelState
	pingSeq  uint64

	published, received, failed atomic.Uint64

	state   atomic.Int32 // stateUnknown, stateUp or stateDown
	errMu   sync.Mutex
	lastErr error
	wake    chan struct{} // wakes the heartbeat loop (after a reconnect)

	// Group membership of this node's connections, mirrored so that it can be
	// written again after an outage or a purge. syncMu orders membership writes
	// (read-locked) against a full resync (locked).
	syncMu     sync.RWMutex
	membersMu  sync.Mutex
	members    map[string]map[string]map[string]struct{} // hub -> group -> connection IDs
	needResync atomic.Bool
	beats      int // heartbeats done; only the heartbeat loop touches it

	// verdictsFrom is when this node may again take another node for dead
	// (UnixNano): 0 from the start, distrusted (-1) while it cannot reach Redis,
	// then a grace after it can (liveness.go).
	verdictsFrom atomic.Int64

	// Session forwarding.
	callsMu  sync.Mutex
	calls    map[uint64]*pendingCall // requests in flight to other nodes, by ID
	dead     map[string]time.Time    // nodes declared dead, when; forgotten after NodeTTL
	nextCall atomic.Uint64
	serving  map[string]context.CancelFunc // forwarded requests being served, by requester+ID
	slots    chan struct{}                 // MaxForwardedRequests
	located  map[string]string             // location keys this node wrote, by token -> key
	ended    []string                      // location keys to delete

	// Relayed links (relay.go), this node's side of each.
	relaysMu sync.Mutex
	relays   map[relayKey]hub.RelayEndpoint
}

type hubState struct {
	deliver  func(*hub.Envelope)
	sessions hub.LocalSessions
}

const (
	stateUnknown int32 = iota
	stateUp
	stateDown
)

var (
	_ hub.Backplane        = (*Backplane)(nil)
	_ hub.SessionForwarder = (*Backplane)(nil)
	_ hub.BackplaneHealth  = (*Backplane)(nil)
)

// New returns a backplane for the Redis at opts.URL and starts its connection. It
// fails only on bad options: an unreachable Redis is an outage like any other, and
// the backplane keeps trying (see Healthy). Call Close when done.
func New(opts Options) (*Backplane, error) {
	opts = opts.withDefaults()
	if opts.URL == "" {
		return nil, errors.New("redis backplane: Options.URL is required")
	}
	rdb, topology, err := newClient(opts)
	if err != nil {
		return nil, err
	}
	if err := opts.check(topology); err != nil {
		rdb.Close()
		return nil, err
	}

	var id [8]byte
	rand.Read(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	b := &Backplane{
		opts:     opts,
		rdb:      rdb,
		topology: topology,
		nodeID:   base64.RawURLEncoding.EncodeToString(id[:]),
		kick:     make(chan struct{}, 1),
		channels: map[string]*channelState{},
		log:      opts.Logger,
		ctx:      ctx,
		cancel:   cancel,
		hubs:     map[string]*hubState{},
		wake:     make(chan struct{}, 1),
		members:  map[string]map[string]map[string]struct{}{},
		calls:    map[uint64]*pendingCall{},
		dead:     map[string]time.Time{},
		serving:  map[string]context.CancelFunc{},
		slots:    make(chan struct{}, opts.MaxForwardedRequests),
		located:  map[string]string{},
		relays:   map[relayKey]hub.RelayEndpoint{},
	}
	partitions := 1
	if topology == Cluster {
		partitions = opts.ClusterPartitions
	}
	for i := range partitions {
		p := &partition{index: i, pongs: map[string]*confirm{}, ownEnd: map[string]int{}, publishes: make(chan *pendingPublish, opts.MaxPendingPublishes)}
		b.parts = append(b.parts, p)
		if topology == Cluster {
			// This node's own: it also tells where the partition's subscription lives (selfcheck.go).
			p.anchor = b.partitionTag(i) + ":anchor:" + b.nodeID
			p.probe = p.anchor
			b.channels[p.anchor] = &channelState{part: p, count: 1}
		}
	}
	own, p := b.nodeChannel(b.nodeID)
	b.ownChannel = own
	b.channels[own] = &channelState{part: p, count: 1}
	if topology != Cluster {
		p.probe = own
	}

	b.wg.Add(3 + 2*len(b.parts))
	go b.subscriptionLoop()
	for _, p := range b.parts {
		go b.subscribeLoop(p)
		go b.publishLoop(p)
	}
	go b.heartbeatLoop()
	go b.watchOwnersLoop()
	return b, nil
}

// Topology tells how the backplane reaches Redis ([Options.URL]).
func (b *Backplane) Topology() Topology { return b.topology }

// Stats counts the envelopes of this node.
type Stats struct {
	// Published counts the envelopes published to other nodes: one per send
	// routed by interest to a single key or to All, one per group, user or
	// connection of a send to several.
	Published uint64
	// Received counts the envelopes this node received from other nodes: those for
	// All, and, routing by interest, those for the groups, users and connections
	// it has receivers of (or had, within UnsubscribeLinger).
	Received uint64
	// Failed counts the sends (Publish calls) that reached this node only: each
	// returned an error wrapping hub.ErrClusterDelivery.
	Failed uint64
}

// Stats returns the counters since [New].
func (b *Backplane) Stats() Stats {
	return Stats{Published: b.published.Load(), Received: b.received.Load(), Failed: b.failed.Load()}
}

// closeSubscriptions closes every partition's subscription connection, which
// unblocks its reader.
func (b *Backplane) closeSubscriptions() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.parts {
		if p.ps != nil {
			p.ps.Close()
		}
	}
}

// NodeID identifies this node in the cluster (and starts its connection tokens).
func (b *Backplane) NodeID() string { return b.nodeID }

// Healthy reports whether Redis is reachable, so that messages reach the other
// nodes. While it is false, every node still serves its own connections.
func (b *Backplane) Healthy() bool { return b.state.Load() == stateUp }

// Err tells why the backplane is not healthy: nil while it is, else the last error
// seen reaching Redis.
func (b *Backplane) Err() error {
	if b.Healthy() {
		return nil
	}
	b.errMu.Lock()
	defer b.errMu.Unlock()
	if b.lastErr == nil {
		return fmt.Errorf("%w: not connected yet", ErrUnavailable)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, b.lastErr)
}

// Ready waits until the backplane is healthy or ctx ends.
func (b *Backplane) Ready(ctx context.Context) error {
	for !b.Healthy() {
		if err := sleep(ctx, 10*msec); err != nil {
			return fmt.Errorf("redis backplane: not ready: %w (%v)", err, b.Err())
		}
	}
	return nil
}

// Close leaves the cluster: it stops the connection's goroutines, removes this
// node's records from Redis when it can, and closes the Redis client. Close the
// hubs first. Closing again does nothing.
func (b *Backplane) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.cancel()
	b.closeSubscriptions()
	b.wg.Wait()
	b.failCalls("", fmt.Errorf("redis backplane: closed: %w", ErrUnavailable))
	b.endRelays("", fmt.Errorf("redis backplane: closed: %w", ErrUnavailable))
	if b.Healthy() {
		ctx, cancel := context.WithTimeout(context.Background(), b.opts.OpTimeout)
		b.purgeNode(ctx, b.nodeID)
		b.flushEnded(ctx)
		cancel()
	}
	b.state.Store(stateDown)
	if err := b.rdb.Close(); err != nil {
		return fmt.Errorf("redis backplane: close: %w", err)
	}
	return nil
}

// Attach implements [hub.Backplane]. It returns once this node receives the hub's
// messages for All (or at once while Redis is down: it subscribes when Redis is
// back).
func (b *Backplane) Attach(hubName string, deliver func(*hub.Envelope)) (func(), error) {
	name, p := b.hubChannel(hubName)
	b.mu.Lock()
	if _, dup := b.hubs[hubName]; dup {
		b.mu.Unlock()
		return nil, fmt.Errorf("redis backplane: hub %q is already attached to this backplane", hubName)
	}
	st := &hubState{deliver: deliver}
	b.hubs[hubName] = st
	c := b.wantLocked(name, p)
	b.mu.Unlock()
	if c != nil {
		select {
		case <-c.done:
		case <-time.After(b.opts.DialTimeout + b.opts.OpTimeout):
		case <-b.ctx.Done():
		}
	}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.hubs[hubName] == st {
			delete(b.hubs, hubName)
			b.unwantLocked(name, p)
		}
	}, nil
}

func (b *Backplane) hub(name string) *hubState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hubs[name]
}

// Publish implements [hub.Backplane]. It delivers to this node's connections first,
// whatever the state of Redis, then publishes to the other nodes within
// [Options.OpTimeout]: routing by interest, one envelope per group, user or
// connection of the selector ([hub.Envelope.SplitByKey]), on its channel. While
// Redis (on Redis Cluster: a channel's shard) is down it does not try: it
// returns an error wrapping [hub.ErrClusterDelivery] (the local delivery has
// happened) and [ErrUnavailable]; a failed publish wraps hub.ErrClusterDelivery and
// its cause ([ErrPublishQueueFull] when it found no room among the publishes
// waiting for Redis). Concurrent publishes share pipelines (publish.go); each
// caller still waits for, and gets, its own result.
func (b *Backplane) Publish(ctx context.Context, env *hub.Envelope) error {
	if st := b.hub(env.Hub); st != nil {
		st.deliver(env)
	}
	var msgs []outMessage
	for key, part := range b.split(env) {
		channel, p := b.envelopeChannel(env.Hub, part.Selector.Kind, key)
		if !p.up.Load() {
			b.failed.Add(1)
			return fmt.Errorf("redis backplane: publish to hub %q: %w (%w)", env.Hub, hub.ErrClusterDelivery, ErrUnavailable)
		}
		data, err := envelope.Marshal(part)
		if err != nil {
			return fmt.Errorf("redis backplane: encode envelope: %w", err)
		}
		payload := make([]byte, 0, nodeIDLen+len(data))
		msgs = append(msgs, outMessage{channel, append(append(payload, b.nodeID...), data...), p})
	}
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	if err := b.publish(ctx, msgs); err != nil {
		b.failed.Add(1)
		return fmt.Errorf("redis backplane: publish to hub %q: %w (%w)", env.Hub, hub.ErrClusterDelivery, err)
	}
	b.published.Add(uint64(len(msgs)))
	return nil
}

// split yields the envelopes env is published as, with their keys: env itself
// with RouteByHub.
func (b *Backplane) split(env *hub.Envelope) iter.Seq2[string, *hub.Envelope] {
	if b.opts.RouteByHub {
		return func(yield func(string, *hub.Envelope) bool) { yield("", env) }
	}
	return env.SplitByKey()
}

// receiveEnvelope delivers an envelope published by another node.
func (b *Backplane) receiveEnvelope(payload string) {
	if len(payload) < nodeIDLen || payload[:nodeIDLen] == b.nodeID {
		return // ours: delivered locally already
	}
	var env hub.Envelope
	if err := envelope.Unmarshal([]byte(payload[nodeIDLen:]), &env); err != nil {
		b.log.Warn("redis backplane: dropping an undecodable envelope", "err", err)
		return
	}
	b.received.Add(1)
	if st := b.hub(env.Hub); st != nil {
		st.deliver(&env)
	}
}

// AddToGroup implements [hub.Backplane]. Membership is recorded on this node first;
// while Redis is down (or when the write fails) it is written when Redis is back,
// so the call returns nil: only presence (GroupMembers) lags, never delivery, which
// each node does from its own index.
func (b *Backplane) AddToGroup(ctx context.Context, hubName, group, connectionID string) error {
	return b.changeGroup(ctx, hubName, group, connectionID, true)
}

// RemoveFromGroup implements [hub.Backplane], as AddToGroup.
func (b *Backplane) RemoveFromGroup(ctx context.Context, hubName, group, connectionID string) error {
	return b.changeGroup(ctx, hubName, group, connectionID, false)
}

func (b *Backplane) changeGroup(ctx context.Context, hubName, group, connectionID string, add bool) error {
	b.syncMu.RLock()
	defer b.syncMu.RUnlock()
	b.membersMu.Lock()
	groups := b.members[hubName]
	if groups == nil {
		groups = map[string]map[string]struct{}{}
		b.members[hubName] = groups
	}
	if add {
		if groups[group] == nil {
			groups[group] = map[string]struct{}{}
		}
		groups[group][connectionID] = struct{}{}
	} else if set := groups[group]; set != nil {
		delete(set, connectionID)
		if len(set) == 0 {
			delete(groups, group)
		}
	}
	b.membersMu.Unlock()
	if !b.Healthy() {
		b.needResync.Store(true)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	// A transaction where the two keys share a server; on Redis Cluster they lie
	// in different slots, which a transaction cannot span (CROSSSLOT): a plain
	// pipeline there, whose partial failure the resync repairs as any other.
	pipelined := b.rdb.TxPipelined
	if b.sharded() {
		pipelined = b.rdb.Pipelined
	}
	_, err := pipelined(ctx, func(p goredis.Pipeliner) error {
		if add {
			p.SAdd(ctx, b.groupKey(hubName, group), connectionID)
			p.SAdd(ctx, b.membershipKey(b.nodeID), memberEntry(hubName, group, connectionID))
		} else {
			p.SRem(ctx, b.groupKey(hubName, group), connectionID)
			p.SRem(ctx, b.membershipKey(b.nodeID), memberEntry(hubName, group, connectionID))
		}
		return nil
	})
	if err != nil {
		b.needResync.Store(true)
		b.log.Debug("redis backplane: membership write failed; will resync", "hub", hubName, "group", group, "err", err)
	}
	return nil
}

// GroupMembers implements [hub.Backplane]: the sorted connection IDs of group on
// every node. While Redis is down it fails with an error wrapping [ErrUnavailable].
func (b *Backplane) GroupMembers(ctx context.Context, hubName, group string) ([]string, error) {
	if !b.Healthy() {
		return nil, fmt.Errorf("redis backplane: members of group %q: %w", group, ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	ids, err := b.rdb.SMembers(ctx, b.groupKey(hubName, group)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis backplane: members of group %q: %w", group, err)
	}
	slices.Sort(ids)
	return ids, nil
}

// Keys and channels. Hub and group names are free text; they are the last part of
// a key or separated by a part that cannot occur in a node ID.

func (b *Backplane) groupKey(hubName, group string) string {
	return b.opts.Prefix + ":group:" + lenPrefixed(hubName) + group
}
func (b *Backplane) membershipKey(nodeID string) string {
	return b.opts.Prefix + ":node:" + nodeID + ":members"
}

// The node registry: on Redis Cluster in one slot (hash tag {nodes}), so that a
// heartbeat that succeeds tells that every liveness key can be read and written
// (see "Verdicts after an outage" in liveness.go).
func (b *Backplane) aliveKey(nodeID string) string {
	if b.sharded() {
		return b.opts.Prefix + ":{nodes}:alive:" + nodeID
	}
	return b.opts.Prefix + ":node:" + nodeID + ":alive"
}
func (b *Backplane) nodesKey() string {
	if b.sharded() {
		return b.opts.Prefix + ":{nodes}"
	}
	return b.opts.Prefix + ":nodes"
}
func (b *Backplane) locationKey(hubName, token string) string {
	return b.opts.Prefix + ":session:" + lenPrefixed(hubName) + token
}

// lenPrefixed writes s so that what follows cannot be confused with its end.
func lenPrefixed(s string) string { return strconv.Itoa(len(s)) + ":" + s + ":" }

// memberEntry is one membership in a node's membership set: hub, group and
// connection ID, NUL-separated (the connection ID has no NUL; a hub name is
// length-prefixed).
func memberEntry(hubName, group, connectionID string) string {
	return lenPrefixed(hubName) + connectionID + "\x00" + group
}

func parseMemberEntry(e string) (hubName, group, connectionID string, ok bool) {
	var n int
	if _, err := fmt.Sscanf(e, "%d:", &n); err != nil {
		return "", "", "", false
	}
	head := fmt.Sprintf("%d:", n)
	if len(e) < len(head)+n+1 {
		return "", "", "", false
	}
	hubName = e[len(head) : len(head)+n]
	rest := e[len(head)+n+1:]
	for i := 0; i < len(rest); i++ {
		if rest[i] == 0 {
			return hubName, rest[i+1:], rest[:i], true
		}
	}
	return "", "", "", false
}
