package main

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// fanOutSpec is the set-up of one fan-out measurement: its servers, subscribers
// and publisher. fanOut measures it once per --mode, on the same connections.
type fanOutSpec struct {
	scenario string // broadcast, group, cluster or cluster-group
	fanOutPair
	round  int
	conns  int // subscribers asked for (group: rounded down to a multiple of groups)
	groups int // > 0: subscribers split into groups, each message to one group in turn
	nodes  int // > 1: that many servers on env (cluster and interest scenarios)
	env    *backplaneEnv
	// byGroup places every member of group g on node g mod nodes (interest);
	// otherwise every group has members on every node.
	byGroup bool
	modes   []string // the modes to measure; nil: --mode
}

// fanOut is the broadcast, group and cluster scenario: subscribers spread evenly
// over the servers (one, or the nodes of a cluster), a publisher on the first
// server, and one measurement per --mode (see fanOutRun.window and .bursts).
// Every payload carries its send time; deliveries/s and latency come from the
// subscribers' receipts.
func (r *runner) fanOut(ctx context.Context, sp fanOutSpec) []result {
	base := result{Scenario: sp.scenario, Target: sp.target, Transport: transportName(sp.kind), Stateful: sp.stateful, Round: sp.round, Conns: sp.conns, Profile: r.profile}
	sp.wire.label(&base)
	n, need := sp.conns, sp.conns
	var groupOf func(int) string
	if sp.groups > 0 {
		n -= n % sp.groups
		base.Conns = n
		need = n / sp.groups
		groupOf = func(i int) string { return groupName(int64(i), sp.groups) }
	}
	modes := sp.modes
	if modes == nil {
		modes = r.cfg.Modes
	}
	failed := func(note string) []result {
		out := make([]result, len(modes))
		for i, m := range modes {
			out[i] = base
			out[i].Mode, out[i].Note = m, note
		}
		return out
	}
	f := &fanOutRun{r: r, groups: sp.groups, wire: sp.wire, byGroup: sp.byGroup, counted: sp.target == targetHubbub}
	nodes := max(1, sp.nodes)
	if nodes > 1 {
		base.Nodes = nodes
		if sp.env == nil {
			return failed("no backplane for the cluster")
		}
		base.Backplane = sp.env.name
		f.redis = sp.env.infoAddrs
		f.backplaneCPU = sp.env.serverCPU
	}
	// One prefix per measurement (a NATS subject token: [A-Za-z0-9_-]).
	prefix := fmt.Sprintf("hubbench-%s-%s-%d-%d", sp.scenario, sp.target, time.Now().UnixNano(), sp.round)
	var addrs []string
	for range nodes {
		opts := serveOptions{admin: r.cfg.hubbubAdmin && sp.target == targetHubbub}
		if nodes > 1 {
			opts = sp.env.options(prefix)
			if dir := r.cfg.clusterProfiles; dir != "" {
				opts.cpuProfile = filepath.Join(dir, fmt.Sprintf("%s-%s-%s-%s-round%d-node%d.pprof", sp.scenario, sp.target, sp.env.name, r.profile, sp.round, len(addrs)+1))
			}
		}
		srv, err := r.startNode(sp.target, opts)
		if err != nil {
			f.stopServers()
			return failed(fmt.Sprintf("start %s node %d: %v", sp.target, len(addrs)+1, err))
		}
		f.servers = append(f.servers, srv)
		addrs = append(addrs, srv.addr)
	}
	defer f.stopServers()
	s := newSink()
	s.need = int32(need)
	s.ackDelay, s.ackBytes = r.cfg.AckDelay, r.cfg.AckBytes
	f.s = s
	r.status.Store(&status{label: fmt.Sprintf("%s %s/%s %d #%d", sp.scenario, sp.target, modeName(base), n, sp.round), connected: s.connected.Load, counter: s.delivered.Load, errors: s.errors.Load})
	// Subscriber i is in group i mod groups and on node (i / groups) mod nodes, so
	// that every group has members on every node; byGroup, on node (i mod groups)
	// mod nodes, so that each group's members are all on one node.
	addrOf := func(i int) string { return addrs[(i/max(1, sp.groups))%len(addrs)] }
	if sp.byGroup {
		addrOf = func(i int) string { return addrs[(i%max(1, sp.groups))%len(addrs)] }
	}
	conns, err := r.connectAll(ctx, addrOf, sp.target, sp.kind, sp.stateful, sp.wire, n, groupOf, s)
	if err != nil {
		return failed(err.Error())
	}
	defer closeAll(conns)
	publishers := 4
	if nodes > 1 {
		publishers = cmp.Or(r.cfg.ClusterPublishers, defaultClusterPublishers)
	}
	pub, err := newPublisher(ctx, r.d, addrs[0], sp.target, sp.wire, publishers)
	if err != nil {
		return failed("publisher: " + err.Error())
	}
	defer pub.close()
	f.pub = pub
	time.Sleep(r.cfg.settleTime() / 6) // let connection set-up settle

	var out []result
	for _, mode := range modes {
		res := base
		res.Mode = mode
		res.Connected = s.connected.Load()
		r.status.Store(&status{label: fmt.Sprintf("%s %s/%s %s %d #%d", sp.scenario, sp.target, modeName(base), mode, n, sp.round), connected: s.connected.Load, counter: s.delivered.Load, errors: s.errors.Load})
		f.measure(ctx, &res, need)
		out = append(out, res)
		if ctx.Err() != nil {
			break
		}
	}
	s.closing.Store(true)
	return out
}

// groupName is the group of subscriber or message i.
func groupName(i int64, groups int) string { return fmt.Sprintf("g%d", i%int64(groups)) }

// fanOutRun is one fan-out set-up while its modes are measured.
type fanOutRun struct {
	r       *runner
	servers []*server
	pub     publisher
	s       *sink
	groups  int
	byGroup bool // group g's members all on node g mod nodes
	counted bool // the nodes answer backplaneStatsPath (hubbub's)
	wire    wire
	redis   []string // the cluster's Redis servers, for their command counts; none without
	// backplaneCPU reads the CPU seconds the backplane's servers have used (Redis:
	// its masters; NATS: its process); nil when unknown.
	backplaneCPU func() (float64, error)
	seq          int64 // the next message's number; it goes on across modes
	buf          []byte
}

func (f *fanOutRun) stopServers() {
	for _, srv := range f.servers {
		srv.stop()
	}
}

// measure runs one mode and fills res: what was sent and delivered, the rate,
// latency, CPU, and for a cluster the Redis commands and reads per broadcast.
func (f *fanOutRun) measure(ctx context.Context, res *result, need int) {
	s := f.s
	lat := new(histogram)
	s.lat.Store(lat)
	delivered0, errors0, bytes0, retries0, units0 := s.delivered.Load(), s.errors.Load(), s.bytes.Load(), s.ackRetries.Load(), s.units.Load()
	first := f.seq
	var wireOut0 int64
	hp, isHubbub := f.pub.(*hubbubPublisher)
	if isHubbub {
		wireOut0 = hp.bytes
	}
	var redis0 *redisStats
	if len(f.redis) > 0 {
		if st, err := readRedisStats(f.redis...); err != nil {
			res.Note = "redis stats: " + err.Error()
		} else {
			redis0 = &st
		}
	}
	bp0 := f.readBackplanes(res)
	bpCPU0, bpCPUErr := -1.0, error(nil)
	if f.backplaneCPU != nil {
		bpCPU0, bpCPUErr = f.backplaneCPU()
	}
	stopSampling, sampled := sampleTimeline(s)
	cpu0 := make([]float64, len(f.servers))
	for i, srv := range f.servers {
		cpu0[i] = srv.cpu()
	}
	clientCPU0 := cpuSeconds()
	start := time.Now()

	var busy time.Duration // the time the rate is taken over
	if res.Mode == modeBurst {
		busy = f.bursts(ctx, res, need)
	} else {
		f.window(ctx, res, need)
	}
	elapsed := time.Since(start)
	if res.Mode != modeBurst {
		busy = elapsed
	}
	var serverCPU float64
	nodeCPU := make([]float64, len(f.servers))
	for i, srv := range f.servers {
		if c := srv.cpu(); c > 0 {
			serverCPU += c - cpu0[i]
			nodeCPU[i] = c - cpu0[i]
			if len(f.servers) > 1 {
				res.NodeCPU = append(res.NodeCPU, c-cpu0[i])
			}
		}
	}
	res.ServerCPU = serverCPU / elapsed.Seconds()
	res.ClientCPU = (cpuSeconds() - clientCPU0) / elapsed.Seconds()
	close(stopSampling)
	res.Timeline = <-sampled
	res.Sent = f.seq - first
	res.Seconds = busy.Seconds()
	res.Expected = res.Sent * int64(need)
	res.Delivered = s.delivered.Load() - delivered0
	res.Errors = s.errors.Load() - errors0
	res.AckRetries = s.ackRetries.Load() - retries0
	if e := s.firstError(); e != "" && res.Note == "" && res.Errors > 0 {
		res.Note = "first error: " + e
	}
	if busy > 0 {
		res.DeliveriesPS = float64(res.Delivered) / busy.Seconds()
		res.MessagesPS = float64(res.Sent) / busy.Seconds()
	}
	if res.Delivered > 0 {
		res.WireIn = float64(s.bytes.Load()-bytes0) / float64(res.Delivered)
	}
	if units := s.units.Load() - units0; units > 0 {
		res.PerUnit = float64(res.Delivered) / float64(units)
	}
	if isHubbub && res.Sent > 0 {
		res.WireOut = float64(hp.bytes-wireOut0) / float64(res.Sent)
	}
	if len(f.servers) > 1 {
		f.perNode(res, first, need, nodeCPU, bp0)
	}
	if f.backplaneCPU != nil && bpCPUErr == nil && res.Sent > 0 {
		if c, err := f.backplaneCPU(); err == nil {
			res.BackplaneCPU = (c - bpCPU0) / float64(res.Sent) * 1e6
		}
	}
	if redis0 != nil && res.Sent > 0 {
		if redis1, err := readRedisStats(f.redis...); err == nil {
			res.RedisCommands, res.RedisByCommand = perBroadcast(redis0.calls, redis1.calls, res.Sent)
			res.RedisReads = redis0.readsPerBroadcast(redis1, res.Sent)
		}
	}
	l := lat.summary()
	res.Latency = &l
}

// readBackplanes reads every node's backplane counters (cluster nodes only; nil
// for a node whose stats could not be read, and the first error in res.Note).
func (f *fanOutRun) readBackplanes(res *result) []*backplaneStats {
	if len(f.servers) < 2 || !f.counted {
		return nil
	}
	out := make([]*backplaneStats, len(f.servers))
	for i, srv := range f.servers {
		st, err := srv.backplane()
		if err != nil {
			if res.Note == "" {
				res.Note = fmt.Sprintf("node %d: %v", i+1, err)
			}
			continue
		}
		out[i] = st
	}
	return out
}

// backplaneSettle is the pause before the nodes' backplane counters are read
// after a measurement: with routing by hub, the last envelopes for groups on
// other nodes may still be on their way when every subscriber has its messages.
const backplaneSettle = 200 * time.Millisecond

// perNode fills res.PerNode: each node's CPU seconds (nodeCPU), inbound and
// published envelopes (its backplane counters after less bp0) and, byGroup, the
// deliveries to its groups from message first on.
func (f *fanOutRun) perNode(res *result, first int64, need int, nodeCPU []float64, bp0 []*backplaneStats) {
	nodes := len(f.servers)
	res.PerNode = make([]nodeResult, nodes)
	for i := range res.PerNode {
		res.PerNode[i] = nodeResult{Node: i + 1, CPUSeconds: nodeCPU[i]}
	}
	if f.byGroup && f.groups > 0 {
		for g := range f.groups {
			res.PerNode[g%nodes].Groups++
		}
		for k := first; k < f.seq; k++ {
			res.PerNode[int(k%int64(f.groups))%nodes].Deliveries += int64(need)
		}
		for i := range res.PerNode {
			if res.Seconds > 0 {
				res.PerNode[i].DeliveriesPS = float64(res.PerNode[i].Deliveries) / res.Seconds
			}
		}
	}
	if bp0 == nil {
		return
	}
	time.Sleep(backplaneSettle)
	bp1 := f.readBackplanes(res)
	var published int64
	complete := true
	for i := range res.PerNode {
		if bp1[i] != nil {
			res.PerNode[i].Routing = bp1[i].Routing
		}
		if bp0[i] == nil || bp1[i] == nil || bp0[i].Uncounted || bp1[i].Uncounted {
			complete = false
			continue
		}
		rcv, pub := int64(bp1[i].Received-bp0[i].Received), int64(bp1[i].Published-bp0[i].Published)
		res.PerNode[i].Received, res.PerNode[i].Published = &rcv, &pub
		published += pub
	}
	if res.Routing == "" && bp1[0] != nil {
		res.Routing = bp1[0].Routing
	}
	if !complete {
		return // the tables show "–" (a backplane without Stats)
	}
	res.BackplanePublished = &published
	for i := range res.PerNode {
		if published > 0 {
			res.PerNode[i].Share = float64(*res.PerNode[i].Received) / float64(published)
		}
	}
}

// sampleTimeline samples the sink's deliveries each second until stop is closed,
// then sends the per-second counts.
func sampleTimeline(s *sink) (stop chan struct{}, sampled chan []float64) {
	stop, sampled = make(chan struct{}), make(chan []float64)
	go func() {
		var tl []float64
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last := s.delivered.Load()
		for {
			select {
			case <-t.C:
				now := s.delivered.Load()
				tl = append(tl, float64(now-last))
				last = now
			case <-stop:
				sampled <- tl
				return
			}
		}
	}()
	return stop, sampled
}

// publish sends the next message, to the next group when there are groups.
func (f *fanOutRun) publish(ctx context.Context, res *result) bool {
	group := ""
	if f.groups > 0 {
		group = groupName(f.seq, f.groups)
	}
	f.buf = f.wire.appendPayload(f.buf[:0], f.seq, time.Now())
	if err := f.pub.publish(ctx, f.buf, group); err != nil {
		f.s.errors.Add(1)
		res.Note = "publish: " + err.Error()
		return false
	}
	f.seq++
	return true
}

// waitFor waits until message k reached every receiver it targets, at most limit.
func (f *fanOutRun) waitFor(ctx context.Context, k int64, need int, limit time.Duration) bool {
	s := f.s
	if s.counts[k].Load() >= int32(need) {
		return true
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for s.counts[k].Load() < int32(need) {
		select {
		case <-s.progress:
		case <-timer.C:
			return s.counts[k].Load() >= int32(need)
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// window keeps at most --window messages in flight for --duration (message k is
// sent once message k-window has reached every receiver it targets), so that the
// rate finds the server's capacity without overflowing its queues.
func (f *fanOutRun) window(ctx context.Context, res *result, need int) {
	cfg := &f.r.cfg
	first := f.seq
	deadline := time.Now().Add(cfg.Duration)
	window := int64(cfg.Window)
	for time.Now().Before(deadline) && f.seq < maxSeq && ctx.Err() == nil {
		if f.seq-first >= window && !f.waitFor(ctx, f.seq-window, need, 2*time.Second) {
			res.Stalls++
		}
		if !f.publish(ctx, res) {
			break
		}
	}
	for k := max(first, f.seq-window); k < f.seq; k++ {
		f.waitFor(ctx, k, need, 3*time.Second)
	}
}

// bursts sends --burst-repeats bursts: --burst messages back to back without
// waiting, then a wait until every subscriber got all of them (at most
// --burst-timeout). It returns the time the bursts took, from each one's first
// send to its last receipt: the rate is deliveries over that time.
func (f *fanOutRun) bursts(ctx context.Context, res *result, need int) time.Duration {
	cfg := &f.r.cfg
	var busy time.Duration
	for b := 1; b <= cfg.BurstRepeats && ctx.Err() == nil && f.seq+int64(cfg.Burst) <= maxSeq; b++ {
		from := f.seq
		start := time.Now()
		for range cfg.Burst {
			if !f.publish(ctx, res) {
				return busy + time.Since(start)
			}
		}
		deadline := start.Add(cfg.BurstTimeout)
		for k := from; k < f.seq; k++ {
			if !f.waitFor(ctx, k, need, time.Until(deadline)) {
				res.Stalls++
				res.Note = fmt.Sprintf("burst %d: not every subscriber had all %d messages after %s", b, cfg.Burst, cfg.BurstTimeout)
				return busy + time.Since(start)
			}
		}
		busy += time.Since(start)
		res.Bursts++
	}
	return busy
}

// modeTitle is how a mode's settings read in a report heading.
func (cfg *config) modeTitle(mode string) string {
	if mode == modeBurst {
		return fmt.Sprintf("burst: %d × %d messages back to back", cfg.BurstRepeats, cfg.Burst)
	}
	return fmt.Sprintf("window: %d in flight for %s", cfg.Window, cfg.Duration)
}
