package client

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzEventReader: whatever a server streams, the SSE parser never panics and never
// returns an event over its limit; and a unit framed as Hubbub's server frames it
// (a "data: " line per "\n"-separated line, CRLF ends) reads back exactly.
func FuzzEventReader(f *testing.F) {
	f.Add([]byte(":\r\ndata: {}\x1e\r\n\r\n"), []byte("{}\x1e"))
	f.Add([]byte("data: a\rdata: b\r\r"), []byte("two\nlines"))
	f.Add([]byte("event: x\ndata\n\n"), []byte("\n"))
	f.Add([]byte("data:  spaced\n\n: comment\nretry: 1\n\n"), []byte(" leading space"))
	const limit = 1 << 12
	f.Fuzz(func(t *testing.T, stream, unit []byte) {
		r := newEventReader(bytes.NewReader(stream), limit)
		for range 1000 {
			ev, err := r.next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, errEventTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(ev) == 0 || len(ev) > limit {
				t.Fatalf("event of %d bytes", len(ev))
			}
		}
		if len(unit) == 0 || bytes.IndexByte(unit, '\r') >= 0 || len(unit) > limit/2 {
			return
		}
		var framed bytes.Buffer
		for _, line := range bytes.Split(unit, []byte("\n")) {
			framed.WriteString("data: ")
			framed.Write(line)
			framed.WriteString("\r\n")
		}
		framed.WriteString("\r\n")
		got, err := newEventReader(&framed, limit).next()
		if err != nil || !bytes.Equal(got, unit) {
			t.Fatalf("unit %q came back as %q, %v", unit, got, err)
		}
	})
}
