package main

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseModesProfilesSizes(t *testing.T) {
	tests := []struct {
		name     string
		conns    string
		mode     string
		profile  string
		burst    int
		sizes    []int
		modes    []string
		profiles []string
		fail     string // part of the error; "" for none
	}{
		{name: "defaults", conns: "2000", mode: "window", profile: "one", burst: 100, sizes: []int{2000}, modes: []string{"window"}, profiles: []string{"one"}},
		{name: "issue 15 sizes, both modes, both profiles", conns: "1000,2000,5000,10000", mode: "both", profile: "both", burst: 100,
			sizes: []int{1000, 2000, 5000, 10000}, modes: []string{"window", "burst"}, profiles: []string{"one", "full"}},
		{name: "a list of modes and a repeated size", conns: "10, 10,20", mode: "burst,window", profile: "full", burst: 5, sizes: []int{10, 20}, modes: []string{"burst", "window"}, profiles: []string{"full"}},
		{name: "size zero", conns: "0", mode: "window", profile: "one", burst: 100, fail: "--conns"},
		{name: "size not a number", conns: "2k", mode: "window", profile: "one", burst: 100, fail: "--conns"},
		{name: "no size", conns: ",", mode: "window", profile: "one", burst: 100, fail: "--conns"},
		{name: "unknown mode", conns: "10", mode: "flood", profile: "one", burst: 100, fail: "--mode"},
		{name: "unknown profile", conns: "10", mode: "window", profile: "half", burst: 100, fail: "--profile"},
		{name: "empty burst", conns: "10", mode: "burst", profile: "one", burst: 0, fail: "--burst"},
		{name: "burst beyond what a measurement counts", conns: "10", mode: "burst", profile: "one", burst: maxSeq, fail: "--burst"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sizes, err := parseSizes("--conns", tc.conns)
			if err == nil {
				cfg := config{Sizes: sizes, Modes: expand(tc.mode, modeWindow, modeBurst), Profiles: expand(tc.profile, profileOne, profileFull),
					Burst: tc.burst, BurstRepeats: 2, BurstTimeout: time.Second}
				if err = cfg.prepare("127.0.0.1"); err == nil {
					if !slices.Equal(cfg.Sizes, tc.sizes) || !slices.Equal(cfg.Modes, tc.modes) || !slices.Equal(cfg.Profiles, tc.profiles) || cfg.Conns != tc.sizes[0] {
						t.Errorf("sizes %v (conns %d), modes %v, profiles %v; want %v, %v, %v", cfg.Sizes, cfg.Conns, cfg.Modes, cfg.Profiles, tc.sizes, tc.modes, tc.profiles)
					}
				}
			}
			if tc.fail == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)) {
				t.Fatalf("error %v, want one about %s", err, tc.fail)
			}
		})
	}
}

func TestProfileProcs(t *testing.T) {
	cfg := config{ServerProcs: 1, ClientProcs: 1}
	if s, c := cfg.procs(profileOne); s != 1 || c != 1 {
		t.Errorf("profile one: server %d, client %d; want 1 and 1", s, c)
	}
	if s, c := cfg.procs(profileFull); s != 0 || c < 1 {
		t.Errorf("profile full: server %d (want 0: Go's default), client %d", s, c)
	}
	t.Setenv("GOMAXPROCS", "1")
	for _, procs := range []int{0, 2} {
		var got []string
		for _, kv := range serverEnv(procs) {
			if strings.HasPrefix(kv, "GOMAXPROCS=") {
				got = append(got, kv)
			}
		}
		want := []string(nil)
		if procs > 0 {
			want = []string{fmt.Sprintf("GOMAXPROCS=%d", procs)}
		}
		if !slices.Equal(got, want) {
			t.Errorf("serverEnv(%d) sets %v, want %v", procs, got, want)
		}
	}
}

// runConfig prepares cfg with three source addresses and runs it.
func runConfig(t *testing.T, cfg config) (*runner, []result) {
	t.Helper()
	if err := cfg.prepare("127.0.0.1-127.0.0.3"); err != nil {
		t.Fatal(err)
	}
	r := &runner{cfg: cfg, d: newDialer(cfg.sources)}
	return r, r.run(context.Background())
}

// checkFanOut checks what every fan-out result must show: all connected, every
// message delivered to every receiver, one latency sample per delivery.
func checkFanOut(t *testing.T, res result, burst, repeats int) {
	t.Helper()
	name := fmt.Sprintf("%s/%s/%s/%s", res.Scenario, res.Target, modeName(res), res.cell())
	t.Log(summaryLine(res))
	if res.Errors != 0 || res.Note != "" || res.Stalls != 0 {
		t.Errorf("%s: %d errors, %d stalls (%s)", name, res.Errors, res.Stalls, res.Note)
	}
	if res.Connected != int64(res.Conns) {
		t.Errorf("%s: %d of %d subscribers connected", name, res.Connected, res.Conns)
	}
	if res.Sent == 0 || res.Delivered != res.Expected || res.DeliveriesPS <= 0 {
		t.Errorf("%s: sent %d, delivered %d, want %d; %.0f deliveries/s", name, res.Sent, res.Delivered, res.Expected, res.DeliveriesPS)
	}
	if res.Latency == nil || res.Latency.Count != res.Delivered || res.Latency.Max < res.Latency.P50 {
		t.Errorf("%s: latency %+v, want one sample per delivery (%d)", name, res.Latency, res.Delivered)
	}
	if res.PerUnit < 1 {
		t.Errorf("%s: %.2f deliveries per frame, want at least 1", name, res.PerUnit)
	}
	if res.Mode == modeBurst && (res.Sent != int64(burst*repeats) || res.Bursts != int64(repeats)) {
		t.Errorf("%s: %d bursts, %d messages; want %d bursts of %d", name, res.Bursts, res.Sent, repeats, burst)
	}
}

// TestBurstModesProfilesInProcess runs broadcast in both modes, both profiles and
// two sizes against every target: each measurement delivers everything, bursts
// send exactly --burst × --burst-repeats, and results.md shows each cell's modes
// side by side with hubbub's ratios to centrifuge and raw.
func TestBurstModesProfilesInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("opens a few hundred loopback connections")
	}
	sizes, err := parseSizes("--conns", "10,20")
	if err != nil {
		t.Fatal(err)
	}
	const burst, repeats = 15, 2
	cfg := config{
		Scenarios: []string{"broadcast"}, Targets: []string{targetRaw, targetCentrifuge, targetHubbub}, Transports: []string{"ws"},
		Sizes: sizes, Duration: 300 * time.Millisecond, Window: 4, Rounds: 1, InProcess: true, settle: 300 * time.Millisecond,
		Modes: expand("both", modeWindow, modeBurst), Burst: burst, BurstRepeats: repeats, BurstTimeout: 10 * time.Second,
		Profiles: expand("both", profileOne, profileFull), ServerProcs: 1, ClientProcs: 1,
	}
	r, results := runConfig(t, cfg)
	got := map[string]int{}
	for _, res := range results {
		got[res.cell()]++
		checkFanOut(t, res, burst, repeats)
	}
	for _, mode := range cfg.Modes {
		for _, profile := range cfg.Profiles {
			for _, n := range sizes {
				if c := fmt.Sprintf("%s/%s/%d", mode, profile, n); got[c] != 3 {
					t.Errorf("%d results in %s, want 3 (one per target)", got[c], c)
				}
			}
		}
	}
	rep := newReport(r.cfg, results, time.Second)
	md := rep.markdown()
	for _, want := range []string{"#### 10 subscribers, profile one", "#### 20 subscribers, profile full", "window deliveries/s", "burst deliveries/s"} {
		if !strings.Contains(md, want) {
			t.Errorf("results.md lacks %q:\n%s", want, md)
		}
	}
	// hubbub's row: per mode, a ratio to centrifuge and one to raw.
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| hubbub | ws |") && strings.Count(line, "×") != 4 {
			t.Errorf("hubbub row without its 4 ratios: %s", line)
		}
	}
	if strings.Count(md, "| hubbub | ws |") != 4 {
		t.Errorf("want one hubbub row per profile and size:\n%s", md)
	}
}

// TestClusterInProcess runs the cluster scenarios (three nodes on a Redis of the
// test's own) for hubbub and centrifuge, with one-node broadcast and group for
// comparison: everything is delivered across nodes, Redis commands per broadcast
// are counted, and results.md has the cluster tables with both ratios.
func TestClusterInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a redis-server and opens loopback connections")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("no redis-server:", err)
	}
	const burst, repeats = 10, 2
	cfg := config{
		Scenarios: []string{"broadcast", "group", "cluster"}, Targets: []string{targetRaw, targetCentrifuge, targetHubbub}, Transports: []string{"ws"},
		Conns: 30, Groups: 3, Duration: 300 * time.Millisecond, Window: 4, Rounds: 1, InProcess: true, settle: 300 * time.Millisecond,
		Modes: expand("both", modeWindow, modeBurst), Burst: burst, BurstRepeats: repeats, BurstTimeout: 10 * time.Second,
		redisServer: "redis-server",
	}
	r, results := runConfig(t, cfg)
	got := map[string]int{}
	for _, res := range results {
		got[res.Scenario]++
		checkFanOut(t, res, burst, repeats)
		if !strings.HasPrefix(res.Scenario, "cluster") {
			continue
		}
		if res.Nodes != 3 {
			t.Errorf("%s/%s: %d nodes, want 3", res.Scenario, res.Target, res.Nodes)
		}
		// At least one PUBLISH per broadcast reaches Redis; the nodes add their own
		// heartbeats, so the total is not asserted beyond that.
		if res.RedisByCommand["publish"] < 1 || res.RedisCommands < res.RedisByCommand["publish"] {
			t.Errorf("%s/%s/%s: Redis commands per broadcast %.2f, by name %v", res.Scenario, res.Target, res.Mode, res.RedisCommands, res.RedisByCommand)
		}
		if res.RedisReads <= 0 {
			t.Errorf("%s/%s/%s: Redis reads per broadcast %.2f, want some", res.Scenario, res.Target, res.Mode, res.RedisReads)
		}
	}
	// broadcast: 3 targets; group, cluster and cluster-group: hubbub and
	// centrifuge; each in 2 modes.
	for s, n := range map[string]int{"broadcast": 6, "group": 4, "cluster": 4, "cluster-group": 4} {
		if got[s] != n {
			t.Errorf("%d %s results, want %d", got[s], s, n)
		}
	}
	md := newReport(r.cfg, results, time.Second).markdown()
	if !strings.Contains(md, "### Cluster of 3 nodes: broadcast") || !strings.Contains(md, "### Cluster of 3 nodes: group fan-out") {
		t.Fatalf("results.md lacks the cluster tables:\n%s", md)
	}
	for _, line := range strings.Split(md, "\n") {
		// cluster rows: against centrifuge's cluster and against one node.
		if strings.HasPrefix(line, "| hubbub | redis | window |") || strings.HasPrefix(line, "| hubbub | redis | burst |") ||
			strings.HasPrefix(line, "| centrifuge | redis | window |") || strings.HasPrefix(line, "| centrifuge | redis | burst |") {
			if n := strings.Count(line, "×"); n != 2 {
				t.Errorf("cluster row with %d ratios, want 2: %s", n, line)
			}
		}
	}
}

// TestClusterWithoutRedisServer: no redis-server means the cluster scenario is
// skipped with a note saying why; the run does not fail.
func TestClusterWithoutRedisServer(t *testing.T) {
	cfg := config{Scenarios: []string{"cluster"}, Targets: []string{targetHubbub}, Transports: []string{"ws"}, Conns: 3, Rounds: 1, InProcess: true,
		redisServer: "/nonexistent/redis-server"}
	r, results := runConfig(t, cfg)
	if len(results) != 0 {
		t.Errorf("%d results, want none", len(results))
	}
	if len(r.notes) != 1 || !strings.Contains(r.notes[0], errNoRedisServer.Error()) {
		t.Errorf("notes %q, want one saying %q", r.notes, errNoRedisServer)
	}
}

func TestParseCommandStats(t *testing.T) {
	before := parseCommandStats("# Commandstats\r\ncmdstat_publish:calls=10,usec=20,usec_per_call=2.00\r\ncmdstat_info:calls=1,usec=5\r\n")
	after := parseCommandStats("# Commandstats\r\ncmdstat_publish:calls=30,usec=60,usec_per_call=2.00\r\ncmdstat_info:calls=2,usec=9\r\ncmdstat_sadd:calls=2,usec=1\r\n")
	total, by := perBroadcast(before, after, 20)
	if total != 1.1 || by["publish"] != 1 || by["sadd"] != 0.1 || by["info"] != 0 {
		t.Errorf("per broadcast %.2f, %v; want 1.10: publish 1, sadd 0.1, info left out", total, by)
	}
	if got := topCommands(by, 1); got != "publish 1.00" {
		t.Errorf("topCommands = %q", got)
	}
}

// TestScenarioSizes: --group-conns and --cluster-conns replace --conns for their
// scenario only, and name themselves in errors.
func TestScenarioSizes(t *testing.T) {
	cfg := config{Sizes: []int{1000, 10000}, GroupSizes: []int{2000}}
	if got := cfg.sizesOf(cfg.GroupSizes); !slices.Equal(got, []int{2000}) {
		t.Errorf("group sizes %v, want [2000]", got)
	}
	if got := cfg.sizesOf(cfg.ClusterSizes); !slices.Equal(got, cfg.Sizes) {
		t.Errorf("cluster sizes %v, want --conns' %v", got, cfg.Sizes)
	}
	if _, err := parseSizes("--cluster-conns", "2k"); err == nil || !strings.Contains(err.Error(), "--cluster-conns") {
		t.Errorf("error %v, want one naming --cluster-conns", err)
	}
}

func TestReadsPerBroadcast(t *testing.T) {
	before := parseRedisStats("# Stats\r\ntotal_commands_processed:100\r\ntotal_reads_processed:50\r\n# Commandstats\r\ncmdstat_publish:calls=10,usec=20\r\n")
	after := parseRedisStats("# Stats\r\ntotal_reads_processed:62\r\n# Commandstats\r\ncmdstat_publish:calls=30,usec=60\r\n")
	if got := before.readsPerBroadcast(after, 20); got != 0.5 {
		t.Errorf("reads per broadcast %.2f, want 0.50: 12 reads, hubbench's own 2 left out, over 20 messages", got)
	}
	if before.calls["publish"] != 10 || after.calls["publish"] != 30 {
		t.Errorf("calls %v then %v, want publish 10 then 30", before.calls, after.calls)
	}
}
