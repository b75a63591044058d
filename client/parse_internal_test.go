package client

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestEventReader(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   []string
		err    error // after the events; io.EOF when nil
	}{
		{"one event", "data: hello\n\n", []string{"hello"}, nil},
		{"CRLF", ":\r\ndata: a\r\n\r\ndata: b\r\n\r\n", []string{"a", "b"}, nil},
		{"CR only", "data: a\r\rdata: b\r\r", []string{"a", "b"}, nil},
		{"multi-line data", "data: line 1\ndata: line 2\ndata:\n\n", []string{"line 1\nline 2\n"}, nil},
		{"no space after colon", "data:x\n\n", []string{"x"}, nil},
		{"only one space is removed", "data:  x\n\n", []string{" x"}, nil},
		{"comments and other fields", ": hi\nevent: e\nid: 1\nretry: 5\ndata: d\nfoo\n\n", []string{"d"}, nil},
		{"events without data are skipped", "event: x\n\n\n\n: c\n\ndata: y\n\n", []string{"y"}, nil},
		{"empty data is skipped", "data:\n\ndata: z\n\n", []string{"z"}, nil},
		{"field without colon", "data\ndata: q\n\n", []string{"\nq"}, nil},
		{"a cut event is dropped", "data: a\n\ndata: cut", []string{"a"}, nil},
		{"record separators pass", "data: {}\x1e{\"type\":6}\x1e\n\n", []string{"{}\x1e{\"type\":6}\x1e"}, nil},
	}
	for _, tc := range tests {
		for _, reader := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"byte by byte", iotest.OneByteReader},
			{"data+EOF", iotest.DataErrReader},
		} {
			t.Run(tc.name+"/"+reader.name, func(t *testing.T) {
				e := newEventReader(reader.wrap(strings.NewReader(tc.stream)), 1<<20)
				var got []string
				var err error
				for {
					var unit []byte
					unit, err = e.next()
					if err != nil {
						break
					}
					got = append(got, string(unit))
				}
				if strings.Join(got, "|") != strings.Join(tc.want, "|") {
					t.Errorf("events %q, want %q", got, tc.want)
				}
				want := tc.err
				if want == nil {
					want = io.EOF
				}
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			})
		}
	}
}

func TestEventReaderLimits(t *testing.T) {
	e := newEventReader(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), 50)
	if _, err := e.next(); !errors.Is(err, errEventTooLarge) {
		t.Errorf("long line: %v", err)
	}
	e = newEventReader(strings.NewReader(strings.Repeat("data: 0123456789\n", 10)+"\n"), 50)
	if _, err := e.next(); !errors.Is(err, errEventTooLarge) {
		t.Errorf("long event: %v", err)
	}
	// Events larger than the read buffer.
	big := strings.Repeat("y", 100<<10)
	e = newEventReader(strings.NewReader("data: "+big+"\r\n\r\ndata: after\r\n\r\n"), 1<<20)
	if u, err := e.next(); err != nil || string(u) != big {
		t.Errorf("big event: %d bytes, %v", len(u), err)
	}
	if u, err := e.next(); err != nil || string(u) != "after" {
		t.Errorf("after the big event: %q, %v", u, err)
	}
}

func TestURLs(t *testing.T) {
	tests := []struct {
		base, negotiate, connect string
	}{
		{"http://h/hub", "http://h/hub/negotiate?negotiateVersion=1", "http://h/hub?id=T"},
		{"http://h/hub/", "http://h/hub/negotiate?negotiateVersion=1", "http://h/hub/?id=T"},
		{"http://h/hub?t=a,b&x=%2F", "http://h/hub/negotiate?t=a,b&x=%2F&negotiateVersion=1", "http://h/hub?t=a,b&x=%2F&id=T"},
		{"http://h/hub?negotiateVersion=0", "http://h/hub/negotiate?negotiateVersion=0", "http://h/hub?negotiateVersion=0&id=T"},
		{"https://h:8443/a%2Fb/hub", "https://h:8443/a%2Fb/hub/negotiate?negotiateVersion=1", "https://h:8443/a%2Fb/hub?id=T"},
	}
	for _, tc := range tests {
		base, err := parseHubURL(tc.base)
		if err != nil {
			t.Fatalf("%s: %v", tc.base, err)
		}
		if got := negotiateURL(base); got != tc.negotiate {
			t.Errorf("negotiateURL(%s) = %s, want %s", tc.base, got, tc.negotiate)
		}
		if got := withQuery(base, "id", "T"); got != tc.connect {
			t.Errorf("connect URL of %s = %s, want %s", tc.base, got, tc.connect)
		}
	}
	if got, _ := parseHubURL("ws://h/hub#frag"); got != "http://h/hub" {
		t.Errorf("parseHubURL(ws://…) = %s", got)
	}
	if got := redact("http://h/hub?t=1&id=secret&_=5&access_token=tok"); got != "http://h/hub?t=1&id=REDACTED&_=5&access_token=REDACTED" {
		t.Errorf("redact = %s", got)
	}
}
