// Package protocol holds the ASP.NET Core SignalR hub protocols as pure functions over
// bytes: the handshake, the message types, and the JSON hub protocol with its
// record-separator framing.
//
// Nothing here does I/O. A transport delivers complete units (one WebSocket message,
// one POST body, one long-poll response); a unit holds one or more whole records, each
// terminated by [RecordSeparator] in the JSON protocol. The first unit from a client
// starts with the handshake request, which is always JSON, whatever the hub protocol.
//
// Values inside messages (invocation arguments, stream items, results) stay encoded as
// [RawValue] until the hub binds them to the Go types of a handler, so a protocol is
// free to choose its own value encoding and a broadcast is encoded once, not once per
// receiver.
package protocol
