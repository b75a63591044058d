package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// MessagePack is the MessagePack hub protocol ("messagepack", binary transfer
// format), as HubProtocol.md specifies it and the official clients speak it. It
// reports version 2 (stateful reconnect: Ack [8, seq] and Sequence [9, seq]).
//
// Every record is a varint length prefix (see [NextBinaryRecord]) followed by one
// msgpack array whose first element is the message type. A [RawValue] holds the
// msgpack encoding of one value. Values are encoded and decoded with
// github.com/vmihailenco/msgpack/v5, struct fields named by their `json` tags so a
// Go type has the same field names under both protocols; []byte is bin,
// time.Time the timestamp extension (-1, decoded in UTC), a json.Number a number and a
// json.RawMessage the value its JSON text holds (values read under the JSON
// protocol relay as what they are).
//
// Parsing never trusts an announced length: every str, bin, array, map and ext
// length is checked against the bytes left in the record before anything is
// allocated, values nest at most [MaxMessagePackDepth] deep, and extension types
// other than the timestamp are refused.
var MessagePack Protocol = messagePackProtocol{}

// MaxMessagePackDepth is how deep arrays and maps may nest inside one value (an
// argument, a stream item, a result, a header). Deeper values are refused: a
// decoder that recursed once per level could be driven out of stack by a small
// record.
const MaxMessagePackDepth = 64

type messagePackProtocol struct{}

func (messagePackProtocol) Name() string                   { return "messagepack" }
func (messagePackProtocol) Version() int                   { return 2 }
func (messagePackProtocol) TransferFormat() TransferFormat { return BinaryFormat }

// Completion result kinds.
const (
	resultKindError   = 1
	resultKindVoid    = 2
	resultKindNonVoid = 3
)

func (messagePackProtocol) ParseMessages(unit []byte, dst []Message) ([]Message, error) {
	return parseUnit(unit, dst, NextBinaryRecord, parseMessagePackRecord)
}

// mpReader reads msgpack values from one record. Every method checks lengths against
// the bytes left before slicing or allocating.
type mpReader struct {
	b []byte
	i int
	// narrowTimestamps, when not nil, collects the offsets of 4- and 8-byte
	// timestamps (see widenTimestamps).
	narrowTimestamps *[]int
}

func (r *mpReader) left() int { return len(r.b) - r.i }

func (r *mpReader) peek() (byte, error) {
	if r.i >= len(r.b) {
		return 0, invalid("record ends inside a value")
	}
	return r.b[r.i], nil
}

// take returns the next n bytes of the record, a slice of it.
func (r *mpReader) take(n int) ([]byte, error) {
	if n < 0 || n > r.left() {
		return nil, invalid("value announces %d bytes, the record has %d left", uint64(n), r.left())
	}
	b := r.b[r.i : r.i+n]
	r.i += n
	return b, nil
}

// uint reads a big-endian unsigned integer of size bytes.
func (r *mpReader) uint(size int) (uint64, error) {
	b, err := r.take(size)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n, nil
}

// length reads a size-byte length that announces n items of at least minSize
// bytes each, and refuses it when the record cannot hold them.
func (r *mpReader) length(size, minSize int) (int, error) {
	n, err := r.uint(size)
	if err != nil {
		return 0, err
	}
	if n > uint64(r.left()/minSize) {
		return 0, invalid("value announces %d elements, the record has %d bytes left", n, r.left())
	}
	return int(n), nil
}

func (r *mpReader) isNil() bool {
	if r.i < len(r.b) && r.b[r.i] == 0xc0 {
		r.i++
		return true
	}
	return false
}

// arrayLen reads an array header. Every element takes at least one byte.
func (r *mpReader) arrayLen() (int, bool, error) {
	c, err := r.peek()
	if err != nil {
		return 0, false, err
	}
	switch {
	case c >= 0x90 && c <= 0x9f:
		r.i++
		n := int(c & 0x0f)
		if n > r.left() {
			return 0, false, invalid("array announces %d elements, the record has %d bytes left", n, r.left())
		}
		return n, true, nil
	case c == 0xdc:
		r.i++
		n, err := r.length(2, 1)
		return n, true, err
	case c == 0xdd:
		r.i++
		n, err := r.length(4, 1)
		return n, true, err
	}
	return 0, false, nil
}

// mapLen reads a map header. Every entry takes at least two bytes.
func (r *mpReader) mapLen() (int, bool, error) {
	c, err := r.peek()
	if err != nil {
		return 0, false, err
	}
	switch {
	case c >= 0x80 && c <= 0x8f:
		r.i++
		n := int(c & 0x0f)
		if n > r.left()/2 {
			return 0, false, invalid("map announces %d entries, the record has %d bytes left", n, r.left())
		}
		return n, true, nil
	case c == 0xde:
		r.i++
		n, err := r.length(2, 2)
		return n, true, err
	case c == 0xdf:
		r.i++
		n, err := r.length(4, 2)
		return n, true, err
	}
	return 0, false, nil
}

// str reads a str value in valid UTF-8; ok is false (and nothing is read) when the
// next value is not a str.
func (r *mpReader) str() (s string, ok bool, err error) {
	c, err := r.peek()
	if err != nil {
		return "", false, err
	}
	var n int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		r.i++
		n = int(c & 0x1f)
	case c == 0xd9, c == 0xda, c == 0xdb:
		r.i++
		if n, err = r.length(1<<(c-0xd9), 1); err != nil {
			return "", false, err
		}
	default:
		return "", false, nil
	}
	b, err := r.take(n)
	if err != nil {
		return "", false, err
	}
	if !utf8.Valid(b) {
		return "", false, invalid("string is not valid UTF-8")
	}
	return string(b), true, nil
}

// integer reads any msgpack integer that fits an int64.
func (r *mpReader) integer() (n int64, ok bool, err error) {
	c, err := r.peek()
	if err != nil {
		return 0, false, err
	}
	switch {
	case c <= 0x7f:
		r.i++
		return int64(c), true, nil
	case c >= 0xe0:
		r.i++
		return int64(int8(c)), true, nil
	case c >= 0xcc && c <= 0xcf: // uint 8, 16, 32, 64
		r.i++
		u, err := r.uint(1 << (c - 0xcc))
		if err != nil {
			return 0, false, err
		}
		if u > math.MaxInt64 {
			return 0, false, invalid("integer %d is out of range", u)
		}
		return int64(u), true, nil
	case c >= 0xd0 && c <= 0xd3: // int 8, 16, 32, 64
		r.i++
		size := 1 << (c - 0xd0)
		u, err := r.uint(size)
		if err != nil {
			return 0, false, err
		}
		shift := 64 - 8*size
		return int64(u<<shift) >> shift, true, nil
	}
	return 0, false, nil
}

// skip reads past one value, checking that it is well formed: lengths within the
// record, nesting at most MaxMessagePackDepth deep, only known extension types.
func (r *mpReader) skip(depth int) error {
	c, err := r.peek()
	if err != nil {
		return err
	}
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		r.i++
		return nil
	case c >= 0xa0 && c <= 0xbf:
		r.i++
		_, err := r.take(int(c & 0x1f))
		return err
	}
	if n, ok, err := r.arrayLen(); err != nil || ok {
		if err != nil {
			return err
		}
		return r.skipElements(n, depth)
	}
	if n, ok, err := r.mapLen(); err != nil || ok {
		if err != nil {
			return err
		}
		return r.skipElements(2*n, depth)
	}
	r.i++
	switch c {
	case 0xcc, 0xd0:
		_, err = r.take(1)
	case 0xcd, 0xd1:
		_, err = r.take(2)
	case 0xce, 0xd2, 0xca:
		_, err = r.take(4)
	case 0xcf, 0xd3, 0xcb:
		_, err = r.take(8)
	case 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb: // bin 8/16/32, str 8/16/32
		size := 1 << (c - 0xc4)
		if c >= 0xd9 {
			size = 1 << (c - 0xd9)
		}
		var n int
		if n, err = r.length(size, 1); err == nil {
			_, err = r.take(n)
		}
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1/2/4/8/16
		err = r.ext(c, 1<<(c-0xd4))
	case 0xc7, 0xc8, 0xc9: // ext 8/16/32
		var n int
		if n, err = r.length(1<<(c-0xc7), 1); err == nil {
			err = r.ext(c, n)
		}
	default: // 0xc1 is never used
		err = invalid("byte 0x%02x does not start a msgpack value", c)
	}
	return err
}

func (r *mpReader) skipElements(n, depth int) error {
	if n == 0 {
		return nil
	}
	if depth >= MaxMessagePackDepth {
		return invalid("values nest deeper than %d levels", MaxMessagePackDepth)
	}
	for range n {
		if err := r.skip(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// ext reads the type and data of an extension value of n data bytes whose header
// started with code. Only the timestamp extension (-1) is known, in the three forms
// its spec allows (fixext 4: seconds; fixext 8: nanoseconds and seconds; ext 8 of 12
// bytes: the same, wider), with fewer than 10^9 nanoseconds.
func (r *mpReader) ext(code byte, n int) error {
	start := r.i - 1 // the header code
	if code >= 0xc7 && code <= 0xc9 {
		start -= 1 << (code - 0xc7) // its length
	}
	t, err := r.take(1)
	if err != nil {
		return err
	}
	if int8(t[0]) != -1 {
		return invalid("unknown msgpack extension type %d", int8(t[0]))
	}
	data, err := r.take(n)
	if err != nil {
		return err
	}
	var nsec uint64
	switch {
	case code == 0xd6 && n == 4:
	case code == 0xd7 && n == 8:
		nsec = uint64(data[0])<<22 | uint64(data[1])<<14 | uint64(data[2])<<6 | uint64(data[3])>>2
	case code == 0xc7 && n == 12:
		nsec = uint64(data[0])<<24 | uint64(data[1])<<16 | uint64(data[2])<<8 | uint64(data[3])
	default:
		return invalid("timestamp extension of %d bytes in header 0x%02x", n, code)
	}
	if nsec >= 1e9 {
		return invalid("timestamp with %d nanoseconds", nsec)
	}
	if r.narrowTimestamps != nil && code != 0xc7 {
		*r.narrowTimestamps = append(*r.narrowTimestamps, start)
	}
	return nil
}

// widenTimestamps rewrites the 4- and 8-byte timestamps of a validated value, which
// start at the offsets given, into the 12-byte form. vmihailenco/msgpack, asked for a
// map where a value holds an extension, skips the extension's header and reads its
// data as a map header, and then reads on past the extension: the data of a 12-byte
// timestamp starts with its nanoseconds, below 10^9, so its first byte (at most 0x3b)
// is never a map header and the decoder stops with an error there.
func widenTimestamps(raw []byte, offsets []int) []byte {
	out := make([]byte, 0, len(raw)+11*len(offsets))
	prev := 0
	for _, off := range offsets {
		out = append(out, raw[prev:off]...)
		var sec, nsec uint64
		if raw[off] == 0xd6 {
			sec = uint64(binary.BigEndian.Uint32(raw[off+2:]))
			prev = off + 6
		} else {
			v := binary.BigEndian.Uint64(raw[off+2:])
			nsec, sec = v>>34, v&(1<<34-1)
			prev = off + 10
		}
		out = append(out, 0xc7, 12, 0xff)
		out = binary.BigEndian.AppendUint32(out, uint32(nsec))
		out = binary.BigEndian.AppendUint64(out, sec)
	}
	return append(out, raw[prev:]...)
}

// value returns the next value, validated, as a slice of the record.
func (r *mpReader) value() ([]byte, error) {
	start := r.i
	if err := r.skip(0); err != nil {
		return nil, err
	}
	return r.b[start:r.i:r.i], nil
}

// validMessagePackValue reports whether b is exactly one well-formed msgpack value.
func validMessagePackValue(b []byte) error {
	return checkMessagePackValue(b, nil)
}

// checkMessagePackValue is validMessagePackValue that also collects the offsets of
// narrow timestamps when narrow is not nil.
func checkMessagePackValue(b []byte, narrow *[]int) error {
	r := mpReader{b: b, narrowTimestamps: narrow}
	if err := r.skip(0); err != nil {
		return err
	}
	if r.left() != 0 {
		return invalid("%d bytes after the value", r.left())
	}
	return nil
}

// mpFields reads the fields of one message array, in order, counting them off.
type mpFields struct {
	mpReader
	typ    MessageType
	fields int // fields not yet read
}

// has reports whether another field is present.
func (f *mpFields) has() bool { return f.fields > 0 }

// need counts off a required field, naming it in the error when it is missing.
func (f *mpFields) need(name string) error {
	if f.fields == 0 {
		return invalid("%s requires %s", f.typ, name)
	}
	f.fields--
	return nil
}

// optionalString reads a str or nil field.
func (f *mpFields) optionalString(name string) (s string, present bool, err error) {
	if err := f.need(name); err != nil {
		return "", false, err
	}
	if f.isNil() {
		return "", false, nil
	}
	s, ok, err := f.str()
	if err != nil {
		return "", false, err
	}
	if !ok {
		return "", false, invalid("%s: %s must be a string or nil", f.typ, name)
	}
	return s, true, nil
}

// invocationID reads an invocation id that must be a non-empty string.
func (f *mpFields) invocationID() (string, error) {
	id, _, err := f.optionalString("an invocation id")
	if err == nil && id == "" {
		err = invalid("%s requires a non-empty invocation id", f.typ)
	}
	return id, err
}

// headers reads the headers map, string to string; nil counts as none.
func (f *mpFields) headers() (map[string]string, error) {
	if err := f.need("headers"); err != nil {
		return nil, err
	}
	if f.isNil() {
		return nil, nil
	}
	n, ok, err := f.mapLen()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalid("%s: headers must be a map", f.typ)
	}
	if n == 0 {
		return nil, nil
	}
	h := make(map[string]string, min(n, 8))
	for range n {
		k, err := f.element("header names")
		if err != nil {
			return nil, err
		}
		v, err := f.element("header values")
		if err != nil {
			return nil, err
		}
		h[k] = v
	}
	return h, nil
}

// element reads a string inside a headers map or stream ids array.
func (f *mpFields) element(what string) (string, error) {
	s, ok, err := f.str()
	if err == nil && !ok {
		err = invalid("%s: %s must be strings", f.typ, what)
	}
	return s, err
}

// integer reads a required integer field.
func (f *mpFields) integer(name string) (int64, error) {
	if err := f.need(name); err != nil {
		return 0, err
	}
	n, ok, err := f.mpReader.integer()
	if err == nil && !ok {
		err = invalid("%s: %s must be an integer", f.typ, name)
	}
	return n, err
}

// arguments reads the arguments array. The elements are slices of one copy of the
// array's bytes, so the record can be reused.
func (f *mpFields) arguments() ([]RawValue, error) {
	if err := f.need("arguments"); err != nil {
		return nil, err
	}
	n, ok, err := f.arrayLen()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalid("%s: arguments must be an array", f.typ)
	}
	start := f.i
	for range n {
		if err := f.skip(1); err != nil {
			return nil, err
		}
	}
	r := mpReader{b: bytes.Clone(f.b[start:f.i])}
	args := make([]RawValue, n)
	for i := range args {
		args[i], _ = r.value() // validated above
	}
	return args, nil
}

// streamIDs reads the optional stream ids array; nil counts as none.
func (f *mpFields) streamIDs() ([]string, error) {
	f.fields--
	if f.isNil() {
		return nil, nil
	}
	n, ok, err := f.arrayLen()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalid("%s: stream ids must be an array", f.typ)
	}
	if n == 0 {
		return nil, nil
	}
	ids := make([]string, n)
	for i := range ids {
		if ids[i], err = f.element("stream ids"); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// rawField reads a value field (an item, a result) as a copy.
func (f *mpFields) rawField(name string) (RawValue, error) {
	if err := f.need(name); err != nil {
		return nil, err
	}
	v, err := f.value()
	if err != nil {
		return nil, err
	}
	return RawValue(bytes.Clone(v)), nil
}

func parseMessagePackRecord(record []byte) (m Message, known bool, err error) {
	if len(record) == 0 {
		return m, false, invalid("empty record")
	}
	f := mpFields{mpReader: mpReader{b: record}}
	n, ok, err := f.arrayLen()
	if err != nil {
		return m, false, err
	}
	if !ok {
		return m, false, invalid("record is not a msgpack array")
	}
	if n == 0 {
		return m, false, invalid("record is an empty array")
	}
	f.fields = n
	t, err := f.integer("a type")
	if err != nil {
		return m, false, invalid("message type must be an integer")
	}
	if t < int64(InvocationType) || t > int64(SequenceType) {
		// Future message types: receivers ignore them, but the record must still be
		// well formed.
		for f.has() {
			f.fields--
			if err := f.skip(0); err != nil {
				return m, false, err
			}
		}
		return m, false, f.end()
	}
	m.Type = MessageType(t)
	f.typ = m.Type
	if m.Type <= CancelInvocationType {
		if m.Headers, err = f.headers(); err != nil {
			return m, false, err
		}
	}
	switch m.Type {
	case InvocationType, StreamInvocationType:
		if m.Type == StreamInvocationType {
			m.InvocationID, err = f.invocationID()
		} else {
			m.InvocationID, _, err = f.optionalString("an invocation id")
		}
		if err != nil {
			return m, false, err
		}
		target, _, err := f.optionalString("a target")
		if err != nil {
			return m, false, err
		}
		if target == "" {
			return m, false, invalid("%s requires a non-empty target", m.Type)
		}
		m.Target = target
		if m.Arguments, err = f.arguments(); err != nil {
			return m, false, err
		}
		if f.has() {
			if m.StreamIDs, err = f.streamIDs(); err != nil {
				return m, false, err
			}
		}
	case StreamItemType:
		if m.InvocationID, err = f.invocationID(); err != nil {
			return m, false, err
		}
		if m.Item, err = f.rawField("an item"); err != nil {
			return m, false, err
		}
	case CompletionType:
		if m.InvocationID, err = f.invocationID(); err != nil {
			return m, false, err
		}
		kind, err := f.integer("a result kind")
		if err != nil {
			return m, false, err
		}
		switch kind {
		case resultKindError:
			if m.Error, _, err = f.optionalString("an error"); err != nil {
				return m, false, err
			}
			m.HasError = true
		case resultKindVoid:
		case resultKindNonVoid:
			if m.Result, err = f.rawField("a result"); err != nil {
				return m, false, err
			}
		default:
			return m, false, invalid("Completion: unknown result kind %d", kind)
		}
	case CancelInvocationType:
		if m.InvocationID, err = f.invocationID(); err != nil {
			return m, false, err
		}
	case PingType:
	case CloseType:
		if m.Error, m.HasError, err = f.optionalString("an error"); err != nil {
			return m, false, err
		}
		if f.has() {
			f.fields--
			if !f.isNil() {
				c, _ := f.peek()
				if c != 0xc2 && c != 0xc3 {
					return m, false, invalid("Close: allowReconnect must be a boolean")
				}
				f.i++
				m.AllowReconnect = c == 0xc3
			}
		}
	case AckType, SequenceType:
		if m.SequenceID, err = f.integer("a sequence id"); err != nil {
			return m, false, err
		}
	}
	// Later versions may add fields at the end; they must still be well formed.
	for f.has() {
		f.fields--
		if err := f.skip(0); err != nil {
			return m, false, err
		}
	}
	return m, true, f.end()
}

// end checks that the array was the whole record.
func (f *mpFields) end() error {
	if f.left() != 0 {
		return invalid("%d bytes after the message array", f.left())
	}
	return nil
}

// AppendMessage appends the framed record for m, laid out as the official clients and
// the ASP.NET Core server write it: headers always present (an empty map when there
// are none), Invocation and StreamInvocation with their stream ids (an empty array
// when there are none), Completion with its result kind, Close with allowReconnect
// only when it is true. Raw values must each be exactly one well-formed msgpack value;
// an absent one is written as nil. Strings that are not valid UTF-8 have the bad bytes
// replaced by U+FFFD.
func (messagePackProtocol) AppendMessage(dst []byte, m *Message) ([]byte, error) {
	orig := len(dst)
	if err := checkEncodable(m); err != nil {
		return dst, err
	}
	if dst == nil {
		dst = make([]byte, 0, sizeHint(m))
	}
	// Reserve the longest length prefix; it is moved up once the length is known.
	dst = append(dst, 0, 0, 0, 0, 0)
	body := len(dst)
	var err error
	switch m.Type {
	case InvocationType, StreamInvocationType:
		dst = append(dst, 0x96, byte(m.Type))
		dst = mpAppendHeaders(dst, m.Headers)
		if m.InvocationID == "" {
			dst = append(dst, 0xc0)
		} else {
			dst = mpAppendString(dst, m.InvocationID)
		}
		dst = mpAppendString(dst, m.Target)
		dst = mpAppendArrayLen(dst, len(m.Arguments))
		for i, a := range m.Arguments {
			if dst, err = mpAppendRaw(dst, a); err != nil {
				return dst[:orig], fmt.Errorf("%w (argument %d)", err, i)
			}
		}
		dst = mpAppendArrayLen(dst, len(m.StreamIDs))
		for _, id := range m.StreamIDs {
			dst = mpAppendString(dst, id)
		}
	case StreamItemType:
		dst = append(dst, 0x94, byte(m.Type))
		dst = mpAppendHeaders(dst, m.Headers)
		dst = mpAppendString(dst, m.InvocationID)
		if dst, err = mpAppendRaw(dst, m.Item); err != nil {
			return dst[:orig], fmt.Errorf("%w (item)", err)
		}
	case CompletionType:
		kind := resultKindVoid
		if m.HasError || m.Error != "" {
			kind = resultKindError
		} else if m.Result != nil {
			kind = resultKindNonVoid
		}
		if kind == resultKindVoid {
			dst = append(dst, 0x94)
		} else {
			dst = append(dst, 0x95)
		}
		dst = append(dst, byte(m.Type))
		dst = mpAppendHeaders(dst, m.Headers)
		dst = mpAppendString(dst, m.InvocationID)
		dst = append(dst, byte(kind))
		switch kind {
		case resultKindError:
			dst = mpAppendString(dst, m.Error)
		case resultKindNonVoid:
			if dst, err = mpAppendRaw(dst, m.Result); err != nil {
				return dst[:orig], fmt.Errorf("%w (result)", err)
			}
		}
	case CancelInvocationType:
		dst = append(dst, 0x93, byte(m.Type))
		dst = mpAppendHeaders(dst, m.Headers)
		dst = mpAppendString(dst, m.InvocationID)
	case PingType:
		dst = append(dst, 0x91, byte(m.Type))
	case CloseType:
		if m.AllowReconnect {
			dst = append(dst, 0x93, byte(m.Type))
		} else {
			dst = append(dst, 0x92, byte(m.Type))
		}
		if m.HasError || m.Error != "" {
			dst = mpAppendString(dst, m.Error)
		} else {
			dst = append(dst, 0xc0)
		}
		if m.AllowReconnect {
			dst = append(dst, 0xc3)
		}
	case AckType, SequenceType:
		dst = append(dst, 0x92, byte(m.Type))
		dst = mpAppendInt(dst, m.SequenceID)
	}
	n := len(dst) - body
	if n > MaxBinaryRecordSize {
		return dst[:orig], invalid("record of %d bytes exceeds the %d the framing allows", n, MaxBinaryRecordSize)
	}
	prefix := appendVarint(dst[orig:orig], uint32(n))
	copy(dst[orig+len(prefix):], dst[body:])
	return dst[:orig+len(prefix)+n], nil
}

// mpAppendHeaders appends the headers map with sorted keys; an empty map is 0x80.
func mpAppendHeaders(dst []byte, h map[string]string) []byte {
	dst = mpAppendLen(dst, len(h), 0x80, 0x0f, 0xde, 0xdf)
	if len(h) == 0 {
		return dst
	}
	for _, k := range slices.Sorted(maps.Keys(h)) {
		dst = mpAppendString(dst, k)
		dst = mpAppendString(dst, h[k])
	}
	return dst
}

func mpAppendArrayLen(dst []byte, n int) []byte {
	return mpAppendLen(dst, n, 0x90, 0x0f, 0xdc, 0xdd)
}

// mpAppendLen appends a fix, 16-bit or 32-bit length header.
func mpAppendLen(dst []byte, n int, fix byte, fixMax int, code16, code32 byte) []byte {
	switch {
	case n <= fixMax:
		return append(dst, fix|byte(n))
	case n <= math.MaxUint16:
		return append(dst, code16, byte(n>>8), byte(n))
	}
	return append(dst, code32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func mpAppendString(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // each bad byte becomes U+FFFD, as in the JSON protocol
	}
	n := len(s)
	switch {
	case n <= 31:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		dst = append(dst, 0xda, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, s...)
}

// mpAppendInt appends n in its shortest form, non-negative numbers as unsigned, as
// the official encoders do.
func mpAppendInt(dst []byte, n int64) []byte {
	switch {
	case n >= 0 && n <= 0x7f, n < 0 && n >= -32:
		return append(dst, byte(n))
	case n >= 0 && n <= math.MaxUint8:
		return append(dst, 0xcc, byte(n))
	case n >= 0 && n <= math.MaxUint16:
		return append(dst, 0xcd, byte(n>>8), byte(n))
	case n >= 0 && n <= math.MaxUint32:
		return append(dst, 0xce, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	case n >= 0:
		return append(dst, 0xcf, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	case n >= math.MinInt8:
		return append(dst, 0xd0, byte(n))
	case n >= math.MinInt16:
		return append(dst, 0xd1, byte(n>>8), byte(n))
	case n >= math.MinInt32:
		return append(dst, 0xd2, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, 0xd3, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// mpAppendRaw appends an encoded value; an absent one is nil.
func mpAppendRaw(dst []byte, v RawValue) ([]byte, error) {
	if len(v) == 0 {
		return append(dst, 0xc0), nil
	}
	if err := validMessagePackValue(v); err != nil {
		return dst, fmt.Errorf("value is not one msgpack value: %w", err)
	}
	return append(dst, v...), nil
}

// msgpackEncoders reuse encoders and their buffers across EncodeValue calls.
var msgpackEncoders = sync.Pool{New: func() any {
	e := &mpEncoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	e.enc.SetCustomStructTag("json")
	e.enc.UseCompactInts(true)
	e.enc.SetSortMapKeys(true) // one value, one encoding
	return e
}}

type mpEncoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

// EncodeValue encodes v with struct fields named by their json tags. A RawValue is
// passed through unchanged, and one nested in a struct, slice or map is written as
// the msgpack value it holds.
func (messagePackProtocol) EncodeValue(v any) (RawValue, error) {
	if raw, ok := v.(RawValue); ok {
		return raw, nil
	}
	e := msgpackEncoders.Get().(*mpEncoder)
	defer msgpackEncoders.Put(e)
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("protocol: encode %T: %w", v, err)
	}
	return RawValue(bytes.Clone(e.buf.Bytes())), nil
}

// DecodeValue decodes raw into v. raw must be exactly one well-formed msgpack value;
// it is checked first, so no announced length reaches the decoder unchecked, and its
// timestamps are widened so the decoder cannot read one's data as a header (see
// widenTimestamps). A panic of the decoder (it panics on a map key that decodes to a
// slice or map when v holds a map[any]any) is returned as an error.
func (messagePackProtocol) DecodeValue(raw RawValue, v any) (err error) {
	if rv, ok := v.(*RawValue); ok {
		*rv = append(RawValue(nil), raw...)
		return nil
	}
	var narrow []int
	if err := checkMessagePackValue(raw, &narrow); err != nil {
		return err
	}
	if len(narrow) > 0 {
		raw = widenTimestamps(raw, narrow)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("protocol: decode msgpack into %T: %v", v, p)
		}
	}()
	d := msgpack.NewDecoder(bytes.NewReader(raw))
	d.SetCustomStructTag("json")
	if tp, ok := v.(*time.Time); ok {
		// Decode's shortcut for *time.Time would bypass the UTC decoder.
		err = d.DecodeValue(reflect.ValueOf(tp).Elem())
	} else {
		err = d.Decode(v)
	}
	if err != nil {
		return fmt.Errorf("protocol: decode msgpack into %T: %w", v, err)
	}
	return nil
}

func init() {
	// A RawValue inside a value encoded for MessagePack holds msgpack: write it as is
	// (nil when absent), and decode into it the raw bytes of one value.
	msgpack.Register(RawValue(nil),
		func(e *msgpack.Encoder, v reflect.Value) error {
			raw := v.Bytes()
			if len(raw) == 0 {
				return e.EncodeNil()
			}
			if err := validMessagePackValue(raw); err != nil {
				return err
			}
			_, err := e.Writer().Write(raw)
			return err
		},
		func(d *msgpack.Decoder, v reflect.Value) error {
			raw, err := d.DecodeRaw()
			if err != nil {
				return err
			}
			v.SetBytes(bytes.Clone(raw))
			return nil
		})
	// Timestamps decode in UTC, not the server's local zone, as encoding/json gives
	// them for the "Z" the clients write: a handler gets the same time.Time under
	// either protocol.
	msgpack.RegisterExtDecoder(-1, time.Time{}, func(d *msgpack.Decoder, v reflect.Value, extLen int) error {
		tm, err := decodeTimestamp(d, extLen)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(tm))
		return nil
	})
	// Values read under the JSON protocol hold json.Number (numbers decoded into an
	// interface) and json.RawMessage: relayed to MessagePack connections they must
	// stay numbers and JSON values, not become strings and bin. These registrations,
	// like the one above, are process-wide, for every user of vmihailenco/msgpack;
	// they only make these types mean what they mean in encoding/json.
	msgpack.Register(json.Number(""),
		func(e *msgpack.Encoder, v reflect.Value) error { return encodeJSONNumber(e, json.Number(v.String())) },
		func(d *msgpack.Decoder, v reflect.Value) error {
			x, err := d.DecodeInterface()
			if err != nil {
				return err
			}
			n, err := json.Marshal(x)
			if err != nil || !isJSONNumber(n) {
				return fmt.Errorf("msgpack: cannot decode %T into json.Number", x)
			}
			v.SetString(string(n))
			return nil
		})
	msgpack.Register(json.RawMessage(nil),
		func(e *msgpack.Encoder, v reflect.Value) error {
			if v.Len() == 0 {
				return e.EncodeNil()
			}
			d := json.NewDecoder(bytes.NewReader(v.Bytes()))
			d.UseNumber()
			var x any
			if err := d.Decode(&x); err != nil {
				return fmt.Errorf("json.RawMessage is not valid JSON: %w", err)
			}
			if _, err := d.Token(); err != io.EOF {
				return errors.New("json.RawMessage holds more than one JSON value")
			}
			return e.Encode(x)
		},
		func(d *msgpack.Decoder, v reflect.Value) error {
			x, err := d.DecodeInterface()
			if err != nil {
				return err
			}
			text, err := json.Marshal(x)
			if err != nil {
				return err
			}
			v.SetBytes(text)
			return nil
		})
}

// decodeTimestamp reads the data of a timestamp extension, in UTC.
func decodeTimestamp(d *msgpack.Decoder, extLen int) (time.Time, error) {
	var b [12]byte
	if extLen != 4 && extLen != 8 && extLen != 12 {
		return time.Time{}, fmt.Errorf("msgpack: timestamp extension of %d bytes", extLen)
	}
	if err := d.ReadFull(b[:extLen]); err != nil {
		return time.Time{}, err
	}
	var sec, nsec int64
	switch extLen {
	case 4:
		sec = int64(binary.BigEndian.Uint32(b[:]))
	case 8:
		v := binary.BigEndian.Uint64(b[:])
		sec, nsec = int64(v&(1<<34-1)), int64(v>>34)
	case 12:
		nsec, sec = int64(binary.BigEndian.Uint32(b[:])), int64(binary.BigEndian.Uint64(b[4:]))
	}
	return time.Unix(sec, nsec).UTC(), nil
}

// encodeJSONNumber writes n as the integer or float it holds.
func encodeJSONNumber(e *msgpack.Encoder, n json.Number) error {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return e.EncodeInt(i)
	}
	if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
		return e.EncodeUint(u)
	}
	if !isJSONNumber([]byte(n)) {
		return fmt.Errorf("json.Number %q is not a number", string(n))
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return fmt.Errorf("json.Number %q: %w", string(n), err)
	}
	return e.EncodeFloat64(f)
}

// isJSONNumber reports whether b is a JSON number.
func isJSONNumber(b []byte) bool {
	return len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') && json.Valid(b)
}
