package protocol

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// mpFuzzSeedRecords are valid and invalid records covering every message type and
// every hostile shape; the fuzz targets start from these, framed, and from the files
// in testdata/fuzz/<FuzzName>/.
var mpFuzzSeedRecords = []string{
	"96 01 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90",
	"95 01 80 c0 ad 46 69 72 65 41 6e 64 46 6f 72 67 65 74 92 01 02",
	"96 01 82 a1 78 a1 79 a1 7a a1 7a a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90",
	"96 01 80 a1 31 a6 55 70 6c 6f 61 64 90 91 a1 32",
	"95 01 80 c0 a1 41 92 c4 03 01 02 03 d6 ff 00 00 00 01",
	"95 01 80 c0 a1 41 91 81 a1 61 92 01 c0",
	"96 04 80 a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90",
	"94 02 80 a3 78 79 7a 2a",
	"95 03 80 a3 78 79 7a 01 a5 45 72 72 6f 72",
	"94 03 80 a3 78 79 7a 02",
	"95 03 80 a3 78 79 7a 03 2a",
	"93 05 80 a3 78 79 7a",
	"91 06",
	"93 07 a3 78 79 7a c3",
	"92 07 c0",
	"92 08 cd 05 72",
	"92 09 cf 7f ff ff ff ff ff ff ff",
	"93 2a 80 c0",
	"dd ff ff ff ff 06",
	"95 01 80 c0 a1 41 dd ff ff ff ff",
	"93 05 df ff ff ff ff a1 31",
	"95 01 80 c0 db ff ff ff ff 41 90",
	"94 02 80 a1 31 d4 05 00",
	"94 02 80 a1 31 c7 0c ff 00 00 00 00 00 00 00 00 00 00 00 00",
	"95 03 80 a1 31 04 01",
}

// mpFuzzSeedUnits frames the seed records one per unit, plus a few batches and
// broken prefixes.
func mpFuzzSeedUnits() [][]byte {
	var units [][]byte
	for _, r := range mpFuzzSeedRecords {
		units = append(units, framed(mp(r)))
	}
	return append(units,
		framed(mp("91 06"), mp("92 07 c0"), mp("94 02 80 a1 31 c3")),
		[]byte{0xff, 0xff, 0xff, 0xff, 0x07},
		[]byte{0x80},
		[]byte{0x00},
		nil,
	)
}

// boundedAlloc fails when f allocates more than a small multiple of the input size:
// a decoder that trusted an announced length would allocate gigabytes here. The
// count is process-wide, so the fuzzing engine's own allocations can show up once;
// only a second run over the limit fails.
func boundedAlloc(t *testing.T, input int, f func()) {
	t.Helper()
	// A Message is under 200 bytes and a 3-byte record (a ping) yields one.
	limit := uint64(1<<20 + 256*input)
	var n uint64
	for range 2 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		if n = after.TotalAlloc - before.TotalAlloc; n <= limit {
			return
		}
	}
	t.Fatalf("%d input bytes allocated %d bytes (limit %d)", input, n, limit)
}

// checkMessagePackRecord verifies one encoded record the way an independent decoder
// reads it: one varint-framed record holding exactly one msgpack array whose first
// element is the type.
func checkMessagePackRecord(t *testing.T, rec []byte) {
	t.Helper()
	body, rest, ok, err := NextBinaryRecord(rec)
	if !ok || err != nil || len(rest) != 0 {
		t.Fatalf("record % x is badly framed: %v", rec, err)
	}
	d := msgpack.NewDecoder(bytes.NewReader(body))
	n, err := d.DecodeArrayLen()
	if err != nil || n < 1 {
		t.Fatalf("record % x is not a msgpack array: %v", body, err)
	}
	for i := range n {
		if err := d.Skip(); err != nil {
			t.Fatalf("record % x: element %d: %v", body, i, err)
		}
	}
	if _, err := d.PeekCode(); err == nil {
		t.Fatalf("record % x has bytes after its array", body)
	}
}

func FuzzMessagePackParse(f *testing.F) {
	for _, u := range mpFuzzSeedUnits() {
		f.Add(u)
	}
	f.Fuzz(func(t *testing.T, unit []byte) {
		orig := bytes.Clone(unit)
		var msgs []Message
		var err error
		boundedAlloc(t, len(unit), func() { msgs, err = MessagePack.ParseMessages(unit, nil) })
		if !bytes.Equal(unit, orig) {
			t.Fatal("ParseMessages modified its input")
		}
		records := 0
		for rest := unit; ; records++ {
			_, r, ok, _ := NextBinaryRecord(rest)
			if !ok {
				break
			}
			rest = r
		}
		if len(msgs) > records {
			t.Fatalf("%d messages from %d records", len(msgs), records)
		}
		if err != nil {
			checkParseError(t, err)
		}
		for _, m := range msgs {
			checkMessage(t, m)
			rec, err := MessagePack.AppendMessage(nil, &m)
			if err != nil {
				t.Fatalf("parsed message %+v does not re-encode: %v", m, err)
			}
			checkMessagePackRecord(t, rec)
			again, err := MessagePack.ParseMessages(rec, nil)
			if err != nil || len(again) != 1 || !mpSame(again[0], m) {
				t.Fatalf("re-encoded % x parses to %+v, %v; want %+v", rec, again, err, m)
			}
			rec2, err := MessagePack.AppendMessage(nil, &again[0])
			if err != nil || !bytes.Equal(rec, rec2) {
				t.Fatalf("encoding is not stable:\n% x\n% x (%v)", rec, rec2, err)
			}
		}
	})
}

// FuzzMessagePackRoundTrip builds messages from arbitrary field values (strings that
// need not be valid UTF-8, arbitrary raw values) and checks that whatever
// AppendMessage accepts parses back to the same message, invalid UTF-8 replaced, and
// that it refuses exactly the raw values that are not one msgpack value.
func FuzzMessagePackRoundTrip(f *testing.F) {
	f.Add(uint8(1), "0", "Echo", "hi", mp("a2 68 69"), false, int64(0))
	f.Add(uint8(1), "", "Send", "x\xff", mp("c4 02 00 01"), true, int64(0))
	f.Add(uint8(2), "1", "", "", mp("81 a1 61 01"), false, int64(0))
	f.Add(uint8(3), "1", "", "boom\xff", mp("c0"), true, int64(0))
	f.Add(uint8(3), "1", "", "", mp("92 01 02"), false, int64(0))
	f.Add(uint8(3), "1", "", "", []byte(nil), false, int64(0))
	f.Add(uint8(4), "2", "Counter", "", mp("0a"), false, int64(0))
	f.Add(uint8(5), "2", "", "", []byte(nil), false, int64(0))
	f.Add(uint8(6), "", "", "", []byte(nil), false, int64(0))
	f.Add(uint8(7), "", "", "bye", []byte(nil), true, int64(0))
	f.Add(uint8(8), "", "", "", []byte(nil), false, int64(-1))
	f.Add(uint8(9), "", "", "", []byte(nil), false, int64(1<<62))
	f.Add(uint8(2), "1", "", "", mp("d4 05 00"), false, int64(0))
	f.Add(uint8(0), "x", "y", "z", mp("01 02"), true, int64(3))
	f.Fuzz(func(t *testing.T, typ uint8, id, target, text string, raw []byte, flag bool, seq int64) {
		m := Message{Type: MessageType(typ), InvocationID: id, Target: target, SequenceID: seq}
		switch m.Type {
		case InvocationType, StreamInvocationType:
			m.Arguments = []RawValue{RawValue(raw), RawValue{1}}
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
		rec, err := MessagePack.AppendMessage([]byte("pre"), &m)
		if err != nil {
			if !errors.Is(err, ErrInvalidMessage) || string(rec) != "pre" {
				t.Fatalf("AppendMessage error %v left %q", err, rec)
			}
			// Only an unknown type, a missing id or target, or a bad raw value in
			// a field that carries it may be refused.
			known := m.Type >= InvocationType && m.Type <= SequenceType
			noID := m.Type >= StreamItemType && m.Type <= CancelInvocationType && id == ""
			noTarget := (m.Type == InvocationType || m.Type == StreamInvocationType) && target == ""
			badRaw := len(raw) > 0 && validMessagePackValue(raw) != nil &&
				(m.Arguments != nil || m.Type == StreamItemType || m.Result != nil)
			if known && !noID && !noTarget && !badRaw {
				t.Fatalf("AppendMessage refused %+v: %v", m, err)
			}
			return
		}
		rec = rec[3:]
		checkMessagePackRecord(t, rec)
		got, err := MessagePack.ParseMessages(rec, nil)
		if err != nil || len(got) != 1 {
			t.Fatalf("ParseMessages(% x) = %d messages, %v", rec, len(got), err)
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
		if len(raw) == 0 {
			if m.Arguments != nil {
				want.Arguments = []RawValue{{0xc0}, {1}}
			}
			if m.Item != nil || m.Type == StreamItemType {
				want.Item = RawValue{0xc0}
			}
			if m.Result != nil {
				want.Result = RawValue{0xc0}
			}
		}
		if !mpSame(got[0], want) {
			t.Fatalf("round trip of % x:\n got %+v\nwant %+v", rec, got[0], want)
		}
	})
}

// FuzzBinaryRecord splits arbitrary units into length-prefixed records: every split
// accounts for each byte, re-framing the records splits back to the same records,
// an error wraps exactly one sentinel, and splitting never allocates.
func FuzzBinaryRecord(f *testing.F) {
	for _, u := range mpFuzzSeedUnits() {
		f.Add(u)
	}
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x08})
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00})
	f.Add([]byte{0x82, 0x00, 0x91, 0x06})
	f.Fuzz(func(t *testing.T, unit []byte) {
		var records [][]byte
		rest := unit
		for {
			record, r, ok, err := NextBinaryRecord(rest)
			if err != nil {
				checkParseError(t, err)
				if ok || record != nil || r != nil {
					t.Fatalf("error %v returned a record", err)
				}
				if errors.Is(err, ErrIncomplete) && len(rest) > maxVarintLen {
					// A cut record: the prefix must announce more than is left.
					n, k := decodeVarintForTest(rest)
					if k == 0 || n <= uint64(len(rest)-k) {
						t.Fatalf("ErrIncomplete for % x, which holds its record", rest)
					}
				}
				break
			}
			if !ok {
				if len(rest) != 0 {
					t.Fatalf("no record and no error with %d bytes left", len(rest))
				}
				break
			}
			prefix := len(rest) - len(r) - len(record)
			if prefix < 1 || prefix > maxVarintLen || !bytes.Equal(rest[prefix:prefix+len(record)], record) {
				t.Fatalf("record % x is not what follows a %d-byte prefix in % x", record, prefix, rest)
			}
			if n, k := decodeVarintForTest(rest); k != prefix || n != uint64(len(record)) {
				t.Fatalf("prefix of % x decodes to %d (%d bytes), split took %d (%d bytes)", rest, n, k, len(record), prefix)
			}
			records = append(records, record)
			rest = r
		}
		if allocs := testing.AllocsPerRun(1, func() { NextBinaryRecord(unit) }); allocs > 0 && len(unit) > 0 {
			if _, _, _, err := NextBinaryRecord(unit); err == nil {
				t.Fatalf("NextBinaryRecord allocated %v times", allocs)
			}
		}
		again := framed(records...)
		for i, want := range records {
			record, r, ok, err := NextBinaryRecord(again)
			if !ok || err != nil || !bytes.Equal(record, want) {
				t.Fatalf("re-framed record %d: % x, %v, %v; want % x", i, record, ok, err, want)
			}
			again = r
		}
		if len(again) != 0 {
			t.Fatalf("% x left after re-framed records", again)
		}
	})
}

// decodeVarintForTest decodes a length prefix the simple way: the value and its
// length in bytes, 0 when there is no complete prefix of at most 5 bytes.
func decodeVarintForTest(b []byte) (n uint64, size int) {
	for i := 0; i < len(b) && i < maxVarintLen; i++ {
		n |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return n, i + 1
		}
	}
	return 0, 0
}

// FuzzMessagePackDecodeValue decodes arbitrary bytes into the kinds of targets a
// handler declares: no panic, bounded allocation, and whatever decodes into an
// interface re-encodes to one valid value.
func FuzzMessagePackDecodeValue(f *testing.F) {
	for _, r := range []string{"2a", "a2 68 69", "c4 02 00 01", "82 a1 61 01 a1 62 92 c3 c0", "d6 ff 00 00 00 01",
		"c7 0c ff 00 00 00 01 00 00 00 00 00 00 00 01", "df ff ff ff ff", "91 91 91 91 01", "cb 7f f8 00 00 00 00 00 01",
		"81 01 02", "81 c4 01 61 01", "85 a1 78 03 a4 64 61 74 61 c4 01 00 a2 61 74 d6 ff 00 00 00 01 a5 65 78 74 72 61 01 a6 6e 65 73 74 65 64 80"} {
		f.Add(mp(r))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		valid := validMessagePackValue(raw) == nil
		var v any
		var err error
		boundedAlloc(t, len(raw), func() { err = MessagePack.DecodeValue(raw, &v) })
		if !valid && err == nil {
			t.Fatalf("decoded % x, which is not one valid value", raw)
		}
		if err == nil {
			re, err := MessagePack.EncodeValue(v)
			if err != nil {
				t.Fatalf("decoded % x to %#v, which does not re-encode: %v", raw, v, err)
			}
			if err := validMessagePackValue(re); err != nil {
				t.Fatalf("re-encoding of % x is invalid: % x: %v", raw, re, err)
			}
		}
		// The shapes of handler parameters, each a fresh target.
		for _, target := range []func() any{
			func() any { return new(mpPoint) },
			func() any { return new([]map[string][]int) },
			func() any { return new(map[any]any) },
			func() any { return new(map[string]any) },
			func() any { return new([]any) },
			func() any { return new(map[int][]string) },
			func() any { return new([2]*mpPoint) },
			func() any { return new([]byte) },
			func() any { return new(*time.Time) },
		} {
			boundedAlloc(t, len(raw), func() { MessagePack.DecodeValue(raw, target()) })
		}
	})
}
