// Package nats is a [hub.Backplane] over NATS (github.com/nats-io/nats.go): it lets
// several nodes serve one hub behind any load balancer, without sticky sessions,
// and routes each message only to the nodes that hold its receivers. The hub
// package never imports it; pass a *[Backplane] in [hub.Options.Backplane] of every
// hub (cmd/hubbub does so with --nats URL).
//
//	bp, err := nats.New(nats.Options{URL: "nats://127.0.0.1:4222"})
//	…
//	h := hub.New(hub.Options{Name: "chat", Backplane: bp})
//	…
//	h.Close(ctx) // the hubs first,
//	bp.Close()   // then the backplane
//
// # Delivery: interest-based routing
//
// Every target kind has its subjects: {prefix}.h.{hub}.all for All (and Others,
// AllExcept), and one subject per group, user and connection,
// {prefix}.h.{hub}.g.{group}, .u.{user}, .c.{connection} (names are encoded as one
// subject token each, so that no name is a wildcard or a separator; a name over
// 192 bytes by its SHA-256, so that no subject outgrows the server's protocol
// line, whose excess makes the server close the connection). A node subscribes to a hub's All subject when the hub is
// made, and to the subject of a group, user or connection while it holds a
// receiver under it: the backplane implements [hub.InterestRouter], and the hub
// tells it of every receiver that comes and goes. So NATS delivers a group's
// message to the nodes with members of the group, a user's to the nodes with the
// user's connections, a connection's to its node: a node receives only what its
// connections want. Only All reaches every node.
//
// Publish delivers the envelope to this node's connections first (the hub's own
// selection), then publishes it, JSON-encoded as [hub.Envelope] (the arguments in
// each hub protocol's form, as the Redis backplane carries them), once per
// subject: a target naming several groups, users or connections publishes once
// per distinct name, the envelope naming that one only; for groups, each
// envelope lists the groups before it in Selector.ExceptGroups, so that a
// connection in several of them gets it once. Except stays a filter of the
// receiving hub. The connection does not receive its own messages (NoEcho): they
// were delivered already.
//
// Every subscription of the backplane feeds one queue (ReceiveBuffer) read by one
// goroutine, so envelopes from one node reach the hubs in the order it published
// them, whatever their subjects. When the queue is full NATS drops envelopes
// (a slow consumer): [Stats.Dropped] counts them and the backplane logs it.
//
// Nothing is lost between a join and its subscription: AddInterest subscribes on
// the first receiver of a key and returns once the server has the subscription
// (a flush of the connection); the hub's Groups.Add and a connection's handshake
// reply wait for it. The subscriptions made while one flush is under way share
// the next, so a burst of joins costs a round trip or two, not one each. After
// the last receiver of a key leaves, its subscription lingers for
// UnsubscribeLinger before it goes, so that a group whose members come and go
// keeps one subscription.
//
// # Presence
//
// GroupMembers uses heartbeats, not JetStream: each node keeps the memberships of
// its own connections in memory, publishes a heartbeat on {prefix}.hb every
// HeartbeatInterval, and answers presence queries on {prefix}.presence. A query
// asks every node and returns when every node heard within NodeTTL has answered
// (at most OpTimeout); a node whose members do not fit in one message
// (max_payload) answers in several. Nothing is stored in NATS, so nothing outlives the node
// that holds it, and nothing needs purging or repairing:
//
//   - When a node crashes, its members vanish from presence at once (it no longer
//     answers; they died with it). Until NodeTTL after its last heartbeat
//     (default 3 s), queries wait OpTimeout (default 1 s) for its answer.
//   - A node that closes says so ({prefix}.bye): no query waits for it.
//   - While NATS is down GroupMembers fails with [ErrUnavailable]; memberships kept
//     meanwhile are answered as soon as it is back.
//
// The price: a query is a round trip to every node, where JetStream KV would be
// one read of a bucket that outlives crashes only to be purged of their members.
//
// # No sticky sessions
//
// The backplane implements [hub.SessionForwarder] with NATS request-reply, as the
// Redis backplane does with its channels (see its documentation for the rules):
// connection tokens start with the node's ID; a WebSocket or SSE stream opened on
// another node than its negotiate's claims the session from that node
// ({prefix}.n.{node}); every other request is forwarded to the node holding the
// connection, which serves it and replies with the whole response. A connection
// claimed for Server-Sent Events (whose POSTs land anywhere) or with stateful
// reconnect is served on its own subject, {prefix}.s.{hub}.{token}, by its new
// node, so no record needs storing: a forwarded request goes there first, and
// to the token's node when nobody serves that subject. A request for a node or
// a session nobody serves is answered 404 at once (NATS tells that there are no
// responders); one in flight to a node that stops heartbeating is answered 404
// within NodeTTL; while NATS is down, 503.
//
// # Relayed links
//
// A stateful connection (docs/reconnect.md) resumes on the same token, and its
// new WebSocket or SSE stream may land on any node. The backplane implements
// [hub.LinkRelay] as the Redis backplane does (see its documentation): the node
// where the link lands asks the owner, on the connection's session subject or
// its node's, to attach it, then units go up and down as messages on the
// receiving node's subject, in order. A node that stops heartbeating ends its
// links within NodeTTL, losing NATS ends every link, and so does NATS dropping
// messages of this node's subject; the client resumes.
//
// # Goroutines
//
// Besides nats.go's (a reader, a flusher, and one for each of the four
// subjects every node serves: heartbeats, goodbyes, presence, this node's
// requests), the backplane runs four: the receive queue's, the flushes', the
// heartbeat's and the one that reads the requests of every session subject; plus
// one per forwarded request being served. Envelope subscriptions, however many,
// add none: they all feed the receive queue.
//
// # NATS outages
//
// nats.go reconnects by itself (ReconnectWait, with jitter) and subscribes again
// to every subject. While NATS is down:
//
//   - every node keeps serving its own connections: Publish delivers locally,
//     then returns an error wrapping [hub.ErrClusterDelivery] and ErrUnavailable at
//     once (the client is not buffering: ReconnectBufSize is off, so that no
//     message goes out late or is dropped unseen), and [Stats.Failed] counts it;
//   - joins and connections are recorded, and Groups.Add returns nil: nats.go
//     makes their subscriptions when NATS is back, before it sends anything else;
//   - GroupMembers and claims fail at once with ErrUnavailable, forwarded
//     requests are answered 503, and those in flight fail at once;
//   - envelopes other nodes published meanwhile are lost for this node (NATS
//     core is at most once). What is lost is what the senders were told about
//     (and Stats.Failed counted), plus what was in flight when the server died
//     (written to its socket before the client saw it close) and what a node
//     published once back before the receiving node was back too (nodes
//     reconnect within ReconnectWait plus nats.go's jitter, 100 ms, of each
//     other). TestNATSOutage measures it: with a send every 5 ms and a 60 ms
//     outage, 0 to 9 sends lost unreported in 6 runs, each next to a change of
//     state, against 11 to 14 reported.
package nats
