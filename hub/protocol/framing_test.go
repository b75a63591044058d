package protocol

import (
	"errors"
	"testing"
)

func TestNextRecord(t *testing.T) {
	tests := []struct {
		name       string
		data       string
		wantRecord string
		wantRest   string
		wantOK     bool
		wantErr    error
	}{
		{name: "empty", data: "", wantOK: false},
		{name: "one record", data: "abc" + rs, wantRecord: "abc", wantOK: true},
		{name: "two records", data: "a" + rs + "b" + rs, wantRecord: "a", wantRest: "b" + rs, wantOK: true},
		{name: "empty record", data: rs + "b" + rs, wantRecord: "", wantRest: "b" + rs, wantOK: true},
		{name: "record then partial", data: "a" + rs + "b", wantRecord: "a", wantRest: "b", wantOK: true},
		{name: "no separator", data: "abc", wantErr: ErrIncomplete},
		{name: "newline is not a separator", data: "a\nb\n", wantErr: ErrIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			record, rest, ok, err := NextRecord([]byte(tt.data))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("NextRecord(%q) error = %v, want %v", tt.data, err, tt.wantErr)
			}
			if string(record) != tt.wantRecord || string(rest) != tt.wantRest || ok != tt.wantOK {
				t.Fatalf("NextRecord(%q) = %q, %q, %v; want %q, %q, %v", tt.data, record, rest, ok, tt.wantRecord, tt.wantRest, tt.wantOK)
			}
		})
	}
}

// TestNextRecordWalksAUnit splits a unit record by record, as every parser does.
func TestNextRecordWalksAUnit(t *testing.T) {
	unit := []byte(`{"type":6}` + rs + `{"type":7}` + rs + rs + "x" + rs)
	var got []string
	for {
		record, rest, ok, err := NextRecord(unit)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(record))
		unit = rest
	}
	want := []string{`{"type":6}`, `{"type":7}`, ``, `x`}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}
