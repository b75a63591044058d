package transport

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/transports"
)

// FuzzSSEFraming: whatever the unit, the bytes the SSE transport writes for it parse
// back, with an event-stream parser written from the HTML standard (below, sharing
// no code with sse.go), into exactly one event whose data is the unit with its line
// ends ("\r\n", "\r", "\n") read as "\n", and byte for byte the unit when it holds
// no "\r" (JSON hub protocol units never hold raw CR or LF). It checks appendEvent
// directly and through SSE.Send on a stream.
func FuzzSSEFraming(f *testing.F) {
	for _, tc := range sseFramingTests {
		f.Add([]byte(tc.unit))
	}
	f.Add([]byte(`{"type":1,"target":"Send","arguments":["a"]}` + "\x1e" + `{"type":6}` + "\x1e"))
	f.Add([]byte("data: x\n\nevent: y\r\nid: 1\rretry: 5\n:comment\n"))
	f.Add([]byte("\r\r\n\n\r"))
	f.Add([]byte{0, 0xff, '\n', 0xfe})

	f.Fuzz(func(t *testing.T, unit []byte) {
		orig := bytes.Clone(unit)
		want := string(normalizeLineEnds(unit))

		event := appendEvent(nil, unit)
		if !bytes.Equal(unit, orig) {
			t.Fatalf("appendEvent changed its input")
		}
		checkEventStream(t, event, []string{want})
		if !bytes.ContainsRune(unit, '\r') && want != string(unit) {
			t.Fatalf("unit without CR came back as %q, want %q", want, unit)
		}
		// Appending keeps what dst held.
		prefix := []byte("data: before\r\n\r\n")
		if got := appendEvent(bytes.Clone(prefix), unit); !bytes.Equal(got, append(prefix, event...)) {
			t.Fatalf("appendEvent onto a prefix: %q", got)
		}

		// Through the transport: the preamble, then one event per Send.
		rec := httptest.NewRecorder()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/hub?id=x", nil)
		sse := NewServerSentEvents(transports.Options{WriteTimeout: time.Second}, func([]byte) {})
		served := make(chan struct{})
		go func() {
			defer close(served)
			sse.ServeStream(rec, req)
		}()
		if err := sse.Send(ctx, unit); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if err := sse.Send(ctx, []byte("second")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		sse.Close()
		<-served
		stream := rec.Body.Bytes()
		if !bytes.HasPrefix(stream, []byte(":\r\n")) {
			t.Fatalf("stream starts %q, want the comment preamble", stream)
		}
		checkEventStream(t, stream, []string{want, "second"})
	})
}

// checkEventStream parses stream and checks it is exactly the events want: every
// line a comment or a "data" field, every event complete (ended by a blank line).
func checkEventStream(t *testing.T, stream []byte, want []string) {
	t.Helper()
	events, fields, rest := parseEventStream(stream)
	if len(rest) != 0 {
		t.Fatalf("stream %q ends with an unterminated line %q", stream, rest)
	}
	for _, f := range fields {
		if f != "data" {
			t.Fatalf("stream %q has a %q field: only data lines are written", stream, f)
		}
	}
	if len(events) != len(want) {
		t.Fatalf("stream %q parses into %d events %q, want %d", stream, len(events), events, len(want))
	}
	for i := range want {
		if events[i] != want[i] {
			t.Fatalf("event %d of %q = %q, want %q", i, stream, events[i], want[i])
		}
	}
}

// parseEventStream interprets an event stream as the HTML standard's "event stream
// interpretation" does (server-sent-events, section 9.2.6): lines end at CRLF, LF
// or CR; a blank line dispatches the event (when the data buffer is not empty,
// dropping its last LF); a line starting with ':' is a comment; otherwise the field
// name runs to the first ':' and one leading space of the value is dropped. It
// returns the data of each dispatched event, the field names seen, and the bytes
// after the last line end (an incomplete line, which a client would wait on).
func parseEventStream(stream []byte) (events, fields []string, rest []byte) {
	var data []byte
	dataSet := false
	for {
		i := bytes.IndexAny(stream, "\r\n")
		if i < 0 {
			return events, fields, stream
		}
		line := stream[:i]
		next := i + 1
		if stream[i] == '\r' && i+1 < len(stream) && stream[i+1] == '\n' {
			next++
		}
		stream = stream[next:]
		switch {
		case len(line) == 0:
			if dataSet {
				events = append(events, string(bytes.TrimSuffix(data, []byte("\n"))))
			}
			data, dataSet = nil, false
		case line[0] == ':':
		default:
			name, value, found := bytes.Cut(line, []byte(":"))
			if found {
				value = bytes.TrimPrefix(value, []byte(" "))
			}
			fields = append(fields, string(name))
			if string(name) == "data" {
				data = append(append(data, value...), '\n')
				dataSet = true
			}
		}
	}
}

// normalizeLineEnds turns "\r\n" and lone "\r" into "\n".
func normalizeLineEnds(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
}
