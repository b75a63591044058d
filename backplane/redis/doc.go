// Package redis is a [hub.Backplane] over Redis (github.com/redis/go-redis/v9): it
// lets several nodes serve one hub behind any load balancer, without sticky
// sessions. The hub package never imports it; pass a *[Backplane] in
// [hub.Options.Backplane] of every hub (cmd/hubbub does so with --redis URL).
//
//	bp, err := redis.New(redis.Options{URL: "redis://127.0.0.1:6379/0"})
//	…
//	h := hub.New(hub.Options{Name: "chat", Backplane: bp})
//	…
//	h.Close(ctx) // the hubs first,
//	bp.Close()   // then the backplane
//
// # Delivery
//
// Publish delivers the envelope to this node's connections first (the hub's own
// selection: all, others, group, user, one or several connections), then
// PUBLISHes it, JSON-encoded behind the publishing node's ID, to the nodes that
// want it. It routes by interest (the backplane is a [hub.InterestRouter]):
//
//   - a send to All (or all but some) goes on the hub's channel,
//     {prefix}:hub:{hub}, which every node attached to the hub subscribes to;
//   - a send to a group, a user or a connection goes on that key's channel,
//     {prefix}:to:{len(hub)}:{hub}:g:{group} (u: and c: for users and
//     connections), which
//     only the nodes holding a receiver of it subscribe to; a send to several
//     keys is one envelope per key ([hub.Envelope.SplitByKey]), and a member of
//     several of the groups gets it once.
//
// So a node's inbound traffic grows with what its own connections want, not with
// the whole cluster's: with each group's members on one node of six, each node
// receives a sixth of the group traffic, where it used to receive all of it.
// Each receiving node hands the envelope to its hub, which picks its own local
// receivers; a node skips the envelopes it published itself.
//
// A node subscribes to a key's channel when its first receiver arrives (a
// connection's handshake: its connection and user; Groups.Add: the group), and
// the join returns once the subscription is active on Redis, so that a message
// any node sends once the join has returned is not lost. Churn costs little:
// the subscribes waiting at a moment go as one SUBSCRIBE and one PING (whose
// PONG confirms them all), and the last receiver's leave unsubscribes only after
// UnsubscribeLinger (2 s), so that a leave and a join do not touch Redis.
// RouteByHub puts everything on the hub's channel instead, as before interest
// routing (for a rolling upgrade, and to measure the difference).
//
// The publishes of a node go through one writer goroutine (on Redis Cluster, one
// per partition, so that a stalled shard holds up only its own): it sends
// everything waiting at that moment in one pipeline, so under load many publishes share one
// round trip and one connection (measured with hubbench's cluster scenario, 3
// nodes, 32 concurrent publishers: 1.05 Redis reads per broadcast before, 0.12 to
// 0.26 after), and an idle node's publish goes alone. Each caller still waits
// for, and gets, its own result. MaxPendingPublishes bounds the queue. The
// envelope carries the arguments encoded for each hub protocol (JSON and
// MessagePack, [hub.Envelope]), so a receiving node frames them for its JSON and
// its MessagePack connections without encoding a value. On one Redis (or behind
// Sentinel) envelopes from one node arrive in the order it published them; on
// Redis Cluster, in order per channel. Delivery between nodes is at most once:
// Redis pub/sub does not keep messages for a node that is disconnected.
//
// # Topologies
//
// [Options.URL] picks one of three (see Options.URL for the syntax):
//
//   - one Redis (redis://): every channel on one subscription connection;
//   - Sentinel (redis+sentinel://): the same, on the master the Sentinels name.
//     When it fails, the connections break, the backplane asks the Sentinels
//     again and subscribes on the new master; sends meanwhile fail (reported,
//     counted in [Stats.Failed]), and the heartbeat rewrites this node's
//     memberships, which the replica may have missed;
//   - Redis Cluster (redis+cluster://, Redis ≥ 7): sharded pub/sub, so that the
//     pub/sub load spreads over the shards instead of every message crossing
//     every shard as a plain PUBLISH does. Channels are hashed into
//     ClusterPartitions partitions; the channels of a partition carry its hash tag
//     ({prefix}:{N}:…), so one shard serves them, and a node holds one SSUBSCRIBE
//     connection per partition. When a shard's master fails (or its slot moves:
//     Redis then ends the subscriptions), that partition reconnects to the new
//     owner; sends to its channels fail meanwhile, the others' go on. A hub's
//     broadcasts all go through its channel's shard; groups, users and
//     connections spread over all of them.
//
// # Presence
//
// Group membership is also written to Redis, for GroupMembers (presence) only:
// a set per group ({prefix}:group:{hub}:{group}) and, per node, a set of the
// memberships of its connections ({prefix}:node:{id}:members), so that they can be
// found and removed when the node dies. Each node keeps a liveness key
// ({prefix}:node:{id}:alive, NodeTTL) fresh every HeartbeatInterval and lists
// itself in {prefix}:nodes; on each heartbeat a node purges the memberships of
// listed nodes whose liveness key has expired (a crash; Close removes them at once).
// The user→connections map needs no Redis record: User and Users targets are
// delivered by every node from its own index, and no API asks for a user's
// connections cluster-wide.
//
// # No sticky sessions
//
// A connection lives on one node, its owner, but its HTTP requests may land on any
// node. The backplane implements [hub.SessionForwarder]:
//
//   - Connection tokens (and IDs) start with the ID of the node that negotiated
//     them (11 base64url characters, then 22 random ones, all [A-Za-z0-9_-]).
//   - A request that opens a streaming transport on a node other than its
//     negotiate's (a WebSocket upgrade or a Server-Sent Events GET) claims the
//     session: it asks the negotiating node, over that node's channel
//     {prefix}:node:{id}, to release the still unopened session, and the
//     connection then lives where the stream is. A WebSocket needs nothing more.
//     For SSE, whose POSTs will land anywhere, the new owner writes a session
//     record, {prefix}:session:{hub}:{token} → node ID (SessionTTL as a safety
//     net; deleted when the connection ends).
//   - Every other request whose token is not local (long polls, including the
//     first one that opens long polling, POSTs and DELETEs) is forwarded to the
//     owner: the session record's node, else the token's. The request (method,
//     URL, headers, body up to MaxForwardedBody) goes to the owner's channel; the
//     owner serves it through its hub exactly as if it had received it (held polls
//     included: a forwarded poll is held up to PollTimeout on the owner, bounded by
//     ForwardTimeout) and publishes the whole response back on the requester's
//     channel. When the requester's client goes away, the owner is told to cancel,
//     so that a unit is not written to a poll nobody reads. Responses are never
//     streamed between nodes: only long-poll responses and POST/DELETE replies
//     travel, and they are complete.
//   - A request for a node that is gone (no subscriber on its channel, or
//     declared dead: see below) gets 404 at once, as for any unknown connection;
//     the client starts a new connection.
//   - A forwarded long poll waits at most the hub's PollTimeout plus OpTimeout
//     (504 after that: the owner did not answer in time, the client may poll
//     again); other forwarded requests at most ForwardTimeout plus OpTimeout.
//
// This keeps every byte of a WebSocket's and an SSE stream's traffic on the node
// that holds the TCP connection, costs one Redis round trip to open a transport
// away from its negotiate, and one round trip per long-polling or SSE send request
// that lands on another node.
//
// # Relayed links
//
// A stateful connection (docs/reconnect.md) resumes on the same token, and its
// new WebSocket or SSE stream may land on any node. The owner cannot give it up
// (its invocations and streams run there), so the node where it lands, the front,
// serves the link and relays it: the backplane implements [hub.LinkRelay] over the
// nodes' channels. The front asks the owner to open the link (answered like a claim:
// ok, or not found, not resumable, another user's, another transport: 404, 409,
// 403, 400), then units go up (client to owner) and down (owner to client) as
// messages on the receiving node's channel, published one after another, so in
// order, and either side tells the other when its side ends. A unit for a link the
// receiver does not know is answered with the link's end. The hub bounds what waits
// on each side ([hub.Options.RelayBufferSize]); a side that cannot keep up ends the
// link and the client resumes. A claimed stateful connection gets a session record
// too, so that claims and relays find the node it moved to.
//
// Each node watches the peers of its relayed links as it watches the owners it
// awaits replies from (below): a dead peer ends its links within HeartbeatInterval
// of its death; when the owner is gone the client's resume then gets 404 and it
// starts a new connection; when the front is gone the owner's connection waits for
// a resume as after any lost link. Losing Redis ends every relayed link. Each relayed
// link costs a goroutine on either side only while units wait for it.
//
// # Node crashes
//
// Every node tracks the requests it has forwarded and awaits, per owner node, and
// the peers of its relayed links.
// Every HeartbeatInterval/2 it asks Redis, in one round trip, whether each of
// those owners still listens on its channel (PUBSUB NUMSUB) and still has its
// liveness key; an owner found missing on two checks in a row is declared dead,
// as is one whose expired liveness key the heartbeat's purge finds. Declaring it
// dead answers every request in flight to it at once, and every new one for
// NodeTTL, with 404 "No Connection with that ID": its connections died with it,
// and clients (ours and the official one) end a connection on a 404 and can start
// a new one on a live node. What the clients of a node see when it dies:
//
//   - WebSockets: the socket closes (through a proxy, the proxy closes it) as
//     the process dies; the client notices at once and may reconnect.
//   - Server-Sent Events: the stream ends the same way; the POSTs of the
//     connection that other nodes forward are answered 404.
//   - Long polling: a poll forwarded by a live node and waiting on the dead one
//     is answered 404 within HeartbeatInterval of the death (default 3 s; two
//     checks HeartbeatInterval/2 apart, plus a Redis round trip), and so are the
//     POSTs and DELETEs forwarded after it (at once: nobody listens on the dead
//     node's channel). Requests the load balancer still sends to the dead node
//     itself get the balancer's error.
//
// A process that dies in any way (crash, SIGKILL, OOM kill) closes its Redis
// connections, so its subscription goes at once and the bound above holds. A node
// that stops without closing them (frozen, or cut off with its TCP connections
// left half open) keeps its subscription until Redis notices: it is declared dead
// when its liveness key expires, NodeTTL after its last heartbeat (default 10 s).
// Lower NodeTTL to find such nodes sooner, at the price of purging a node whose
// heartbeats are merely late.
//
// When this node loses Redis, the requests it has in flight to other nodes are
// answered 503 at once (their replies would come through Redis), as are new ones
// until Redis is back: 503 means "the cluster is unavailable, try again", 404 "the
// connection is gone".
//
// # Redis outages
//
// The subscription connections are the judges of health (the backplane is
// healthy while each is up): a goroutine per connection pings it every
// PingInterval when idle, and on a failure reconnects with jittered exponential
// backoff (ReconnectMinDelay to ReconnectMaxDelay), subscribing again to every
// channel it carries. Each change of state is logged once (connected, unreachable,
// back) and readable through Healthy and Err. While Redis is down:
//
//   - every node keeps serving its own connections: Publish still delivers
//     locally, and then returns an error wrapping [hub.ErrClusterDelivery] and
//     [ErrUnavailable] at once (no timeout, no goroutine, no queue), telling the
//     caller that its node delivered and other nodes missed that message (a
//     handler returning it tells its client so; the hub logs the outage once);
//   - AddToGroup and RemoveFromGroup update this node's record and return nil;
//     the next heartbeat after Redis is back rewrites this node's memberships in
//     Redis (as it does when another node purged them);
//   - GroupMembers, claiming and forwarding fail at once (503 for HTTP requests).
//
// Every Redis command is bounded by OpTimeout (a handler that sends never waits
// longer), the client does not retry (a PUBLISH is not idempotent), and forwarded
// requests served for other nodes are capped by MaxForwardedRequests. The
// backplane's own goroutines are three (subscribes, heartbeat, the check of the
// nodes awaited), a subscription reader and a publish writer per partition (one,
// or ClusterPartitions on Redis Cluster), plus one per forwarded request or relay
// being opened.
//
// # Failover (Sentinel, Redis Cluster)
//
// When a master dies, a replica takes over (behind Sentinel after
// down-after-milliseconds and an election; on Redis Cluster after about two
// cluster-node-timeouts). Until then the backplane is in an outage, as above; on
// Redis Cluster as soon as the shard of one of its partitions is gone, and only
// the sends whose channel lies there fail (hub.ErrClusterDelivery, counted by
// Stats().Failed); those to other shards still go. Each node reconnects to the
// new master within its backoff (ReconnectMaxDelay at most), subscribes again,
// and its next heartbeat rewrites its memberships, which the new master may lack.
// Sends made once every node is back arrive (TestFailover). When the old master
// lives on as a replica (SENTINEL FAILOVER, CLUSTER FAILOVER), no connection
// breaks by itself: each heartbeat checks that the master counts this node's
// subscriptions (PUBSUB NUMSUB, SHARDNUMSUB) and subscribes again where it does
// not, so a node follows the new master within HeartbeatInterval.
//
// Redis pub/sub is at most once, so some sends that returned nil are lost: a
// PUBLISH the dying master acknowledged but had not yet written to a
// subscriber's connection, and a send made after the publishing node is back on
// the new master but before a receiving node is: within ReconnectMaxDelay (plus
// DialTimeout and a round trip) of the new master taking over, or
// HeartbeatInterval after a graceful failover. TestFailover,
// with a 200 ms ReconnectMaxDelay, loses 0 to ~50 such deliveries out of ~1,000
// sends, all within 0.15 s of the recovery; with the default 1 s, up to ~300
// within 0.8 s.
//
// No node is taken for dead from an outage: liveness keys expire while nobody
// can heartbeat, so a node that lost Redis declares no node dead and purges none
// until NodeTTL plus ReconnectMaxDelay after its first heartbeat that succeeds
// again (on Redis Cluster the nodes set and the liveness keys share a slot).
// With several ClusterPartitions, one node's envelopes keep their order per
// channel only (see Options.ClusterPartitions).
package redis
