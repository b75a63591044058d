package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRunInProcess runs every scenario briefly against in-process servers and
// checks counts only: every broadcast reached every subscriber, nothing failed.
// Timings are not asserted.
func TestRunInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("opens a few hundred loopback connections")
	}
	cfg := config{
		Scenarios:  []string{"broadcast", "group", "idle", "echo", "churn"},
		Targets:    []string{targetRaw, targetCentrifuge, targetHubbub},
		Transports: []string{"ws", "sse", "lp"},
		Conns:      20, Duration: 2 * time.Second, Window: 4, Rounds: 1, IdleConns: 20,
		EchoConns: 4, Groups: 4, ChurnConns: 2, InProcess: true, settle: 300 * time.Millisecond,
	}
	if err := cfg.prepare("127.0.0.1-127.0.0.3"); err != nil {
		t.Fatal(err)
	}
	r := &runner{cfg: cfg, d: newDialer(cfg.sources)}
	results := r.run(context.Background())

	want := map[string]int{"broadcast": 5, "group": 4, "idle": 5, "echo": 3, "churn": 3}
	got := map[string]int{}
	for _, res := range results {
		got[res.Scenario]++
		name := res.Scenario + "/" + res.Target + "/" + res.Transport
		t.Log(summaryLine(res))
		if res.Errors != 0 {
			t.Errorf("%s: %d errors (%s)", name, res.Errors, res.Note)
		}
		switch res.Scenario {
		case "broadcast", "group":
			if res.Connected != int64(res.Conns) {
				t.Errorf("%s: %d of %d subscribers connected", name, res.Connected, res.Conns)
			}
			if res.Sent == 0 || res.Delivered != res.Expected {
				t.Errorf("%s: sent %d, delivered %d, want %d (sent × receivers)", name, res.Sent, res.Delivered, res.Expected)
			}
			if res.Scenario == "broadcast" && res.Expected != res.Sent*int64(res.Conns) {
				t.Errorf("%s: expected %d, want sent × conns = %d", name, res.Expected, res.Sent*int64(res.Conns))
			}
			if res.Scenario == "group" && res.Expected != res.Sent*int64(res.Conns/cfg.Groups) {
				t.Errorf("%s: expected %d, want sent × group size = %d", name, res.Expected, res.Sent*int64(res.Conns/cfg.Groups))
			}
			if res.Latency == nil || res.Latency.Count != res.Delivered {
				t.Errorf("%s: latency samples %v, want one per delivery (%d)", name, res.Latency, res.Delivered)
			}
		case "idle":
			if res.Connected != int64(cfg.IdleConns) {
				t.Errorf("%s: %d of %d connected", name, res.Connected, cfg.IdleConns)
			}
		case "echo", "churn":
			if res.Ops == 0 || res.Latency == nil || res.Latency.Count != res.Ops {
				t.Errorf("%s: %d operations, latency %v", name, res.Ops, res.Latency)
			}
		}
	}
	for s, n := range want {
		if got[s] != n {
			t.Errorf("%d %s results, want %d", got[s], s, n)
		}
	}

	dir := t.TempDir()
	if err := newReport(cfg, results, time.Second).write(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"results.json", "results.md", "bench.svg"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	s := newSink()
	s.need = 2
	p := appendPayload(nil, 42, time.Now())
	if len(p) != payloadSize {
		t.Fatalf("payload is %d bytes, want %d", len(p), payloadSize)
	}
	// Two records in one unit, as batching servers send them.
	unit := append(append([]byte(`{"type":1,"target":"tick","arguments":["`), p...), "\"]}\x1e"...)
	unit = append(unit, unit...)
	s.onData(unit)
	if got := s.counts[42].Load(); got != 2 {
		t.Errorf("count of seq 42 = %d, want 2", got)
	}
	if s.delivered.Load() != 2 || s.lat.Load().count.Load() != 2 {
		t.Errorf("delivered %d, latency samples %d, want 2", s.delivered.Load(), s.lat.Load().count.Load())
	}
}

func TestSourcesLoopbackOnly(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		fail bool
	}{
		{"127.0.0.1", 1, false},
		{"127.0.0.1-127.0.0.16", 16, false},
		{"127.0.0.1,127.0.1.1", 2, false},
		{"10.0.0.1", 0, true},
		{"127.0.0.1-10.0.0.1", 0, true},
		{"0.0.0.0", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			ips, err := parseSources(tc.in)
			if (err != nil) != tc.fail || len(ips) != tc.n {
				t.Errorf("parseSources(%q) = %d addresses, %v", tc.in, len(ips), err)
			}
		})
	}
	if checkLoopback("192.168.1.1:80") == nil || checkLoopback("127.0.0.1:0") != nil {
		t.Error("checkLoopback does not hold to 127.0.0.0/8")
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{.5, 500 * time.Millisecond}, {.99, 990 * time.Millisecond}} {
		got := time.Duration(h.quantile(c.q))
		if got < c.want*94/100 || got > c.want*107/100 {
			t.Errorf("quantile(%v) = %v, want about %v", c.q, got, c.want)
		}
	}
}
