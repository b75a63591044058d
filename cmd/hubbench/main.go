// Command hubbench is Hubbub's load tool. It measures a Hubbub server and two
// baselines on the same machine in the same run, so that results read as ratios:
// a minimal gorilla/websocket broadcast server ("raw") and centrifuge v0.40.1.
//
// Usage:
//
//	hubbench run [flags]                       run scenarios, write JSON + SVG
//	hubbench serve --target hubbub|raw|centrifuge [--addr 127.0.0.1:0]
//	               [--redis HOST:PORT|URL [--redis-route-by-hub] | --nats URL]
//	               [--prefix P] [--cpuprofile FILE]
//	hubbench report [--out dir]                rewrite results.md and bench.svg from results.json
//
// By default run starts every target server as a child process ("hubbench serve")
// with GOMAXPROCS=1 and itself runs with GOMAXPROCS=1: on two cores, one for the
// server and one for the load. --profile full leaves every process at Go's default
// GOMAXPROCS (every core), as users deploy servers; --profile both runs everything
// under each profile in turn. Scenarios:
//
//   - broadcast: subscribers (--conns: one size or a list such as
//     1000,2000,5000,10000, each measured in turn) and a publisher sending 128-byte
//     messages, each carrying its send time; deliveries/s and latency p50/p99/max
//     from publish to receipt. --mode says how the publisher sends: window keeps
//     --window messages in flight for --duration; burst sends --burst messages
//     back to back without waiting, as a news burst does, waits until every
//     subscriber got all of them (--burst-timeout), and repeats that
//     --burst-repeats times, the rate taken over the bursts; both measures each
//     mode on the same connections. results.md and the summary at the end show
//     the modes side by side per size and profile, with each row's ratios to
//     centrifuge and to raw from the same run. The raw baseline drops a
//     connection whose queue (256 messages) is full, so keep --burst below that.
//   - idle: --idle-conns connections; server RSS, Go heap and stacks per connection.
//   - echo: --echo-conns Go clients invoking Echo in a loop; round trips/s, latency.
//   - group: like broadcast, subscribers split into --groups groups, one group per
//     message (hubbub), in every --mode; --group-conns sizes it apart from --conns.
//   - churn: --churn-conns workers connecting, invoking Echo and closing, in a loop.
//   - cluster: --cluster-nodes (3) hubbub nodes on each of --cluster-backplanes
//     in turn (default redis,redis-cluster,nats) and, as the baseline, as many
//     centrifuge nodes with centrifuge's Redis broker on one Redis, once.
//     Backplanes: redis is one Redis (backplane/redis, routing by interest),
//     redis-by-hub the same with Options.RouteByHub (every node receives every
//     envelope, the routing before issue 18), redis-cluster a Redis Cluster of 3
//     masters and 3 replicas (sharded pub/sub), nats backplane/nats on the NATS at
//     --nats (default the shared nats://127.0.0.1:4222), each measurement under a
//     prefix of its own. hubbench starts its Redis and Redis Cluster for the run
//     with internal/redistest (--redis-server; never the shared 6379; a backplane
//     that cannot start is skipped with a note) and stops them after. WebSocket
//     subscribers (--cluster-conns, else --conns) are spread evenly over the
//     nodes, the publisher is on the first, over --cluster-publishers connections
//     (32: in a cluster each publish waits for the backplane, and both servers run
//     one command of a connection at a time; one node's scenarios use 4);
//     broadcast ("cluster") and group fan-out ("cluster-group"), in every --mode.
//     It reports deliveries/s, latency, each node's CPU seconds and inbound
//     backplane messages (the node's Stats.Received over the measurement), and
//     for Redis the commands per broadcast (INFO commandstats before and after,
//     the masters of a Redis Cluster added up), against centrifuge's cluster of
//     the same run and against one node (the broadcast and group scenarios).
//   - interest: what routing by interest saves. --interest-nodes (6) hubbub
//     nodes, --interest-groups (600) groups, every member of group g on node g
//     mod nodes, --interest-conns (3000) WebSocket subscribers; one publisher on
//     node 1 sends group messages round-robin over every group (a publisher on
//     every node would blur the same ratio with the publishers' own CPU, see
//     interest.go), windowed only, on each of --interest-backplanes in turn in
//     every round (default redis-by-hub,redis,nats: before, after, NATS). Per
//     node: inbound backplane messages, in all and as a share of what every node
//     published (routed by hub each node but the publisher's gets all of them;
//     by interest, those of its own groups: 1/nodes), CPU seconds and
//     deliveries/s; results.md gets the table "interest routing: per-node
//     inbound", results.json each result's perNode.
//
// serve --redis takes host:port or any URL backplane/redis takes (redis://H:P/0,
// redis+cluster://H1:P1,H2:P2, redis+sentinel://H1:P1/MASTER; loopback hosts
// only), --nats a NATS URL; a hubbub node on either answers GET
// /bench/backplane-stats (loopback clients only) with its backplane's Stats as
// JSON ({"backplane","routing","published","received","failed","dropped"}); run
// reads it before and after each measurement. centrifuge runs on one Redis only.
//
// --protocol json|messagepack|both and --payload text|binary|both measure hubbub's
// broadcast and echo in each hub protocol with the 128-byte text and/or a 4 KiB
// binary payload, side by side in each round, with the hub-protocol bytes per
// message each way; results.md gets a MessagePack-against-JSON table.
//
// --stateful on has hubbub's subscribers negotiate stateful reconnect and ack what
// they receive as the clients do (ack.go); --stateful both measures every hubbub
// broadcast, idle and group measurement with it off and with it on, side by side in
// each round (--rounds, --idle-rounds), and results.md gets an on/off table.
//
// run --cluster-cpuprofile DIR has every node of the cluster and interest
// scenarios write a CPU profile to DIR (cluster-hubbub-nats-one-round1-node2.pprof,
// interest-hubbub-redis-by-hub-one-round1-node4.pprof, …): the whole life of the
// node, set-up and every mode.
//
// run --cpuprofile FILE profiles the load generator itself (its subscribers and
// publishers). serve --cpuprofile FILE writes a CPU profile of that server until it
// stops; run it by hand (with an open stdin: it exits when stdin closes) and point run at it
// with --hubbub-addr to profile hubbub under any scenario and mode.
//
// Subscribers are lean protocol clients (see subscriber.go); publishers, echo and
// churn use the Go client. Connections come from the --sources addresses in
// 127.0.0.0/8 in turn; hubbench connects to and listens on loopback only.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hubbub-go/hubbub/transports"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hubbench run|serve [flags]  (hubbench run -h for the flags)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serveCmd(os.Args[2:])
	case "run":
		err = runCmd(os.Args[2:])
	case "report":
		err = reportCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want run or serve)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubbench:", err)
		os.Exit(1)
	}
}

func runCmd(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	scen := fs.String("scenarios", "broadcast,idle,echo,group,churn", "scenarios to run: broadcast, idle, echo, group, churn, cluster (needs redis-server), interest (hubbub only: 6 nodes, each group's members on one node)")
	targets := fs.String("targets", "raw,centrifuge,hubbub", "targets: hubbub, raw, centrifuge")
	kinds := fs.String("transports", "ws,sse,lp", "hubbub transports (baselines are WebSocket only)")
	conns := fs.String("conns", "2000", "subscribers for broadcast, group and cluster: one size or a list (1000,2000,5000,10000), each measured in turn")
	groupConns := fs.String("group-conns", "", "subscribers for group, when not --conns: one size or a list")
	clusterConns := fs.String("cluster-conns", "", "subscribers for cluster, when not --conns: one size or a list")
	dur := fs.Duration("duration", 10*time.Second, "length of each windowed broadcast, group, echo and churn measurement")
	window := fs.Int("window", 32, "broadcast messages in flight (--mode window)")
	modes := fs.String("mode", modeWindow, "how the publisher sends: window (keep --window in flight for --duration), burst (--burst messages back to back, then wait for all) or both (window,burst)")
	burst := fs.Int("burst", 100, "messages per burst (--mode burst)")
	burstRepeats := fs.Int("burst-repeats", 5, "bursts per measurement (--mode burst)")
	burstTimeout := fs.Duration("burst-timeout", 30*time.Second, "how long a burst may take to reach every subscriber before it counts as a stall")
	profiles := fs.String("profile", profileOne, "GOMAXPROCS of the servers and the load generator: one (--server-procs/--client-procs, 1 each by default), full (the Go default: every core) or both")
	clusterNodes := fs.Int("cluster-nodes", 3, "server nodes sharing one backplane in the cluster scenarios")
	clusterPublishers := fs.Int("cluster-publishers", defaultClusterPublishers, "connections the publisher spreads its messages over in the cluster scenario (hubbub and centrifuge alike); one node's scenarios use 4")
	hubbubAdmin := fs.Bool("hubbub-admin", false, "run hubbub's servers with the admin dashboard observing their hub (serve --admin), to measure what it costs")
	clusterProfiles := fs.String("cluster-cpuprofile", "", "directory for a CPU profile of every cluster node, one file per node and measurement set-up (go tool pprof FILE)")
	clusterBackplanes := fs.String("cluster-backplanes", strings.Join([]string{bpRedis, bpRedisCluster, bpNATS}, ","), "hubbub's backplanes in the cluster scenarios: redis (one Redis, routing by interest), redis-by-hub (one Redis, Options.RouteByHub), redis-cluster (a Redis Cluster of 3 masters and 3 replicas hubbench starts), nats (--nats); centrifuge runs once, on one Redis")
	natsURL := fs.String("nats", "nats://127.0.0.1:4222", "NATS of the nats backplane (loopback only; each measurement under a prefix of its own)")
	interestNodes := fs.Int("interest-nodes", defaultInterestNodes, "hubbub nodes of the interest scenario")
	interestGroups := fs.Int("interest-groups", defaultInterestGroups, "groups of the interest scenario; group g's members are all on node g mod --interest-nodes")
	interestConns := fs.Int("interest-conns", defaultInterestConns, "subscribers of the interest scenario (rounded down to a multiple of --interest-groups)")
	interestBackplanes := fs.String("interest-backplanes", strings.Join(defaultInterestBackplanes, ","), "backplanes of the interest scenario, each measured in turn in every round: redis-by-hub (before), redis (after), redis-cluster, nats")
	redisServer := fs.String("redis-server", "redis-server", "redis-server binary the cluster and interest scenarios start (one Redis, a Redis Cluster: internal/redistest, free loopback ports, never the shared 6379; redis-cli from PATH)")
	rounds := fs.Int("rounds", 2, "broadcast rounds; each round measures every target once, interleaved")
	idle := fs.Int("idle-conns", 10000, "connections for the idle memory scenario")
	ackDelay := fs.Duration("ack-delay", ackDelay, "stateful subscribers ack this long after receiving (the clients: 1s), and at once after 32 KiB")
	ackBytes := fs.Int("ack-bytes", ackEagerBytes, "stateful subscribers ack at once after receiving this many bytes (the clients: 32 KiB); above the server's 100,000-byte buffer they stall")
	idleRounds := fs.Int("idle-rounds", 1, "idle rounds; each round measures every target once, interleaved")
	protocols := fs.String("protocol", "json", "hub protocol of hubbub's broadcast and echo: json, messagepack or both (MessagePack skips SSE)")
	payloads := fs.String("payload", "text", "payload of hubbub's broadcast and echo: text (128 B string), binary (4 KiB of bytes: bin under MessagePack, base64 under JSON) or both")
	stateful := fs.String("stateful", "off", "hubbub subscribers with stateful reconnect: off, on (negotiate it, handshake version 2, ack as the clients do) or both (each hubbub measurement off and on, interleaved)")
	huge := fs.Bool("idle-50k", false, "idle scenario at 50,000 connections (needs ulimit -n above 50k in both processes)")
	echo := fs.Int("echo-conns", 100, "concurrent Go clients for echo")
	groups := fs.Int("groups", 20, "groups for the group scenario")
	churn := fs.Int("churn-conns", 32, "concurrent workers for churn")
	sources := fs.String("sources", "127.0.0.1-127.0.0.16", "client source addresses in 127.0.0.0/8: a list or a range a.b.c.d-a.b.c.e")
	serverProcs := fs.Int("server-procs", 1, "GOMAXPROCS of each server process")
	clientProcs := fs.Int("client-procs", 1, "GOMAXPROCS of the load generator")
	inproc := fs.Bool("inprocess", false, "run the servers inside this process (tests; not fair for numbers)")
	hubbubAddr := fs.String("hubbub-addr", "", "measure an already running hubbub (e.g. cmd/hubbub) at this 127.x address instead of starting one; no memory figures")
	out := fs.String("out", "cmd/hubbench/results", "directory for results.json, results.md and the SVG charts")
	quiet := fs.Bool("quiet", false, "no live progress line")
	settle := fs.Duration("settle", 3*time.Second, "pause before memory readings (idle, churn)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load generator (this process) to this file (go tool pprof FILE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if *clusterProfiles != "" {
		if err := os.MkdirAll(*clusterProfiles, 0o755); err != nil {
			return fmt.Errorf("--cluster-cpuprofile: %w", err)
		}
	}
	sizes, err := parseSizes("--conns", *conns)
	if err != nil {
		return err
	}
	groupSizes, clusterSizes := sizes, sizes
	if *groupConns != "" {
		if groupSizes, err = parseSizes("--group-conns", *groupConns); err != nil {
			return err
		}
	}
	if *clusterConns != "" {
		if clusterSizes, err = parseSizes("--cluster-conns", *clusterConns); err != nil {
			return err
		}
	}
	cfg := config{
		Scenarios: splitList(*scen), Targets: splitList(*targets), Transports: splitList(*kinds),
		Conns: sizes[0], Sizes: sizes, GroupSizes: groupSizes, ClusterSizes: clusterSizes, Modes: expand(*modes, modeWindow, modeBurst), Burst: *burst, BurstRepeats: *burstRepeats, BurstTimeout: *burstTimeout,
		Profiles: expand(*profiles, profileOne, profileFull), ClusterNodes: *clusterNodes, ClusterPublishers: max(1, *clusterPublishers), redisServer: *redisServer, clusterProfiles: *clusterProfiles, hubbubAdmin: *hubbubAdmin,
		ClusterBackplanes: splitList(*clusterBackplanes), NATS: *natsURL,
		InterestNodes: *interestNodes, InterestGroups: *interestGroups, InterestConns: *interestConns, InterestBackplanes: splitList(*interestBackplanes),
		Duration: *dur, Window: max(1, *window), Rounds: max(1, *rounds), IdleConns: *idle, IdleRounds: max(1, *idleRounds), Stateful: *stateful, AckDelay: *ackDelay, AckBytes: *ackBytes,
		EchoConns: *echo, Groups: max(1, *groups), ChurnConns: *churn, ServerProcs: *serverProcs, ClientProcs: *clientProcs,
		InProcess: *inproc, HubbubAddr: *hubbubAddr, settle: *settle,
		Protocols: expand(*protocols, "json", "messagepack"), Payloads: expand(*payloads, "text", "binary"),
	}
	if *huge {
		cfg.IdleConns = 50000
	}
	if err := cfg.prepare(*sources); err != nil {
		return err
	}
	if !*quiet {
		cfg.progress = os.Stderr
	}
	limit := raiseFileLimit()
	if need := uint64(max(cfg.IdleConns, slices.Max(cfg.Sizes), slices.Max(cfg.GroupSizes), slices.Max(cfg.ClusterSizes), cfg.InterestConns)) + 512; limit < need {
		fmt.Fprintf(os.Stderr, "hubbench: open-file limit %d is below the %d this run needs; raise the hard limit (ulimit -Hn) or lower --idle-conns/--conns/--group-conns/--cluster-conns/--interest-conns\n", limit, need)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	r := &runner{cfg: cfg, d: newDialer(cfg.sources)}
	results := r.run(ctx)
	rep := newReport(cfg, results, time.Since(started))
	rep.Notes = r.notes
	if err := rep.write(*out); err != nil {
		return err
	}
	fmt.Fprint(os.Stderr, "\n"+rep.modesMarkdown()+rep.clusterMarkdown()+rep.interestMarkdown())
	fmt.Fprintf(os.Stderr, "\nwrote %s (%s)\n", filepath.Join(*out, "results.json"), time.Since(started).Round(time.Second))
	return nil
}

// reportCmd rewrites results.md and bench.svg from a results.json.
func reportCmd(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	dir := fs.String("out", "cmd/hubbench/results", "directory holding results.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(*dir, "results.json"))
	if err != nil {
		return err
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return err
	}
	rep.Best = best(rep.Results)
	return rep.write(*dir)
}

// prepare checks the config and parses the source addresses and transports.
func (cfg *config) prepare(sources string) error {
	for _, t := range cfg.Targets {
		if t != targetHubbub && t != targetRaw && t != targetCentrifuge {
			return fmt.Errorf("--targets: unknown target %q", t)
		}
	}
	for _, name := range cfg.Transports {
		k, ok := transports.ParseKind(name)
		if !ok {
			return fmt.Errorf("--transports: unknown transport %q", name)
		}
		cfg.kinds = append(cfg.kinds, k)
	}
	if err := cfg.prepareModes(); err != nil {
		return err
	}
	if err := cfg.checkInterest(); err != nil {
		return err
	}
	switch cfg.Stateful {
	case "", "off":
		cfg.modes = []bool{false}
	case "on":
		cfg.modes = []bool{true}
	case "both":
		cfg.modes = []bool{false, true}
	default:
		return fmt.Errorf("--stateful: %q is not off, on or both", cfg.Stateful)
	}
	wires, err := wiresOf(cfg.Protocols, cfg.Payloads)
	if err != nil {
		return err
	}
	cfg.wires = wires
	if slices.Contains(cfg.Protocols, "messagepack") && slices.Contains(cfg.modes, true) {
		return errors.New("--stateful: the lean subscribers ack in JSON only; measure MessagePack with --stateful off")
	}
	ips, err := parseSources(sources)
	if err != nil {
		return err
	}
	cfg.sources = ips
	for _, ip := range ips {
		cfg.Sources = append(cfg.Sources, ip.String())
	}
	if cfg.HubbubAddr != "" {
		if err := checkLoopback(cfg.HubbubAddr); err != nil {
			return err
		}
	}
	return nil
}

// parseSources reads "127.0.0.1,127.0.0.2" or "127.0.0.1-127.0.0.16"; every address
// must be in 127.0.0.0/8.
func parseSources(s string) ([]net.IP, error) {
	var ips []net.IP
	for _, part := range splitList(s) {
		from, to, isRange := strings.Cut(part, "-")
		a := net.ParseIP(from).To4()
		b := a
		if isRange {
			b = net.ParseIP(to).To4()
		}
		if a == nil || b == nil || a[0] != 127 || b[0] != 127 {
			return nil, fmt.Errorf("--sources: %q is not in 127.0.0.0/8", part)
		}
		ai, bi := ipToInt(a), ipToInt(b)
		if bi < ai || bi-ai > 1024 {
			return nil, fmt.Errorf("--sources: bad range %q", part)
		}
		for v := ai; v <= bi; v++ {
			ips = append(ips, net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)))
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("--sources: none")
	}
	return ips, nil
}

func ipToInt(ip net.IP) uint32 {
	return uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// report is results.json.
type report struct {
	Machine machine  `json:"machine"`
	Config  config   `json:"config"`
	Took    string   `json:"took"`
	Results []result `json:"results"`
	Best    []result `json:"best"`            // per scenario/target/transport/mode/profile/size: the best round
	Notes   []string `json:"notes,omitempty"` // what the run skipped, and why
}

type machine struct {
	CPUs      int    `json:"cpus"`
	Model     string `json:"model"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
	Date      string `json:"date"`
}

func newReport(cfg config, results []result, took time.Duration) *report {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Date: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
	}
	return &report{Machine: m, Config: cfg, Took: took.Round(time.Second).String(), Results: results, Best: best(results)}
}

// best keeps, for each scenario/target/transport, the round with the most
// deliveries/s: background load on a shared machine only ever lowers a number.
func best(results []result) []result {
	var out []result
	idx := map[string]int{}
	for _, r := range results {
		key := r.Scenario + "/" + r.Target + "/" + modeName(r) + "/" + r.cell()
		i, ok := idx[key]
		if !ok {
			idx[key] = len(out)
			out = append(out, r)
			continue
		}
		if r.DeliveriesPS > out[i].DeliveriesPS {
			out[i] = r
		}
	}
	return out
}

func (rep *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(rep.markdown()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "bench.svg"), []byte(rep.svg()), 0o644)
}
