package transport

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/transports"
)

// rawPoller polls over one keep-alive connection, as a browser does, parsing the
// responses by hand so that the benchmark counts the server's allocations only.
type rawPoller struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte
	body []byte
}

func dialRawPoller(tb testing.TB, addr string) *rawPoller {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	return &rawPoller{conn: conn, br: bufio.NewReaderSize(conn, 64<<10),
		req: []byte("GET /poll?id=abc HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")}
}

// ask sends a poll.
func (p *rawPoller) ask(tb testing.TB) {
	if _, err := p.conn.Write(p.req); err != nil {
		tb.Fatal(err)
	}
}

// answer reads a poll's response: its status and body.
func (p *rawPoller) answer(tb testing.TB) (int, []byte) {
	status, length := 0, 0
	for first := true; ; first = false {
		line, err := p.br.ReadSlice('\n')
		if err != nil {
			tb.Fatal(err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		switch {
		case first:
			status, _ = strconv.Atoi(string(line[9:12]))
		case bytes.HasPrefix(line, []byte("Content-Length: ")):
			length, _ = strconv.Atoi(string(line[16:]))
		}
	}
	if cap(p.body) < length {
		p.body = make([]byte, length)
	}
	p.body = p.body[:length]
	if _, err := io.ReadFull(p.br, p.body); err != nil {
		tb.Fatal(err)
	}
	return status, p.body
}

// BenchmarkLongPollCycle is one poll cycle on a keep-alive connection: the client
// polls, Send answers the poll with a unit, the client reads the answer. Each op is
// one cycle; allocs/op are the server's (net/http's request and response included).
// "send" calls Send from the benchmark's goroutine as the poll goes out (a unit
// waits for the poll, or a poll for the unit); "onpoll" calls it from OnPoll, in
// the poll's goroutine, as the hub's writer does when messages wait for a poll.
func BenchmarkLongPollCycle(b *testing.B) {
	for _, tc := range []struct {
		name   string
		onPoll bool
		size   int
	}{{"send/512B", false, 512}, {"send/8KiB", false, 8 << 10}, {"onpoll/512B", true, 512}, {"onpoll/8KiB", true, 8 << 10}} {
		b.Run(tc.name, func(b *testing.B) {
			size := tc.size
			lp := NewLongPolling(transports.Options{}, func([]byte) {})
			srv := httptest.NewServer(http.HandlerFunc(lp.ServePoll))
			defer srv.Close()
			defer lp.Close()
			p := dialRawPoller(b, srv.Listener.Addr().String())
			p.ask(b)
			if status, _ := p.answer(b); status != http.StatusOK {
				b.Fatalf("first poll: %d", status)
			}
			unit := []byte(strings.Repeat("x", size))
			ctx := context.Background()
			if tc.onPoll {
				lp.OnPoll(func() {
					if err := lp.Send(ctx, unit); err != nil {
						b.Error(err)
					}
				})
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				p.ask(b)
				if !tc.onPoll {
					if err := lp.Send(ctx, unit); err != nil {
						b.Fatal(err)
					}
				}
				if status, body := p.answer(b); status != http.StatusOK || len(body) != size {
					b.Fatalf("poll: %d with %d bytes", status, len(body))
				}
			}
		})
	}
}

// BenchmarkSSEEvent frames a 4 KiB unit of JSON records as one SSE event.
func BenchmarkSSEEvent(b *testing.B) {
	unit := bytes.Repeat([]byte(`{"type":1,"target":"tick","arguments":["`+strings.Repeat("x", 128)+`"]}`+"\x1e"), 24)
	dst := make([]byte, 0, 2*len(unit))
	b.SetBytes(int64(len(unit)))
	b.ReportAllocs()
	for b.Loop() {
		dst = appendEvent(dst[:0], unit)
	}
}
