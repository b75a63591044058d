package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// JSON is the JSON hub protocol ("json", version 1, text transfer format).
// Numbers decoded into an interface value keep their exact text (json.Number), so an
// echoed 64-bit integer comes back unchanged.
var JSON Protocol = jsonProtocol{}

type jsonProtocol struct{}

func (jsonProtocol) Name() string                   { return "json" }
func (jsonProtocol) Version() int                   { return 2 }
func (jsonProtocol) TransferFormat() TransferFormat { return TextFormat }

// wireMessage mirrors the JSON fields. Pointers tell "absent" from zero values.
type wireMessage struct {
	Type           *int               `json:"type"`
	InvocationID   *string            `json:"invocationId"`
	Target         *string            `json:"target"`
	Arguments      *[]json.RawMessage `json:"arguments"`
	StreamIDs      []string           `json:"streamIds"`
	Item           json.RawMessage    `json:"item"`
	Result         json.RawMessage    `json:"result"`
	Error          *string            `json:"error"`
	AllowReconnect bool               `json:"allowReconnect"`
	Headers        map[string]string  `json:"headers"`
	SequenceID     int64              `json:"sequenceId"`
}

func (p jsonProtocol) ParseMessages(unit []byte, dst []Message) ([]Message, error) {
	for {
		record, rest, ok, err := NextRecord(unit)
		if err != nil {
			return dst, err
		}
		if !ok {
			return dst, nil
		}
		unit = rest
		m, known, err := parseJSONRecord(record)
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

func parseJSONRecord(record []byte) (m Message, known bool, err error) {
	var w wireMessage
	if err := json.Unmarshal(record, &w); err != nil {
		return m, false, invalid("%v", err)
	}
	if w.Type == nil {
		return m, false, invalid("missing required property 'type'")
	}
	m.Type = MessageType(*w.Type)
	m.Headers = w.Headers
	needID := func() error {
		if w.InvocationID == nil || *w.InvocationID == "" {
			return invalid("%s requires a non-empty 'invocationId'", m.Type)
		}
		m.InvocationID = *w.InvocationID
		return nil
	}
	switch m.Type {
	case InvocationType, StreamInvocationType:
		if w.InvocationID != nil {
			m.InvocationID = *w.InvocationID
		}
		if m.Type == StreamInvocationType {
			if err := needID(); err != nil {
				return m, false, err
			}
		}
		if w.Target == nil || *w.Target == "" {
			return m, false, invalid("%s requires a non-empty 'target'", m.Type)
		}
		m.Target = *w.Target
		if w.Arguments == nil {
			return m, false, invalid("%s requires 'arguments' (an array)", m.Type)
		}
		m.Arguments = make([]RawValue, len(*w.Arguments))
		for i, a := range *w.Arguments {
			m.Arguments[i] = RawValue(a)
		}
		m.StreamIDs = w.StreamIDs
	case StreamItemType:
		if err := needID(); err != nil {
			return m, false, err
		}
		if w.Item == nil {
			return m, false, invalid("StreamItem requires 'item'")
		}
		m.Item = RawValue(w.Item)
	case CompletionType:
		if err := needID(); err != nil {
			return m, false, err
		}
		if w.Error != nil {
			if w.Result != nil {
				return m, false, invalid("Completion carries both 'result' and 'error'")
			}
			m.Error, m.HasError = *w.Error, true
		}
		if w.Result != nil {
			m.Result = RawValue(w.Result)
		}
	case CancelInvocationType:
		if err := needID(); err != nil {
			return m, false, err
		}
	case PingType:
	case CloseType:
		if w.Error != nil {
			m.Error, m.HasError = *w.Error, true
		}
		m.AllowReconnect = w.AllowReconnect
	case AckType, SequenceType:
		m.SequenceID = w.SequenceID
	default:
		return m, false, nil
	}
	return m, true, nil
}

func (jsonProtocol) AppendMessage(dst []byte, m *Message) ([]byte, error) {
	dst = append(dst, `{"type":`...)
	dst = strconv.AppendInt(dst, int64(m.Type), 10)
	if m.InvocationID != "" {
		dst = append(dst, `,"invocationId":`...)
		dst = appendString(dst, m.InvocationID)
	}
	switch m.Type {
	case InvocationType, StreamInvocationType:
		dst = append(dst, `,"target":`...)
		dst = appendString(dst, m.Target)
		dst = append(dst, `,"arguments":[`...)
		for i, a := range m.Arguments {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendRaw(dst, a)
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
		dst = appendRaw(dst, m.Item)
	case CompletionType:
		if m.HasError || m.Error != "" {
			dst = append(dst, `,"error":`...)
			dst = appendString(dst, m.Error)
		} else if m.Result != nil {
			dst = append(dst, `,"result":`...)
			dst = appendRaw(dst, m.Result)
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

// appendRaw appends an encoded value; an absent value is written as null so the
// record stays valid JSON.
func appendRaw(dst []byte, v RawValue) []byte {
	if len(v) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, v...)
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
