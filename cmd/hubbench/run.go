package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/transports"
)

// config is one run's settings.
type config struct {
	Scenarios  []string `json:"scenarios"`
	Targets    []string `json:"targets"`
	Transports []string `json:"transports"`
	Conns      int      `json:"conns"` // the first of Sizes
	// Sizes are the subscriber counts of broadcast, group and cluster (--conns),
	// each measured in turn; GroupSizes and ClusterSizes replace them for group
	// and cluster when set (--group-conns, --cluster-conns).
	Sizes        []int         `json:"sizes,omitempty"`
	GroupSizes   []int         `json:"groupSizes,omitempty"`
	ClusterSizes []int         `json:"clusterSizes,omitempty"`
	Duration     time.Duration `json:"duration"`
	Window       int           `json:"window"`
	// Modes are how the publisher sends: "window" and/or "burst" (--mode); each
	// fan-out measures every mode on the same connections, in this order.
	Modes []string `json:"modes,omitempty"`
	// Burst is the messages of one burst (default 100), BurstRepeats the bursts of
	// one measurement (default 5), BurstTimeout how long one may take (default 30 s).
	Burst        int           `json:"burst,omitempty"`
	BurstRepeats int           `json:"burstRepeats,omitempty"`
	BurstTimeout time.Duration `json:"burstTimeout,omitempty"`
	// Profiles are the GOMAXPROCS profiles, "one" and/or "full" (--profile), each
	// run in turn with every scenario.
	Profiles []string `json:"profiles,omitempty"`
	// ClusterNodes is the server nodes of the cluster scenario (default 3).
	ClusterNodes int `json:"clusterNodes,omitempty"`
	// ClusterBackplanes are hubbub's backplanes in the cluster scenarios (redis,
	// redis-by-hub, redis-cluster, nats); centrifuge runs once, on one Redis.
	// Empty (runs before issue 18): redis.
	ClusterBackplanes []string `json:"clusterBackplanes,omitempty"`
	// NATS is the NATS the nats backplane uses (--nats), each measurement under a
	// prefix of its own.
	NATS string `json:"nats,omitempty"`
	// Interest* set up the interest scenario: InterestNodes hubbub nodes,
	// InterestGroups groups whose members are all on one node (group g on node g
	// mod InterestNodes), InterestConns subscribers (rounded down to a multiple of
	// the groups), on each of InterestBackplanes in turn.
	InterestNodes      int      `json:"interestNodes,omitempty"`
	InterestGroups     int      `json:"interestGroups,omitempty"`
	InterestConns      int      `json:"interestConns,omitempty"`
	InterestBackplanes []string `json:"interestBackplanes,omitempty"`
	// ClusterPublishers is the publisher's connections in the cluster scenario,
	// hubbub's and centrifuge's alike (default 32, the default --window): each
	// publish waits for Redis there, and both servers run one command of a
	// connection at a time, so with the 4 of one node the window could not be in
	// flight. One node's scenarios keep 4. 0 is the default.
	ClusterPublishers int `json:"clusterPublishers,omitempty"`
	Rounds            int `json:"rounds"`
	IdleConns         int `json:"idleConns"`
	IdleRounds        int `json:"idleRounds,omitempty"`
	// Stateful is "off" (the default: subscribers as before), "on" (hubbub
	// subscribers negotiate stateful reconnect and ack, see ack.go) or "both" (each
	// hubbub measurement twice, off and on, interleaved in every round).
	Stateful string `json:"stateful,omitempty"`
	// AckDelay is the stateful subscribers' ack timer; 0 is the clients' 1 s.
	AckDelay time.Duration `json:"ackDelay,omitempty"`
	// AckBytes received since the last ack send one at once; 0 is the clients' 32 KiB.
	AckBytes    int      `json:"ackBytes,omitempty"`
	EchoConns   int      `json:"echoConns"`
	Groups      int      `json:"groups"`
	ChurnConns  int      `json:"churnWorkers"`
	Sources     []string `json:"sources"`
	ServerProcs int      `json:"serverProcs"`
	ClientProcs int      `json:"clientProcs"`
	InProcess   bool     `json:"inProcess"`
	HubbubAddr  string   `json:"hubbubAddr,omitempty"`
	// Protocols are the hub protocols hubbub's broadcast and echo are measured
	// with: "json" and/or "messagepack" (--protocol). Payloads are "text" (128 B
	// string) and/or "binary" (4 KiB of bytes: bin under MessagePack, base64 under
	// JSON) (--payload). Baselines and the other scenarios use JSON and text.
	Protocols []string `json:"protocols,omitempty"`
	Payloads  []string `json:"payloads,omitempty"`

	settle          time.Duration // pause before memory readings; default 3 s
	redisServer     string        // the redis-server binary of the cluster scenario
	clusterProfiles string        // directory for the cluster nodes' CPU profiles; "" for none
	hubbubAdmin     bool          // hubbub servers run with the admin dashboard (serve --admin)
	sources         []net.IP
	kinds           []transports.Kind
	modes           []bool    // stateful off (false) and/or on (true), from Stateful
	wires           []wire    // protocol × payload, from Protocols and Payloads
	progress        io.Writer // nil: no live line
}

// result is one measurement.
type result struct {
	Scenario  string `json:"scenario"`
	Target    string `json:"target"`
	Transport string `json:"transport"`
	Stateful  bool   `json:"stateful,omitempty"` // subscribers negotiated stateful reconnect and acked
	Protocol  string `json:"protocol,omitempty"` // hub protocol; "" is json
	Payload   string `json:"payload,omitempty"`  // "binary" (4 KiB) or "" (128 B text)
	Mode      string `json:"mode,omitempty"`     // "window" or "burst" (fan-out scenarios); "" is window
	Profile   string `json:"profile,omitempty"`  // GOMAXPROCS profile, "one" or "full"; "" is one
	Round     int    `json:"round"`
	Conns     int    `json:"conns"`
	Nodes     int    `json:"nodes,omitempty"` // cluster: server nodes sharing one backplane
	// Backplane is what a cluster's nodes share: redis, redis-by-hub,
	// redis-cluster or nats (centrifuge: its Redis broker on one Redis, "redis");
	// "" in runs before issue 18 (one Redis).
	Backplane string `json:"backplane,omitempty"`
	// Routing is how the first node's backplane routes: "interest" or "hub".
	Routing   string  `json:"routing,omitempty"`
	Connected int64   `json:"connected"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`

	// broadcast and group
	Sent         int64   `json:"sent,omitempty"`
	Expected     int64   `json:"expected,omitempty"`
	Delivered    int64   `json:"delivered,omitempty"`
	Stalls       int64   `json:"stalls,omitempty"`     // window: waits of 2 s for a message; burst: bursts over --burst-timeout
	Bursts       int64   `json:"bursts,omitempty"`     // burst: bursts delivered in full
	AckRetries   int64   `json:"ackRetries,omitempty"` // stateful: ack POSTs cut by the network and sent again
	DeliveriesPS float64 `json:"deliveriesPerSec,omitempty"`
	MessagesPS   float64 `json:"messagesPerSec,omitempty"`
	// PerUnit is deliveries per unit received (WebSocket message, SSE event, poll
	// body): how many messages the server batched into one write.
	PerUnit  float64   `json:"deliveriesPerUnit,omitempty"`
	Latency  *latency  `json:"latency,omitempty"`
	Timeline []float64 `json:"timeline,omitempty"` // deliveries per second, each second

	// echo and churn
	Ops   int64   `json:"ops,omitempty"`
	OpsPS float64 `json:"opsPerSec,omitempty"`

	// Hub-protocol bytes per message (transport framing not counted): WireIn
	// received by a subscriber per delivery (broadcast) or by a client per round
	// trip (echo); WireOut sent by the publisher per message or by a client per
	// round trip.
	WireIn  float64 `json:"wireInBytesPerMessage,omitempty"`
	WireOut float64 `json:"wireOutBytesPerMessage,omitempty"`

	// idle and churn: server memory
	Before   *serverStats `json:"serverBefore,omitempty"`
	After    *serverStats `json:"serverAfter,omitempty"`
	RSSPer   float64      `json:"rssBytesPerConn,omitempty"`
	HeapPer  float64      `json:"heapBytesPerConn,omitempty"`
	StackPer float64      `json:"stackBytesPerConn,omitempty"`
	GorPer   float64      `json:"goroutinesPerConn,omitempty"`
	Note     string       `json:"note,omitempty"`

	// CPU use during the measurement, in cores (1.0 = one core busy); ServerCPU
	// adds up every node of a cluster.
	ServerCPU float64 `json:"serverCores,omitempty"`
	ClientCPU float64 `json:"clientCores,omitempty"`

	// cluster: the CPU seconds each node process used during the measurement, and
	// the Redis commands per broadcast (INFO commandstats before and after,
	// divided by the messages sent), in all and by command.
	NodeCPU        []float64          `json:"nodeCPUSeconds,omitempty"`
	RedisCommands  float64            `json:"redisCommandsPerBroadcast,omitempty"`
	RedisByCommand map[string]float64 `json:"redisCommandsPerBroadcastByName,omitempty"`
	// RedisReads is the reads Redis made from its clients' connections per
	// broadcast (INFO stats total_reads_processed): round trips, so below the
	// commands when they come in pipelines.
	RedisReads float64 `json:"redisReadsPerBroadcast,omitempty"`
	// BackplaneCPU is the CPU the backplane's servers used per message sent, in
	// µs: a Redis's (a Redis Cluster's masters added up) from INFO cpu, NATS's
	// from its process.
	BackplaneCPU float64 `json:"backplaneCPUMicrosPerMessage,omitempty"`
	// BackplanePublished is the envelopes all nodes published on the backplane
	// during the measurement (their Stats.Published); PerNode has each node's
	// share of what it received. Both need the nodes' backplane stats.
	BackplanePublished *int64       `json:"backplanePublished,omitempty"`
	PerNode            []nodeResult `json:"perNode,omitempty"`
}

// nodeResult is one node of a cluster during a measurement.
type nodeResult struct {
	Node       int     `json:"node"`       // 1 is the publisher's
	CPUSeconds float64 `json:"cpuSeconds"` // 0 when unknown (in-process servers)
	// Received is the envelopes the node received from other nodes (its
	// backplane's Stats.Received, after less before), Published those it sent;
	// Share is Received over every node's Published. Absent without stats.
	Received  *int64  `json:"received,omitempty"`
	Published *int64  `json:"published,omitempty"`
	Share     float64 `json:"shareOfPublished,omitempty"`
	Routing   string  `json:"routing,omitempty"` // interest or hub
	// Groups, Deliveries and DeliveriesPS (interest only): the groups whose
	// members are on the node, and the deliveries to its subscribers (messages to
	// its groups × members per group) in all and per second.
	Groups       int     `json:"groups,omitempty"`
	Deliveries   int64   `json:"deliveries,omitempty"`
	DeliveriesPS float64 `json:"deliveriesPerSec,omitempty"`
}

// runner runs the scenarios of one config.
type runner struct {
	cfg     config
	d       *dialer
	results []result
	notes   []string // what the run skipped, and why (report.Notes)
	status  atomic.Pointer[status]
	profile string // the GOMAXPROCS profile being measured
	// The cluster scenarios' backplanes while they run (r.backplane): their own
	// Redis and Redis Cluster, and each backplane (or why it failed) by name.
	redis        *redisProcess
	redisCluster *redisCluster
	envs         map[string]*backplaneEnv
	envErrs      map[string]error
}

// status feeds the live progress line.
type status struct {
	label     string
	connected func() int64
	counter   func() int64 // messages so far
	errors    func() int64
}

// server is a target server for one measurement.
type server struct {
	addr  string
	stats func() (*serverStats, error) // after a GC
	cpu   func() float64               // server CPU seconds so far (0 if unknown)
	stop  func()
}

// backplane reads the server's backplane counters (a cluster node's).
func (s *server) backplane() (*backplaneStats, error) { return fetchBackplaneStats(s.addr) }

func (r *runner) startServer(target string) (*server, error) {
	return r.startNode(target, serveOptions{admin: r.cfg.hubbubAdmin && target == targetHubbub})
}

// startNode starts one server for target; with opts.redis set, a cluster node.
func (r *runner) startNode(target string, opts serveOptions) (*server, error) {
	if target == targetHubbub && r.cfg.HubbubAddr != "" && !opts.clustered() {
		return &server{addr: r.cfg.HubbubAddr, stats: func() (*serverStats, error) { return nil, nil }, cpu: func() float64 { return 0 }, stop: func() {}}, nil
	}
	if r.cfg.InProcess {
		s, err := startServer(target, "127.0.0.1:0", opts)
		if err != nil {
			return nil, err
		}
		return &server{addr: s.addr, stats: func() (*serverStats, error) { return fetchStats(s.addr, true) }, cpu: func() float64 { return 0 }, stop: s.close}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--target", target, "--addr", "127.0.0.1:0"}, opts.args()...)
	if opts.cpuProfile != "" {
		args = append(args, "--cpuprofile", opts.cpuProfile)
	}
	cmd := exec.Command(exe, args...)
	procs, _ := r.cfg.procs(r.profile)
	cmd.Env = serverEnv(procs)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("serve %s: %q %v", target, line, err)
	}
	cpu := func() float64 {
		st, err := fetchStats(addr, false)
		if err != nil {
			return 0
		}
		return st.CPUSeconds
	}
	return &server{addr: addr, stats: func() (*serverStats, error) { return fetchStats(addr, true) }, cpu: cpu, stop: func() {
		stdin.Close()
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}}, nil
}

func fetchStats(addr string, gc bool) (*serverStats, error) {
	u := "http://" + addr + statsPath
	if gc {
		u += "?gc=1"
	}
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s serverStats
	return &s, json.NewDecoder(resp.Body).Decode(&s)
}

// connectAll opens n subscribers, 64 at a time, connection i to addrOf(i) (a node
// of a cluster). group(i) names connection i's group.
func (r *runner) connectAll(ctx context.Context, addrOf func(int) string, target string, kind transports.Kind, stateful bool, w wire, n int, group func(int) string, s *sink) ([]subConn, error) {
	conns := make([]subConn, n)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	sem := make(chan struct{}, 64)
	for i := range n {
		if firstErr.Load() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			g := ""
			if group != nil {
				g = group(i)
			}
			var c subConn
			var err error
			for attempt := 0; attempt < 3; attempt++ {
				if c, err = subscribe(ctx, r.d, addrOf(i), target, kind, g, stateful, w.proto, s); err == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	r.d.closeIdle()
	if err, _ := firstErr.Load().(error); err != nil {
		closeAll(conns)
		return nil, fmt.Errorf("connect %d %s/%s subscribers: %w", n, target, transportName(kind), err)
	}
	return conns, nil
}

func closeAll(conns []subConn) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range conns {
		if c != nil {
			sem <- struct{}{}
			wg.Add(1)
			go func() { defer func() { <-sem; wg.Done() }(); c.close() }()
		}
	}
	wg.Wait()
}

// idle opens IdleConns connections and measures what the server holds for them.
func (r *runner) idle(ctx context.Context, target string, kind transports.Kind, stateful bool, round int) result {
	n := r.cfg.IdleConns
	res := result{Scenario: "idle", Target: target, Transport: transportName(kind), Stateful: stateful, Round: round, Conns: n}
	srv, err := r.startServer(target)
	if err != nil {
		res.Note = err.Error()
		return res
	}
	defer srv.stop()
	time.Sleep(300 * time.Millisecond)
	before, err := srv.stats()
	if err != nil || before == nil {
		res.Note = fmt.Sprintf("no server stats: %v", err)
	}
	s := newSink()
	r.status.Store(&status{label: fmt.Sprintf("idle %s/%s #%d", target, modeName(res), round), connected: s.connected.Load, counter: s.delivered.Load, errors: s.errors.Load})
	start := time.Now()
	conns, err := r.connectAll(ctx, func(int) string { return srv.addr }, target, kind, stateful, wire{}, n, nil, s)
	if err != nil {
		res.Note = err.Error()
		return res
	}
	defer func() { s.closing.Store(true); closeAll(conns) }()
	res.Seconds = time.Since(start).Seconds()
	time.Sleep(r.cfg.settleTime()) // let handshakes, first polls and timers settle
	res.Connected = s.connected.Load()
	res.Errors = s.errors.Load()
	if e := s.firstError(); e != "" {
		res.Note = "first error: " + e
	}
	after, err := srv.stats()
	if err != nil || after == nil || before == nil {
		return res
	}
	res.Before, res.After = before, after
	per := func(a, b float64) float64 { return (a - b) / float64(n) }
	res.RSSPer = per(float64(after.RSS), float64(before.RSS))
	res.HeapPer = per(float64(after.HeapInuse), float64(before.HeapInuse))
	res.StackPer = per(float64(after.StackInuse), float64(before.StackInuse))
	res.GorPer = per(float64(after.Goroutines), float64(before.Goroutines))
	return res
}

// echo runs EchoConns Go clients, each invoking Echo with the payload of w (128-byte
// text or 4 KiB binary) in a loop, in w's protocol: round trips under load.
func (r *runner) echo(ctx context.Context, kind transports.Kind, w wire) result {
	res := result{Scenario: "echo", Target: targetHubbub, Transport: transportName(kind), Conns: r.cfg.EchoConns}
	w.label(&res)
	srv, err := r.startServer(targetHubbub)
	if err != nil {
		res.Note = err.Error()
		return res
	}
	defer srv.stop()
	var h histogram
	var ops, errs, connected atomic.Int64
	r.status.Store(&status{label: "echo hubbub/" + res.Transport, connected: connected.Load, counter: ops.Load, errors: errs.Load})
	conns := make([]*client.Conn, r.cfg.EchoConns)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := dialGoClient(ctx, r.d, srv.addr, kind, w.proto)
			if err != nil {
				errs.Add(1)
				return
			}
			conns[i] = c
			connected.Add(1)
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	res.Connected = connected.Load()
	start := time.Now()
	deadline := start.Add(r.cfg.Duration)
	payload := w.echoPayload(start)
	var sent0, received0 uint64
	for _, c := range conns {
		if c != nil {
			st := c.Stats()
			sent0, received0 = sent0+st.BytesSent, received0+st.BytesReceived
		}
	}
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
				res, err := c.Invoke(ictx, "Echo", payload)
				cancel()
				if err == nil {
					err = w.checkEcho(res, payload)
				}
				if err != nil {
					errs.Add(1)
					return
				}
				h.record(time.Since(t0))
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Ops = ops.Load()
	res.OpsPS = float64(res.Ops) / res.Seconds
	if res.Ops > 0 {
		var sent, received uint64
		for _, c := range conns {
			if c != nil {
				st := c.Stats()
				sent, received = sent+st.BytesSent, received+st.BytesReceived
			}
		}
		res.WireOut = float64(sent-sent0) / float64(res.Ops)
		res.WireIn = float64(received-received0) / float64(res.Ops)
	}
	res.Errors = errs.Load()
	l := h.summary()
	res.Latency = &l
	return res
}

// churn runs ChurnConns workers that connect a Go client, make one Echo call and
// close, over and over; then checks that the server went back to its idle state.
func (r *runner) churn(ctx context.Context, kind transports.Kind) result {
	res := result{Scenario: "churn", Target: targetHubbub, Transport: transportName(kind), Conns: r.cfg.ChurnConns}
	srv, err := r.startServer(targetHubbub)
	if err != nil {
		res.Note = err.Error()
		return res
	}
	defer srv.stop()
	time.Sleep(300 * time.Millisecond)
	before, _ := srv.stats()
	var h histogram
	var ops, errs, open atomic.Int64
	r.status.Store(&status{label: "churn hubbub/" + res.Transport, connected: open.Load, counter: ops.Load, errors: errs.Load})
	start := time.Now()
	deadline := start.Add(r.cfg.Duration)
	var wg sync.WaitGroup
	for range r.cfg.ChurnConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				c, err := dialGoClient(dctx, r.d, srv.addr, kind, nil)
				if err == nil {
					open.Add(1)
					_, err = c.Invoke(dctx, "Echo", "x")
					c.Close()
					open.Add(-1)
				}
				cancel()
				if err != nil {
					errs.Add(1)
					continue
				}
				h.record(time.Since(t0))
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Ops, res.Errors = ops.Load(), errs.Load()
	res.OpsPS = float64(res.Ops) / res.Seconds
	l := h.summary()
	res.Latency = &l
	// Long-polling sessions outlive their connection for DisconnectTimeout; others
	// should be gone within a moment.
	r.d.closeIdle()
	time.Sleep(r.cfg.settleTime())
	after, _ := srv.stats()
	if before != nil && after != nil {
		res.Before, res.After = before, after
		res.Note = fmt.Sprintf("server goroutines %d before, %d after; heap in use %.1f MiB before, %.1f MiB after",
			before.Goroutines, after.Goroutines, float64(before.HeapInuse)/(1<<20), float64(after.HeapInuse)/(1<<20))
	}
	return res
}

// run runs every selected scenario, under each GOMAXPROCS profile in turn.
// Fan-out measurements interleave targets and transports within each round, so
// that background load on the machine hits them alike; within one measurement,
// every --mode runs on the same connections.
func (r *runner) run(ctx context.Context) []result {
	stop := r.startProgress()
	defer stop()
	for _, profile := range r.cfg.Profiles {
		if ctx.Err() != nil {
			break
		}
		r.profile = profile
		_, clientProcs := r.cfg.procs(profile)
		prev := runtime.GOMAXPROCS(clientProcs)
		r.runProfile(ctx)
		runtime.GOMAXPROCS(prev)
	}
	return r.results
}

// add records a finished measurement and prints it.
func (r *runner) add(res result) {
	if res.Profile == "" {
		res.Profile = r.profile
	}
	r.results = append(r.results, res)
	r.printLine(res)
}

func (r *runner) has(scenario string) bool { return slices.Contains(r.cfg.Scenarios, scenario) }

// fanOutPair is one target and transport of a round, and for hubbub one stateful
// mode and wire.
type fanOutPair struct {
	target   string
	kind     transports.Kind
	stateful bool
	wire     wire
}

// pairsOf lists the measurements of one round: every target and transport, and
// for hubbub every stateful mode, side by side. With both modes, odd rounds
// measure off first and even rounds on first, so that neither always follows the
// other.
func (r *runner) pairsOf(round int, wires []wire) []fanOutPair {
	var pairs []fanOutPair
	for _, t := range r.cfg.Targets {
		if t != targetHubbub {
			pairs = append(pairs, fanOutPair{t, transports.WebSockets, false, wire{}})
			continue
		}
		for _, k := range r.cfg.kinds {
			for i := range r.cfg.modes {
				if round%2 == 0 {
					i = len(r.cfg.modes) - 1 - i
				}
				for _, w := range wires {
					if w.carriedBy(k) {
						pairs = append(pairs, fanOutPair{t, k, r.cfg.modes[i], w})
					}
				}
			}
		}
	}
	return pairs
}

// runProfile runs every selected scenario under the current profile.
func (r *runner) runProfile(ctx context.Context) {
	wires := r.cfg.wires
	if len(wires) == 0 {
		wires = []wire{{}} // JSON, text
	}
	addAll := func(rs []result) {
		for _, res := range rs {
			r.add(res)
		}
	}
	if r.has("broadcast") {
		for _, size := range r.cfg.Sizes {
			for round := 1; round <= r.cfg.Rounds && ctx.Err() == nil; round++ {
				for _, p := range r.pairsOf(round, wires) {
					addAll(r.fanOut(ctx, fanOutSpec{scenario: "broadcast", fanOutPair: p, round: round, conns: size}))
				}
			}
		}
	}
	if r.has("idle") {
		for round := 1; round <= max(1, r.cfg.IdleRounds) && ctx.Err() == nil; round++ {
			for _, p := range r.pairsOf(round, []wire{{}}) {
				r.add(r.idle(ctx, p.target, p.kind, p.stateful, round))
			}
		}
	}
	for _, k := range r.cfg.kinds {
		if !r.has("echo") || ctx.Err() != nil || !hasTarget(r.cfg.Targets, targetHubbub) {
			break
		}
		for _, w := range wires {
			if w.carriedBy(k) {
				r.add(r.echo(ctx, k, w))
			}
		}
	}
	if r.has("group") {
		// hubbub in every transport and stateful mode; centrifuge (its groups are
		// channels) as the baseline; the raw loop has no groups.
		var pairs []fanOutPair
		if hasTarget(r.cfg.Targets, targetCentrifuge) {
			pairs = append(pairs, fanOutPair{target: targetCentrifuge, kind: transports.WebSockets})
		}
		for _, k := range r.cfg.kinds {
			for _, stateful := range r.cfg.modes {
				if hasTarget(r.cfg.Targets, targetHubbub) {
					pairs = append(pairs, fanOutPair{target: targetHubbub, kind: k, stateful: stateful})
				}
			}
		}
		for _, size := range r.cfg.sizesOf(r.cfg.GroupSizes) {
			for _, p := range pairs {
				addAll(r.fanOut(ctx, fanOutSpec{scenario: "group", fanOutPair: p, round: 1, conns: size, groups: r.cfg.Groups}))
			}
		}
	}
	if r.has("cluster") {
		r.cluster(ctx)
	}
	if r.has("interest") {
		r.interest(ctx)
	}
	if r.has("churn") && hasTarget(r.cfg.Targets, targetHubbub) {
		for _, k := range r.cfg.kinds {
			r.add(r.churn(ctx, k))
		}
	}
}

func hasTarget(ts []string, t string) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// startProgress prints one updating line a second: connections up, messages/s, errors.
func (r *runner) startProgress() func() {
	if r.cfg.progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastLabel string
		var last int64
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			st := r.status.Load()
			if st == nil {
				continue
			}
			n := st.counter()
			if st.label != lastLabel {
				lastLabel, last = st.label, n
			}
			fmt.Fprintf(r.cfg.progress, "\r\033[K%-36s conns up %6d   msgs/s %9d   errors %d", st.label, st.connected(), n-last, st.errors())
			last = n
		}
	}()
	return func() { close(done); wg.Wait() }
}

// printLine prints a finished measurement on a line of its own.
func (r *runner) printLine(res result) {
	if r.cfg.progress == nil {
		return
	}
	fmt.Fprintf(r.cfg.progress, "\r\033[K%s\n", summaryLine(res))
}

func summaryLine(res result) string {
	head := fmt.Sprintf("%-9s %-10s %-6s", res.Scenario, res.Target, modeName(res))
	fanOut := res.Mode != "" // broadcast, group and cluster results have one
	if fanOut {
		head += fmt.Sprintf(" %-6s %-4s", res.modeOf(), res.profileOf())
	}
	if res.Round > 0 && (fanOut || res.Scenario == "idle") {
		head += fmt.Sprintf(" #%d", res.Round)
	}
	var body string
	switch {
	case fanOut:
		body = fmt.Sprintf("conns %d  sent %d  delivered %d/%d  %.0f deliveries/s  %.1f per unit  cpu server %.2f client %.2f", res.Connected, res.Sent, res.Delivered, res.Expected, res.DeliveriesPS, res.PerUnit, res.ServerCPU, res.ClientCPU)
		if res.Nodes > 1 {
			var cpu []string
			for _, c := range res.NodeCPU {
				cpu = append(cpu, fmt.Sprintf("%.2f", c))
			}
			body += fmt.Sprintf("  nodes %d", res.Nodes)
			if len(cpu) > 0 {
				body += " (cpu s " + strings.Join(cpu, " / ") + ")"
			}
			if res.BackplanePublished != nil {
				body += fmt.Sprintf("  %s published %d, inbound %s", orDash(res.Routing), *res.BackplanePublished, nodeInbound(&res))
			}
			if res.RedisCommands > 0 {
				body += fmt.Sprintf("  redis commands/broadcast %.2f (%s) reads/broadcast %.2f", res.RedisCommands, topCommands(res.RedisByCommand, 3), res.RedisReads)
			}
		}
	case res.Scenario == "idle":
		body = fmt.Sprintf("conns %d  RSS %.2f KiB/conn  heap %.2f KiB/conn  stacks %.2f KiB/conn  goroutines %.2f/conn",
			res.Connected, res.RSSPer/1024, res.HeapPer/1024, res.StackPer/1024, res.GorPer)
	case res.Scenario == "echo" || res.Scenario == "churn":
		body = fmt.Sprintf("workers %d  ops %d  %.0f ops/s", res.Conns, res.Ops, res.OpsPS)
	}
	if res.Latency != nil {
		body += fmt.Sprintf("  latency p50 %.2f ms p99 %.2f ms max %.2f ms", res.Latency.P50, res.Latency.P99, res.Latency.Max)
	}
	body += fmt.Sprintf("  errors %d", res.Errors)
	if res.Stalls > 0 || res.AckRetries > 0 {
		body += fmt.Sprintf("  stalls %d  ack retries %d", res.Stalls, res.AckRetries)
	}
	if res.Note != "" {
		body += "  (" + res.Note + ")"
	}
	return head + "  " + body
}

func (cfg *config) settleTime() time.Duration {
	if cfg.settle > 0 {
		return cfg.settle
	}
	return 3 * time.Second
}

// modeName is the transport's short name, with "+sr" when the subscribers used
// stateful reconnect.
func modeName(res result) string {
	name := res.Transport
	if res.Stateful {
		name += "+sr"
	}
	if res.Protocol != "" && res.Protocol != "json" {
		name += "/" + res.Protocol
	}
	if res.Payload != "" {
		name += "/" + res.Payload
	}
	if res.Backplane != "" {
		name += "/" + res.Backplane
	}
	return name
}
