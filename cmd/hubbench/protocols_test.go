package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunProtocolsInProcess: --protocol both --payload both measures hubbub's
// broadcast and echo in JSON and MessagePack (not over SSE) with both payloads;
// every broadcast reaches every subscriber, every echo comes back equal, and the
// bytes per message are counted (MessagePack's 4 KiB bin is smaller than base64).
func TestRunProtocolsInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("opens a few hundred loopback connections")
	}
	cfg := config{
		Scenarios: []string{"broadcast", "echo"}, Targets: []string{targetHubbub}, Transports: []string{"ws", "sse", "lp"},
		Conns: 10, Duration: time.Second, Window: 4, Rounds: 1, EchoConns: 2, InProcess: true, settle: 300 * time.Millisecond,
		Protocols: expand("both", "json", "messagepack"), Payloads: expand("both", "text", "binary"),
	}
	if err := cfg.prepare("127.0.0.1-127.0.0.3"); err != nil {
		t.Fatal(err)
	}
	r := &runner{cfg: cfg, d: newDialer(cfg.sources)}
	results := r.run(context.Background())
	// JSON: 3 transports × 2 payloads; MessagePack: WebSockets and long polling × 2.
	got := map[string]int{}
	wire := map[string]float64{}
	for _, res := range results {
		got[res.Scenario]++
		name := res.Scenario + "/" + modeName(res)
		t.Log(summaryLine(res))
		if res.Errors != 0 || res.Note != "" {
			t.Errorf("%s: %d errors (%s)", name, res.Errors, res.Note)
		}
		if res.Scenario == "broadcast" && (res.Sent == 0 || res.Delivered != res.Expected) {
			t.Errorf("%s: sent %d, delivered %d, want %d", name, res.Sent, res.Delivered, res.Expected)
		}
		if res.Scenario == "echo" && res.Ops == 0 {
			t.Errorf("%s: no round trip", name)
		}
		if res.WireIn <= 0 || res.WireOut <= 0 {
			t.Errorf("%s: bytes per message in %.0f, out %.0f", name, res.WireIn, res.WireOut)
		}
		wire[name] = res.WireIn
	}
	for _, s := range []string{"broadcast", "echo"} {
		if got[s] != 10 {
			t.Errorf("%d %s results, want 10", got[s], s)
		}
		json, mp := wire[s+"/ws/binary"], wire[s+"/ws/messagepack/binary"]
		if !(mp > binarySize && mp < json) {
			t.Errorf("%s bytes per 4 KiB message: MessagePack %.0f, JSON %.0f; want 4 KiB < MessagePack < JSON (base64)", s, mp, json)
		}
	}
	md := newReport(cfg, results, time.Second).markdown()
	if !strings.Contains(md, "MessagePack against JSON") || strings.Count(md, "| broadcast | ") != 4 {
		t.Errorf("results.md lacks the MessagePack table:\n%s", md)
	}
}
