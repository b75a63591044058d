package transport

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/r3labs/sse/v2"
	"gopkg.in/cenkalti/backoff.v1"

	"github.com/hubbub-go/hubbub/transports"
)

// sseServer serves one SSE transport: GET streams, POST sends.
type sseServer struct {
	*httptest.Server
	sse        *SSE
	units      *units
	streamDone chan struct{} // closed when ServeStream returns
}

// keepStreamsInHandler makes newSSEServer's transports keep their stream in its
// handler rather than take the connection over: TestSSEInHandler reruns tests so.
var keepStreamsInHandler bool

func newSSEServer(t *testing.T, opts transports.Options) *sseServer {
	t.Helper()
	opts.DisableTakeover = opts.DisableTakeover || keepStreamsInHandler
	s := &sseServer{units: newUnits(), streamDone: make(chan struct{}, 1)}
	s.sse = NewServerSentEvents(opts, s.units.receive)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			s.sse.ServeSend(w, r)
			return
		}
		s.sse.ServeStream(w, r)
		select {
		case s.streamDone <- struct{}{}:
		default: // a refused stream already told
		}
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { s.sse.Close() }) // runs first: ends the stream so Close can wait
	return s
}

// open starts the event stream with a plain client and returns its reader once the
// preamble has been read.
func (s *sseServer) open(t *testing.T) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/hub?id=x", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	pre := make([]byte, 3)
	if _, err := io.ReadFull(br, pre); err != nil || string(pre) != ":\r\n" {
		t.Fatalf("preamble = %q, %v; want %q", pre, err, ":\r\n")
	}
	return resp, br
}

func TestSSEHeadersAndPreamble(t *testing.T) {
	srv := newSSEServer(t, transports.Options{})
	// open reads the preamble before anything is sent: it must have been flushed.
	resp, _ := srv.open(t)
	want := map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache, no-store",
		"Pragma":            "no-cache",
		"Content-Encoding":  "identity",
		"X-Accel-Buffering": "no",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if srv.sse.Kind() != transports.ServerSentEvents {
		t.Errorf("Kind = %v", srv.sse.Kind())
	}
}

var sseFramingTests = []struct {
	name string
	unit string
	wire string // the event as written
	data string // what an SSE parser reads back
}{
	{"one record", "{\"type\":6}\x1e", "data: {\"type\":6}\x1e\r\n\r\n", "{\"type\":6}\x1e"},
	{"several records", "{}\x1e{\"type\":1,\"target\":\"a\",\"arguments\":[]}\x1e{\"type\":6}\x1e",
		"data: {}\x1e{\"type\":1,\"target\":\"a\",\"arguments\":[]}\x1e{\"type\":6}\x1e\r\n\r\n",
		"{}\x1e{\"type\":1,\"target\":\"a\",\"arguments\":[]}\x1e{\"type\":6}\x1e"},
	{"lines", "a\nb\nc", "data: a\r\ndata: b\r\ndata: c\r\n\r\n", "a\nb\nc"},
	{"CRLF lines", "a\r\nb", "data: a\r\ndata: b\r\n\r\n", "a\nb"},
	{"lone CR cannot start a field", "a\revent: x", "data: a\r\ndata: event: x\r\n\r\n", "a\nevent: x"},
	{"trailing newline kept", "a\n", "data: a\r\ndata: \r\n\r\n", "a\n"},
	{"empty line inside", "a\n\nb", "data: a\r\ndata: \r\ndata: b\r\n\r\n", "a\n\nb"},
}

func TestSSEFraming(t *testing.T) {
	for _, tc := range sseFramingTests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendEvent(nil, []byte(tc.unit))); got != tc.wire {
				t.Errorf("event = %q, want %q", got, tc.wire)
			}
		})
	}
}

// TestSSEWire sends every framing case through a real stream and reads it back raw.
func TestSSEWire(t *testing.T) {
	srv := newSSEServer(t, transports.Options{})
	_, br := srv.open(t)
	for _, tc := range sseFramingTests {
		if err := srv.sse.Send(context.Background(), []byte(tc.unit)); err != nil {
			t.Fatalf("%s: Send: %v", tc.name, err)
		}
		got := make([]byte, len(tc.wire))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatalf("%s: read: %v", tc.name, err)
		}
		if string(got) != tc.wire {
			t.Errorf("%s: wire = %q, want %q", tc.name, got, tc.wire)
		}
	}
}

// TestSSEIndependentParser reads the stream with r3labs/sse's client, a parser
// written by others.
func TestSSEIndependentParser(t *testing.T) {
	srv := newSSEServer(t, transports.Options{})
	client := sse.NewClient(srv.URL+"/hub?id=x", sse.ClientMaxBufferSize(1<<20))
	client.ReconnectStrategy = &backoff.StopBackOff{}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan string, len(sseFramingTests))
	subscribed := make(chan error, 1)
	go func() {
		subscribed <- client.SubscribeRawWithContext(ctx, func(e *sse.Event) { events <- string(e.Data) })
	}()
	for _, tc := range sseFramingTests {
		// Sends before the stream is open wait for it.
		if err := srv.sse.Send(ctx, []byte(tc.unit)); err != nil {
			t.Fatalf("%s: Send: %v", tc.name, err)
		}
	}
	for _, tc := range sseFramingTests {
		select {
		case got := <-events:
			if got != tc.data {
				t.Errorf("%s: data = %q, want %q", tc.name, got, tc.data)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("%s: no event", tc.name)
		}
	}
	// Close ends the response; the client sees the end of the stream.
	srv.sse.Close()
	select {
	case err := <-subscribed:
		if err != nil {
			t.Errorf("subscribe ended with %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("stream still open after Close")
	}
}

func TestSSECloseEndsStream(t *testing.T) {
	srv := newSSEServer(t, transports.Options{})
	_, br := srv.open(t)
	srv.sse.Close()
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after Close: read %q, %v; want a clean end", rest, err)
	}
	waitClosed(t, srv.streamDone, "ServeStream return")
	if srv.sse.Err() != transports.ErrClosed {
		t.Errorf("Err = %v, want ErrClosed", srv.sse.Err())
	}
	if err := srv.sse.Send(context.Background(), []byte("x")); !errors.Is(err, transports.ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
}

func TestSSEClientGone(t *testing.T) {
	srv := newSSEServer(t, transports.Options{})
	resp, _ := srv.open(t)
	resp.Body.Close()
	waitClosed(t, srv.sse.Done(), "Done")
	waitClosed(t, srv.streamDone, "ServeStream return")
	if err := srv.sse.Err(); !errors.Is(err, transports.ErrClosed) {
		t.Errorf("Err = %v, want wrapping ErrClosed", err)
	}
}

func TestSSEStreamRefusals(t *testing.T) {
	t.Run("second stream", func(t *testing.T) {
		srv := newSSEServer(t, transports.Options{})
		srv.open(t)
		resp, err := http.Get(srv.URL + "/hub?id=x")
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != http.StatusConflict {
			t.Errorf("second stream: status %d, want 409", resp.StatusCode)
		}
		if isClosed(srv.sse.Done()) {
			t.Error("the refused stream ended the transport")
		}
	})
	t.Run("after close", func(t *testing.T) {
		srv := newSSEServer(t, transports.Options{})
		srv.sse.Close()
		resp, err := http.Get(srv.URL + "/hub?id=x")
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
	})
}

func TestSSESendWaits(t *testing.T) {
	t.Run("for the stream", func(t *testing.T) {
		srv := newSSEServer(t, transports.Options{})
		sent := make(chan error, 1)
		go func() { sent <- srv.sse.Send(context.Background(), []byte("early\x1e")) }()
		_, br := srv.open(t)
		want := "data: early\x1e\r\n\r\n"
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
			t.Errorf("read %q, %v; want %q", got, err, want)
		}
		if err := <-sent; err != nil {
			t.Errorf("Send: %v", err)
		}
	})
	t.Run("until ctx ends", func(t *testing.T) {
		srv := newSSEServer(t, transports.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := srv.sse.Send(ctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Send = %v, want the ctx error", err)
		}
	})
	t.Run("until Close", func(t *testing.T) {
		srv := newSSEServer(t, transports.Options{})
		sent := make(chan error, 1)
		go func() { sent <- srv.sse.Send(context.Background(), []byte("x")) }()
		srv.sse.Close()
		if err := <-sent; !errors.Is(err, transports.ErrClosed) {
			t.Errorf("Send = %v, want ErrClosed", err)
		}
	})
}

// TestSSEInHandler reruns the stream tests with the stream kept in its net/http
// handler, as on HTTP/2 or behind a ResponseWriter that cannot hijack; the other
// tests take the connection over, the default on HTTP/1.x.
func TestSSEInHandler(t *testing.T) {
	keepStreamsInHandler = true
	defer func() { keepStreamsInHandler = false }()
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"HeadersAndPreamble", TestSSEHeadersAndPreamble},
		{"Wire", TestSSEWire},
		{"IndependentParser", TestSSEIndependentParser},
		{"CloseEndsStream", TestSSECloseEndsStream},
		{"ClientGone", TestSSEClientGone},
		{"StreamRefusals", TestSSEStreamRefusals},
		{"SendWaits", TestSSESendWaits},
	} {
		t.Run(tc.name, tc.test)
	}
}

// An open stream that nothing waits on keeps no channel: each costs 112 bytes per
// idle connection (hubbench's idle scenario). Done and a Send before the stream
// opens make theirs on demand.
func TestSSEOpenStreamKeepsNoChannels(t *testing.T) {
	srv := newSSEServer(t, transports.Options{})
	srv.open(t)
	if err := srv.sse.Send(context.Background(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	srv.sse.mu.Lock()
	done, ready := srv.sse.done, srv.sse.ready
	srv.sse.mu.Unlock()
	if done != nil || ready != nil {
		t.Errorf("an open stream keeps channels: done %v, ready %v", done != nil, ready != nil)
	}
}
