package protocol

import (
	"bytes"
	"errors"
)

// MessageType is the "type" field of a hub message.
type MessageType int

// The hub message types of the SignalR protocol.
const (
	InvocationType       MessageType = 1
	StreamItemType       MessageType = 2
	CompletionType       MessageType = 3
	StreamInvocationType MessageType = 4
	CancelInvocationType MessageType = 5
	PingType             MessageType = 6
	CloseType            MessageType = 7
	AckType              MessageType = 8
	SequenceType         MessageType = 9
)

// String returns the protocol name of the type, e.g. "Invocation".
func (t MessageType) String() string {
	switch t {
	case InvocationType:
		return "Invocation"
	case StreamItemType:
		return "StreamItem"
	case CompletionType:
		return "Completion"
	case StreamInvocationType:
		return "StreamInvocation"
	case CancelInvocationType:
		return "CancelInvocation"
	case PingType:
		return "Ping"
	case CloseType:
		return "Close"
	case AckType:
		return "Ack"
	case SequenceType:
		return "Sequence"
	}
	return "Unknown"
}

// RawValue is one value (an argument, a stream item, a result) still in its protocol's
// encoding: a [JSON] text under JSON, one msgpack value under [MessagePack]. A nil
// RawValue means "absent", which differs from an encoded null.
type RawValue []byte

// IsNull reports whether v is an encoded null in either protocol: the [JSON] text
// null (spaces around it allowed) or the msgpack nil byte 0xc0. The two cannot be
// confused: neither is a valid value in the other encoding. An absent (empty) value
// is not null.
func (v RawValue) IsNull() bool {
	if len(v) == 1 && v[0] == 0xc0 {
		return true
	}
	return string(bytes.TrimSpace(v)) == "null"
}

// Message is any hub message. Which fields are meaningful depends on Type; the others
// stay zero. It is a flat struct rather than one type per message so that parsing a
// unit allocates little and a codec can fill it in one pass.
type Message struct {
	Type MessageType
	// InvocationID identifies an invocation, stream item, completion or cancellation.
	// Empty on an Invocation means fire-and-forget (no Completion is sent).
	InvocationID string
	// Target is the method name of an Invocation or StreamInvocation.
	Target string
	// Arguments of an Invocation or StreamInvocation.
	Arguments []RawValue
	// StreamIDs lists the client-to-server streams an invocation consumes.
	StreamIDs []string
	// Item is the value of a StreamItem.
	Item RawValue
	// Result of a Completion; nil for a void completion or an error.
	Result RawValue
	// Error of a Completion or Close; empty when there is none.
	Error string
	// HasError is true when the message carried an error field, even an empty one.
	HasError bool
	// AllowReconnect of a Close message.
	AllowReconnect bool
	// Headers are optional string headers; the hub ignores them.
	Headers map[string]string
	// SequenceID of an Ack or Sequence message (stateful reconnect).
	SequenceID int64
}

// TransferFormat is what a protocol needs from a transport.
type TransferFormat int

// Transfer formats as named in the negotiate response.
const (
	TextFormat   TransferFormat = 1
	BinaryFormat TransferFormat = 2
)

// String returns "Text" or "Binary", the names used on the wire.
func (f TransferFormat) String() string {
	if f == BinaryFormat {
		return "Binary"
	}
	return "Text"
}

// Protocol is a hub protocol: how messages and values are encoded and framed.
// Implementations are safe for concurrent use.
type Protocol interface {
	// Name is the handshake name, e.g. "json".
	Name() string
	// Version is the highest protocol version understood.
	Version() int
	// TransferFormat is the format the transport must carry.
	TransferFormat() TransferFormat
	// ParseMessages appends every message in unit to dst. The unit must hold complete
	// records only; a trailing partial record is an error wrapping ErrIncomplete, and
	// a record that is malformed, empty or misses a required field is an error
	// wrapping ErrInvalidMessage. On error, dst holds the messages parsed before the
	// bad record. An empty unit yields no messages and no error. Messages of unknown
	// type are skipped, as the protocol asks receivers to do.
	ParseMessages(unit []byte, dst []Message) ([]Message, error)
	// AppendMessage appends the framed encoding of m to dst. It returns dst unchanged
	// and an error wrapping ErrInvalidMessage when m cannot be encoded as a record the
	// receiver accepts (unknown type, missing invocation id or target, a RawValue that
	// is not valid in this protocol's encoding).
	AppendMessage(dst []byte, m *Message) ([]byte, error)
	// EncodeValue encodes a Go value. A RawValue is passed through unchanged.
	EncodeValue(v any) (RawValue, error)
	// DecodeValue decodes raw into the value pointed to by v.
	DecodeValue(raw RawValue, v any) error
}

// Errors callers tell apart.
var (
	// ErrIncomplete means a unit ended inside a record.
	ErrIncomplete = errors.New("message is incomplete")
	// ErrInvalidMessage means a record could not be parsed or misses required fields.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrUnsupportedProtocol means the handshake named a protocol or version the server does not speak.
	ErrUnsupportedProtocol = errors.New("unsupported protocol")
)

// sizeHint is about how long m's record is in either protocol: AppendMessage
// sizes a nil dst with it, so that a record is one allocation, not one per doubling
// of the slice (5 for a 128-byte invocation).
func sizeHint(m *Message) int {
	n := 48 + len(m.InvocationID) + len(m.Target) + len(m.Item) + len(m.Result) + len(m.Error)
	for _, a := range m.Arguments {
		n += len(a) + 1
	}
	for _, id := range m.StreamIDs {
		n += len(id) + 3
	}
	for k, v := range m.Headers {
		n += len(k) + len(v) + 6
	}
	return n
}

// checkEncodable reports, as an error wrapping ErrInvalidMessage, a message no
// protocol may encode: an unknown type, or one without the invocation id or
// target its receiver requires.
func checkEncodable(m *Message) error {
	switch m.Type {
	case InvocationType:
	case StreamInvocationType, StreamItemType, CompletionType, CancelInvocationType:
		if m.InvocationID == "" {
			return invalid("%s requires a non-empty invocation id", m.Type)
		}
	case PingType, CloseType, AckType, SequenceType:
	default:
		return invalid("cannot encode message type %d", int(m.Type))
	}
	if (m.Type == InvocationType || m.Type == StreamInvocationType) && m.Target == "" {
		return invalid("%s requires a non-empty target", m.Type)
	}
	return nil
}
