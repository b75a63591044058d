package redis

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Options configure a [Backplane]. The zero value of every field but URL means its
// default, written beside it.
type Options struct {
	// URL locates Redis and says its topology. Required. One of:
	//
	//   - redis://[user:password@]host:port[/db] (rediss:// for TLS): one Redis;
	//   - redis+sentinel://[user:password@]host:port,host:port,…/master[?db=N&sentinel_password=P]:
	//     the master a set of Sentinels names, followed through failovers (the
	//     addresses are the Sentinels'; user and password are the Redis's);
	//   - redis+cluster://[user:password@]host:port,host:port,…: a Redis Cluster
	//     (Redis ≥ 7) found from these seed nodes; the backplane then uses sharded
	//     pub/sub (SSUBSCRIBE, SPUBLISH) over ClusterPartitions partitions.
	//
	// rediss+sentinel:// and rediss+cluster:// use TLS.
	URL string
	// Prefix starts every key and channel the backplane uses, so that several
	// clusters (or tests) can share one Redis. Default "hubbub". On Redis
	// Cluster, a hash tag in it ("{app}") puts every channel and key in its slot,
	// so on one shard whatever ClusterPartitions, and an empty one ("x{}") is
	// refused.
	Prefix string

	// RouteByHub turns interest routing off: every envelope of a hub goes on the
	// hub's one channel and every node receives, decodes and filters all of them,
	// as before interest routing. Nodes of one cluster must agree on it, since a
	// node that routes by interest does not hear what a RouteByHub node sends to a
	// group, user or connection: upgrade a cluster from a version without interest
	// routing with RouteByHub on, then switch it off on every node in one restart
	// (or move to a new Prefix). It also measures what interest routing saves.
	// Default false: a node subscribes to the channel of each group, user and
	// connection it has receivers of (see "Delivery" in the package documentation).
	RouteByHub bool
	// UnsubscribeLinger is how long a group's, user's or connection's channel stays
	// subscribed after its last local receiver leaves, so that a chat where
	// people leave and join rooms all day does not unsubscribe and subscribe
	// again each time. Default 2 s.
	UnsubscribeLinger time.Duration
	// ClusterPartitions is, on Redis Cluster, the number of subscription
	// connections of a node: channels are hashed into this many partitions, each
	// in one hash slot, so one shard serves a partition and a node holds one
	// connection per partition. More partitions spread the pub/sub load over more
	// shards. Nodes of one cluster must agree on it. Default 16, at most 16,384
	// (the hash slots); ignored elsewhere.
	//
	// The price of more than one: one node's envelopes keep their order per
	// channel (a hub's All, a group, a user, a connection) but not across
	// channels, which different shards and connections carry: a send to a group
	// followed by a send to All may reach a member of the group in the other
	// order. One partition keeps every envelope of a node in order, as on one
	// Redis, with all the pub/sub on one shard.
	ClusterPartitions int

	// OpTimeout bounds one Redis command: a publish, a membership change, a
	// presence query, a session lookup. A handler that sends never waits longer
	// than this for Redis. Default 1 s.
	OpTimeout time.Duration
	// MaxPendingPublishes bounds the publishes waiting for Redis (on Redis
	// Cluster, for each partition). Every Publish of the node goes through one
	// writer goroutine (one per partition), which sends all the publishes
	// waiting at that moment in one pipeline: one PUBLISH each, as many as wait
	// (at most MaxPendingPublishes) in one round trip, and each caller gets its own
	// result. So while a round trip is on its way, up to MaxPendingPublishes more
	// wait in the queue; a Publish that finds it full waits for room, within
	// OpTimeout, then fails with ErrPublishQueueFull (wrapped in
	// hub.ErrClusterDelivery: the local delivery has happened). The price: each
	// waiting publish holds its encoded envelope (twice the bound, with those in
	// flight), and every publish takes a hop through the writer goroutine (a
	// goroutine switch each way), which an idle node's publish did not. Default
	// 4096, at most 16,777,216 (the queue is made up front).
	MaxPendingPublishes int
	// DialTimeout bounds one attempt to connect to Redis. Default 2 s.
	DialTimeout time.Duration
	// PingInterval is how often the subscription connection is checked when it
	// carries nothing; a ping unanswered for another PingInterval counts as an
	// outage. Default 2 s.
	PingInterval time.Duration
	// ReconnectMinDelay and ReconnectMaxDelay bound the backoff between attempts
	// to reach Redis again after an outage; the delay doubles from min to max, with
	// jitter. Defaults 100 ms and 1 s. The max bounds how long a send may be lost
	// without an error after a failover: nodes come back at different moments
	// within it, and what a node that is back sends to one that is not yet is
	// lost (see "Failover" in the package documentation). Measured on Redis
	// Cluster: with 5 s, 1,161 deliveries lost over 4.1 s; with 1 s, at most 281
	// over 0.8 s.
	ReconnectMinDelay, ReconnectMaxDelay time.Duration

	// HeartbeatInterval is how often this node refreshes its liveness key, purges
	// the membership of dead nodes and repairs its own after an outage. Half of it
	// paces the check of the nodes this node awaits forwarded replies from, so that
	// the requests forwarded to a node whose process died are answered 404 within
	// HeartbeatInterval of its death (see "Node crashes" in the package
	// documentation). Default 3 s.
	HeartbeatInterval time.Duration
	// NodeTTL is how long a node counts as alive after its last heartbeat; then
	// other nodes purge its group memberships, and a node that stopped without
	// closing its Redis connections (frozen, or cut off) is declared dead: requests
	// forwarded to it are answered 404. It must exceed HeartbeatInterval.
	// Default 10 s.
	NodeTTL time.Duration

	// ForwardTimeout bounds a request forwarded to the node that owns its
	// connection (long polls, POSTs, DELETEs landing on another node), on the owner
	// and, plus OpTimeout, on the node that forwards it (504 after that). It must
	// exceed the hubs' TransportOptions.PollTimeout, since a forwarded poll is held
	// as long as a local one; the node that forwards a poll waits at most the hub's
	// PollTimeout plus OpTimeout. Default 60 s.
	ForwardTimeout time.Duration
	// MaxForwardedRequests caps the forwarded requests this node serves at once
	// for other nodes; beyond it they get 503. Default 10,000, at most 16,777,216.
	MaxForwardedRequests int
	// MaxForwardedBody caps the body of a request forwarded to another node (413
	// beyond it). It should exceed the hubs' TransportOptions.MaxTransportMessageSize so that
	// the owner node applies its own limit. Default 4 MiB.
	MaxForwardedBody int64
	// SessionTTL is how long the record of a connection that moved to another node
	// (a Server-Sent Events stream opened on a node other than its negotiate's)
	// lives in Redis if the node that wrote it never deletes it (crash). Default 24 h.
	SessionTTL time.Duration

	// Logger receives the backplane's logs: one line per change of state
	// (connected, lost, restored), never one per message. Default slog.Default().
	Logger *slog.Logger
}

// Defaults for [Options].
const (
	DefaultPrefix               = "hubbub"
	DefaultOpTimeout            = time.Second
	DefaultDialTimeout          = 2 * time.Second
	DefaultPingInterval         = 2 * time.Second
	DefaultReconnectMinDelay    = 100 * time.Millisecond
	DefaultReconnectMaxDelay    = time.Second
	DefaultHeartbeatInterval    = 3 * time.Second
	DefaultNodeTTL              = 10 * time.Second
	DefaultForwardTimeout       = 60 * time.Second
	DefaultMaxForwardedRequests = 10_000
	DefaultMaxPendingPublishes  = 4096
	DefaultMaxForwardedBody     = 4 << 20
	DefaultSessionTTL           = 24 * time.Hour
	DefaultUnsubscribeLinger    = 2 * time.Second
	DefaultClusterPartitions    = 16
)

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	setDuration(&o.OpTimeout, DefaultOpTimeout)
	setDuration(&o.DialTimeout, DefaultDialTimeout)
	setDuration(&o.PingInterval, DefaultPingInterval)
	setDuration(&o.ReconnectMinDelay, DefaultReconnectMinDelay)
	setDuration(&o.ReconnectMaxDelay, DefaultReconnectMaxDelay)
	setDuration(&o.HeartbeatInterval, DefaultHeartbeatInterval)
	setDuration(&o.NodeTTL, DefaultNodeTTL)
	setDuration(&o.ForwardTimeout, DefaultForwardTimeout)
	setDuration(&o.SessionTTL, DefaultSessionTTL)
	setDuration(&o.UnsubscribeLinger, DefaultUnsubscribeLinger)
	if o.ClusterPartitions <= 0 {
		o.ClusterPartitions = DefaultClusterPartitions
	}
	if o.ReconnectMaxDelay < o.ReconnectMinDelay {
		o.ReconnectMaxDelay = o.ReconnectMinDelay
	}
	if o.NodeTTL <= o.HeartbeatInterval {
		o.NodeTTL = 3 * o.HeartbeatInterval
	}
	if o.MaxForwardedRequests <= 0 {
		o.MaxForwardedRequests = DefaultMaxForwardedRequests
	}
	if o.MaxPendingPublishes <= 0 {
		o.MaxPendingPublishes = DefaultMaxPendingPublishes
	}
	if o.MaxForwardedBody <= 0 {
		o.MaxForwardedBody = DefaultMaxForwardedBody
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// maxBound is the largest MaxPendingPublishes and MaxForwardedRequests: each is
// the capacity of a queue made up front.
const maxBound = 1 << 24

// clusterSlots is the number of hash slots of a Redis Cluster, and so the most
// partitions that can lie in different slots.
const clusterSlots = 16384

// check refuses what New cannot honour, once defaults are applied.
func (o Options) check(topology Topology) error {
	if o.MaxPendingPublishes > maxBound {
		return fmt.Errorf("redis backplane: Options.MaxPendingPublishes %d is over %d", o.MaxPendingPublishes, maxBound)
	}
	if o.MaxForwardedRequests > maxBound {
		return fmt.Errorf("redis backplane: Options.MaxForwardedRequests %d is over %d", o.MaxForwardedRequests, maxBound)
	}
	if topology != Cluster {
		return nil
	}
	if o.ClusterPartitions > clusterSlots {
		return fmt.Errorf("redis backplane: Options.ClusterPartitions %d is over %d, the hash slots of a Redis Cluster", o.ClusterPartitions, clusterSlots)
	}
	if i := strings.IndexByte(o.Prefix, '{'); i >= 0 && strings.HasPrefix(o.Prefix[i:], "{}") {
		// Redis would hash every name whole (an empty hash tag is none): the
		// channels of a partition would lie in many slots, which one SSUBSCRIBE
		// cannot span.
		return fmt.Errorf("redis backplane: Options.Prefix %q: on Redis Cluster its first '{' must not be closed at once (an empty hash tag)", o.Prefix)
	}
	return nil
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}
