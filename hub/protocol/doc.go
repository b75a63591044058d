// Package protocol holds the ASP.NET Core SignalR hub protocols as pure functions over
// bytes: the handshake, the message types, the [JSON] hub protocol with its
// record-separator framing, and the [MessagePack] hub protocol with its varint
// length-prefixed framing.
//
// Nothing here does I/O. A transport delivers complete units (one WebSocket message,
// one POST body, one long-poll response); a unit holds one or more whole records. In
// the JSON protocol ([JSON], text transfer format) each record is terminated by
// [RecordSeparator] and split off by [NextRecord]; in the MessagePack protocol
// ([MessagePack], binary transfer format) each is preceded by its length as a varint
// and split off by [NextBinaryRecord]. [SplitRecord] picks the framing of a protocol,
// for callers that bound each record's size. The first unit from a client starts
// with the handshake request, which is always JSON text ending in [RecordSeparator],
// whatever the hub protocol.
//
// Values inside messages (invocation arguments, stream items, results) stay encoded as
// [RawValue] until the hub binds them to the Go types of a handler, so a protocol is
// free to choose its own value encoding and a broadcast is encoded once, not once per
// receiver. A [RawValue] is JSON text under JSON and one msgpack value under
// MessagePack; [Protocol.EncodeValue] and [Protocol.DecodeValue] convert Go values,
// naming struct fields by their `json` tags in both.
//
// Both parsers treat their input as hostile: they never allocate from a length the
// input announces before checking it against the bytes present, and they report
// malformed input as errors wrapping [ErrInvalidMessage] or [ErrIncomplete].
package protocol
