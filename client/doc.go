// Package client is a Go client for SignalR hubs: Hubbub servers and ASP.NET Core
// SignalR servers alike. It speaks what the official JavaScript client
// (@microsoft/signalr) speaks: negotiate version 1, the JSON and MessagePack hub
// protocols, and the three transports (WebSockets, Server-Sent Events, long
// polling), with the same fallback between them. It is meant for services, tests
// and load tools.
//
// # Connecting
//
// [Dial] negotiates, connects a transport and performs the hub handshake:
//
//	conn, err := client.Dial(ctx, "http://127.0.0.1:8080/hubs/chat", client.Options{})
//	if err != nil { … }
//	defer conn.Close()
//
// The URL is the hub's base URL. Its query string is kept and sent on every request,
// as the official client does. The options are a plain struct whose zero value means
// the defaults (see [Options]); for instance Transports restricts the transports:
//
//	client.Options{Transports: transports.ServerSentEvents | transports.LongPolling}
//
// Connecting goes like this:
//
//  1. POST {url}/negotiate?negotiateVersion=1 returns a connection ID (public: it is
//     what the hub and other clients see, ConnectionID) and a connection token
//     (secret: it names the connection on every later request, as ?id=<token>).
//     Redirect responses ({"url": …, "accessToken": …}) are followed; a refusal
//     ({"error": …}) or a status other than 200 fails with an error wrapping
//     [ErrNegotiate] and, for a status, an *[HTTPError] with the status and body.
//  2. The transports the server offers are tried in its order, skipping those
//     excluded by [Options.Transports] and those without the protocol's transfer
//     format (Server-Sent Events under MessagePack). If one fails to connect (the
//     WebSocket upgrade is refused, the event stream or the first poll does not
//     answer 200), the client negotiates again and tries the next. When all fail, the error wraps
//     [ErrNoTransport] and lists every attempt.
//  3. The handshake request {"protocol":"json","version":1} is sent (the name is
//     "messagepack" under MessagePack; version 2 when stateful reconnect was
//     negotiated, below) and the server's reply awaited
//     ([Options.HandshakeTimeout]); a refusal wraps [ErrHandshake].
//
// Dial's context bounds these steps only. Once connected, the connection lives until
// Close, a Close message from the server, the loss of the connection or the server
// timeout. Done is closed then, and Err tells why: [ErrClosed] after Close, a
// *[CloseError] carrying the server's message and its AllowReconnect flag, an error
// wrapping [ErrTimeout], [ErrConnectionLost], or the transport's error.
//
// # Surviving cuts
//
// A [Conn] keeps its connection across cuts of the link that carries it (a reset
// WebSocket, an SSE stream ended by a proxy, a poll answered 504), as
// docs/reconnect.md in the repository describes:
//
//   - By default the client asks for stateful reconnect at negotiate
//     ([Options.DisableStatefulReconnect] turns it off). When the server agrees, both
//     sides number their messages, acknowledge them (the client about a second
//     after receiving, or at once after 32 KiB) and keep what was not acknowledged
//     ([Options.StatefulReconnectBufferSize]; a full buffer makes senders wait). On
//     any transport, a cut link is resumed on the same connection token, with
//     backoff (at once, then 250 ms, 500 ms, 1 s, then every 2 s), for up to
//     [Options.ReconnectWindow]: the connection ID, groups, pending invocations and
//     streams are kept, and no message is lost, duplicated or reordered. Meanwhile
//     Invoke, Send and stream items wait instead of failing.
//   - Without stateful reconnect, long polls answered 502, 503 or 504 or cut by the
//     network are still retried on the same connection (messages in flight at the
//     cut may be lost); a lost WebSocket or SSE stream ends the connection.
//
// [Options.OnReconnecting] and [Options.OnReconnected] tell the application. When the
// server no longer knows the connection (404 on a resume, or the window passed),
// Done closes with an error wrapping ErrConnectionLost: the server's state for it
// is gone, and the caller dials again for a new connection.
//
// When a hub sends messages as soon as a client connects, register handlers before
// connecting with [New], On and Start instead of Dial, or the first messages could
// arrive with no handler to take them.
//
// # Calling the hub
//
// Invoke calls a hub method and waits for its result; [InvokeAs] decodes it:
//
//	res, err := conn.Invoke(ctx, "Echo", "hello")
//	var s string
//	err = res.Decode(&s)
//	sum, err := client.InvokeAs[int](ctx, conn, "Add", 2, 3)
//
// Arguments are encoded with the connection's protocol (below). A method that
// fails on the server returns an *[InvocationError] holding the server's message;
// the connection stays open. Send calls a method without waiting for it (fire-and-forget).
//
// [Conn.Stream] calls a streaming method; read the items with Next or range over [Items],
// and Cancel to make the server stop:
//
//	s, err := conn.Stream(ctx, "Counter", 10, 100)
//	for n, err := range client.Items[int](s) { … }
//
// Client-to-server streams are arguments: an *[UploadStream] (or a channel), whose
// items are sent after the invocation that carries it.
//
// # Being called by the hub
//
// On registers a handler for a method the hub invokes on the client (matched
// case-insensitively), and the connection's [Conn.DecodeArgs] decodes its arguments:
//
//	conn.On("message", func(args []protocol.RawValue) {
//		var user, text string
//		if err := conn.DecodeArgs(args, &user, &text); err == nil { … }
//	})
//
// OnInvoke answers hub invocations that wait for a result ("client results").
//
// # Protocols
//
// [Options.Protocol] chooses the hub protocol: [protocol.JSON] (the default) or
// [protocol.MessagePack]:
//
//	conn, err := client.Dial(ctx, url, client.Options{Protocol: protocol.MessagePack})
//
// Every [protocol.RawValue] a connection hands out (a handler's arguments, a
// [Result]'s Raw, a stream item) is in the connection's protocol: a JSON text or a
// MessagePack value. Decode them through the connection: [Conn.DecodeArgs],
// [Conn.Decode], [Result.Decode] and Items use its protocol; the package-level
// DecodeArgs is for JSON only. A RawValue passed as an argument is sent as is, so
// it must be in the connection's protocol too. Go values are encoded by
// encoding/json under JSON and by MessagePack with the same field names (the json
// tags); []byte travels as a base64 string under JSON and as bin under
// MessagePack, and decodes into []byte either way.
//
// MessagePack is a binary protocol: it needs the Binary transfer format, which
// WebSockets (binary frames) and long polling (binary bodies) carry and Server-Sent
// Events do not. A MessagePack client skips SSE, and New refuses one whose
// Options.Transports allows SSE only.
//
// # Transports
//
// WebSockets carry each batch of records as one text message (a binary one under
// MessagePack). With Server-Sent Events the server's records arrive as the data of
// events on one long GET, and the client's go out as POSTs; long polling uses GET polls (each with a "_" timestamp
// parameter) for the server's records, POSTs for the client's and a DELETE to end.
// On every transport the client sends one unit at a time, batching what queues up
// meanwhile (at most 16 KiB per unit, which even servers that cap a whole unit at
// 32 KiB take).
//
// Keep-alive: on WebSockets and SSE the client sends a Ping when it has sent nothing
// for [Options.KeepAliveInterval], and gives up when it has received nothing for
// [Options.ServerTimeout]. Long polling needs neither: the polls are the keep-alive.
//
// Authentication: [Options.AccessToken] supplies a bearer token, sent in the
// Authorization header, except on the SSE stream where it goes in the access_token
// query parameter, since browsers' EventSource cannot set headers and servers expect
// it there. [Options.Header] adds headers to every request. An [Options.HTTPClient] with
// a Timeout would cut the SSE stream and long polls; leave its Timeout zero.
//
// # Concurrency
//
// All methods of Conn are safe for concurrent use. Each connection has one reader
// goroutine, one writer goroutine (the only one that sends, so units go out in
// order and one POST at a time), one goroutine that runs the handlers one at a time
// in arrival order, and one that tears the connection down. Queues are bounded
// ([Options.MaxQueueLength], [Options.StreamBufferCapacity]): a full queue makes senders
// wait, and a slow handler or stream reader makes the connection stop reading
// rather than buffer without limit. Close returns after these goroutines have ended.
package client
