package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

const rs = "\x1e"

// --- helpers shared by the unit tests and the fuzz targets ---

// compactRaw returns the compacted form of a raw JSON value, so values that differ
// only in insignificant whitespace compare equal. An empty value is encoded as null.
func compactRaw(v RawValue) string {
	if len(v) == 0 {
		return "null"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return "<invalid>" + string(v)
	}
	return b.String()
}

// normalize makes a message comparable after a round trip: raw values compacted,
// empty slices and maps as nil.
func normalize(m Message) Message {
	if len(m.Arguments) > 0 {
		args := make([]RawValue, len(m.Arguments))
		for i, a := range m.Arguments {
			args[i] = RawValue(compactRaw(a))
		}
		m.Arguments = args
	} else if m.Type == InvocationType || m.Type == StreamInvocationType {
		m.Arguments = []RawValue{}
	}
	if m.Item != nil || m.Type == StreamItemType {
		m.Item = RawValue(compactRaw(m.Item))
	}
	if m.Result != nil { // nil stays nil: a void completion
		m.Result = RawValue(compactRaw(m.Result))
	}
	if len(m.StreamIDs) == 0 {
		m.StreamIDs = nil
	}
	if len(m.Headers) == 0 {
		m.Headers = nil
	}
	return m
}

func sameMessage(a, b Message) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

// checkRecord verifies one encoded record the way the official JS client reads it:
// exactly one RS, at the end; no raw CR or LF (SSE framing); valid UTF-8; a JSON
// object; and the client's per-type validation (section 3.2 of the digest).
func checkRecord(t testing.TB, rec []byte) {
	t.Helper()
	if len(rec) == 0 || rec[len(rec)-1] != RecordSeparator {
		t.Fatalf("record does not end with RS: %q", rec)
	}
	if n := bytes.Count(rec, []byte(rs)); n != 1 {
		t.Fatalf("record holds %d RS, want 1: %q", n, rec)
	}
	if bytes.ContainsAny(rec, "\r\n") {
		t.Fatalf("record holds a raw newline: %q", rec)
	}
	body := rec[:len(rec)-1]
	if !utf8.Valid(body) {
		t.Fatalf("record is not valid UTF-8: %q", rec)
	}
	var obj map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&obj); err != nil || d.More() {
		t.Fatalf("record is not one JSON object (%v): %q", err, rec)
	}
	typ, ok := obj["type"].(json.Number)
	if !ok {
		t.Fatalf("record has no numeric type: %q", rec)
	}
	nonEmptyString := func(key string) {
		t.Helper()
		if s, ok := obj[key].(string); !ok || s == "" {
			t.Fatalf("record needs a non-empty string %q: %q", key, rec)
		}
	}
	switch typ.String() {
	case "1", "4":
		nonEmptyString("target")
		if _, ok := obj["arguments"].([]any); !ok {
			t.Fatalf("invocation without an arguments array: %q", rec)
		}
		if typ.String() == "4" {
			nonEmptyString("invocationId")
		}
	case "2":
		nonEmptyString("invocationId")
		if _, ok := obj["item"]; !ok {
			t.Fatalf("stream item without item: %q", rec)
		}
	case "3":
		nonEmptyString("invocationId")
		_, hasResult := obj["result"]
		_, hasError := obj["error"]
		if hasResult && hasError {
			t.Fatalf("completion with both result and error: %q", rec)
		}
	case "5":
		nonEmptyString("invocationId")
	case "6":
		if len(obj) != 1 {
			t.Fatalf("ping with extra properties: %q", rec)
		}
	case "7":
	case "8", "9":
		if _, ok := obj["sequenceId"].(json.Number); !ok {
			t.Fatalf("ack/sequence without sequenceId: %q", rec)
		}
	default:
		t.Fatalf("encoded an unknown message type: %q", rec)
	}
}

// roundTrip encodes m, checks the record, parses it back and compares.
func roundTrip(t testing.TB, m Message) []byte {
	t.Helper()
	rec, err := JSON.AppendMessage(nil, &m)
	if err != nil {
		t.Fatalf("AppendMessage(%+v): %v", m, err)
	}
	checkRecord(t, rec)
	got, err := JSON.ParseMessages(rec, nil)
	if err != nil {
		t.Fatalf("ParseMessages(%q): %v", rec, err)
	}
	if len(got) != 1 {
		t.Fatalf("ParseMessages(%q) = %d messages, want 1", rec, len(got))
	}
	if !sameMessage(got[0], m) {
		t.Fatalf("round trip of %q:\n got %+v\nwant %+v", rec, normalize(got[0]), normalize(m))
	}
	return rec
}

func raws(vs ...string) []RawValue {
	out := make([]RawValue, len(vs))
	for i, v := range vs {
		out[i] = RawValue(v)
	}
	return out
}

// --- parsing what the official client sends ---

func TestParseMessagesOfficialClientFrames(t *testing.T) {
	tests := []struct {
		name string
		unit string
		want []Message
	}{
		{
			name: "invoke (observed)",
			unit: `{"target":"Echo","arguments":["hi"],"invocationId":"0","type":1}` + rs,
			want: []Message{{Type: InvocationType, InvocationID: "0", Target: "Echo", Arguments: raws(`"hi"`)}},
		},
		{
			name: "send without invocationId (observed)",
			unit: `{"target":"FireAndForget","arguments":[1,2],"type":1}` + rs,
			want: []Message{{Type: InvocationType, Target: "FireAndForget", Arguments: raws(`1`, `2`)}},
		},
		{
			name: "ping (observed)",
			unit: `{"type":6}` + rs,
			want: []Message{{Type: PingType}},
		},
		{
			name: "close on stop (observed)",
			unit: `{"type":7}` + rs,
			want: []Message{{Type: CloseType}},
		},
		{
			name: "invoke with upload stream ids from the same counter",
			unit: `{"target":"Upload","arguments":[],"invocationId":"0","streamIds":["1"],"type":1}` + rs,
			want: []Message{{Type: InvocationType, InvocationID: "0", Target: "Upload", Arguments: []RawValue{}, StreamIDs: []string{"1"}}},
		},
		{
			name: "stream()",
			unit: `{"arguments":[5,10],"invocationId":"2","target":"Counter","type":4}` + rs,
			want: []Message{{Type: StreamInvocationType, InvocationID: "2", Target: "Counter", Arguments: raws(`5`, `10`)}},
		},
		{
			name: "subscription disposed",
			unit: `{"type":5,"invocationId":"2"}` + rs,
			want: []Message{{Type: CancelInvocationType, InvocationID: "2"}},
		},
		{
			name: "upload stream item",
			unit: `{"type":2,"invocationId":"1","item":{"a":[1,2]}}` + rs,
			want: []Message{{Type: StreamItemType, InvocationID: "1", Item: RawValue(`{"a":[1,2]}`)}},
		},
		{
			name: "upload stream item null",
			unit: `{"type":2,"invocationId":"1","item":null}` + rs,
			want: []Message{{Type: StreamItemType, InvocationID: "1", Item: RawValue(`null`)}},
		},
		{
			name: "upload stream end",
			unit: `{"type":3,"invocationId":"1"}` + rs,
			want: []Message{{Type: CompletionType, InvocationID: "1"}},
		},
		{
			name: "upload stream failed",
			unit: `{"type":3,"invocationId":"1","error":"msg"}` + rs,
			want: []Message{{Type: CompletionType, InvocationID: "1", Error: "msg", HasError: true}},
		},
		{
			name: "client result",
			unit: `{"type":3,"invocationId":"h1","result":"Ann"}` + rs,
			want: []Message{{Type: CompletionType, InvocationID: "h1", Result: RawValue(`"Ann"`)}},
		},
		{
			name: "client result null is a result, not void",
			unit: `{"type":3,"invocationId":"h1","result":null}` + rs,
			want: []Message{{Type: CompletionType, InvocationID: "h1", Result: RawValue(`null`)}},
		},
		{
			name: "client result error with result:null absent",
			unit: `{"type":3,"invocationId":"h1","error":"Client didn't provide a result."}` + rs,
			want: []Message{{Type: CompletionType, InvocationID: "h1", Error: "Client didn't provide a result.", HasError: true}},
		},
		{
			name: "ack",
			unit: `{"type":8,"sequenceId":1394}` + rs,
			want: []Message{{Type: AckType, SequenceID: 1394}},
		},
		{
			name: "sequence",
			unit: `{"type":9,"sequenceId":1}` + rs,
			want: []Message{{Type: SequenceType, SequenceID: 1}},
		},
		{
			name: "close with error and allowReconnect",
			unit: `{"type":7,"error":"bye","allowReconnect":true}` + rs,
			want: []Message{{Type: CloseType, Error: "bye", HasError: true, AllowReconnect: true}},
		},
		{
			name: "headers are kept",
			unit: `{"type":1,"headers":{"Foo":"Bar"},"invocationId":"123","target":"Send","arguments":[42,"Test Message"]}` + rs,
			want: []Message{{Type: InvocationType, Headers: map[string]string{"Foo": "Bar"}, InvocationID: "123", Target: "Send", Arguments: raws(`42`, `"Test Message"`)}},
		},
		{
			name: "spec example with whitespace and newlines",
			unit: "{\n    \"type\": 1,\n    \"invocationId\": \"123\",\n    \"target\": \"Send\",\n    \"arguments\": [\n        42,\n        \"Test Message\"\n    ]\n}" + rs,
			want: []Message{{Type: InvocationType, InvocationID: "123", Target: "Send", Arguments: raws(`42`, `"Test Message"`)}},
		},
		{
			name: "unknown properties are ignored",
			unit: `{"type":6,"extra":{"x":[1]}}` + rs + `{"type":1,"target":"T","arguments":[],"Target":5,"future":true}` + rs,
			want: []Message{{Type: PingType}, {Type: InvocationType, Target: "T", Arguments: []RawValue{}}},
		},
		{
			name: "several records in one unit, handshake-style batching",
			unit: `{"type":6}` + rs + `{"target":"A","arguments":[1],"invocationId":"0","type":1}` + rs + `{"type":5,"invocationId":"0"}` + rs,
			want: []Message{
				{Type: PingType},
				{Type: InvocationType, InvocationID: "0", Target: "A", Arguments: raws(`1`)},
				{Type: CancelInvocationType, InvocationID: "0"},
			},
		},
		{
			name: "unknown types are skipped, even with odd fields",
			unit: `{"type":10,"target":5,"arguments":"x"}` + rs + `{"type":6}` + rs + `{"type":0}` + rs + `{"type":-1}` + rs + `{"type":4294967297}` + rs + `{"type":99999999999}` + rs,
			want: []Message{{Type: PingType}},
		},
		{
			name: "null optional fields count as absent",
			unit: `{"type":1,"invocationId":null,"target":"T","arguments":[],"streamIds":null,"headers":null}` + rs + `{"type":3,"invocationId":"1","error":null,"result":2}` + rs + `{"type":7,"error":null,"allowReconnect":null}` + rs,
			want: []Message{
				{Type: InvocationType, Target: "T", Arguments: []RawValue{}},
				{Type: CompletionType, InvocationID: "1", Result: RawValue(`2`)},
				{Type: CloseType},
			},
		},
		{
			name: "escaped property names and strings",
			unit: `{"t\u0079pe":1,"target":"caf\u00e9 \ud83d\ude00","arguments":["a\nb"]}` + rs,
			want: []Message{{Type: InvocationType, Target: "café 😀", Arguments: raws(`"a\nb"`)}},
		},
		{
			name: "64-bit integers in arguments keep their text",
			unit: `{"type":1,"target":"Echo","arguments":[9007199254740993,1e400,-0.0]}` + rs,
			want: []Message{{Type: InvocationType, Target: "Echo", Arguments: raws(`9007199254740993`, `1e400`, `-0.0`)}},
		},
		{
			name: "empty unit",
			unit: "",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSON.ParseMessages([]byte(tt.unit), nil)
			if err != nil {
				t.Fatalf("ParseMessages: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseMessages(%q)\n got %#v\nwant %#v", tt.unit, got, tt.want)
			}
		})
	}
}

func TestParseMessagesBadInput(t *testing.T) {
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	tests := []struct {
		name    string
		unit    string
		wantErr error
		wantN   int // messages parsed before the error
	}{
		{name: "malformed JSON", unit: `{"type":1,` + rs, wantErr: ErrInvalidMessage},
		{name: "not JSON at all", unit: `hello` + rs, wantErr: ErrInvalidMessage},
		{name: "top-level array", unit: `[1]` + rs, wantErr: ErrInvalidMessage},
		{name: "top-level null", unit: `null` + rs, wantErr: ErrInvalidMessage},
		{name: "top-level string", unit: `"x"` + rs, wantErr: ErrInvalidMessage},
		{name: "trailing data after object", unit: `{"type":6}{"type":6}` + rs, wantErr: ErrInvalidMessage},
		{name: "missing type", unit: `{"target":"A","arguments":[]}` + rs, wantErr: ErrInvalidMessage},
		{name: "type is null", unit: `{"type":null}` + rs, wantErr: ErrInvalidMessage},
		{name: "type with wrong case", unit: `{"Type":6}` + rs, wantErr: ErrInvalidMessage},
		{name: "type is a string", unit: `{"type":"1","target":"A","arguments":[]}` + rs, wantErr: ErrInvalidMessage},
		{name: "type is a float", unit: `{"type":1.5}` + rs, wantErr: ErrInvalidMessage},
		{name: "type is a huge number", unit: `{"type":1e400}` + rs, wantErr: ErrInvalidMessage},
		{name: "type overflows int64", unit: `{"type":99999999999999999999}` + rs, wantErr: ErrInvalidMessage},
		{name: "invocation missing target", unit: `{"type":1,"arguments":[]}` + rs, wantErr: ErrInvalidMessage},
		{name: "invocation empty target", unit: `{"type":1,"target":"","arguments":[]}` + rs, wantErr: ErrInvalidMessage},
		{name: "invocation target not a string", unit: `{"type":1,"target":7,"arguments":[]}` + rs, wantErr: ErrInvalidMessage},
		{name: "invocation target with wrong case only", unit: `{"type":1,"Target":"A","arguments":[]}` + rs, wantErr: ErrInvalidMessage},
		{name: "invocation missing arguments", unit: `{"type":1,"target":"A"}` + rs, wantErr: ErrInvalidMessage},
		{name: "invocation arguments null", unit: `{"type":1,"target":"A","arguments":null}` + rs, wantErr: ErrInvalidMessage},
		{name: "invocation arguments not an array", unit: `{"type":1,"target":"A","arguments":{"0":1}}` + rs, wantErr: ErrInvalidMessage},
		{name: "invocation arguments a string", unit: `{"type":1,"target":"A","arguments":"[]"}` + rs, wantErr: ErrInvalidMessage},
		{name: "invocation id not a string", unit: `{"type":1,"invocationId":1,"target":"A","arguments":[]}` + rs, wantErr: ErrInvalidMessage},
		{name: "streamIds not strings", unit: `{"type":1,"target":"A","arguments":[],"streamIds":[1]}` + rs, wantErr: ErrInvalidMessage},
		{name: "streamIds not an array", unit: `{"type":1,"target":"A","arguments":[],"streamIds":"1"}` + rs, wantErr: ErrInvalidMessage},
		{name: "headers with a number value", unit: `{"type":1,"target":"A","arguments":[],"headers":{"a":1}}` + rs, wantErr: ErrInvalidMessage},
		{name: "headers an array", unit: `{"type":1,"target":"A","arguments":[],"headers":[]}` + rs, wantErr: ErrInvalidMessage},
		{name: "stream invocation missing invocationId", unit: `{"type":4,"target":"A","arguments":[]}` + rs, wantErr: ErrInvalidMessage},
		{name: "stream invocation empty invocationId", unit: `{"type":4,"invocationId":"","target":"A","arguments":[]}` + rs, wantErr: ErrInvalidMessage},
		{name: "stream item missing invocationId", unit: `{"type":2,"item":1}` + rs, wantErr: ErrInvalidMessage},
		{name: "stream item missing item", unit: `{"type":2,"invocationId":"1"}` + rs, wantErr: ErrInvalidMessage},
		{name: "completion missing invocationId", unit: `{"type":3,"result":1}` + rs, wantErr: ErrInvalidMessage},
		{name: "completion with result and error", unit: `{"type":3,"invocationId":"1","result":1,"error":"x"}` + rs, wantErr: ErrInvalidMessage},
		{name: "completion with null result and error", unit: `{"type":3,"invocationId":"1","result":null,"error":"x"}` + rs, wantErr: ErrInvalidMessage},
		{name: "completion error not a string", unit: `{"type":3,"invocationId":"1","error":{"m":"x"}}` + rs, wantErr: ErrInvalidMessage},
		{name: "cancel missing invocationId", unit: `{"type":5}` + rs, wantErr: ErrInvalidMessage},
		{name: "close allowReconnect a string", unit: `{"type":7,"allowReconnect":"true"}` + rs, wantErr: ErrInvalidMessage},
		{name: "close error a number", unit: `{"type":7,"error":1}` + rs, wantErr: ErrInvalidMessage},
		{name: "ack missing sequenceId", unit: `{"type":8}` + rs, wantErr: ErrInvalidMessage},
		{name: "sequence sequenceId a string", unit: `{"type":9,"sequenceId":"1"}` + rs, wantErr: ErrInvalidMessage},
		{name: "sequenceId huge", unit: `{"type":8,"sequenceId":99999999999999999999}` + rs, wantErr: ErrInvalidMessage},
		{name: "deep nesting in arguments", unit: `{"type":1,"target":"A","arguments":` + deep + `}` + rs, wantErr: ErrInvalidMessage},
		{name: "invalid UTF-8 in a string", unit: "{\"type\":1,\"target\":\"\xff\",\"arguments\":[]}" + rs, wantErr: ErrInvalidMessage},
		{name: "invalid UTF-8 in an argument", unit: "{\"type\":1,\"target\":\"A\",\"arguments\":[\"\xc3\x28\"]}" + rs, wantErr: ErrInvalidMessage},
		{name: "raw control character in a string", unit: "{\"type\":1,\"target\":\"a\nb\",\"arguments\":[]}" + rs, wantErr: ErrInvalidMessage},
		{name: "empty record", unit: rs, wantErr: ErrInvalidMessage},
		{name: "empty record between separators", unit: `{"type":6}` + rs + rs + `{"type":6}` + rs, wantErr: ErrInvalidMessage, wantN: 1},
		{name: "whitespace-only record", unit: " \n" + rs, wantErr: ErrInvalidMessage},
		{name: "incomplete record without RS", unit: `{"type":6}`, wantErr: ErrIncomplete},
		{name: "complete record then a cut one", unit: `{"type":6}` + rs + `{"type":1,"tar`, wantErr: ErrIncomplete, wantN: 1},
		{name: "trailing newline after last RS", unit: `{"type":6}` + rs + "\n", wantErr: ErrIncomplete, wantN: 1},
		{name: "bad record after good ones", unit: `{"type":6}` + rs + `{"type":6}` + rs + `{}` + rs + `{"type":6}` + rs, wantErr: ErrInvalidMessage, wantN: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSON.ParseMessages([]byte(tt.unit), nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseMessages(%.80q) error = %v, want %v", tt.unit, err, tt.wantErr)
			}
			other := ErrIncomplete
			if tt.wantErr == ErrIncomplete {
				other = ErrInvalidMessage
			}
			if errors.Is(err, other) {
				t.Fatalf("error %v wraps both sentinels", err)
			}
			if len(got) != tt.wantN {
				t.Fatalf("got %d messages before the error, want %d", len(got), tt.wantN)
			}
		})
	}
}

func TestParseMessagesAppendsToDst(t *testing.T) {
	dst := []Message{{Type: PingType}}
	got, err := JSON.ParseMessages([]byte(`{"type":7}`+rs), dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Type != PingType || got[1].Type != CloseType {
		t.Fatalf("got %+v", got)
	}
}

func TestParseMessagesDoesNotAliasUnit(t *testing.T) {
	unit := []byte(`{"type":1,"target":"A","arguments":[12345]}` + rs)
	msgs, err := JSON.ParseMessages(unit, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range unit {
		unit[i] = 'x'
	}
	if string(msgs[0].Arguments[0]) != "12345" {
		t.Fatalf("argument changed with the unit buffer: %q", msgs[0].Arguments[0])
	}
}

// --- encoding what the official client expects ---

func TestAppendMessageGolden(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want string
	}{
		{
			name: "invocation fire-and-forget (server to client call)",
			msg:  Message{Type: InvocationType, Target: "Notify", Arguments: raws(`"x"`, `1`)},
			want: `{"type":1,"target":"Notify","arguments":["x",1]}`,
		},
		{
			name: "invocation with id (client result)",
			msg:  Message{Type: InvocationType, InvocationID: "h1", Target: "GetName", Arguments: []RawValue{}},
			want: `{"type":1,"invocationId":"h1","target":"GetName","arguments":[]}`,
		},
		{
			name: "invocation with nil arguments",
			msg:  Message{Type: InvocationType, Target: "T"},
			want: `{"type":1,"target":"T","arguments":[]}`,
		},
		{
			name: "invocation with an absent argument",
			msg:  Message{Type: InvocationType, Target: "T", Arguments: []RawValue{nil, RawValue(" [ 1 ,\n 2 ] ")}},
			want: `{"type":1,"target":"T","arguments":[null,[1,2]]}`,
		},
		{
			name: "invocation with headers and stream ids",
			msg:  Message{Type: InvocationType, InvocationID: "0", Target: "Up", Arguments: []RawValue{}, StreamIDs: []string{"1", "2"}, Headers: map[string]string{"b": "2", "a": "1"}},
			want: `{"type":1,"headers":{"a":"1","b":"2"},"invocationId":"0","target":"Up","arguments":[],"streamIds":["1","2"]}`,
		},
		{
			name: "stream invocation",
			msg:  Message{Type: StreamInvocationType, InvocationID: "3", Target: "Counter", Arguments: raws(`10`)},
			want: `{"type":4,"invocationId":"3","target":"Counter","arguments":[10]}`,
		},
		{
			name: "stream item",
			msg:  Message{Type: StreamItemType, InvocationID: "3", Item: RawValue(`{"n":1}`)},
			want: `{"type":2,"invocationId":"3","item":{"n":1}}`,
		},
		{
			name: "stream item null (absent item is written as null)",
			msg:  Message{Type: StreamItemType, InvocationID: "3"},
			want: `{"type":2,"invocationId":"3","item":null}`,
		},
		{
			name: "completion with result",
			msg:  Message{Type: CompletionType, InvocationID: "0", Result: RawValue(`"hi"`)},
			want: `{"type":3,"invocationId":"0","result":"hi"}`,
		},
		{
			name: "completion with encoded null result",
			msg:  Message{Type: CompletionType, InvocationID: "0", Result: RawValue(`null`)},
			want: `{"type":3,"invocationId":"0","result":null}`,
		},
		{
			name: "completion with empty non-nil result",
			msg:  Message{Type: CompletionType, InvocationID: "0", Result: RawValue{}},
			want: `{"type":3,"invocationId":"0","result":null}`,
		},
		{
			name: "void completion has no result key",
			msg:  Message{Type: CompletionType, InvocationID: "0"},
			want: `{"type":3,"invocationId":"0"}`,
		},
		{
			name: "completion with error",
			msg:  Message{Type: CompletionType, InvocationID: "0", Error: "An unexpected error occurred invoking 'M' on the server.", HasError: true},
			want: `{"type":3,"invocationId":"0","error":"An unexpected error occurred invoking 'M' on the server."}`,
		},
		{
			name: "completion with empty error",
			msg:  Message{Type: CompletionType, InvocationID: "0", HasError: true},
			want: `{"type":3,"invocationId":"0","error":""}`,
		},
		{
			name: "completion error wins over result",
			msg:  Message{Type: CompletionType, InvocationID: "0", Result: RawValue(`1`), Error: "x", HasError: true},
			want: `{"type":3,"invocationId":"0","error":"x"}`,
		},
		{
			name: "cancel",
			msg:  Message{Type: CancelInvocationType, InvocationID: "2"},
			want: `{"type":5,"invocationId":"2"}`,
		},
		{
			name: "ping",
			msg:  Message{Type: PingType},
			want: `{"type":6}`,
		},
		{
			name: "ping ignores other fields",
			msg:  Message{Type: PingType, InvocationID: "1", Headers: map[string]string{"a": "b"}},
			want: `{"type":6}`,
		},
		{
			name: "close",
			msg:  Message{Type: CloseType},
			want: `{"type":7}`,
		},
		{
			name: "close with error and allowReconnect",
			msg:  Message{Type: CloseType, Error: "Server is shutting down.", HasError: true, AllowReconnect: true},
			want: `{"type":7,"error":"Server is shutting down.","allowReconnect":true}`,
		},
		{
			name: "ack",
			msg:  Message{Type: AckType, SequenceID: 1394},
			want: `{"type":8,"sequenceId":1394}`,
		},
		{
			name: "sequence",
			msg:  Message{Type: SequenceType, SequenceID: 1},
			want: `{"type":9,"sequenceId":1}`,
		},
		{
			name: "strings are escaped",
			msg:  Message{Type: CloseType, Error: "a\"b\\c\nd\re\tf\x1eg\x00h\u2028i\u2029j\x7f<k>", HasError: true},
			want: `{"type":7,"error":"a\"b\\c\nd\re\tf\u001eg\u0000h\u2028i\u2029j` + "\x7f" + `<k>"}`,
		},
		{
			name: "invalid UTF-8 in strings becomes U+FFFD",
			msg:  Message{Type: CompletionType, InvocationID: "\xff1", Error: "bad \xc3\x28 \xed\xa0\x80 ok é", HasError: true},
			want: `{"type":3,"invocationId":"\ufffd1","error":"bad \ufffd( \ufffd\ufffd\ufffd ok é"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			got, err := JSON.AppendMessage(prefix, &tt.msg)
			if err != nil {
				t.Fatalf("AppendMessage: %v", err)
			}
			if want := "prefix" + tt.want + rs; string(got) != want {
				t.Fatalf("AppendMessage\n got %q\nwant %q", got, want)
			}
			checkRecord(t, got[len(prefix):])
		})
	}
}

func TestAppendMessageErrors(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
	}{
		{"unknown type", Message{Type: 42}},
		{"zero type", Message{}},
		{"invocation without target", Message{Type: InvocationType, InvocationID: "1"}},
		{"stream invocation without id", Message{Type: StreamInvocationType, Target: "A"}},
		{"stream invocation without target", Message{Type: StreamInvocationType, InvocationID: "1"}},
		{"stream item without id", Message{Type: StreamItemType, Item: RawValue(`1`)}},
		{"completion without id", Message{Type: CompletionType, Result: RawValue(`1`)}},
		{"cancel without id", Message{Type: CancelInvocationType}},
		{"argument not JSON", Message{Type: InvocationType, Target: "A", Arguments: raws(`1`, `{`)}},
		{"argument two values", Message{Type: InvocationType, Target: "A", Arguments: raws(`1 2`)}},
		{"argument with raw RS", Message{Type: InvocationType, Target: "A", Arguments: raws("\"a\x1eb\"")}},
		{"argument with raw newline in a string", Message{Type: InvocationType, Target: "A", Arguments: raws("\"a\nb\"")}},
		{"argument whitespace only", Message{Type: InvocationType, Target: "A", Arguments: raws("  ")}},
		{"item invalid UTF-8", Message{Type: StreamItemType, InvocationID: "1", Item: RawValue("\"\xff\"")}},
		{"result not JSON", Message{Type: CompletionType, InvocationID: "1", Result: RawValue(`undefined`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			got, err := JSON.AppendMessage(dst, &tt.msg)
			if !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("AppendMessage(%+v) error = %v, want ErrInvalidMessage", tt.msg, err)
			}
			if string(got) != "keep" {
				t.Fatalf("dst changed on error: %q", got)
			}
		})
	}
}

func TestRoundTripEveryType(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
	}{
		{"invocation", Message{Type: InvocationType, InvocationID: "7", Target: "Send", Arguments: raws(`42`, `"Test Message"`, `{"a":[true,null]}`)}},
		{"invocation fire-and-forget", Message{Type: InvocationType, Target: "Send", Arguments: []RawValue{}}},
		{"invocation with stream ids and headers", Message{Type: InvocationType, InvocationID: "1", Target: "Up", Arguments: raws(`1`), StreamIDs: []string{"2", "3"}, Headers: map[string]string{"k": "v\n"}}},
		{"stream invocation", Message{Type: StreamInvocationType, InvocationID: "1", Target: "Counter", Arguments: raws(`5`)}},
		{"stream item", Message{Type: StreamItemType, InvocationID: "1", Item: RawValue(`[1,2,3]`)}},
		{"stream item null", Message{Type: StreamItemType, InvocationID: "1", Item: RawValue(`null`)}},
		{"completion void", Message{Type: CompletionType, InvocationID: "1"}},
		{"completion result", Message{Type: CompletionType, InvocationID: "1", Result: RawValue(`9007199254740993`)}},
		{"completion null result", Message{Type: CompletionType, InvocationID: "1", Result: RawValue(`null`)}},
		{"completion error", Message{Type: CompletionType, InvocationID: "1", Error: "boom\u2028", HasError: true}},
		{"completion empty error", Message{Type: CompletionType, InvocationID: "1", HasError: true}},
		{"cancel", Message{Type: CancelInvocationType, InvocationID: "1"}},
		{"ping", Message{Type: PingType}},
		{"close", Message{Type: CloseType}},
		{"close error", Message{Type: CloseType, Error: "x", HasError: true, AllowReconnect: true}},
		{"close allowReconnect only", Message{Type: CloseType, AllowReconnect: true}},
		{"ack", Message{Type: AckType, SequenceID: 1<<63 - 1}},
		{"sequence", Message{Type: SequenceType, SequenceID: -5}},
		{"control characters and quotes", Message{Type: InvocationType, InvocationID: "\"\\\x01", Target: "\x1e\n\r\t", Arguments: raws(`"\u001e"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roundTrip(t, tt.msg)
		})
	}
}

func TestAppendMessageManyRecordsInOneUnit(t *testing.T) {
	msgs := []Message{
		{Type: InvocationType, Target: "A", Arguments: raws(`1`)},
		{Type: StreamItemType, InvocationID: "1", Item: RawValue(`2`)},
		{Type: CompletionType, InvocationID: "1"},
		{Type: PingType},
	}
	var unit []byte
	for i := range msgs {
		var err error
		if unit, err = JSON.AppendMessage(unit, &msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := JSON.ParseMessages(unit, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("got %d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if !sameMessage(got[i], msgs[i]) {
			t.Errorf("message %d: got %+v, want %+v", i, got[i], msgs[i])
		}
	}
}

func TestEncodeDecodeValue(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"string", "hi", `"hi"`},
		{"int", 42, `42`},
		{"nil", nil, `null`},
		{"map", map[string]int{"b": 2, "a": 1}, `{"a":1,"b":2}`},
		{"raw value passes through", RawValue(`[1, 2]`), `[1, 2]`},
		{"json.RawMessage passes through", json.RawMessage(`{"x":1}`), `{"x":1}`},
		{"invalid UTF-8 string is repaired", "a\xffb", `"a\ufffdb"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSON.EncodeValue(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("EncodeValue(%#v) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
	if _, err := JSON.EncodeValue(make(chan int)); err == nil {
		t.Fatal("EncodeValue(chan) succeeded")
	}

	var n any
	if err := JSON.DecodeValue(RawValue(`9007199254740993`), &n); err != nil {
		t.Fatal(err)
	}
	if num, ok := n.(json.Number); !ok || num.String() != "9007199254740993" {
		t.Fatalf("DecodeValue into any = %#v, want json.Number 9007199254740993", n)
	}
	var rv RawValue
	src := RawValue(`{"a":1}`)
	if err := JSON.DecodeValue(src, &rv); err != nil || string(rv) != `{"a":1}` {
		t.Fatalf("DecodeValue into *RawValue = %q, %v", rv, err)
	}
	src[0] = 'x'
	if string(rv) != `{"a":1}` {
		t.Fatal("DecodeValue into *RawValue aliases its input")
	}
	var s string
	if err := JSON.DecodeValue(RawValue(`1`), &s); err == nil {
		t.Fatal("DecodeValue(1, *string) succeeded")
	}
}

func TestJSONProtocolIdentity(t *testing.T) {
	if JSON.Name() != "json" || JSON.Version() != 2 || JSON.TransferFormat() != TextFormat {
		t.Fatalf("JSON = %s v%d %s", JSON.Name(), JSON.Version(), JSON.TransferFormat())
	}
	if TextFormat.String() != "Text" || BinaryFormat.String() != "Binary" {
		t.Fatal("TransferFormat names")
	}
}

func TestMessageTypeString(t *testing.T) {
	want := map[MessageType]string{
		InvocationType: "Invocation", StreamItemType: "StreamItem", CompletionType: "Completion",
		StreamInvocationType: "StreamInvocation", CancelInvocationType: "CancelInvocation",
		PingType: "Ping", CloseType: "Close", AckType: "Ack", SequenceType: "Sequence", 0: "Unknown", 10: "Unknown",
	}
	for _, typ := range slices.Sorted(maps.Keys(want)) {
		if got := typ.String(); got != want[typ] {
			t.Errorf("MessageType(%d).String() = %q, want %q", int(typ), got, want[typ])
		}
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	// appendString must produce a JSON string that decodes to the input with each
	// invalid byte replaced by U+FFFD, exactly as encoding/json would read it.
	inputs := []string{"", "plain", "\x00\x1f\x7f", "\"\\/", "é😀", "\xff\xfe", "a\xe2\x80", "\u2028\u2029", "\ufffd"}
	for i, s := range inputs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			enc := appendString(nil, s)
			var back string
			if err := json.Unmarshal(enc, &back); err != nil {
				t.Fatalf("appendString(%q) = %s: %v", s, enc, err)
			}
			if want := string([]rune(s)); back != want {
				t.Fatalf("appendString(%q) decodes to %q, want %q", s, back, want)
			}
			if bytes.ContainsAny(enc, "\r\n\x1e") {
				t.Fatalf("appendString(%q) = %q holds a raw separator", s, enc)
			}
		})
	}
}
