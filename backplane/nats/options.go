package nats

import (
	"log/slog"
	"time"
)

// Options configure a [Backplane]. The zero value of every field but URL means its
// default, written beside it.
type Options struct {
	// URL locates NATS: nats://[user:password@]host:port, or several URLs
	// separated by commas (a NATS cluster); tls://, ws:// and wss:// as nats.go
	// takes them. Required; New refuses another scheme or a port out of range.
	URL string
	// Prefix starts every subject the backplane uses, so that several clusters (or
	// tests) can share one NATS. A single subject token: [A-Za-z0-9_-], at most 256
	// bytes. Default "hubbub".
	Prefix string

	// OpTimeout bounds one exchange with NATS: confirming a subscription, a
	// presence query, a claim of a session. Default 1 s.
	OpTimeout time.Duration
	// ReconnectWait is the pause between attempts to reach NATS again after an
	// outage (nats.go adds jitter). Default 100 ms.
	ReconnectWait time.Duration

	// AsyncPublish lets Publish return once the envelope is in the connection's
	// buffer, without waiting for NATS to confirm it has it. By default Publish
	// waits (one round trip, shared by the publishes made meanwhile: a flush), so
	// that once a send returns, the envelope is on its way to every node: a
	// client that gets a completion and then makes another node send sees the
	// first message before the second, as the official client's tests expect,
	// and a send that returned nil was not lost in the buffer of a connection
	// that then broke. Asynchronous publishing saves that wait (a send costs
	// microseconds instead of a round trip) and gives up both. Measured
	// (BenchmarkBroadcast, one broadcast at a time to 8 receivers on two other
	// nodes, loopback, a loaded 2-core machine, two A/B pairs): 29.6k and 21.9k
	// deliveries/s confirmed, 29.9k and 23.0k asynchronous: the wait is within
	// the noise when a send waits for its delivery anyway.
	AsyncPublish bool

	// ReceiveBuffer is how many envelopes from other nodes may wait for their hub
	// on this node. All subscriptions feed one queue, which keeps every node's
	// envelopes in the order it published them; beyond it NATS drops (a slow
	// consumer), and the drops are counted (Stats.Dropped). Each waiting envelope
	// holds its message. Default 65,536, at most 16,777,216 (the queue is made
	// up front).
	ReceiveBuffer int
	// UnsubscribeLinger is how long a subscription outlives the last local
	// receiver of its group, user or connection: a group whose members come and go
	// keeps one subscription instead of a SUB and an UNSUB per change. Messages
	// for it still reach this node meanwhile, and the hub finds no receiver.
	// Default 2 s.
	UnsubscribeLinger time.Duration

	// HeartbeatInterval is how often a node tells the others it is alive. Nodes
	// answer presence queries (GroupMembers); a query waits for every node heard
	// within NodeTTL, up to OpTimeout. Default 1 s.
	HeartbeatInterval time.Duration
	// NodeTTL is how long a node counts as alive after its last heartbeat: a
	// crashed node delays presence queries (up to OpTimeout) for this long, and
	// requests forwarded to it fail within it. It must exceed HeartbeatInterval.
	// Default 3 s.
	NodeTTL time.Duration

	// ForwardTimeout bounds a request forwarded to the node that owns its
	// connection (long polls, POSTs, DELETEs landing on another node), on the
	// owner and, plus OpTimeout, on the node that forwards it (504 after that). A
	// forwarded poll waits at most the hub's PollTimeout plus OpTimeout.
	// Default 60 s.
	ForwardTimeout time.Duration
	// MaxForwardedRequests caps the forwarded requests this node serves at once
	// for other nodes; beyond it they get 503. As many requests for the
	// connections claimed here may wait to be read; beyond that NATS drops them
	// and their requesters time out. Default 10,000, at most 16,777,216.
	MaxForwardedRequests int
	// MaxForwardedBody caps the body of a request forwarded to another node (413
	// beyond it). The body travels base64 in one NATS message, so a request
	// whose body is over about 3/4 of the server's max_payload (1 MiB by
	// default), less its headers, gets 413 too. Default 900 KiB.
	MaxForwardedBody int64

	// Logger receives the backplane's logs: one line per change of state, never
	// one per message. Default slog.Default().
	Logger *slog.Logger
}

// Defaults for [Options].
const (
	DefaultPrefix               = "hubbub"
	DefaultOpTimeout            = time.Second
	DefaultReconnectWait        = 100 * time.Millisecond
	DefaultReceiveBuffer        = 65_536
	DefaultUnsubscribeLinger    = 2 * time.Second
	DefaultHeartbeatInterval    = time.Second
	DefaultNodeTTL              = 3 * time.Second
	DefaultForwardTimeout       = 60 * time.Second
	DefaultMaxForwardedRequests = 10_000
	DefaultMaxForwardedBody     = 900 << 10
)

func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	setDuration(&o.OpTimeout, DefaultOpTimeout)
	setDuration(&o.ReconnectWait, DefaultReconnectWait)
	setDuration(&o.UnsubscribeLinger, DefaultUnsubscribeLinger)
	setDuration(&o.HeartbeatInterval, DefaultHeartbeatInterval)
	setDuration(&o.NodeTTL, DefaultNodeTTL)
	setDuration(&o.ForwardTimeout, DefaultForwardTimeout)
	if o.NodeTTL <= o.HeartbeatInterval {
		o.NodeTTL = 3 * o.HeartbeatInterval
	}
	if o.ReceiveBuffer <= 0 {
		o.ReceiveBuffer = DefaultReceiveBuffer
	}
	if o.MaxForwardedRequests <= 0 {
		o.MaxForwardedRequests = DefaultMaxForwardedRequests
	}
	if o.MaxForwardedBody <= 0 {
		o.MaxForwardedBody = DefaultMaxForwardedBody
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}
