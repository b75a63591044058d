package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/transports"
)

func TestCountTrackable(t *testing.T) {
	tests := []struct {
		name string
		unit string
		want int
	}{
		{"handshake reply", "{}\x1e", 0},
		{"one invocation", "{\"type\":1,\"target\":\"tick\",\"arguments\":[\"B|1|2|x\"]}\x1e", 1},
		{"completion and stream item", "{\"type\":3,\"invocationId\":\"j\"}\x1e{\"type\":2,\"invocationId\":\"s\",\"item\":1}\x1e", 2},
		{"ping, close, ack, sequence are not numbered", "{\"type\":6}\x1e{\"type\":7}\x1e{\"type\":8,\"sequenceId\":3}\x1e{\"type\":9,\"sequenceId\":1}\x1e", 0},
		{"type 10 is not type 1", "{\"type\":10}\x1e", 0},
		{"type written later", "{\"target\":\"x\",\"type\":1,\"arguments\":[]}\x1e", 1},
		{"handshake reply then invocations", "{}\x1e{\"type\":1,\"target\":\"a\",\"arguments\":[]}\x1e{\"type\":1,\"target\":\"b\",\"arguments\":[]}\x1e", 2},
		{"empty", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := countTrackable([]byte(tc.unit)); got != tc.want {
				t.Errorf("countTrackable(%q) = %d, want %d", tc.unit, got, tc.want)
			}
		})
	}
}

// recordingConn is a subConn that records what is sent.
type recordingConn struct {
	mu   sync.Mutex
	sent []string
	fail bool
}

func (c *recordingConn) recv() ([]byte, error) { return nil, errors.New("not read") }
func (c *recordingConn) close()                {}
func (c *recordingConn) send(unit []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return errors.New("link down")
	}
	c.sent = append(c.sent, string(unit))
	return nil
}

func (c *recordingConn) last() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sent) == 0 {
		return "", 0
	}
	return c.sent[len(c.sent)-1], len(c.sent)
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAckedConnAcks: the timer ack carries the count of trackable messages; 32 KiB
// received since the last ack sends one without waiting for the timer; pings and
// the handshake reply are not counted.
func TestAckedConnAcks(t *testing.T) {
	rc := &recordingConn{}
	a := &ackedConn{subConn: rc, s: newSink(), delay: 50 * time.Millisecond}
	defer a.close()
	inv := []byte("{\"type\":1,\"target\":\"tick\",\"arguments\":[\"" + strings.Repeat("x", 128) + "\"]}\x1e")
	a.onUnit([]byte("{}\x1e"))
	a.onUnit(append(append([]byte{}, inv...), inv...))
	a.onUnit([]byte("{\"type\":6}\x1e"))
	eventually(t, "the timer's ack", func() bool { s, _ := rc.last(); return s == "{\"type\":8,\"sequenceId\":2}\x1e" })

	// Now a timer that would never fire: only the byte count can send the ack.
	a.mu.Lock()
	a.delay = time.Hour
	a.timer = nil
	a.mu.Unlock()
	sent := 2
	for total := 0; total < ackEagerBytes; total += len(inv) {
		a.onUnit(inv)
		sent++
	}
	want := "{\"type\":8,\"sequenceId\":" + itoa(sent) + "}\x1e"
	eventually(t, "the eager ack "+want, func() bool { s, _ := rc.last(); return s == want })
	if got := a.sent(); got != int64(sent) {
		t.Errorf("acked %d, want %d", got, sent)
	}
	a.onUnit(inv) // below 32 KiB again: waits for the (hour-long) timer
	time.Sleep(100 * time.Millisecond)
	if s, _ := rc.last(); s != want {
		t.Errorf("last ack %q, want still %q", s, want)
	}
}

// TestAckedConnSendFailure: a failed ack counts as an error while measuring, not
// once the measurement is over.
func TestAckedConnSendFailure(t *testing.T) {
	rc := &recordingConn{fail: true}
	s := newSink()
	a := &ackedConn{subConn: rc, s: s, delay: time.Millisecond}
	a.onUnit([]byte("{\"type\":1,\"target\":\"t\",\"arguments\":[]}\x1e"))
	eventually(t, "the failed ack to count", func() bool { return s.errors.Load() == 1 })
	s.closing.Store(true)
	a.onUnit([]byte("{\"type\":1,\"target\":\"t\",\"arguments\":[]}\x1e"))
	time.Sleep(50 * time.Millisecond)
	if n := s.errors.Load(); n != 1 {
		t.Errorf("errors = %d after the measurement ended, want 1", n)
	}
	a.close()
}

// TestStatefulSubscribersAckPastTheBuffer sends each stateful subscriber ten times
// what the server may keep unacked: without acks the server would stop writing
// after the first 40,000 bytes, so every message arriving shows the acks work.
func TestStatefulSubscribersAckPastTheBuffer(t *testing.T) {
	const bufferSize, messages, size = 40_000, 100, 4096
	h := conformance.NewHub(hub.Options{StatefulReconnectBufferSize: bufferSize, ClientTimeout: time.Minute, MaxMessagesPerSecond: 1e6, MessageBurst: 1e6,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mux := http.NewServeMux()
	mux.Handle(hubPath, h)
	mux.Handle(hubPath+"/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	}()
	base := strings.TrimPrefix(srv.URL, "http://")
	d := newDialer(mustSources(t, "127.0.0.1"))
	ctx := context.Background()
	for _, kind := range []transports.Kind{transports.WebSockets, transports.ServerSentEvents, transports.LongPolling} {
		t.Run(transportName(kind), func(t *testing.T) {
			s := newSink()
			s.need = 1
			c, err := subscribe(ctx, d, base, targetHubbub, kind, "", true, nil, s)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.closing.Store(true); c.close() }()
			if _, ok := c.(*ackedConn); !ok {
				t.Fatalf("a stateful subscriber is a %T, want *ackedConn", c)
			}
			pub, err := newHubbubPublisher(ctx, d, base, 1, wire{})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.close()
			for seq := range int64(messages) {
				p := appendPayload(nil, seq, time.Now())
				p = append(p, strings.Repeat("x", size-len(p))...)
				if err := pub.publish(ctx, p, ""); err != nil {
					t.Fatal(err)
				}
			}
			eventually(t, "every message", func() bool { return s.delivered.Load() >= messages })
			if n := s.errors.Load(); n != 0 {
				t.Errorf("%d errors", n)
			}
			eventually(t, "the last ack", func() bool { return c.(*ackedConn).sent() == messages })
		})
	}
}

func mustSources(t *testing.T, s string) []net.IP {
	t.Helper()
	ips, err := parseSources(s)
	if err != nil {
		t.Fatal(err)
	}
	return ips
}

func itoa(n int) string { return string(appendInt(nil, int64(n))) }

// TestRunStatefulInProcess runs broadcast, group and idle with --stateful both
// against in-process hubbub servers: every hubbub measurement comes off and on,
// every broadcast reaches every subscriber, nothing fails, and results.md holds the
// on/off table. Counts only; timings are not asserted.
func TestRunStatefulInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("opens a few hundred loopback connections")
	}
	cfg := config{
		Scenarios: []string{"broadcast", "group", "idle"}, Targets: []string{targetHubbub},
		Transports: []string{"ws", "sse", "lp"}, Stateful: "both",
		Conns: 20, Duration: time.Second, Window: 8, Rounds: 2, IdleConns: 20, IdleRounds: 1,
		Groups: 4, InProcess: true, settle: 300 * time.Millisecond,
	}
	if err := cfg.prepare("127.0.0.1-127.0.0.3"); err != nil {
		t.Fatal(err)
	}
	r := &runner{cfg: cfg, d: newDialer(cfg.sources)}
	results := r.run(context.Background())

	// Both modes in every round, off first in odd rounds and on first in even ones.
	var order []string
	for _, res := range results {
		if res.Scenario == "broadcast" && res.Transport == "ws" {
			order = append(order, modeName(res))
		}
	}
	if strings.Join(order, ",") != "ws,ws+sr,ws+sr,ws" {
		t.Errorf("broadcast ws order %v, want off/on then on/off", order)
	}
	got := map[string]int{}
	for _, res := range results {
		name := res.Scenario + "/" + modeName(res)
		got[name]++
		t.Log(summaryLine(res))
		if res.Errors != 0 || res.Note != "" {
			t.Errorf("%s: %d errors (%s)", name, res.Errors, res.Note)
		}
		if res.Connected != int64(res.Conns) {
			t.Errorf("%s: %d of %d connected", name, res.Connected, res.Conns)
		}
		if res.Scenario != "idle" && (res.Sent == 0 || res.Delivered != res.Expected) {
			t.Errorf("%s: sent %d, delivered %d, want %d", name, res.Sent, res.Delivered, res.Expected)
		}
	}
	for _, k := range []string{"ws", "sse", "lp"} {
		for _, mode := range []string{k, k + "+sr"} {
			if got["broadcast/"+mode] != 2 || got["group/"+mode] != 1 || got["idle/"+mode] != 1 {
				t.Errorf("%s: %d broadcast, %d group, %d idle results, want 2, 1, 1", mode, got["broadcast/"+mode], got["group/"+mode], got["idle/"+mode])
			}
		}
	}
	md := newReport(cfg, results, time.Second).markdown()
	if !strings.Contains(md, "Stateful reconnect: on against off") || !strings.Contains(md, "| lp | 2 |") {
		t.Errorf("results.md has no on/off table:\n%s", md)
	}
}
