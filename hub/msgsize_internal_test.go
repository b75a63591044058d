package hub

import (
	"bytes"
	"testing"

	"github.com/hubbub-go/hubbub/hub/protocol"
)

// checkRecordsWithin checks recordsWithin's promise for one input: within is the
// longest prefix of whole records each at most limit bytes with its separator, and
// oversized tells whether a record (or unterminated tail) over limit follows it.
func checkRecordsWithin(t *testing.T, unit []byte, limit int64) {
	t.Helper()
	within, oversized := recordsWithin(protocol.JSON, unit, limit)
	if !bytes.HasPrefix(unit, within) {
		t.Fatalf("recordsWithin(%q, %d) = %q: not a prefix", unit, limit, within)
	}
	if !oversized && len(within) != len(unit) {
		t.Fatalf("recordsWithin(%q, %d) = %q, false: left out bytes without an oversized record", unit, limit, within)
	}
	if oversized && len(within) > 0 && within[len(within)-1] != 0x1e {
		t.Fatalf("recordsWithin(%q, %d) = %q: cut inside a record", unit, limit, within)
	}
	for rest := within; len(rest) > 0; {
		n := bytes.IndexByte(rest, 0x1e) + 1
		if n == 0 {
			n = len(rest)
		}
		if int64(n) > limit {
			t.Fatalf("recordsWithin(%q, %d) kept a record of %d bytes", unit, limit, n)
		}
		rest = rest[n:]
	}
	if oversized {
		next := unit[len(within):]
		n := bytes.IndexByte(next, 0x1e) + 1
		if n == 0 {
			n = len(next)
		}
		if int64(n) <= limit {
			t.Fatalf("recordsWithin(%q, %d) = %q, true, but the next record is %d bytes", unit, limit, within, n)
		}
	}
}

func TestRecordsWithin(t *testing.T) {
	for _, tc := range []struct {
		unit      string
		limit     int64
		within    string
		oversized bool
	}{
		{"", 4, "", false},
		{"ab\x1e", 3, "ab\x1e", false},
		{"abc\x1e", 3, "", true},                   // the separator counts
		{"ab\x1ecd\x1e", 3, "ab\x1ecd\x1e", false}, // a unit over the limit of whole small records
		{"ab\x1ecdef\x1egh\x1e", 3, "ab\x1e", true},
		{"ab\x1ecd", 3, "ab\x1ecd", false}, // an unterminated tail within the limit is the parser's to refuse
		{"ab\x1ecdef", 3, "ab\x1e", true},
	} {
		within, oversized := recordsWithin(protocol.JSON, []byte(tc.unit), tc.limit)
		if string(within) != tc.within || oversized != tc.oversized {
			t.Errorf("recordsWithin(%q, %d) = %q, %v; want %q, %v", tc.unit, tc.limit, within, oversized, tc.within, tc.oversized)
		}
		checkRecordsWithin(t, []byte(tc.unit), tc.limit)
	}
}

// FuzzRecordsWithin checks the per-message limit's record splitting on any unit
// and limit.
func FuzzRecordsWithin(f *testing.F) {
	f.Add([]byte("ab\x1ecdef\x1egh\x1e"), uint16(3))
	f.Add([]byte("{\"type\":6}\x1e{\"type\":6}\x1e"), uint16(11))
	f.Add([]byte("\x1e\x1e\x1e"), uint16(1))
	f.Add([]byte("no separator at all"), uint16(5))
	f.Fuzz(func(t *testing.T, unit []byte, limit uint16) {
		checkRecordsWithin(t, unit, int64(limit)+1)
	})
}
