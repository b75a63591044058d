package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// JSON is the JSON hub protocol ("json", text transfer format). It reports version 2,
// the highest the official clients send (2 when stateful reconnect is in use).
// Numbers decoded into an interface value keep their exact text (json.Number), so an
// echoed 64-bit integer comes back unchanged.
var JSON Protocol = jsonProtocol{}

type jsonProtocol struct{}

func (jsonProtocol) Name() string                   { return "json" }
func (jsonProtocol) Version() int                   { return 2 }
func (jsonProtocol) TransferFormat() TransferFormat { return TextFormat }

func (jsonProtocol) ParseMessages(unit []byte, dst []Message) ([]Message, error) {
	return parseUnit(unit, dst, NextRecord, parseJSONRecord)
}

// parseUnit appends the messages of every record in unit to dst: next splits off
// one record (the protocol's framing), parse reads it; records of unknown type
// are skipped.
func parseUnit(unit []byte, dst []Message,
	next func([]byte) (record, rest []byte, ok bool, err error),
	parse func([]byte) (m Message, known bool, err error),
) ([]Message, error) {
	for {
		record, rest, ok, err := next(unit)
		if err != nil {
			return dst, err
		}
		if !ok {
			return dst, nil
		}
		unit = rest
		m, known, err := parse(record)
		if err != nil {
			return dst, err
		}
		if known {
			dst = append(dst, m)
		}
	}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("protocol: %w: %s", ErrInvalidMessage, fmt.Sprintf(format, args...))
}

// jsonObject is one record's top-level properties, in order, each value's raw text
// a slice of the record (copy what outlives the record). Property names are matched
// exactly (the protocol is case-sensitive, unlike encoding/json's struct matching);
// of two properties with one name the last counts, as with encoding/json.
type jsonObject []jsonProperty

type jsonProperty struct {
	name []byte // a slice of the record, unless it had escapes
	raw  []byte
}

var jsonNull = []byte("null")

// parseJSONObject reads a record that must be a JSON object in valid UTF-8. A valid
// object is split by scanning, without decoding: records are parsed on every
// message, and decoding them into a map cost most of the parse. Anything else goes
// through encoding/json for its error text.
func parseJSONObject(record []byte) (jsonObject, error) {
	if !utf8.Valid(record) {
		return nil, invalid("record is not valid UTF-8")
	}
	if json.Valid(record) {
		if i := skipSpace(record, 0); i < len(record) && record[i] == '{' {
			return scanObject(record, i), nil
		}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(record, &obj); err != nil {
		if len(bytes.TrimSpace(record)) == 0 {
			return nil, invalid("empty record")
		}
		return nil, invalid("%v", err)
	}
	return nil, invalid("record is not a JSON object") // the literal null
}

// scanObject splits the valid JSON object starting at record[i].
func scanObject(record []byte, i int) jsonObject {
	obj := make(jsonObject, 0, 6)
	i = skipSpace(record, i+1)
	for i < len(record) && record[i] != '}' {
		end := scanValue(record, i)
		name := record[i+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var key string
			json.Unmarshal(record[i:end], &key)
			name = []byte(key)
		}
		i = skipSpace(record, skipSpace(record, end)+1) // past ':'
		end = scanValue(record, i)
		obj = append(obj, jsonProperty{name, record[i:end]})
		if i = skipSpace(record, end); i < len(record) && record[i] == ',' {
			i = skipSpace(record, i+1)
		}
	}
	return obj
}

// scanValue returns the end of the valid JSON value starting at b[i].
func scanValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		for i++; b[i] != '"'; i++ {
			if b[i] == '\\' {
				i++
			}
		}
		return i + 1
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = scanValue(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for ; i < len(b); i++ { // a number, true, false or null
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// get returns the raw value of key, JSON null included.
func (o jsonObject) get(key string) ([]byte, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if string(o[i].name) == key {
			return o[i].raw, true
		}
	}
	return nil, false
}

// lookup returns the raw value of key; a JSON null counts as absent.
func (o jsonObject) lookup(key string) ([]byte, bool) {
	raw, ok := o.get(key)
	if !ok || bytes.Equal(raw, jsonNull) {
		return nil, false
	}
	return raw, true
}

// str reads an optional string property.
func (o jsonObject) str(key string) (s string, present bool, err error) {
	raw, ok := o.lookup(key)
	if !ok {
		return "", false, nil
	}
	if raw[0] != '"' {
		return "", false, invalid("'%s' must be a string", key)
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true, nil
	}
	if json.Unmarshal(raw, &s) != nil {
		return "", false, invalid("'%s' must be a string", key)
	}
	return s, true, nil
}

// integer reads an optional integer property: a JSON number without fraction or
// exponent that fits an int64, as encoding/json would decode it.
func (o jsonObject) integer(key string) (n int64, present bool, err error) {
	raw, ok := o.lookup(key)
	if !ok {
		return 0, false, nil
	}
	digits, neg := raw, false
	if digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	for _, c := range digits {
		d := int64(c - '0')
		if c < '0' || c > '9' || n > (math.MaxInt64-d)/10 {
			return 0, false, invalid("'%s' must be an integer", key)
		}
		n = n*10 + d
	}
	if len(digits) == 0 {
		return 0, false, invalid("'%s' must be an integer", key)
	}
	if neg {
		n = -n
	}
	return n, true, nil
}

// splitArray returns the elements of the valid JSON array arr, as slices of a copy
// of arr made once for all of them.
func splitArray(arr []byte) []RawValue {
	arr = bytes.Clone(arr)
	var elems []RawValue
	for i := skipSpace(arr, 1); i < len(arr) && arr[i] != ']'; {
		end := scanValue(arr, i)
		elems = append(elems, RawValue(arr[i:end:end]))
		if i = skipSpace(arr, end); i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	if elems == nil {
		elems = []RawValue{}
	}
	return elems
}

func parseJSONRecord(record []byte) (m Message, known bool, err error) {
	obj, err := parseJSONObject(record)
	if err != nil {
		return m, false, err
	}
	t, ok, err := obj.integer("type")
	if err != nil {
		return m, false, err
	}
	if !ok {
		return m, false, invalid("missing required property 'type'")
	}
	if t < int64(InvocationType) || t > int64(SequenceType) {
		// Future message types: receivers ignore them, whatever else they carry.
		return m, false, nil
	}
	m.Type = MessageType(t)
	needID := func() error {
		id, ok, err := obj.str("invocationId")
		if err != nil {
			return err
		}
		if !ok || id == "" {
			return invalid("%s requires a non-empty 'invocationId'", m.Type)
		}
		m.InvocationID = id
		return nil
	}
	if m.Type <= CancelInvocationType {
		if m.Headers, err = parseHeaders(obj); err != nil {
			return m, false, err
		}
	}
	switch m.Type {
	case InvocationType, StreamInvocationType:
		if m.Type == StreamInvocationType {
			if err := needID(); err != nil {
				return m, false, err
			}
		} else if m.InvocationID, _, err = obj.str("invocationId"); err != nil {
			return m, false, err
		}
		target, _, err := obj.str("target")
		if err != nil {
			return m, false, err
		}
		if target == "" {
			return m, false, invalid("%s requires a non-empty 'target'", m.Type)
		}
		m.Target = target
		raw, ok := obj.lookup("arguments")
		if !ok || raw[0] != '[' {
			return m, false, invalid("%s requires 'arguments' (an array)", m.Type)
		}
		m.Arguments = splitArray(raw)
		if raw, ok := obj.lookup("streamIds"); ok {
			if raw[0] != '[' || json.Unmarshal(raw, &m.StreamIDs) != nil {
				return m, false, invalid("'streamIds' must be an array of strings")
			}
		}
	case StreamItemType:
		if err := needID(); err != nil {
			return m, false, err
		}
		item, ok := obj.get("item") // null is a valid item
		if !ok {
			return m, false, invalid("StreamItem requires 'item'")
		}
		m.Item = RawValue(bytes.Clone(item))
	case CompletionType:
		if err := needID(); err != nil {
			return m, false, err
		}
		errText, hasError, err := obj.str("error")
		if err != nil {
			return m, false, err
		}
		result, hasResult := obj.get("result") // "result":null is a result
		switch {
		case hasError && hasResult:
			return m, false, invalid("Completion carries both 'result' and 'error'")
		case hasError:
			m.Error, m.HasError = errText, true
		case hasResult:
			m.Result = RawValue(bytes.Clone(result))
		}
	case CancelInvocationType:
		if err := needID(); err != nil {
			return m, false, err
		}
	case PingType:
	case CloseType:
		if m.Error, m.HasError, err = obj.str("error"); err != nil {
			return m, false, err
		}
		if raw, ok := obj.lookup("allowReconnect"); ok {
			if json.Unmarshal(raw, &m.AllowReconnect) != nil {
				return m, false, invalid("'allowReconnect' must be a boolean")
			}
		}
	case AckType, SequenceType:
		n, ok, err := obj.integer("sequenceId")
		if err != nil {
			return m, false, err
		}
		if !ok {
			return m, false, invalid("%s requires 'sequenceId'", m.Type)
		}
		m.SequenceID = n
	}
	return m, true, nil
}

// parseHeaders reads the optional string-to-string "headers" object.
func parseHeaders(obj jsonObject) (map[string]string, error) {
	raw, ok := obj.lookup("headers")
	if !ok {
		return nil, nil
	}
	var h map[string]string
	if raw[0] != '{' || json.Unmarshal(raw, &h) != nil {
		return nil, invalid("'headers' must be an object of strings")
	}
	return h, nil
}

// AppendMessage appends the record for m. It fails, leaving dst as it was, when m
// lacks a field the receiver requires (an invocation id, a target) or holds a value
// that is not one valid JSON text; raw values are compacted, so a record never
// contains a raw newline or record separator before its terminator.
func (jsonProtocol) AppendMessage(dst []byte, m *Message) ([]byte, error) {
	orig := len(dst)
	if err := checkEncodable(m); err != nil {
		return dst, err
	}
	if dst == nil {
		dst = make([]byte, 0, sizeHint(m))
	}
	dst = append(dst, `{"type":`...)
	dst = strconv.AppendInt(dst, int64(m.Type), 10)
	if m.Type <= CancelInvocationType {
		dst = appendHeaders(dst, m.Headers)
		if m.InvocationID != "" {
			dst = append(dst, `,"invocationId":`...)
			dst = appendString(dst, m.InvocationID)
		}
	}
	var err error
	switch m.Type {
	case InvocationType, StreamInvocationType:
		dst = append(dst, `,"target":`...)
		dst = appendString(dst, m.Target)
		dst = append(dst, `,"arguments":[`...)
		for i, a := range m.Arguments {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendRaw(dst, a); err != nil {
				return dst[:orig], fmt.Errorf("%w (argument %d)", err, i)
			}
		}
		dst = append(dst, ']')
		if len(m.StreamIDs) > 0 {
			dst = append(dst, `,"streamIds":[`...)
			for i, id := range m.StreamIDs {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendString(dst, id)
			}
			dst = append(dst, ']')
		}
	case StreamItemType:
		dst = append(dst, `,"item":`...)
		if dst, err = appendRaw(dst, m.Item); err != nil {
			return dst[:orig], fmt.Errorf("%w (item)", err)
		}
	case CompletionType:
		if m.HasError || m.Error != "" {
			dst = append(dst, `,"error":`...)
			dst = appendString(dst, m.Error)
		} else if m.Result != nil {
			dst = append(dst, `,"result":`...)
			if dst, err = appendRaw(dst, m.Result); err != nil {
				return dst[:orig], fmt.Errorf("%w (result)", err)
			}
		}
	case CloseType:
		if m.HasError || m.Error != "" {
			dst = append(dst, `,"error":`...)
			dst = appendString(dst, m.Error)
		}
		if m.AllowReconnect {
			dst = append(dst, `,"allowReconnect":true`...)
		}
	case AckType, SequenceType:
		dst = append(dst, `,"sequenceId":`...)
		dst = strconv.AppendInt(dst, m.SequenceID, 10)
	}
	return append(dst, '}', RecordSeparator), nil
}

// appendHeaders appends a "headers" property with sorted keys, if there are any.
func appendHeaders(dst []byte, h map[string]string) []byte {
	if len(h) == 0 {
		return dst
	}
	dst = append(dst, `,"headers":{`...)
	for i, k := range slices.Sorted(maps.Keys(h)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, h[k])
	}
	return append(dst, '}')
}

// appendRaw appends an encoded value, compacted. An absent value is written as null
// so the record stays valid JSON. A value that is not exactly one JSON text in valid
// UTF-8 is an error: it would corrupt the record or its framing.
func appendRaw(dst []byte, v RawValue) ([]byte, error) {
	if len(v) == 0 {
		return append(dst, "null"...), nil
	}
	if !utf8.Valid(v) {
		return dst, invalid("value is not valid UTF-8")
	}
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, v); err != nil {
		return dst, invalid("value is not valid JSON: %v", err)
	}
	return buf.Bytes(), nil
}

func (jsonProtocol) EncodeValue(v any) (RawValue, error) {
	switch v := v.(type) {
	case RawValue:
		return v, nil
	case json.RawMessage:
		return RawValue(v), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("protocol: encode %T: %w", v, err)
	}
	return RawValue(b), nil
}

func (jsonProtocol) DecodeValue(raw RawValue, v any) error {
	if rv, ok := v.(*RawValue); ok {
		*rv = append(RawValue(nil), raw...)
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("protocol: decode %s: %w", shorten(raw), err)
	}
	return nil
}

func shorten(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:37]) + "..."
	}
	return string(raw)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, control
// characters and U+2028/U+2029 are escaped, so no raw newline or RS ever reaches the
// wire (SSE framing relies on that).
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
