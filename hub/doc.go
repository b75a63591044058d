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
// closed with a reason. Messages from one client are dispatched in order; by default one
// invocation runs at a time per connection (Options.MaxParallelInvocations), while
// stream items, completions and cancellations are handled as they arrive.
//
// Delivery goes through a [Backplane]. The default, in memory, serves one process; a
// Redis backplane (package backplane/redis) spreads a hub over many nodes without
// changing handlers.
package hub
