package hub_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// receiver is a raw client of one transport that reads only when asked.
type receiver interface {
	// invoke sends one invocation record.
	invoke(t *testing.T, record string)
	// next returns the records of the next unit (pings dropped), or false once
	// the server has ended the connection.
	next(t *testing.T) ([]record, bool)
}

type wsReceiver struct{ c *client }

func (r *wsReceiver) invoke(t *testing.T, rec string) { r.c.send(t, rec) }
func (r *wsReceiver) next(t *testing.T) ([]record, bool) {
	t.Helper()
	r.c.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, b, err := r.c.ws.ReadMessage()
	if err != nil {
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			t.Fatalf("WebSocket read: %v", err)
		}
		return nil, false
	}
	return parseRecords(t, string(b)), true
}

type sseReceiver struct {
	e      *env
	token  string
	events *bufio.Reader
}

func (r *sseReceiver) invoke(t *testing.T, rec string) {
	t.Helper()
	if st, body, _ := r.e.do(t, "POST", "/hub?id="+r.token, nil, rec); st != 200 {
		t.Fatalf("SSE POST: %d %q", st, body)
	}
}

func (r *sseReceiver) next(t *testing.T) ([]record, bool) {
	t.Helper()
	for {
		line, err := r.events.ReadString('\n')
		if err != nil {
			if err != io.EOF && !strings.Contains(err.Error(), "closed") {
				t.Logf("SSE read: %v", err)
			}
			return nil, false
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			return parseRecords(t, strings.TrimSuffix(data, "\r\n")), true
		}
	}
}

type lpReceiver struct{ lp *lpConn }

func (r *lpReceiver) invoke(t *testing.T, rec string) {
	t.Helper()
	if st, body := r.lp.post(t, rec); st != 200 {
		t.Fatalf("long polling POST: %d %q", st, body)
	}
}

func (r *lpReceiver) next(t *testing.T) ([]record, bool) {
	t.Helper()
	st, body := r.lp.poll(t)
	if st != 200 {
		return nil, false
	}
	return parseRecords(t, body), true
}

// openReceiver connects a raw client over kind and adds it to group.
func openReceiver(t *testing.T, e *env, kind transports.Kind, group string) receiver {
	t.Helper()
	var r receiver
	switch kind {
	case transports.WebSockets:
		r = &wsReceiver{&client{ws: dialWS(t, e.srv)}}
	case transports.ServerSentEvents:
		token := e.negotiate(t, nil).ConnectionToken
		r = &sseReceiver{e: e, token: token, events: e.openSSE(t, token, nil)}
	case transports.LongPolling:
		r = &lpReceiver{e.openLP(t, nil)}
	}
	r.invoke(t, `{"type":1,"invocationId":"join","target":"JoinGroup","arguments":["`+group+`"]}`+rs)
	for {
		recs, ok := r.next(t)
		if !ok {
			t.Fatal("connection ended while joining")
		}
		for _, rec := range recs {
			if rec.Type == 3 && rec.InvocationID == "join" {
				if rec.Error != nil {
					t.Fatalf("join: %s", *rec.Error)
				}
				return r
			}
		}
	}
}

// flowEnv is a server with default options (but for opts) and its logs.
func flowEnv(t *testing.T, opts hub.Options) *env {
	t.Helper()
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, h := server(t, opts)
	return &env{srv: srv, h: h, logs: logs}
}

// TestBurstDoesNotCloseHealthyReceivers: a burst of 10,000 small messages to a
// group reaches a member that reads as fast as it can, whatever its transport,
// with the default limits.
func TestBurstDoesNotCloseHealthyReceivers(t *testing.T) {
	const burst = 10_000
	for _, kind := range transports.Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			e := flowEnv(t, hub.Options{})
			r := openReceiver(t, e, kind, "burst")
			sent := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				for i := range burst {
					if err := e.h.Clients().Group("burst").Send(ctx, "Feed", i); err != nil {
						sent <- err
						return
					}
				}
				sent <- nil
			}()
			got := 0
			for got < burst {
				recs, ok := r.next(t)
				if !ok {
					t.Fatalf("closed after %d of %d messages; logs:\n%s", got, burst, e.logs.String())
				}
				for _, rec := range recs {
					switch {
					case rec.Type == 1 && rec.Target == "Feed":
						if want := fmt.Sprint(got); string(rec.Arguments[0]) != want {
							t.Fatalf("message %s, want %s", rec.Arguments[0], want)
						}
						got++
					case rec.Type == 7:
						t.Fatalf("Close %q after %d of %d messages", rec.errText(), got, burst)
					}
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSlowConsumerGetsCloseWithReason: a receiver that stops reading while
// messages pile up is closed as a slow consumer, and is told so: the Close message
// jumps its queue, then the connection ends; the server logs it once.
func TestSlowConsumerGetsCloseWithReason(t *testing.T) {
	// (A stateful connection: TestStatefulReconnectEnds/the_buffer_fills.)
	for _, kind := range transports.Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			e := flowEnv(t, hub.Options{MaxQueueLength: 8})
			r := openReceiver(t, e, kind, "feed")
			// The receiver reads nothing meanwhile: its socket fills (WebSockets,
			// SSE) or it has no poll open (long polling), and its queue overflows.
			chunk := strings.Repeat("x", 16<<10)
			ctx, cancel := contextWithTimeout(hostileWaitFor)
			defer cancel()
			for i := 0; !strings.Contains(e.logs.String(), "hub: closing slow consumer"); i++ {
				if i == 5000 {
					t.Fatal("not closed as a slow consumer after 5,000 messages of 16 KB")
				}
				if err := e.h.Clients().Group("feed").Send(ctx, "Feed", i, chunk); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 20 { // more, once it is closing
				e.h.Clients().Group("feed").Send(ctx, "Feed", -i, chunk)
			}
			var closeMsg *record
			for closeMsg == nil {
				recs, ok := r.next(t)
				if !ok {
					t.Fatal("connection ended without a Close message")
				}
				for _, rec := range recs {
					if rec.Type == 7 {
						closeMsg = &rec
						break
					}
				}
			}
			if !strings.Contains(closeMsg.errText(), "slow consumer") {
				t.Errorf("Close error %q, want it to say slow consumer", closeMsg.errText())
			}
			if recs, ok := r.next(t); ok {
				t.Errorf("after the Close message, %d more records; want the end", len(recs))
			}
			if n := strings.Count(e.logs.String(), "hub: closing slow consumer"); n != 1 {
				t.Errorf("%d log lines for one slow consumer, want 1", n)
			}
		})
	}
}

// TestNonReadingInvokerKeepsBeingServedOrClosed: a client that never reads its
// socket keeps invoking Broadcast to 200 subscribers, also once the server's
// writes to it have been blocked for longer than WriteTimeout. Its invocations
// must go on running, or the server must close it as a slow consumer (and say
// so): it must never be left unserved and unexplained.
func TestNonReadingInvokerKeepsBeingServedOrClosed(t *testing.T) {
	tests := []struct {
		name          string
		maxQueueBytes int
	}{
		{name: "its queue overflows"},
		{name: "a write to it times out", maxQueueBytes: 64 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nonReadingInvoker(t, hub.Options{
				TransportOptions: transports.Options{WriteTimeout: time.Second},
				ClientTimeout:    2 * time.Minute, // the subscribers only read
				MaxQueueBytes:    tc.maxQueueBytes,
			})
		})
	}
}

func nonReadingInvoker(t *testing.T, opts hub.Options) {
	const subscribers, broadcasts = 200, 20
	e := flowEnv(t, opts)
	var got atomic.Int64 // broadcasts one subscriber has seen
	for i := range subscribers {
		c := &client{ws: dialWS(t, e.srv)}
		go func() {
			for {
				c.ws.SetReadDeadline(time.Now().Add(2 * time.Minute))
				_, b, err := c.ws.ReadMessage()
				if err != nil {
					return
				}
				if i == 0 {
					got.Add(int64(strings.Count(string(b), `"target":"Tick"`)))
				}
			}
		}()
	}
	invoker := dialWS(t, e.srv) // and never read
	invoke := func(i int, target, payload string) {
		t.Helper()
		invoker.SetWriteDeadline(time.Now().Add(time.Minute))
		msg := fmt.Sprintf(`{"type":1,"invocationId":"%d","target":"%s","arguments":["Tick",%s]}`+rs, i, target, payload)
		if err := invoker.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Logf("write %d: %v", i, err) // the server may have closed it
		}
	}
	closed := func() bool { return strings.Contains(e.logs.String(), "hub: closing slow consumer") }
	// Enough to fill the invoker's socket (8 MB, past what the kernel buffers of
	// a socket not read): the server's writes to it block.
	big := `"` + strings.Repeat("x", 30<<10) + `"`
	for i := range 270 {
		invoke(i, "SendToCaller", big)
	}
	time.Sleep(2 * time.Second) // past WriteTimeout
	for i := range broadcasts {
		invoke(1000+i, "Broadcast", "1")
	}
	deadline := time.Now().Add(time.Minute)
	for got.Load() < broadcasts && !closed() {
		if time.Now().After(deadline) {
			t.Fatalf("a subscriber got %d of %d broadcasts, and the invoker was not closed as a slow consumer (%d connections open): its invocations stopped unexplained",
				got.Load(), broadcasts, e.h.ConnectionCount())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("got %d of %d, closed as a slow consumer: %v", got.Load(), broadcasts, closed())
}

// TestMessageLargerThanQueueBytesIsDelivered: MaxQueueBytes bounds what waits,
// not the size of one message: a message larger than it goes out when nothing
// else waits.
func TestMessageLargerThanQueueBytesIsDelivered(t *testing.T) {
	e := flowEnv(t, hub.Options{MaxQueueBytes: 1024})
	r := openReceiver(t, e, transports.WebSockets, "big")
	ctx, cancel := contextWithTimeout(hostileWaitFor)
	defer cancel()
	if err := e.h.Clients().Group("big").Send(ctx, "Big", strings.Repeat("x", 4096)); err != nil {
		t.Fatal(err)
	}
	for {
		recs, ok := r.next(t)
		if !ok {
			t.Fatalf("closed; logs:\n%s", e.logs.String())
		}
		for _, rec := range recs {
			switch {
			case rec.Type == 1 && rec.Target == "Big":
				return
			case rec.Type == 7:
				t.Fatalf("Close %q", rec.errText())
			}
		}
	}
}
