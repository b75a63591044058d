package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"unicode/utf8"
)

// fuzzSeedUnits are valid and invalid units covering every message type; the fuzz
// targets start from these and from the files in testdata/fuzz/<FuzzName>/.
var fuzzSeedUnits = []string{
	`{"target":"Echo","arguments":["hi"],"invocationId":"0","type":1}` + rs,
	`{"target":"FireAndForget","arguments":[1,2],"type":1}` + rs,
	`{"target":"Upload","arguments":[],"invocationId":"0","streamIds":["1"],"type":1}` + rs,
	`{"type":2,"invocationId":"1","item":{"a":[1,2.5e3,null,true]}}` + rs,
	`{"type":3,"invocationId":"1"}` + rs,
	`{"type":3,"invocationId":"1","result":null}` + rs,
	`{"type":3,"invocationId":"1","error":"boom"}` + rs,
	`{"arguments":[5],"invocationId":"2","target":"Counter","type":4}` + rs,
	`{"type":5,"invocationId":"2"}` + rs,
	`{"type":6}` + rs,
	`{"type":7,"error":"bye","allowReconnect":true}` + rs,
	`{"type":8,"sequenceId":1394}` + rs,
	`{"type":9,"sequenceId":1}` + rs,
	`{"type":1,"headers":{"Foo":"Bar"},"invocationId":"123","target":"Send","arguments":[42,"Test Message"]}` + rs,
	`{"type":6}` + rs + `{"type":1,"target":"A","arguments":[{"x":"\u2028\n"}]}` + rs + `{"type":42,"x":1}` + rs,
	`{"type":3,"invocationId":"1","result":1,"error":"x"}` + rs,
	`{"type":1,"target":"A"` + rs,
	`{"type":6}` + rs + rs,
	`{"type":6}`,
	"{\"type\":1,\"target\":\"\xff\",\"arguments\":[]}" + rs,
	"",
}

// checkParseError asserts that a parse error wraps exactly one of the sentinels.
func checkParseError(t *testing.T, err error) {
	t.Helper()
	inv, inc := errors.Is(err, ErrInvalidMessage), errors.Is(err, ErrIncomplete)
	if inv == inc {
		t.Fatalf("error %v: wraps ErrInvalidMessage=%v ErrIncomplete=%v, want exactly one", err, inv, inc)
	}
}

// checkMessage asserts the fields a parsed message of its type must carry.
func checkMessage(t *testing.T, m Message) {
	t.Helper()
	switch m.Type {
	case InvocationType, StreamInvocationType:
		if m.Target == "" || m.Arguments == nil {
			t.Fatalf("parsed %s without target or arguments: %+v", m.Type, m)
		}
		if m.Type == StreamInvocationType && m.InvocationID == "" {
			t.Fatalf("parsed StreamInvocation without id: %+v", m)
		}
	case StreamItemType:
		if m.InvocationID == "" || m.Item == nil {
			t.Fatalf("parsed StreamItem without id or item: %+v", m)
		}
	case CompletionType:
		if m.InvocationID == "" || (m.HasError && m.Result != nil) {
			t.Fatalf("parsed bad Completion: %+v", m)
		}
	case CancelInvocationType:
		if m.InvocationID == "" {
			t.Fatalf("parsed CancelInvocation without id: %+v", m)
		}
	case PingType, CloseType, AckType, SequenceType:
	default:
		t.Fatalf("parsed a message of unknown type %d", int(m.Type))
	}
}

func FuzzParseMessages(f *testing.F) {
	for _, s := range fuzzSeedUnits {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, unit []byte) {
		orig := bytes.Clone(unit)
		msgs, err := JSON.ParseMessages(unit, nil)
		if !bytes.Equal(unit, orig) {
			t.Fatal("ParseMessages modified its input")
		}
		if err != nil {
			checkParseError(t, err)
		} else if len(unit) > 0 && unit[len(unit)-1] != RecordSeparator {
			t.Fatalf("unit without a final RS parsed without error: %q", unit)
		}
		if n := bytes.Count(unit, []byte(rs)); len(msgs) > n {
			t.Fatalf("%d messages from %d records", len(msgs), n)
		}
		for _, m := range msgs {
			checkMessage(t, m)
			rec, err := JSON.AppendMessage(nil, &m)
			if err != nil {
				t.Fatalf("parsed message %+v does not re-encode: %v", m, err)
			}
			checkRecord(t, rec)
		}
	})
}

// FuzzRoundTrip parses whatever parses, re-encodes each message, re-parses it and
// compares; a second encoding must be byte-identical to the first.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range fuzzSeedUnits {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, unit []byte) {
		msgs, _ := JSON.ParseMessages(unit, nil)
		for _, m := range msgs {
			rec := roundTrip(t, m)
			again, err := JSON.ParseMessages(rec, nil)
			if err != nil || len(again) != 1 {
				t.Fatalf("re-parse of %q: %v", rec, err)
			}
			rec2, err := JSON.AppendMessage(nil, &again[0])
			if err != nil || !bytes.Equal(rec, rec2) {
				t.Fatalf("encoding is not stable:\n%q\n%q (%v)", rec, rec2, err)
			}
		}
	})
}

// FuzzAppendMessage builds messages from arbitrary field values (strings that need
// not be valid UTF-8, arbitrary raw values) and checks that whatever AppendMessage
// accepts is a record the client accepts and that parses back to the same message,
// with invalid UTF-8 replaced.
func FuzzAppendMessage(f *testing.F) {
	f.Add(uint8(1), "0", "Echo", "hi\n\x1e", []byte(`"hi"`), false, int64(0))
	f.Add(uint8(2), "1", "", "", []byte(`{"a":1}`), false, int64(0))
	f.Add(uint8(3), "1", "", "boom\xff", []byte(`null`), true, int64(0))
	f.Add(uint8(3), "1", "", "", []byte(` [1, 2] `), false, int64(0))
	f.Add(uint8(4), "2", "Counter", "", []byte(`10`), false, int64(0))
	f.Add(uint8(5), "2", "", "", []byte(nil), false, int64(0))
	f.Add(uint8(6), "", "", "", []byte(nil), false, int64(0))
	f.Add(uint8(7), "", "", "bye\u2028", []byte(nil), true, int64(0))
	f.Add(uint8(8), "", "", "", []byte(nil), false, int64(-1))
	f.Add(uint8(9), "", "", "", []byte(nil), false, int64(1<<62))
	f.Add(uint8(0), "x", "y", "z", []byte("1 2"), true, int64(3))
	f.Fuzz(func(t *testing.T, typ uint8, id, target, text string, raw []byte, flag bool, seq int64) {
		m := Message{Type: MessageType(typ), InvocationID: id, Target: target, SequenceID: seq}
		switch m.Type {
		case InvocationType, StreamInvocationType:
			m.Arguments = []RawValue{RawValue(raw), RawValue(`1`)}
			m.StreamIDs = []string{text}
			m.Headers = map[string]string{text: id}
		case StreamItemType:
			m.Item = RawValue(raw)
		case CompletionType:
			if flag {
				m.Error, m.HasError = text, true
			} else {
				m.Result = RawValue(raw)
			}
		case CloseType:
			m.Error, m.HasError, m.AllowReconnect = text, text != "", flag
		}
		rec, err := JSON.AppendMessage([]byte("pre"), &m)
		if err != nil {
			if !errors.Is(err, ErrInvalidMessage) || string(rec) != "pre" {
				t.Fatalf("AppendMessage error %v left %q", err, rec)
			}
			return
		}
		rec = rec[3:]
		checkRecord(t, rec)
		got, err := JSON.ParseMessages(rec, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("ParseMessages(%q) = %d messages, %v", rec, len(got), err)
		}
		want := m
		want.InvocationID = string([]rune(m.InvocationID))
		want.Target = string([]rune(m.Target))
		want.Error = string([]rune(m.Error))
		if m.Type == PingType || m.Type > CancelInvocationType {
			want.InvocationID = ""
		}
		if m.Type != InvocationType && m.Type != StreamInvocationType {
			want.Target = ""
		}
		if m.Type != AckType && m.Type != SequenceType {
			want.SequenceID = 0
		}
		if len(m.StreamIDs) > 0 {
			want.StreamIDs = []string{string([]rune(text))}
			want.Headers = map[string]string{string([]rune(text)): string([]rune(id))}
		}
		if m.Type == CompletionType && m.Result != nil && len(m.Result) == 0 {
			want.Result = RawValue(`null`)
		}
		if !sameMessage(got[0], want) {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", rec, normalize(got[0]), normalize(want))
		}
	})
}

func FuzzParseHandshakeRequest(f *testing.F) {
	for _, s := range []string{
		`{"protocol":"json","version":1}` + rs,
		`{"protocol":"json","version":2}` + rs + `{"type":6}` + rs,
		`{"protocol":"messagepack","version":1}` + rs + "\x02\x91\x06",
		`{"version":1,"protocol":"json","extra":[1,{"a":null}]}` + rs,
		`{"protocol":"json","version":1.5}` + rs,
		`{"protocol":"json"`,
		rs,
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, unit []byte) {
		req, rest, err := ParseHandshakeRequest(unit)
		if err != nil {
			checkParseError(t, err)
			if rest != nil {
				t.Fatalf("rest %q returned with error", rest)
			}
			return
		}
		i := bytes.IndexByte(unit, RecordSeparator)
		if i < 0 || !bytes.Equal(rest, unit[i+1:]) {
			t.Fatalf("rest %q is not what follows the first RS in %q", rest, unit)
		}
		if req.Protocol == "" {
			t.Fatalf("accepted an empty protocol from %q", unit)
		}
		// Re-encode the request the way a client does and parse it again.
		re := append([]byte(`{"protocol":`), appendString(nil, req.Protocol)...)
		re = append(re, `,"version":`...)
		re = strconv.AppendInt(re, int64(req.Version), 10)
		re = append(re, '}', RecordSeparator)
		re = append(re, rest...)
		req2, rest2, err := ParseHandshakeRequest(re)
		if err != nil || req2 != req || !bytes.Equal(rest2, rest) {
			t.Fatalf("re-encoded request %q parses to %+v, %q, %v; want %+v", re, req2, rest2, err, req)
		}
	})
}

func FuzzParseHandshakeResponse(f *testing.F) {
	for _, s := range []string{
		"{}" + rs,
		"{}" + rs + `{"type":6}` + rs,
		`{"error":"The protocol 'x' is not supported."}` + rs,
		`{"type":6}` + rs,
		`{"error":null,"minorVersion":1}` + rs,
		`{"error":1}` + rs,
		"{}",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, unit []byte) {
		text, rest, err := ParseHandshakeResponse(unit)
		if err != nil {
			checkParseError(t, err)
		} else {
			i := bytes.IndexByte(unit, RecordSeparator)
			if i < 0 || !bytes.Equal(rest, unit[i+1:]) {
				t.Fatalf("rest %q is not what follows the first RS in %q", rest, unit)
			}
		}
		// Whatever the bytes, as an error text our reply must survive a round trip.
		reply := AppendHandshakeResponse(nil, string(unit))
		if bytes.IndexByte(reply, RecordSeparator) != len(reply)-1 || bytes.ContainsAny(reply, "\r\n") {
			t.Fatalf("reply %q is badly framed", reply)
		}
		back, rest, err := ParseHandshakeResponse(reply)
		if err != nil || len(rest) != 0 || back != string([]rune(string(unit))) {
			t.Fatalf("reply %q parses to %q, %q, %v", reply, back, rest, err)
		}
		_ = text
	})
}

// FuzzParseMatchesEncodingJSON checks the record scanner against encoding/json: a
// record encoding/json cannot decode into an object fails to parse, and a record it
// decodes parses to the same type, ids, target and arguments.
func FuzzParseMatchesEncodingJSON(f *testing.F) {
	for _, s := range fuzzSeedUnits {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, unit []byte) {
		record, _, ok, err := NextRecord(unit)
		if !ok || err != nil {
			return
		}
		msgs, perr := JSON.ParseMessages(append(bytes.Clone(record), RecordSeparator), nil)
		var oracle map[string]json.RawMessage
		if !utf8.Valid(record) || json.Unmarshal(record, &oracle) != nil || oracle == nil {
			if perr == nil {
				t.Fatalf("parsed %q, which encoding/json refuses", record)
			}
			return
		}
		if perr != nil || len(msgs) == 0 {
			return // a property of the wrong kind, or a type to ignore
		}
		m := msgs[0]
		str := func(key string) string {
			var s string
			json.Unmarshal(oracle[key], &s)
			return s
		}
		var typ int64
		if json.Unmarshal(oracle["type"], &typ) != nil || MessageType(typ) != m.Type {
			t.Fatalf("%q: type %d, encoding/json says %s", record, m.Type, oracle["type"])
		}
		if m.Type <= CancelInvocationType && m.InvocationID != str("invocationId") {
			t.Fatalf("%q: invocationId %q, encoding/json says %q", record, m.InvocationID, str("invocationId"))
		}
		if m.Type == InvocationType || m.Type == StreamInvocationType {
			if m.Target != str("target") {
				t.Fatalf("%q: target %q, encoding/json says %q", record, m.Target, str("target"))
			}
			var args []json.RawMessage
			json.Unmarshal(oracle["arguments"], &args)
			if len(args) != len(m.Arguments) {
				t.Fatalf("%q: %d arguments, encoding/json says %d", record, len(m.Arguments), len(args))
			}
			for i := range args {
				if !bytes.Equal(args[i], m.Arguments[i]) {
					t.Fatalf("%q: argument %d is %q, encoding/json says %q", record, i, m.Arguments[i], args[i])
				}
			}
		}
	})
}
