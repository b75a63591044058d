package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// natsURL is the shared NATS of the tests (never stopped by them).
const natsURL = "nats://127.0.0.1:4222"

// requireNATS skips when the shared NATS does not answer, or fails under
// HUBBUB_REQUIRE_NATS=1.
func requireNATS(t *testing.T) {
	t.Helper()
	if err := dialNATS(natsURL); err != nil {
		if os.Getenv("HUBBUB_REQUIRE_NATS") == "1" {
			t.Fatalf("NATS is required (HUBBUB_REQUIRE_NATS=1): %v", err)
		}
		t.Skipf("NATS at %s unreachable: %v", natsURL, err)
	}
}

// requireRedisServer skips without a redis-server binary, or fails under
// HUBBUB_REQUIRE_REDIS=1.
func requireRedisServer(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("HUBBUB_REQUIRE_REDIS") == "1" {
			t.Fatalf("redis-server is required (HUBBUB_REQUIRE_REDIS=1): %v", err)
		}
		t.Skip("no redis-server:", err)
	}
}

// TestInterestInProcess runs the interest scenario with tiny sizes (3 nodes, 6
// groups, 12 subscribers) on one Redis routed by hub and by interest, and on NATS:
// everything is delivered, each node has its groups and deliveries, and where the
// backplane counts, a node routed by interest receives the messages of its own
// groups only (a third), one routed by hub all of them; results.md has the
// per-node table.
func TestInterestInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a redis-server, 9 nodes and loopback connections")
	}
	requireRedisServer(t)
	backplanes := []string{bpRedisByHub, bpRedis}
	if dialNATS(natsURL) == nil || os.Getenv("HUBBUB_REQUIRE_NATS") == "1" {
		backplanes = append(backplanes, bpNATS)
	} else {
		t.Log("NATS unreachable: Redis only")
	}
	const nodes, groups = 3, 6
	cfg := config{
		Scenarios: []string{"interest"}, Targets: []string{targetHubbub}, Transports: []string{"ws"},
		Conns: 12, Duration: 300 * time.Millisecond, Window: 4, Rounds: 1, InProcess: true, settle: 300 * time.Millisecond,
		Modes: []string{modeWindow, modeBurst}, Burst: 10, BurstRepeats: 1, BurstTimeout: 10 * time.Second, // interest is windowed only
		InterestNodes: nodes, InterestGroups: groups, InterestConns: 13, InterestBackplanes: backplanes, NATS: natsURL,
		redisServer: "redis-server",
	}
	r, results := runConfig(t, cfg)
	if len(results) != len(backplanes) {
		t.Fatalf("%d results, want one per backplane %v, windowed (notes %q)", len(results), backplanes, r.notes)
	}
	for i, res := range results {
		checkFanOut(t, res, 0, 0)
		name := res.Backplane
		if res.Scenario != "interest" || res.Backplane != backplanes[i] || res.Nodes != nodes || res.Conns != 12 || res.Mode != modeWindow {
			t.Errorf("result %d: %s on %q, %d nodes, %d conns, mode %s; want interest on %s, %d nodes, 12 conns (13 rounded down to the groups), window", i, res.Scenario, res.Backplane, res.Nodes, res.Conns, res.Mode, backplanes[i], nodes)
		}
		if len(res.PerNode) != nodes {
			t.Fatalf("%s: %d per-node entries, want %d", name, len(res.PerNode), nodes)
		}
		wantRouting := "interest"
		if name == bpRedisByHub {
			wantRouting = "hub"
		}
		if res.Routing != wantRouting {
			t.Errorf("%s: routing %q, want %q", name, res.Routing, wantRouting)
		}
		var deliveries int64
		for _, n := range res.PerNode {
			deliveries += n.Deliveries
			if n.Groups != groups/nodes || n.Deliveries == 0 || n.DeliveriesPS <= 0 || n.Routing != wantRouting {
				t.Errorf("%s node %d: %+v; want %d groups, deliveries, routing %s", name, n.Node, n, groups/nodes, wantRouting)
			}
		}
		if deliveries != res.Delivered {
			t.Errorf("%s: per-node deliveries add up to %d, want %d", name, deliveries, res.Delivered)
		}
		if res.BackplanePublished == nil {
			t.Errorf("%s: no backplane counts", name)
			continue
		}
		if *res.BackplanePublished != res.Sent {
			t.Errorf("%s: %d envelopes published, want one per message sent (%d)", name, *res.BackplanePublished, res.Sent)
		}
		for _, n := range res.PerNode {
			got := *n.Received
			// Message k goes to group k mod 6, on node k mod 3: node 1 publishes all
			// and receives none; by hub the others receive them all; by interest,
			// those of their own groups, a third (give or take one).
			want := res.Sent
			if n.Node == 1 {
				want = 0
			} else if wantRouting == "interest" {
				want = res.Sent / nodes
			}
			if got < want || got > want+1 {
				t.Errorf("%s node %d: received %d of %d published, want %d", name, n.Node, got, res.Sent, want)
			}
		}
	}
	dir := t.TempDir()
	rep := newReport(r.cfg, results, time.Second)
	if err := rep.write(dir); err != nil {
		t.Fatal(err)
	}
	md := rep.markdown()
	if !strings.Contains(md, "interest routing: per-node inbound") {
		t.Fatalf("results.md lacks the per-node table:\n%s", md)
	}
	for _, bp := range backplanes {
		if n := strings.Count(md, "\n| "+bp+" | "); n != nodes+1 {
			t.Errorf("results.md has %d rows for %s, want %d (summary and one per node):\n%s", n, bp, nodes+1, md)
		}
	}
	b, err := os.ReadFile(dir + "/results.json")
	if err != nil {
		t.Fatal(err)
	}
	var back report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Results) != len(results) || len(back.Results[0].PerNode) != nodes {
		t.Errorf("results.json: %d results, per node %v, err %v", len(back.Results), back.Results[0].PerNode, err)
	}
}

// TestClusterBackplanesInProcess runs the cluster broadcast and group fan-out on
// one Redis, a Redis Cluster (started for the run) and NATS for hubbub, and
// centrifuge once on one Redis: each result carries its backplane and per-node
// figures, hubbub's nodes count their inbound messages (every broadcast reaches
// each node but the publisher's), the Redis Cluster's commands are counted on its
// masters, and every hubbub row of results.md has its ratio to centrifuge.
func TestClusterBackplanesInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a redis-server, nodes and loopback connections")
	}
	requireRedisServer(t)
	requireNATS(t)
	cfg := config{
		Scenarios: []string{"cluster"}, Targets: []string{targetCentrifuge, targetHubbub}, Transports: []string{"ws"},
		Conns: 12, Groups: 3, Duration: 300 * time.Millisecond, Window: 4, Rounds: 1, InProcess: true, settle: 300 * time.Millisecond,
		ClusterBackplanes: []string{bpRedis, bpRedisCluster, bpNATS}, NATS: natsURL, redisServer: "redis-server",
	}
	r, results := runConfig(t, cfg)
	got := map[string]int{}
	for _, res := range results {
		checkFanOut(t, res, 0, 0)
		got[res.Scenario+" "+res.Target+" "+res.Backplane]++
		if len(res.PerNode) != 3 {
			t.Errorf("%s %s/%s: %d per-node entries, want 3", res.Scenario, res.Target, res.Backplane, len(res.PerNode))
		}
		if res.Target != targetHubbub {
			continue
		}
		if res.Backplane != bpNATS && (res.RedisByCommand["spublish"]+res.RedisByCommand["publish"] < 1) {
			t.Errorf("%s on %s: Redis commands per broadcast %v, want a publish each", res.Scenario, res.Backplane, res.RedisByCommand)
		}
		for _, n := range res.PerNode {
			want := int64(0) // the publisher's node
			if n.Node > 1 && res.Scenario == "cluster" {
				want = res.Sent
			}
			if n.Received == nil || n.Node > 1 && res.Scenario == "cluster" && *n.Received != want || n.Node == 1 && *n.Received != 0 {
				t.Errorf("%s %s node %d: received %v, want %d", res.Scenario, res.Backplane, n.Node, n.Received, want)
			}
		}
	}
	for _, key := range []string{"cluster centrifuge redis", "cluster hubbub redis", "cluster hubbub redis-cluster", "cluster hubbub nats",
		"cluster-group centrifuge redis", "cluster-group hubbub redis", "cluster-group hubbub redis-cluster", "cluster-group hubbub nats"} {
		if got[key] != 1 {
			t.Errorf("%d results %q, want 1 (all: %v)", got[key], key, got)
		}
	}
	md := newReport(r.cfg, results, time.Second).markdown()
	var rows int
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| hubbub | redis | window |") || strings.HasPrefix(line, "| hubbub | redis-cluster | window |") || strings.HasPrefix(line, "| hubbub | nats | window |") {
			rows++
			if !strings.Contains(line, "×") {
				t.Errorf("hubbub cluster row without its ratio to centrifuge: %s", line)
			}
		}
	}
	if rows != 6 {
		t.Errorf("%d hubbub cluster rows, want 6:\n%s", rows, md)
	}
}

// TestStartRedisCluster starts the Redis Cluster of the redis-cluster backplane:
// six nodes, every one cluster_state:ok, of which readRedisStats counts the three
// masters; the URL names every node; stop ends them all.
func TestStartRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six redis-servers")
	}
	requireRedisServer(t)
	c, err := startRedisCluster("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	addrs := c.addrs()
	if len(addrs) != 6 {
		t.Fatalf("%d nodes, want 6", len(addrs))
	}
	if !strings.HasPrefix(c.url(), "redis+cluster://") || strings.Count(c.url(), ",") != 5 {
		t.Errorf("url %q, want redis+cluster:// and every node", c.url())
	}
	st, err := readRedisStats(addrs...)
	if err != nil || st.servers != 3 {
		t.Errorf("INFO over the cluster counted %d servers (%v), want the 3 masters", st.servers, err)
	}
	for _, a := range addrs {
		if info, err := redisCommand(a, "CLUSTER", "INFO"); err != nil || !strings.Contains(info, "cluster_state:ok") {
			t.Errorf("%s: CLUSTER INFO %q %v", a, info, err)
		}
	}
	c.stop()
	for _, a := range addrs {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still answers after stop", a)
		}
	}
}

func TestBackplaneAddresses(t *testing.T) {
	for _, tc := range []struct {
		in   string
		fail bool
	}{
		{"127.0.0.1:6379", false},
		{"redis://127.0.0.1:6379/0", false},
		{"redis://user:pw@127.0.0.1:6379/0", false},
		{"redis+cluster://127.0.0.1:7000,127.0.0.1:7001", false},
		{"redis+sentinel://127.0.0.1:26379,127.0.0.2:26379/mymaster", false},
		{"nats://127.0.0.1:4222,nats://127.0.0.1:4223", false},
		{"redis+cluster://127.0.0.1:7000,10.0.0.1:7001", true},
		{"nats://192.168.1.1:4222", true},
		{"redis://10.0.0.1:6379/0", true},
	} {
		if err := checkLoopbackURL(tc.in); (err != nil) != tc.fail {
			t.Errorf("checkLoopbackURL(%q) = %v, want failure %v", tc.in, err, tc.fail)
		}
	}
	if got := redisURL("127.0.0.1:6379"); got != "redis://127.0.0.1:6379/0" {
		t.Errorf("redisURL(host:port) = %q", got)
	}
	if got := redisURL("redis+cluster://127.0.0.1:7000"); got != "redis+cluster://127.0.0.1:7000" {
		t.Errorf("redisURL(URL) = %q, want it as it is", got)
	}
	for in, want := range map[string]string{"127.0.0.1:6379": "127.0.0.1:6379", "redis://u:p@127.0.0.1:6380/0": "127.0.0.1:6380", "redis+cluster://127.0.0.1:7000": "", "redis://127.0.0.1:1,127.0.0.1:2": ""} {
		got, err := singleRedisAddr(in)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("singleRedisAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	opts := serveOptions{redis: "redis://127.0.0.1:1/0", routeByHub: true, prefix: "p"}
	if got := opts.args(); !slices.Equal(got, []string{"--redis", "redis://127.0.0.1:1/0", "--redis-route-by-hub", "--prefix", "p"}) {
		t.Errorf("args = %q", got)
	}
	if got := (serveOptions{nats: natsURL, prefix: "p"}).args(); !slices.Equal(got, []string{"--nats", natsURL, "--prefix", "p"}) {
		t.Errorf("args = %q", got)
	}
	if got := (serveOptions{admin: true}).args(); !slices.Equal(got, []string{"--admin"}) {
		t.Errorf("args of a lone server with the dashboard: %q", got)
	}
	if got := (serveOptions{}).args(); got != nil {
		t.Errorf("args of a lone server: %q, want none", got)
	}
}

// TestBackplaneStatsEndpoint: a NATS node answers backplaneStatsPath with its
// counters and routing; a node without a backplane answers 404.
func TestBackplaneStatsEndpoint(t *testing.T) {
	requireNATS(t)
	srv, err := startServer(targetHubbub, "127.0.0.1:0", serveOptions{nats: natsURL, prefix: "hubbench-test-" + strings.ReplaceAll(t.Name(), "/", "-")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	st, err := fetchBackplaneStats(srv.addr)
	if err != nil || st.Backplane != "nats" || st.Routing != "interest" || st.Uncounted {
		t.Errorf("stats %+v, %v; want nats, routing interest, counted", st, err)
	}
	alone, err := startServer(targetHubbub, "127.0.0.1:0", serveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer alone.close()
	if _, err := fetchBackplaneStats(alone.addr); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a node without a backplane: %v, want 404", err)
	}
}

// TestBackplaneServerCPU: the CPU of the backplane's servers is read from Redis's
// INFO cpu and from the nats-server process.
func TestBackplaneServerCPU(t *testing.T) {
	st := parseRedisStats("# CPU\r\nused_cpu_sys:1.250000\r\nused_cpu_user:2.500000\r\nused_cpu_sys_children:9.0\r\n")
	if st.cpu != 3.75 {
		t.Errorf("INFO cpu parsed as %v s, want 3.75", st.cpu)
	}
	requireNATS(t)
	read := natsCPU(natsURL)
	if cpu, err := read(); err != nil || cpu < 0 {
		t.Fatalf("nats-server CPU: %v s, %v", cpu, err)
	}
}
