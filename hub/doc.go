// Package hub serves realtime hubs that speak the SignalR protocol, to the
// official SignalR clients and to Hubbub's own (the bundled JS client, and
// package [github.com/hubbub-go/hubbub/client] for Go).
//
// A [Hub] is a set of methods that clients call by name, the connections open to
// it, and their groups. Clients call the hub's methods; the hub calls methods of
// its clients, one, some or all of them, from a handler or from anywhere in the
// program. A hub is an [http.Handler]: it answers negotiate and the three
// transports (WebSockets, Server-Sent Events, long polling) on its path.
//
// # A minimal server
//
// Make a hub with [New], register its methods with [Hub.On], and mount it on a
// path and that path plus "/":
//
//	chat := hub.New(hub.Options{Name: "chat"})
//	chat.On("Send", func(ctx *hub.Context, text string) error {
//		return ctx.Clients().All().Send(ctx, "message", ctx.UserID(), text)
//	})
//	http.Handle("/hubs/chat", chat)
//	http.Handle("/hubs/chat/", chat)
//	log.Fatal(http.ListenAndServe(":8080", nil))
//
// A browser then connects with the official client, or with the bundled one that
// the hub serves under its own path ([Options.Assets]):
//
//	<script src="/hubs/chat/hubbub.js"></script>
//
// [Serve] runs the server and, when its context ends (on a signal, say), shuts
// the hub and the server down in the order they need, which
// [http.Server.Shutdown] alone does not know.
//
// # Methods
//
// [Hub.On] registers a method: a func whose parameters are an optional leading
// *[Context], then the invocation's arguments, decoded into their Go
// types (anything encoding/json can decode into); a wrong count or type is
// answered with an error, never a panic. It returns nothing, an error, a result,
// or a result and an error:
//
//	chat.On("Add", func(a, b int) int { return a + b })
//	chat.On("Rename", func(ctx *hub.Context, name string) error {
//		if name == "" {
//			return hub.NewError("a name cannot be empty") // the client reads this
//		}
//		ctx.Items().Store("name", name) // kept with the connection
//		return nil
//	})
//
// The text of an [Error] (made with [NewError]) reaches the client; any other
// error is logged and the client gets a generic message, unless
// [Options.DetailedErrors] is set. A panic in a handler is recovered and answered
// the same way. [Authorize] and [RequireClaim] guard a method.
//
// The [Context] tells a handler who called ([Context.ConnectionID],
// [Context.UserID], [Context.Identity], [Context.Request]) and reaches other
// clients ([Context.Clients], [Context.Groups]). It is a [context.Context] that
// ends when the client cancels the invocation or the connection ends.
// [Hub.OnConnected] and [Hub.OnDisconnected] run at the start and the end of
// each connection.
//
// # Sending to clients
//
// [Clients] picks receivers and gives a [Target], whose [Target.Send] calls a
// method of each receiver with arguments, without waiting for them. In a handler,
// [Context.Clients] knows the caller; elsewhere (a background goroutine, a REST
// handler) [Hub.Clients] picks the same receivers, with no caller:
//
//	ctx.Clients().Caller().Send(ctx, "welcome", "Hello!")    // the caller
//	ctx.Clients().Others().Send(ctx, "joined", ctx.UserID()) // everyone else
//	chat.Clients().User("ada").Send(ctx, "mail", 3)          // each of ada's connections
//	chat.Clients().All().Send(ctx, "tick", time.Now())       // everyone
//
// The targets are [Clients.All], [Clients.AllExcept], [Clients.Caller],
// [Clients.Others], [Clients.Client], [Clients.Clients], [Clients.Group],
// [Clients.Groups], [Clients.GroupExcept], [Clients.OthersInGroup],
// [Clients.User] and [Clients.Users]. [Target.Send] returns once the message is
// queued for the receivers on this node and handed to the backplane for the
// others. [Conn.Send] sends to one connection you hold.
//
// # Groups
//
// A group is a name that connections join and leave; it exists while it has
// members, and a connection leaves its groups when it ends. Join in a handler
// with [Context.Groups], or from anywhere with [Hub.Groups]:
//
//	chat.On("Join", func(ctx *hub.Context, room string) error {
//		if err := ctx.Groups().Add(ctx, ctx.ConnectionID(), room); err != nil {
//			return err
//		}
//		return ctx.Clients().Group(room).Send(ctx, "joined", room, ctx.UserID())
//	})
//
// [Groups.Add] returns once messages sent to the group, by any node, reach the
// connection. [Groups.Members] lists a group's connections on every node.
// [Options.MaxGroupsPerConnection] caps the groups of one connection
// ([ErrTooManyGroups]).
//
// # Calling a client and waiting for its result
//
// [Conn.Invoke] calls a method of one client and waits for what it returns
// ("client results"). The client answers with a value or an error
// ([ClientError]); [Options.InvokeClientTimeout] bounds the wait when ctx has no
// deadline. The result comes in the client's protocol: decode it with
// [Conn.Protocol]:
//
//	raw, err := ctx.Conn().Invoke(ctx, "Confirm", "Delete everything?")
//	if err != nil {
//		return err
//	}
//	var ok bool
//	err = ctx.Conn().Protocol().DecodeValue(raw, &ok)
//
// A handler may wait for its caller this way: the connection keeps reading while
// the handler runs, so the client's answer is not stuck behind it.
//
// # Streaming
//
// A method that returns a channel, an [iter.Seq] or an [iter.Seq2] whose second
// value is an error streams its items to the client, then completes. It must stop
// producing when its [Context] ends (the client cancelled, or left):
//
//	chat.On("Ticks", func(ctx *hub.Context, n int) iter.Seq[int] {
//		return func(yield func(int) bool) {
//			for i := range n {
//				if ctx.Err() != nil || !yield(i) {
//					return
//				}
//			}
//		}
//	})
//
// A parameter of type <-chan T receives a stream from the client: range over it;
// it is closed when the client completes the stream, or when the call ends
// first (then ctx.Err() is not nil). [Options.MaxStreams],
// [Options.StreamBufferCapacity] and [Options.MaxStreamBacklogBytes] bound the
// streams of a connection.
//
// # Authentication
//
// [Options.Authenticate] runs on negotiate and on every later request of the
// connection. It returns the caller's [Identity] (a user, when the credentials
// expire, and claims), or an error that refuses the request with 401:
//
//	hub.Options{Authenticate: jwtauth.Authenticate(jwtauth.Options{Secret: key})}
//
// Package [github.com/hubbub-go/hubbub/auth/jwtauth] reads JWT bearer tokens.
// The identity is then the connection's ([Conn.Identity], [Context.UserID]),
// [Clients.User] reaches every connection of a user, [RequireClaim] and
// [Authorize] check it per method, and the connection is closed when
// [Identity.ExpiresAt] passes. Without Authenticate, [Options.UserID] names the
// user of a request (by default what a middleware stored with [WithUserID]), or
// the connection is anonymous. [Options.AllowedOrigins] lets cross-origin
// pages in.
//
// # Protocols and transports
//
// Each connection speaks the hub protocol its handshake names, [protocol.JSON] or
// [protocol.MessagePack] (versions 1 and 2, 2 adding stateful reconnect), over
// WebSockets (binary messages for MessagePack) or long polling; Server-Sent
// Events carry JSON only. Handlers are written once for both: arguments bind to
// the same Go values, and a []byte is base64 under JSON and bin under
// MessagePack. A message for many connections is encoded at most once per
// protocol, and only for the protocols its receivers speak.
// [Options.Transports] restricts the transports offered ([transports.Kind]);
// [Options.TransportOptions] tunes them ([transports.Options]).
//
// A client that asks for stateful reconnect keeps its connection across a lost
// link: it resumes within [Options.ReconnectWindow] with nothing lost
// ([Options.DisableStatefulReconnect] turns this off; docs/reconnect.md in the
// repository tells how it works).
//
// # Backplanes: one hub on many nodes
//
// Every send goes through the hub's [Backplane] ([Options.Backplane]). The
// default, a [MemoryBackplane], serves one process. To spread a hub over many
// nodes, give every node's hub (same [Options.Name]) the same backplane:
// package [github.com/hubbub-go/hubbub/backplane/redis] over Redis, or
// [github.com/hubbub-go/hubbub/backplane/nats] over NATS. Handlers do not change:
// a send reaches its receivers on every node, [Groups.Members] sees the whole
// cluster. A backplane that is also an [InterestRouter] sends each message only
// to the nodes holding its receivers; one that is a [SessionForwarder] lets any
// request of a connection land on any node, so the load balancer needs no sticky
// sessions. [Hub.Health] and [HealthHandler] tell a load balancer whether a node
// reaches the others.
//
// # Limits
//
// What a client can make the server hold is bounded, with defaults meant for a
// public service ([Options] gives each):
//
//   - a slow client is closed as a slow consumer ([ErrSlowConsumer]) when its
//     queue passes [Options.MaxQueueLength] or [Options.MaxQueueBytes], so that
//     it never slows its senders;
//   - a client sending too fast is refused, then closed ([ErrRateLimited]):
//     [Options.MaxMessagesPerSecond], [Options.MessageBurst],
//     [Options.RateLimitStrikes];
//   - a silent client is closed after [Options.ClientTimeout]
//     ([ErrClientTimeout]), one that never completes its handshake after
//     [Options.HandshakeTimeout] ([ErrHandshakeTimeout]);
//   - connections are capped per user and per address
//     ([Options.MaxConnectionsPerUser], [Options.MaxConnectionsPerIP],
//     counting the client behind [Options.TrustedProxies]), and so are
//     negotiated connections that no transport has opened yet
//     ([Options.MaxPendingNegotiations], [Options.MaxPendingNegotiationsPerIP]);
//   - a connection runs [Options.MaxParallelInvocations] invocations at once (1:
//     in order), with [Options.InvocationQueueLength] waiting;
//   - message sizes: [transports.Options.MaxReceiveSize] and
//     [transports.Options.MaxTransportMessageSize], in
//     [Options.TransportOptions].
//
// [Observer] is told of each refusal and close; package
// [github.com/hubbub-go/hubbub/metrics] counts them for Prometheus. An Observer
// that is also a [FallbackObserver] is told why clients left the transports they
// tried, as the bundled JS client reports it once connected ([FallbackTarget]:
// a reserved target, taken before method lookup and never run as a hub method;
// method names beginning with "hubbub:" are reserved).
// A [Tracer] ([Options.Tracer]) is told when negotiates, connections, invocations
// and backplane publishes start and end (a [ClientInvocationTracer], also calls
// of client methods through [Conn.Invoke]); package
// [github.com/hubbub-go/hubbub/otelhub] makes OpenTelemetry spans of them.
//
// # Concurrency
//
// A [Hub], its [Conn] values and what they give are safe for concurrent use.
// Each connection has one ordered, bounded outbound queue drained by one writer
// goroutine, so a slow client never blocks a sender: when its queue is full it
// is closed with a reason.
// (Over long polling the writer runs only while a poll is open, and a poll that
// opens with messages waiting is its own writer: it answers at once.) Messages
// from one client are dispatched in order; by default one invocation runs at a
// time per connection ([Options.MaxParallelInvocations]), while stream items,
// completions and cancellations are handled as they arrive.
//
// # Shutting down
//
// [Hub.Close] drains a hub: it stops taking connections, lets the work under way
// finish (up to [Options.DrainTimeout]), then tells every client to go, with a
// Close message that allows reconnecting (to another node, say). [Serve] and
// [ServeListener] call it when their context ends, while the server still
// serves, then shut the server down.
//
// # Access log
//
// Each connection is logged once, when it ends, at Info through [Options.Logger]
// ([Options.DisableAccessLog] turns it off). With slog's text handler (the time
// left out, the line wrapped here):
//
//	level=INFO msg="hub: connection" hub=chat connection=MulqdkoJDmLOs51w4aY7Lg
//	  transport=WebSockets protocol=json remote=203.0.113.7 user=ada
//	  duration=2h14m3.029s bytes_in=25814 bytes_out=1440217 messages_in=212
//	  messages_out=18930 links=2 reason="client closed"
//
// remote is the client's address as the per-IP limits count it
// ([Options.TrustedProxies] honoured); user is empty for an anonymous client;
// duration runs from the connection's first transport request to its end, across
// every HTTP request and link. bytes_in and bytes_out count the hub protocol's
// bytes as the transports carry them (WebSocket message payloads, POST bodies, the
// data of SSE events, poll responses), without the HTTP and WebSocket framing, with
// the handshake, pings and stateful reconnect's Acks and Sequences; bytes_out
// counts what the hub handed to the transport (a last write that failed
// included). messages_in and messages_out count hub messages (invocations, stream
// items, completions, cancellations, the Close message), not the handshake,
// pings, Acks or Sequences.
// A message sent again after a resume counts again, in bytes and in messages.
// links is how many transports the connection had: 1, plus one per resume. reason
// is "client closed", "server closed" ([Conn.Close], a refused handshake, or a
// Close message the hub sent for a fault of the client's or expired credentials),
// "hub closed" ([Hub.Close]), "timeout" ([Options.ClientTimeout]), "handshake
// timeout", "slow consumer", "rate limited", "message too large", "reconnect
// window passed", or the text of the error that ended the link (a WebSocket cut
// without a close frame, a long-polling client that stopped polling).
//
// Gin's Logger or any net/http access log cannot tell this: it logs a WebSocket
// when it is upgraded, and an SSE stream or a held poll when the hub takes its
// connection over ([transports.Options.DisableTakeover] keeps those in their
// handlers), and a connection over SSE or long polling spans many requests.
package hub
