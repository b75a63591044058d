package protocol

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// mp turns spaced hex ("96 01 80") into bytes.
func mp(s string) []byte {
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "0x", "").Replace(s))
	if err != nil {
		panic(err)
	}
	return b
}

// framed prefixes each record with its varint length.
func framed(records ...[]byte) []byte {
	var unit []byte
	for _, r := range records {
		unit = appendVarint(unit, uint32(len(r)))
		unit = append(unit, r...)
	}
	return unit
}

func mpRaws(hexes ...string) []RawValue {
	out := make([]RawValue, len(hexes))
	for i, h := range hexes {
		out[i] = RawValue(mp(h))
	}
	return out
}

// mpSame compares messages after a round trip: empty slices and maps as nil.
func mpSame(a, b Message) bool {
	norm := func(m Message) Message {
		if len(m.StreamIDs) == 0 {
			m.StreamIDs = nil
		}
		if len(m.Headers) == 0 {
			m.Headers = nil
		}
		if len(m.Arguments) == 0 && (m.Type == InvocationType || m.Type == StreamInvocationType) {
			m.Arguments = []RawValue{}
		}
		return m
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// TestMessagePackParseSpecExamples parses every hex example of the MessagePack
// section of HubProtocol.md and what the official TypeScript client writes.
func TestMessagePackParseSpecExamples(t *testing.T) {
	tests := []struct {
		name   string
		record string
		want   Message
	}{
		{"spec invocation", "96 01 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90",
			Message{Type: InvocationType, InvocationID: "xyz", Target: "method", Arguments: mpRaws("2a")}},
		{"spec non-blocking invocation", "96 01 80 c0 a6 6d 65 74 68 6f 64 91 2a 90",
			Message{Type: InvocationType, Target: "method", Arguments: mpRaws("2a")}},
		{"spec stream invocation", "96 04 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90",
			Message{Type: StreamInvocationType, InvocationID: "xyz", Target: "method", Arguments: mpRaws("2a")}},
		{"spec stream item", "94 02 80 a3 78 79 7a 2a",
			Message{Type: StreamItemType, InvocationID: "xyz", Item: RawValue{0x2a}}},
		{"spec error completion", "95 03 80 a3 78 79 7a 01 a5 45 72 72 6f 72",
			Message{Type: CompletionType, InvocationID: "xyz", Error: "Error", HasError: true}},
		{"spec void completion", "94 03 80 a3 78 79 7a 02",
			Message{Type: CompletionType, InvocationID: "xyz"}},
		{"spec non-void completion", "95 03 80 a3 78 79 7a 03 2a",
			Message{Type: CompletionType, InvocationID: "xyz", Result: RawValue{0x2a}}},
		{"spec cancel", "93 05 80 a3 78 79 7a",
			Message{Type: CancelInvocationType, InvocationID: "xyz"}},
		{"spec ping", "91 06", Message{Type: PingType}},
		{"spec close", "92 07 a3 78 79 7a", Message{Type: CloseType, Error: "xyz", HasError: true}},
		{"spec close allow reconnect", "93 07 a3 78 79 7a c3",
			Message{Type: CloseType, Error: "xyz", HasError: true, AllowReconnect: true}},
		{"spec headers", "96 01 82 a1 78 a1 79 a1 7a a1 7a a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90",
			Message{Type: InvocationType, InvocationID: "xyz", Target: "method", Arguments: mpRaws("2a"),
				Headers: map[string]string{"x": "y", "z": "z"}}},
		// What @microsoft/signalr-protocol-msgpack writes (observed, see the digest).
		{"ts invoke, 5 elements", "95 01 80 a1 30 a4 45 63 68 6f 91 a2 68 69",
			Message{Type: InvocationType, InvocationID: "0", Target: "Echo", Arguments: mpRaws("a2 68 69")}},
		{"ts send", "95 01 80 c0 ad 46 69 72 65 41 6e 64 46 6f 72 67 65 74 92 01 02",
			Message{Type: InvocationType, Target: "FireAndForget", Arguments: mpRaws("01", "02")}},
		{"ts stream ids", "96 01 80 a1 31 a6 55 70 6c 6f 61 64 90 91 a1 32",
			Message{Type: InvocationType, InvocationID: "1", Target: "Upload", Arguments: []RawValue{}, StreamIDs: []string{"2"}}},
		{"ts close on stop", "92 07 c0", Message{Type: CloseType}},
		{"ts ack", "92 08 cd 05 72", Message{Type: AckType, SequenceID: 1394}},
		{"ts sequence", "92 09 01", Message{Type: SequenceType, SequenceID: 1}},
		{"aspnet close", "93 07 c0 c2", Message{Type: CloseType}},
		{"aspnet invocation, nil stream ids", "96 01 80 c0 a1 41 90 c0",
			Message{Type: InvocationType, Target: "A", Arguments: []RawValue{}}},
		{"nil headers", "93 05 c0 a1 31", Message{Type: CancelInvocationType, InvocationID: "1"}},
		{"extra trailing fields", "94 06 01 a1 78 90", Message{Type: PingType}},
		{"binary argument", "95 01 80 c0 a1 41 92 c4 03 01 02 03 d6 ff 00 00 00 01",
			Message{Type: InvocationType, Target: "A", Arguments: mpRaws("c4 03 01 02 03", "d6 ff 00 00 00 01")}},
		{"nested argument", "95 01 80 c0 a1 41 91 81 a1 61 92 01 c0",
			Message{Type: InvocationType, Target: "A", Arguments: mpRaws("81 a1 61 92 01 c0")}},
		{"negative sequence", "92 08 d0 80", Message{Type: AckType, SequenceID: -128}},
		{"int64 sequence", "92 09 cf 7f ff ff ff ff ff ff ff", Message{Type: SequenceType, SequenceID: 1<<63 - 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MessagePack.ParseMessages(framed(mp(tt.record)), nil)
			if err != nil {
				t.Fatalf("ParseMessages: %v", err)
			}
			if len(got) != 1 || !mpSame(got[0], tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestMessagePackAppendGolden pins the bytes the server writes: the spec's examples
// where it has one, and the layouts the official clients accept.
func TestMessagePackAppendGolden(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want string // record without its prefix
	}{
		{"spec invocation", Message{Type: InvocationType, InvocationID: "xyz", Target: "method", Arguments: mpRaws("2a")},
			"96 01 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90"},
		{"spec non-blocking invocation", Message{Type: InvocationType, Target: "method", Arguments: mpRaws("2a")},
			"96 01 80 c0 a6 6d 65 74 68 6f 64 91 2a 90"},
		{"spec stream invocation", Message{Type: StreamInvocationType, InvocationID: "xyz", Target: "method", Arguments: mpRaws("2a")},
			"96 04 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90"},
		{"spec stream item", Message{Type: StreamItemType, InvocationID: "xyz", Item: RawValue{0x2a}},
			"94 02 80 a3 78 79 7a 2a"},
		{"spec error completion", Message{Type: CompletionType, InvocationID: "xyz", Error: "Error", HasError: true},
			"95 03 80 a3 78 79 7a 01 a5 45 72 72 6f 72"},
		{"spec void completion", Message{Type: CompletionType, InvocationID: "xyz"},
			"94 03 80 a3 78 79 7a 02"},
		{"spec non-void completion", Message{Type: CompletionType, InvocationID: "xyz", Result: RawValue{0x2a}},
			"95 03 80 a3 78 79 7a 03 2a"},
		{"nil result", Message{Type: CompletionType, InvocationID: "1", Result: RawValue{0xc0}},
			"95 03 80 a1 31 03 c0"},
		{"spec cancel", Message{Type: CancelInvocationType, InvocationID: "xyz"}, "93 05 80 a3 78 79 7a"},
		{"spec ping", Message{Type: PingType}, "91 06"},
		{"spec close", Message{Type: CloseType, Error: "xyz", HasError: true}, "92 07 a3 78 79 7a"},
		{"spec close allow reconnect", Message{Type: CloseType, Error: "xyz", AllowReconnect: true}, "93 07 a3 78 79 7a c3"},
		{"close without error", Message{Type: CloseType}, "92 07 c0"},
		{"spec headers", Message{Type: InvocationType, InvocationID: "xyz", Target: "method", Arguments: mpRaws("2a"),
			Headers: map[string]string{"z": "z", "x": "y"}},
			"96 01 82 a1 78 a1 79 a1 7a a1 7a a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90"},
		{"stream ids", Message{Type: InvocationType, InvocationID: "1", Target: "Upload", StreamIDs: []string{"2"}},
			"96 01 80 a1 31 a6 55 70 6c 6f 61 64 90 91 a1 32"},
		{"absent argument is nil", Message{Type: InvocationType, Target: "A", Arguments: []RawValue{nil}},
			"96 01 80 c0 a1 41 91 c0 90"},
		{"ack", Message{Type: AckType, SequenceID: 1394}, "92 08 cd 05 72"},
		{"sequence", Message{Type: SequenceType, SequenceID: 1}, "92 09 01"},
		{"negative sequence", Message{Type: SequenceType, SequenceID: -33}, "92 09 d0 df"},
		{"invalid UTF-8 replaced", Message{Type: CloseType, Error: "a\xffb"}, "92 07 a5 61 ef bf bd 62"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MessagePack.AppendMessage([]byte("pre"), &tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]byte("pre"), framed(mp(tt.want))...)
			if !bytes.Equal(got, want) {
				t.Fatalf("got  % x\nwant % x", got, want)
			}
		})
	}
}

func TestMessagePackAppendMessageErrors(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
	}{
		{"unknown type", Message{Type: 42}},
		{"type zero", Message{}},
		{"invocation without target", Message{Type: InvocationType}},
		{"stream invocation without id", Message{Type: StreamInvocationType, Target: "A"}},
		{"stream item without id", Message{Type: StreamItemType}},
		{"completion without id", Message{Type: CompletionType}},
		{"cancel without id", Message{Type: CancelInvocationType}},
		{"JSON argument", Message{Type: InvocationType, Target: "A", Arguments: raws(`"hi"`)}},
		{"two values in one argument", Message{Type: InvocationType, Target: "A", Arguments: mpRaws("01 02")}},
		{"cut argument", Message{Type: InvocationType, Target: "A", Arguments: mpRaws("a3 61")}},
		{"bad item", Message{Type: StreamItemType, InvocationID: "1", Item: mp("c1")}},
		{"bad result", Message{Type: CompletionType, InvocationID: "1", Result: mp("d4 05 00")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MessagePack.AppendMessage([]byte("pre"), &tt.msg)
			if !errors.Is(err, ErrInvalidMessage) || string(got) != "pre" {
				t.Fatalf("AppendMessage = %q, %v; want dst unchanged and ErrInvalidMessage", got, err)
			}
		})
	}
}

func TestMessagePackRoundTripEveryType(t *testing.T) {
	h := map[string]string{"a": "b", "long": strings.Repeat("v", 300)}
	big := RawValue(append(mp("c5 10 00"), bytes.Repeat([]byte{7}, 4096)...))
	manyArgs := make([]RawValue, 70000)
	for i := range manyArgs {
		manyArgs[i] = RawValue{byte(i % 128)}
	}
	for _, m := range []Message{
		{Type: InvocationType, Target: "Send", Arguments: mpRaws("a2 68 69", "c0", "81 a1 61 c3"), Headers: h},
		{Type: InvocationType, InvocationID: "7", Target: "Upload", Arguments: []RawValue{big}, StreamIDs: []string{"1", "2"}},
		{Type: InvocationType, Target: strings.Repeat("t", 70000), Arguments: manyArgs},
		{Type: StreamInvocationType, InvocationID: "8", Target: "Counter", Arguments: mpRaws("0a", "cb 40 09 21 fb 54 44 2d 18")},
		{Type: StreamItemType, InvocationID: "8", Item: mp("92 01 02"), Headers: h},
		{Type: CompletionType, InvocationID: "8", Result: mp("c0")},
		{Type: CompletionType, InvocationID: "8", Error: "boom", HasError: true},
		{Type: CompletionType, InvocationID: "8", HasError: true},
		{Type: CompletionType, InvocationID: "8"},
		{Type: CancelInvocationType, InvocationID: "8"},
		{Type: PingType},
		{Type: CloseType},
		{Type: CloseType, Error: "bye", HasError: true, AllowReconnect: true},
		{Type: AckType, SequenceID: 1 << 40},
		{Type: SequenceType, SequenceID: -1 << 40},
	} {
		rec, err := MessagePack.AppendMessage(nil, &m)
		if err != nil {
			t.Fatalf("AppendMessage(%v): %v", m.Type, err)
		}
		got, err := MessagePack.ParseMessages(rec, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("ParseMessages(%v) = %d messages, %v", m.Type, len(got), err)
		}
		if !mpSame(got[0], m) {
			t.Fatalf("round trip of %v:\n got %+v\nwant %+v", m.Type, got[0], m)
		}
	}
}

// TestMessagePackParseDoesNotAliasUnit checks that parsed values survive the reuse
// of the unit's buffer, as a transport reuses its read buffer.
func TestMessagePackParseDoesNotAliasUnit(t *testing.T) {
	unit := framed(mp("95 01 80 c0 a1 41 92 a2 68 69 01"), mp("94 02 80 a1 31 a1 78"), mp("95 03 80 a1 31 03 a1 79"))
	msgs, err := MessagePack.ParseMessages(unit, nil)
	if err != nil || len(msgs) != 3 {
		t.Fatal(len(msgs), err)
	}
	for i := range unit {
		unit[i] = 0
	}
	if string(msgs[0].Arguments[0]) != "\xa2hi" || string(msgs[1].Item) != "\xa1x" || string(msgs[2].Result) != "\xa1y" || msgs[0].Target != "A" {
		t.Fatalf("parsed values changed with the unit: %+v", msgs)
	}
}

func TestMessagePackParseBatchSkipsUnknownTypes(t *testing.T) {
	unit := framed(mp("91 06"), mp("93 2a 80 c0"), mp("92 07 c0"))
	msgs, err := MessagePack.ParseMessages(unit, []Message{{Type: PingType}})
	if err != nil || len(msgs) != 3 || msgs[1].Type != PingType || msgs[2].Type != CloseType {
		t.Fatalf("got %+v, %v", msgs, err)
	}
	if msgs, err := MessagePack.ParseMessages(nil, nil); err != nil || len(msgs) != 0 {
		t.Fatalf("empty unit: %v, %v", msgs, err)
	}
}

// hostileMessagePack lists records and units built to make a decoder allocate or
// recurse without bound, or to slip a wrong type past it.
var hostileMessagePack = []struct {
	name string
	unit []byte
	want error
}{
	// length prefixes that lie
	{"prefix longer than unit", append([]byte{0x10}, mp("91 06")...), ErrIncomplete},
	{"prefix announces 2 GiB", append([]byte{0xff, 0xff, 0xff, 0xff, 0x07}, mp("91 06")...), ErrIncomplete},
	{"prefix announces 2^31", append([]byte{0x80, 0x80, 0x80, 0x80, 0x08}, mp("91 06")...), ErrInvalidMessage},
	{"prefix of 6 bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, ErrInvalidMessage},
	{"prefix shorter than the array", framed(mp("95 01 80 c0 a1 41"))[:5], ErrIncomplete},
	{"record shorter than its array", framed(mp("95 01 80 c0 a1")), ErrInvalidMessage},
	{"record longer than its array", framed(mp("91 06 06")), ErrInvalidMessage},
	{"empty record", []byte{0x00}, ErrInvalidMessage},
	// truncated varints
	{"truncated varint", []byte{0x80}, ErrIncomplete},
	{"truncated varint after a record", append(framed(mp("91 06")), 0xff, 0xff), ErrIncomplete},
	// array32/map32 announcing 2^32-1 elements
	{"array32 message", framed(mp("dd ff ff ff ff 06")), ErrInvalidMessage},
	{"array32 arguments", framed(mp("95 01 80 c0 a1 41 dd ff ff ff ff")), ErrInvalidMessage},
	{"array32 in an argument", framed(mp("95 01 80 c0 a1 41 91 dd ff ff ff ff 01")), ErrInvalidMessage},
	{"array16 in an argument", framed(mp("95 01 80 c0 a1 41 91 dc ff ff 01")), ErrInvalidMessage},
	{"map32 headers", framed(mp("93 05 df ff ff ff ff a1 31")), ErrInvalidMessage},
	{"map32 in an item", framed(mp("94 02 80 a1 31 df ff ff ff ff")), ErrInvalidMessage},
	{"fixmap beyond the record", framed(mp("94 02 80 a1 31 8f 01")), ErrInvalidMessage},
	{"array32 stream ids", framed(mp("96 01 80 c0 a1 41 90 dd ff ff ff ff")), ErrInvalidMessage},
	// str/bin longer than the record
	{"str32 target", framed(mp("95 01 80 c0 db ff ff ff ff 41 90")), ErrInvalidMessage},
	{"str8 id", framed(mp("93 05 80 d9 20 31")), ErrInvalidMessage},
	{"bin32 argument", framed(mp("95 01 80 c0 a1 41 91 c6 ff ff ff ff 00")), ErrInvalidMessage},
	{"bin16 result", framed(mp("95 03 80 a1 31 03 c5 01 00 00")), ErrInvalidMessage},
	{"fixstr beyond the record", framed(mp("93 05 80 bf 31")), ErrInvalidMessage},
	{"ext32 argument", framed(mp("95 01 80 c0 a1 41 91 c9 ff ff ff ff ff")), ErrInvalidMessage},
	// deep nesting
	{"deep arrays", framed(append(mp("95 01 80 c0 a1 41 91"), bytes.Repeat([]byte{0x91}, 10000)...)), ErrInvalidMessage},
	{"deep maps", framed(append(append(mp("94 02 80 a1 31"), bytes.Repeat([]byte{0x81, 0x01}, 100)...), 0x01)), ErrInvalidMessage},
	{"deep but valid cut", framed(append(mp("95 01 80 c0 a1 41 91"), bytes.Repeat([]byte{0x91}, 65)...)), ErrInvalidMessage},
	// unknown extension types
	{"fixext type 5", framed(mp("94 02 80 a1 31 d4 05 00")), ErrInvalidMessage},
	{"ext8 type 1", framed(mp("94 02 80 a1 31 c7 01 01 00")), ErrInvalidMessage},
	{"timestamp of 2 bytes", framed(mp("94 02 80 a1 31 d5 ff 00 00")), ErrInvalidMessage},
	{"unused byte c1", framed(mp("94 02 80 a1 31 c1")), ErrInvalidMessage},
	{"timestamp64 of 10^9 ns", framed(mp("94 02 80 a1 31 d7 ff ee 6b 28 00 00 00 00 00")), ErrInvalidMessage},
	{"timestamp96 of 10^9 ns", framed(mp("94 02 80 a1 31 c7 0c ff 3b 9a ca 00 00 00 00 00 00 00 00 00")), ErrInvalidMessage},
	{"timestamp in ext8 of 8 bytes", framed(mp("94 02 80 a1 31 c7 08 ff 00 00 00 00 00 00 00 01")), ErrInvalidMessage},
	{"timestamp in fixext16", framed(mp("94 02 80 a1 31 d8 ff 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01")), ErrInvalidMessage},
	{"unknown ext in unknown type", framed(mp("92 2a d4 05 00")), ErrInvalidMessage},
	// wrong types in every field
	{"not an array", framed(mp("81 a1 31 06")), ErrInvalidMessage},
	{"empty array", framed(mp("90")), ErrInvalidMessage},
	{"type is a string", framed(mp("91 a1 36")), ErrInvalidMessage},
	{"type is a float", framed(mp("91 cb 40 18 00 00 00 00 00 00")), ErrInvalidMessage},
	{"type is nil", framed(mp("91 c0")), ErrInvalidMessage},
	{"headers are an array", framed(mp("93 05 90 a1 31")), ErrInvalidMessage},
	{"header value is an int", framed(mp("93 05 81 a1 61 01 a1 31")), ErrInvalidMessage},
	{"header name is an int", framed(mp("93 05 81 01 a1 61 a1 31")), ErrInvalidMessage},
	{"invocation id is an int", framed(mp("95 01 80 01 a1 41 90")), ErrInvalidMessage},
	{"invocation id is bin", framed(mp("95 01 80 c4 01 31 a1 41 90")), ErrInvalidMessage},
	{"target is nil", framed(mp("95 01 80 c0 c0 90")), ErrInvalidMessage},
	{"target is empty", framed(mp("95 01 80 c0 a0 90")), ErrInvalidMessage},
	{"target is an int", framed(mp("95 01 80 c0 01 90")), ErrInvalidMessage},
	{"target is invalid UTF-8", framed(mp("95 01 80 c0 a1 ff 90")), ErrInvalidMessage},
	{"arguments are a map", framed(mp("95 01 80 c0 a1 41 80")), ErrInvalidMessage},
	{"arguments are nil", framed(mp("95 01 80 c0 a1 41 c0")), ErrInvalidMessage},
	{"arguments missing", framed(mp("94 01 80 c0 a1 41")), ErrInvalidMessage},
	{"stream ids are a string", framed(mp("96 01 80 c0 a1 41 90 a1 31")), ErrInvalidMessage},
	{"stream id is an int", framed(mp("96 01 80 c0 a1 41 90 91 01")), ErrInvalidMessage},
	{"stream invocation without id", framed(mp("96 04 80 c0 a1 41 90 90")), ErrInvalidMessage},
	{"stream item without item", framed(mp("93 02 80 a1 31")), ErrInvalidMessage},
	{"stream item with empty id", framed(mp("94 02 80 a0 01")), ErrInvalidMessage},
	{"completion kind is a string", framed(mp("95 03 80 a1 31 a1 33 01")), ErrInvalidMessage},
	{"completion kind 4", framed(mp("95 03 80 a1 31 04 01")), ErrInvalidMessage},
	{"completion kind 0", framed(mp("94 03 80 a1 31 00")), ErrInvalidMessage},
	{"completion error is an int", framed(mp("95 03 80 a1 31 01 01")), ErrInvalidMessage},
	{"completion error missing", framed(mp("94 03 80 a1 31 01")), ErrInvalidMessage},
	{"completion result missing", framed(mp("94 03 80 a1 31 03")), ErrInvalidMessage},
	{"completion without kind", framed(mp("93 03 80 a1 31")), ErrInvalidMessage},
	{"cancel without id", framed(mp("92 05 80")), ErrInvalidMessage},
	{"cancel id is nil", framed(mp("93 05 80 c0")), ErrInvalidMessage},
	{"close without error field", framed(mp("91 07")), ErrInvalidMessage},
	{"close error is an int", framed(mp("92 07 01")), ErrInvalidMessage},
	{"close allowReconnect is an int", framed(mp("93 07 c0 01")), ErrInvalidMessage},
	{"ack without sequence id", framed(mp("91 08")), ErrInvalidMessage},
	{"ack sequence id is a string", framed(mp("92 08 a1 31")), ErrInvalidMessage},
	{"sequence id beyond int64", framed(mp("92 09 cf ff ff ff ff ff ff ff ff")), ErrInvalidMessage},
	{"sequence id is a float", framed(mp("92 09 ca 3f 80 00 00")), ErrInvalidMessage},
	{"bad second record", append(framed(mp("91 06")), framed(mp("91 c0"))...), ErrInvalidMessage},
}

// TestMessagePackHostileInput asserts that each hostile unit fails with the right
// sentinel and that parsing it allocates little, whatever lengths it announces.
func TestMessagePackHostileInput(t *testing.T) {
	for _, tt := range hostileMessagePack {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := MessagePack.ParseMessages(tt.unit, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseMessages(% x) = %+v, %v; want an error wrapping %v", tt.unit, msgs, err, tt.want)
			}
			checkParseError(t, err)
			if n := allocatedBytes(func() { MessagePack.ParseMessages(tt.unit, nil) }); n > 64<<10 {
				t.Fatalf("parsing %d hostile bytes allocated %d bytes", len(tt.unit), n)
			}
		})
	}
}

// allocatedBytes measures the heap bytes f allocates, the average of a few runs.
func allocatedBytes(f func()) uint64 {
	const runs = 5
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs
}

func TestNextBinaryRecord(t *testing.T) {
	long := bytes.Repeat([]byte{1}, 5248)
	tests := []struct {
		name       string
		data       []byte
		wantRecord []byte
		wantRest   []byte
		wantOK     bool
		wantErr    error
	}{
		{name: "empty", data: nil},
		{name: "one record", data: mp("02 91 06"), wantRecord: mp("91 06"), wantOK: true},
		{name: "two records", data: mp("01 c0 02 91 06"), wantRecord: mp("c0"), wantRest: mp("02 91 06"), wantOK: true},
		{name: "empty record", data: mp("00 01 c0"), wantRecord: []byte{}, wantRest: mp("01 c0"), wantOK: true},
		{name: "spec's two-byte prefix", data: append(mp("80 29"), long...), wantRecord: long, wantOK: true},
		{name: "non-minimal prefix", data: mp("82 00 91 06"), wantRecord: mp("91 06"), wantOK: true},
		{name: "record then partial", data: mp("01 c0 05"), wantRecord: mp("c0"), wantRest: mp("05"), wantOK: true},
		{name: "cut record", data: mp("03 91 06"), wantErr: ErrIncomplete},
		{name: "cut prefix", data: mp("80 80"), wantErr: ErrIncomplete},
		{name: "largest prefix, cut record", data: mp("ff ff ff ff 07 00"), wantErr: ErrIncomplete},
		{name: "prefix of 2^31", data: mp("80 80 80 80 08"), wantErr: ErrInvalidMessage},
		{name: "prefix of 2^35-1", data: mp("ff ff ff ff 7f"), wantErr: ErrInvalidMessage},
		{name: "six-byte prefix", data: mp("80 80 80 80 80 00"), wantErr: ErrInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			record, rest, ok, err := NextBinaryRecord(tt.data)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("NextBinaryRecord(% x) error = %v, want %v", tt.data, err, tt.wantErr)
			}
			if !bytes.Equal(record, tt.wantRecord) || !bytes.Equal(rest, tt.wantRest) || ok != tt.wantOK {
				t.Fatalf("NextBinaryRecord(% x) = % x, % x, %v; want % x, % x, %v", tt.data, record, rest, ok, tt.wantRecord, tt.wantRest, tt.wantOK)
			}
			if ok && (record == nil) {
				t.Fatal("a record is never nil")
			}
		})
	}
}

func TestAppendVarintMatchesTheSpec(t *testing.T) {
	for _, tt := range []struct {
		n    uint32
		want string
	}{{0, "00"}, {0x0b, "0b"}, {127, "7f"}, {128, "80 01"}, {5248, "80 29"}, {1<<31 - 1, "ff ff ff ff 07"}} {
		if got := appendVarint(nil, tt.n); !bytes.Equal(got, mp(tt.want)) {
			t.Errorf("appendVarint(%d) = % x, want %s", tt.n, got, tt.want)
		}
	}
}

func TestSplitRecordFollowsTheProtocol(t *testing.T) {
	rec, rest, ok, err := SplitRecord(MessagePack, mp("02 91 06 1e"))
	if !ok || err != nil || !bytes.Equal(rec, mp("91 06")) || !bytes.Equal(rest, []byte(rs)) {
		t.Fatalf("binary: % x, % x, %v, %v", rec, rest, ok, err)
	}
	rec, rest, ok, err = SplitRecord(JSON, []byte(`{"type":6}`+rs+"x"))
	if !ok || err != nil || string(rec) != `{"type":6}` || string(rest) != "x" {
		t.Fatalf("text: %q, %q, %v, %v", rec, rest, ok, err)
	}
}

func TestMessagePackProtocolIdentity(t *testing.T) {
	if MessagePack.Name() != "messagepack" || MessagePack.Version() != 2 || MessagePack.TransferFormat() != BinaryFormat {
		t.Fatalf("got %s v%d %s", MessagePack.Name(), MessagePack.Version(), MessagePack.TransferFormat())
	}
}

type mpPoint struct {
	X      int               `json:"x"`
	Label  string            `json:"label,omitempty"`
	Data   []byte            `json:"data"`
	Skip   string            `json:"-"`
	At     time.Time         `json:"at"`
	Extra  RawValue          `json:"extra"`
	Nested map[string]string `json:"nested"`
}

func TestMessagePackEncodeDecodeValue(t *testing.T) {
	at := time.Date(2026, 11, 29, 23, 0, 0, 5, time.UTC)
	in := mpPoint{X: 3, Data: []byte{0, 1, 2}, Skip: "no", At: at, Extra: mp("92 01 a1 61"), Nested: map[string]string{"b": "2", "a": "1"}}
	raw, err := MessagePack.EncodeValue(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := validMessagePackValue(raw); err != nil {
		t.Fatalf("EncodeValue wrote an invalid value: %v", err)
	}
	for _, name := range []string{"x", "data", "at", "extra", "nested"} {
		if !bytes.Contains(raw, append([]byte{0xa0 | byte(len(name))}, name...)) {
			t.Errorf("encoding % x lacks the json field name %q", raw, name)
		}
	}
	if bytes.Contains(raw, []byte("label")) || bytes.Contains(raw, []byte("Skip")) {
		t.Errorf("encoding % x holds an omitted field", raw)
	}
	if !bytes.Contains(raw, mp("c4 03 00 01 02")) {
		t.Errorf("[]byte is not bin in % x", raw)
	}
	if !bytes.Contains(raw, mp("d7 ff")) { // timestamp 64
		t.Errorf("time.Time is not a timestamp extension in % x", raw)
	}
	if !bytes.Contains(raw, mp("a5 65 78 74 72 61 92 01 a1 61")) {
		t.Errorf("a nested RawValue is not written as is in % x", raw)
	}
	var out mpPoint
	if err := MessagePack.DecodeValue(raw, &out); err != nil {
		t.Fatal(err)
	}
	in.Skip = ""
	if !out.At.Equal(at) {
		t.Fatalf("decoded time %v, want %v", out.At, at)
	}
	out.At = at
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("decoded %+v\nwant %+v", out, in)
	}
	again, _ := MessagePack.EncodeValue(in)
	if !bytes.Equal(raw, again) {
		t.Fatalf("encoding is not stable:\n% x\n% x", raw, again)
	}

	// Compact integers, as the official encoders write them.
	for v, want := range map[any]string{1: "01", int64(300): "cd 01 2c", -1: "ff", "hi": "a2 68 69", nil: "c0", true: "c3"} {
		if got, err := MessagePack.EncodeValue(v); err != nil || !bytes.Equal(got, mp(want)) {
			t.Errorf("EncodeValue(%#v) = % x, %v; want %s", v, got, err, want)
		}
	}
	// A RawValue passes through; decoding into one copies.
	if got, _ := MessagePack.EncodeValue(RawValue{0x2a}); !bytes.Equal(got, []byte{0x2a}) {
		t.Errorf("RawValue not passed through: % x", got)
	}
	src := RawValue{0x2a}
	var rv RawValue
	if err := MessagePack.DecodeValue(src, &rv); err != nil || !bytes.Equal(rv, src) || &rv[0] == &src[0] {
		t.Errorf("DecodeValue into *RawValue: % x, %v", rv, err)
	}
	// Values of any kind decode into interfaces.
	var anyv any
	if err := MessagePack.DecodeValue(mp("82 a1 61 c4 01 ff a1 62 92 01 cb 3f f8 00 00 00 00 00 00"), &anyv); err != nil {
		t.Fatal(err)
	}
	m, ok := anyv.(map[string]any)
	if !ok || !bytes.Equal(m["a"].([]byte), []byte{0xff}) || len(m["b"].([]any)) != 2 {
		t.Fatalf("decoded into any: %#v", anyv)
	}
}

func TestMessagePackDecodeValueRefusesHostileValues(t *testing.T) {
	for _, tt := range []struct {
		name string
		raw  string
	}{
		{"map32 of 2^32-1", "df ff ff ff ff"},
		{"array32 of 2^32-1", "dd ff ff ff ff"},
		{"str32 of 4 GiB", "db ff ff ff ff 61"},
		{"bin32 of 4 GiB", "c6 ff ff ff ff 61"},
		{"unknown ext", "d4 05 00"},
		{"two values", "01 02"},
		{"empty", ""},
		{"deep", strings.Repeat("91 ", 100) + "01"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			raw := RawValue(mp(tt.raw))
			if err := MessagePack.DecodeValue(raw, &v); err == nil {
				t.Fatalf("DecodeValue(% x) = %#v, want an error", raw, v)
			}
			if n := allocatedBytes(func() { MessagePack.DecodeValue(raw, &v) }); n > 64<<10 {
				t.Fatalf("decoding %d hostile bytes allocated %d bytes", len(raw), n)
			}
		})
	}
	var s string
	if err := MessagePack.DecodeValue(mp("01"), &s); err == nil {
		t.Fatal("decoded an int into a string")
	}
}

func TestMessagePackEncodeValueErrors(t *testing.T) {
	if _, err := MessagePack.EncodeValue(make(chan int)); err == nil {
		t.Fatal("encoded a channel")
	}
	if _, err := MessagePack.EncodeValue([]RawValue{{0xc1}}); err == nil {
		t.Fatal("encoded an invalid nested RawValue")
	}
}

// TestMessagePackDecodeValueUnhashableKeyIsAnError: vmihailenco/msgpack panics when
// a map key decodes to a slice or map and the target is map[any]any; a client must
// not be able to panic the hub that way.
func TestMessagePackDecodeValueUnhashableKeyIsAnError(t *testing.T) {
	for _, raw := range []string{"81 c4 01 61 01", "81 91 01 01", "81 81 01 01 01"} {
		var m map[any]any
		if err := MessagePack.DecodeValue(RawValue(mp(raw)), &m); err == nil {
			t.Errorf("DecodeValue(%s) into map[any]any = %v, want an error", raw, m)
		}
	}
}

// TestMessagePackDecodeValueTimestampAsMapIsCheap: vmihailenco/msgpack, asked for a
// map where the value holds an extension, skips the extension's header and reads its
// data as a map header, then the bytes after it as the map's contents, past what
// the reader validated. A valid timestamp64 whose data starts with 0x81 (fixmap 1)
// and goes on "a", array32 of 2^32-1 elements made it allocate 64 GiB.
func TestMessagePackDecodeValueTimestampAsMapIsCheap(t *testing.T) {
	tests := []struct {
		name string
		raw  string
	}{
		{"timestamp64 read as a map", "d7 ff 81 a1 61 dd ff ff ff ff"},
		{"timestamp32 read as a map", "95 d6 ff 81 a1 61 dd ff ff ff ff"},
		{"timestamp96 read as a map", "c7 0c ff 81 a1 61 dd ff ff ff ff 00 00 00 00"},
		{"timestamp64 read as a nil map", "92 d7 ff c0 dd ff ff ff ff 00 00 01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := RawValue(mp(tt.raw))
			targets := []func() any{
				func() any { return new(map[string]any) },
				func() any { return new(map[any]any) },
				func() any { return new(map[string]string) },
				func() any { return new([]map[string][]any) },
				func() any { return new(mpPoint) },
			}
			for _, target := range targets {
				n := allocatedBytes(func() { MessagePack.DecodeValue(raw, target()) })
				if n > 64<<10 {
					t.Fatalf("decoding %d bytes into %T allocated %d bytes", len(raw), target(), n)
				}
			}
		})
	}
}

// TestMessagePackTimestampForms decodes each form of the timestamp extension, into a
// time.Time, inside a struct and into an interface.
func TestMessagePackTimestampForms(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want time.Time
	}{
		{"timestamp32", "d6 ff 00 00 00 01", time.Unix(1, 0)},
		{"timestamp32 after 2038", "d6 ff 81 a1 61 dd", time.Unix(0x81a161dd, 0)},
		{"timestamp64", "d7 ff 00 00 00 04 00 00 00 01", time.Unix(1, 1)},
		{"timestamp64 read as fixmap", "d7 ff 81 a1 61 dd ff ff ff ff", time.Unix(0x1ffffffff, 0x81a161dd>>2)},
		{"timestamp96", "c7 0c ff 00 00 00 01 ff ff ff ff ff ff ff ff", time.Unix(-1, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tm time.Time
			if err := MessagePack.DecodeValue(RawValue(mp(tt.raw)), &tm); err != nil || !tm.Equal(tt.want) {
				t.Fatalf("into time.Time: %v, %v; want %v", tm, err, tt.want)
			}
			var anyv any
			if err := MessagePack.DecodeValue(RawValue(mp(tt.raw)), &anyv); err != nil || !anyv.(time.Time).Equal(tt.want) {
				t.Fatalf("into any: %v, %v; want %v", anyv, err, tt.want)
			}
			var p mpPoint
			rec := append(mp("81 a2 61 74"), mp(tt.raw)...)
			if err := MessagePack.DecodeValue(RawValue(rec), &p); err != nil || !p.At.Equal(tt.want) {
				t.Fatalf("in a struct: %v, %v; want %v", p.At, err, tt.want)
			}
			var m map[string]any
			if err := MessagePack.DecodeValue(RawValue(mp(tt.raw)), &m); err == nil {
				t.Fatalf("a timestamp decoded as the map %v", m)
			}
		})
	}
}

// TestMessagePackEncodesJSONValuesAsTheyRead: a handler under the JSON protocol that
// takes `any` gets json.Number for numbers; broadcast to MessagePack connections they
// must stay numbers, not become strings. A json.RawMessage is JSON text to transcode,
// not bytes to send as bin.
func TestMessagePackEncodesJSONValuesAsTheyRead(t *testing.T) {
	var fromJSON any
	if err := JSON.DecodeValue(RawValue(`{"n":42,"f":1.5,"big":18446744073709551615,"s":"x","a":[null,true]}`), &fromJSON); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"json.Number int", json.Number("-7"), "f9"},
		{"json.Number float", json.Number("1.5"), "cb 3f f8 00 00 00 00 00 00"},
		{"json.Number uint64", json.Number("18446744073709551615"), "cf ff ff ff ff ff ff ff ff"},
		{"map from JSON", fromJSON, "85 a1 61 92 c0 c3 a3 62 69 67 cf ff ff ff ff ff ff ff ff a1 66 cb 3f f8 00 00 00 00 00 00 a1 6e 2a a1 73 a1 78"},
		{"json.RawMessage", json.RawMessage(` {"b":[1, "x"],"a":null} `), "82 a1 61 c0 a1 62 92 01 a1 78"},
		{"nested json.RawMessage", []json.RawMessage{json.RawMessage(`2`)}, "91 02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MessagePack.EncodeValue(tt.v)
			if err != nil || !bytes.Equal(got, mp(tt.want)) {
				t.Fatalf("EncodeValue(%#v) = % x, %v; want %s", tt.v, got, err, tt.want)
			}
		})
	}
	for _, bad := range []any{json.Number("x"), json.Number("12a"), json.Number("1e400"), json.RawMessage(`{`), json.RawMessage(`1 2`)} {
		if got, err := MessagePack.EncodeValue(bad); err == nil {
			t.Errorf("EncodeValue(%#v) = % x, want an error", bad, got)
		}
	}
	// And back: a MessagePack value decoded into json.RawMessage is JSON text.
	var rm json.RawMessage
	if err := MessagePack.DecodeValue(mp("82 a1 62 c4 02 00 01 a1 61 92 01 a1 78"), &rm); err != nil || string(rm) != `{"a":[1,"x"],"b":"AAE="}` {
		t.Fatalf("DecodeValue into json.RawMessage = %s, %v", rm, err)
	}
	var n json.Number
	if err := MessagePack.DecodeValue(mp("cb 3f f8 00 00 00 00 00 00"), &n); err != nil || n != "1.5" {
		t.Fatalf("DecodeValue into json.Number = %s, %v", n, err)
	}
}
