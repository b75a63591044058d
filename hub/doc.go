// Package hub is the heart of Hubbub: hubs with typed methods, connections, groups,
// targets (all, others, caller, a connection, a group, a user…), streams in both
// directions, client results, lifecycle hooks, and the http.Handler that serves a hub
// to the official SignalR clients and to Hubbub's own clients over WebSockets,
// Server-Sent Events and long polling, behind one negotiate endpoint.
//
// A hub is a set of methods clients invoke by name:
//
//	chat := hub.New(hub.Options{Name: "chat"})
//	chat.On("Send", func(ctx *hub.Context, room, text string) error {
//		return ctx.Clients().Group(room).Send(ctx, "message", ctx.UserID(), text)
//	})
//	http.Handle("/hubs/chat", chat)
//	http.Handle("/hubs/chat/", chat)
//
// The hub also serves the bundled JS client under its path ([Options.Assets]), so a
// page needs only <script src="/hubs/chat/hubbub.js"></script>.
//
// Arguments are decoded into the handler's parameter types; a wrong count or type is
// answered with a Completion error, never a panic. A handler may return nothing, an
// error, a result, or a result and an error. A handler returning a channel or an
// iterator is a server-to-client stream; a parameter of type <-chan T receives a
// client-to-server stream.
//
// Protocols: each connection speaks the hub protocol its handshake names, JSON or
// MessagePack (versions 1 and 2, 2 adding stateful reconnect), over WebSockets
// (binary messages for MessagePack) or long polling; Server-Sent Events carry
// JSON only. Handlers are written once for both: arguments bind to the same Go
// values, and a []byte is base64 under JSON and bin under MessagePack. A message
// for many connections is encoded at most once per protocol, and only for the
// protocols its receivers speak.
//
// Concurrency: each connection has one ordered, bounded outbound queue drained by one
// writer goroutine, so a slow client never blocks a sender: when its queue is full it is
// closed with a reason. (Over long polling the writer runs only while a poll is open,
// and a poll that opens with messages waiting is its own writer: it answers at once.) Messages from one client are dispatched in order; by default one
// invocation runs at a time per connection (Options.MaxParallelInvocations), while
// stream items, completions and cancellations are handled as they arrive.
//
// Delivery goes through a [Backplane]. The default, in memory, serves one process; a
// Redis backplane (package backplane/redis) or a NATS one (package backplane/nats,
// which routes each message only to the nodes holding its receivers: see
// [InterestRouter]) spreads a hub over many nodes without changing handlers.
//
// # Access log
//
// Each connection is logged once, when it ends, at Info through Options.Logger
// (Options.DisableAccessLog turns it off). With slog's text handler (the time
// left out, the line wrapped here):
//
//	level=INFO msg="hub: connection" hub=chat connection=MulqdkoJDmLOs51w4aY7Lg
//	  transport=WebSockets protocol=json remote=203.0.113.7 user=ada
//	  duration=2h14m3.029s bytes_in=25814 bytes_out=1440217 messages_in=212
//	  messages_out=18930 links=2 reason="client closed"
//
// remote is the client's address as the per-IP limits count it
// (Options.TrustedProxies honoured); user is empty for an anonymous client;
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
// is "client closed", "server closed" (Conn.Close, a refused handshake, or a Close
// message the hub sent for a fault of the client's or expired credentials), "hub
// closed" (Hub.Close), "timeout" (Options.ClientTimeout), "handshake timeout",
// "slow consumer", "rate limited", "message too large", "reconnect window
// passed", or the text of the error that ended the link (a WebSocket cut without
// a close frame, a long-polling client that stopped polling).
//
// Gin's Logger or any net/http access log cannot tell this: it logs a WebSocket
// when it is upgraded, and an SSE stream or a held poll when the hub takes its
// connection over (transports.Options.DisableTakeover keeps those in their
// handlers), and a connection over SSE or long polling spans many requests.
package hub
