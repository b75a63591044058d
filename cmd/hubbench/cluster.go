package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hubbub-go/hubbub/internal/redistest"
	"github.com/hubbub-go/hubbub/transports"
)

// The cluster scenarios: --cluster-nodes servers of one target on one backplane:
// hubbub on each of --cluster-backplanes (one Redis, a Redis Cluster, NATS),
// centrifuge with its Redis broker on one Redis (the baseline, once). The Redis
// servers are hubbench's own for the run, on free loopback ports, never the shared
// one; NATS is the one at --nats, with a prefix of its own per measurement.
// Subscribers (WebSockets) are spread evenly over the nodes, the publisher is on
// the first node, over --cluster-publishers connections; broadcast ("cluster") and
// group fan-out ("cluster-group"), each in every --mode. Each result carries its
// backplane, the CPU seconds and the inbound backplane messages of every node, and
// for Redis the commands per broadcast, from INFO commandstats before and after
// (every master of a Redis Cluster added up).

// defaultClusterPublishers is --cluster-publishers' default: the default --window,
// so that every message in flight can be in progress on its own connection.
const defaultClusterPublishers = 32

// errNoRedisServer means the cluster scenario cannot run: no redis-server binary.
var errNoRedisServer = errors.New("redis-server not found")

// clusterPair is one target on one backplane.
type clusterPair struct {
	target string
	env    *backplaneEnv
}

// cluster runs the cluster scenarios under the current profile.
func (r *runner) cluster(ctx context.Context) {
	defer r.stopBackplanes()
	var pairs []clusterPair
	if hasTarget(r.cfg.Targets, targetCentrifuge) {
		// The baseline: centrifuge's Redis broker, on one Redis.
		if env, err := r.backplane(bpRedis); err != nil {
			r.skip(fmt.Sprintf("cluster: centrifuge skipped: %v", err))
		} else {
			pairs = append(pairs, clusterPair{targetCentrifuge, env})
		}
	}
	if hasTarget(r.cfg.Targets, targetHubbub) {
		for _, name := range r.cfg.clusterBackplanes() {
			env, err := r.backplane(name)
			if err != nil {
				r.skip(fmt.Sprintf("cluster on %s: skipped: %v", name, err))
				continue
			}
			pairs = append(pairs, clusterPair{targetHubbub, env})
		}
	}
	if len(pairs) == 0 {
		if !hasTarget(r.cfg.Targets, targetHubbub) && !hasTarget(r.cfg.Targets, targetCentrifuge) {
			r.skip("cluster: skipped: it measures hubbub and centrifuge, and --targets has neither")
		}
		return
	}
	for _, sc := range []struct {
		name   string
		groups int
	}{{"cluster", 0}, {"cluster-group", r.cfg.Groups}} {
		for _, size := range r.cfg.sizesOf(r.cfg.ClusterSizes) {
			for round := 1; round <= r.cfg.Rounds && ctx.Err() == nil; round++ {
				for _, p := range pairs {
					spec := fanOutSpec{scenario: sc.name, fanOutPair: fanOutPair{target: p.target, kind: transports.WebSockets}, round: round, conns: size, groups: sc.groups, nodes: r.cfg.ClusterNodes, env: p.env}
					for _, res := range r.fanOut(ctx, spec) {
						r.add(res)
					}
				}
			}
		}
	}
}

// clusterBackplanes is --cluster-backplanes; a config without it (tests, runs
// before issue 18) measured one Redis.
func (cfg *config) clusterBackplanes() []string {
	if len(cfg.ClusterBackplanes) == 0 {
		return []string{bpRedis}
	}
	return cfg.ClusterBackplanes
}

// backplaneEnv is a backplane the nodes of a cluster share while the scenarios run.
type backplaneEnv struct {
	name       string                  // bpRedis, bpRedisByHub, bpRedisCluster or bpNATS
	redis      string                  // serve --redis: a backplane/redis URL; "" for NATS
	routeByHub bool                    // serve --redis-route-by-hub
	nats       string                  // serve --nats; "" for Redis
	infoAddrs  []string                // the Redis servers whose INFO counts commands; none for NATS
	serverCPU  func() (float64, error) // CPU seconds of the backplane's servers so far
}

// options are the serve options of a node of this backplane, with its own prefix.
func (e *backplaneEnv) options(prefix string) serveOptions {
	return serveOptions{redis: e.redis, routeByHub: e.routeByHub, nats: e.nats, prefix: prefix}
}

// backplane returns the backplane name, starting what it needs on first use: one
// redis-server for redis and redis-by-hub (and centrifuge), a Redis Cluster for
// redis-cluster; NATS must be up at --nats. A failure is kept: the next call for
// the same name returns it without trying again.
func (r *runner) backplane(name string) (*backplaneEnv, error) {
	if env, ok := r.envs[name]; ok {
		return env, nil
	}
	if err, ok := r.envErrs[name]; ok {
		return nil, err
	}
	env, err := r.startBackplane(name)
	if r.envs == nil {
		r.envs, r.envErrs = map[string]*backplaneEnv{}, map[string]error{}
	}
	if err != nil {
		r.envErrs[name] = err
		return nil, err
	}
	r.envs[name] = env
	return env, nil
}

func (r *runner) startBackplane(name string) (*backplaneEnv, error) {
	switch name {
	case bpRedis, bpRedisByHub:
		if r.redis == nil {
			p, err := startRedis(r.cfg.redisServer)
			if err != nil {
				return nil, err
			}
			r.redis = p
		}
		addrs := []string{r.redis.addr}
		return &backplaneEnv{name: name, redis: "redis://" + r.redis.addr + "/0", routeByHub: name == bpRedisByHub, infoAddrs: addrs, serverCPU: redisCPU(addrs)}, nil
	case bpRedisCluster:
		c, err := startRedisCluster(r.cfg.redisServer)
		if err != nil {
			return nil, err
		}
		r.redisCluster = c
		return &backplaneEnv{name: name, redis: c.url(), infoAddrs: c.addrs(), serverCPU: redisCPU(c.addrs())}, nil
	case bpNATS:
		if err := checkLoopbackURL(r.cfg.NATS); err != nil {
			return nil, fmt.Errorf("--nats: %w", err)
		}
		if err := dialNATS(r.cfg.NATS); err != nil {
			return nil, err
		}
		return &backplaneEnv{name: name, nats: r.cfg.NATS, serverCPU: natsCPU(r.cfg.NATS)}, nil
	}
	return nil, fmt.Errorf("unknown backplane %q (want %s)", name, strings.Join(backplaneNames, ", "))
}

// stopBackplanes stops the Redis servers the run started and forgets every
// backplane (NATS is not this run's to stop).
func (r *runner) stopBackplanes() {
	if r.redis != nil {
		r.redis.stop()
		r.redis = nil
	}
	if r.redisCluster != nil {
		r.redisCluster.stop()
		r.redisCluster = nil
	}
	r.envs, r.envErrs = nil, nil
}

// dialNATS checks that the NATS at url (its first server) answers with its INFO line.
func dialNATS(url string) error {
	first, _, _ := strings.Cut(url, ",")
	hostport := strings.TrimPrefix(first, "nats://")
	if i := strings.LastIndexByte(hostport, '@'); i >= 0 {
		hostport = hostport[i+1:]
	}
	c, err := net.DialTimeout("tcp", hostport, time.Second)
	if err != nil {
		return fmt.Errorf("nats at %s unreachable: %w", url, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("nats at %s: no INFO line (%q, %v)", url, line, err)
	}
	return nil
}

// skip records that part of the run was skipped, and says so at once.
func (r *runner) skip(note string) {
	if !slices.Contains(r.notes, note) {
		r.notes = append(r.notes, note)
	}
	fmt.Fprintln(os.Stderr, "hubbench: "+note)
}

// redisProcess is a redis-server hubbench started for a run, on a free loopback
// port, keeping nothing on disk (internal/redistest).
type redisProcess struct {
	addr string
	srv  *redistest.Server
}

// redisStartTimeout bounds how long a Redis (or a Redis Cluster) may take to start.
const redisStartTimeout = time.Minute

// startRedis starts bin on a free port of 127.0.0.1 and waits until it answers.
func startRedis(bin string) (*redisProcess, error) {
	if err := useRedisServer(bin); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	defer cancel()
	srv, err := redistest.StartServer(ctx, "--loglevel", "warning", "--databases", "1")
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return &redisProcess{addr: srv.Addr, srv: srv}, nil
}

// useRedisServer points internal/redistest at bin (--redis-server), or says that
// there is none with errNoRedisServer.
func useRedisServer(bin string) error {
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Errorf("%w (%q: %v); install redis-server or pass --redis-server PATH", errNoRedisServer, bin, err)
	}
	redistest.ServerPath = bin
	return nil
}

// stop ends this run's redis-server (only it, by its process group) and removes
// its directory.
func (p *redisProcess) stop() { p.srv.Close() }

// redisCommand sends one command to the Redis at addr and returns its reply: a
// simple or bulk string. hubbench needs only PING and INFO, so it speaks this much
// RESP itself rather than taking a client library.
func redisCommand(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	rd := bufio.NewReader(c)
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("redis: %s", line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("redis: bad bulk length %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("redis: unexpected reply %q", line)
}

// redisStats is what hubbench reads of its Redis before and after a measurement.
type redisStats struct {
	calls   map[string]int64 // the calls of every command so far (INFO commandstats), by lower-case name
	reads   int64            // reads from clients' connections (INFO stats: total_reads_processed)
	servers int64            // the servers added up (each counts hubbench's INFO)
	replica bool             // INFO replication says role:slave
	cpu     float64          // INFO cpu: used_cpu_sys + used_cpu_user, seconds
}

// redisCPU reads the CPU seconds the masters among addrs have used.
func redisCPU(addrs []string) func() (float64, error) {
	return func() (float64, error) {
		st, err := readRedisStats(addrs...)
		return st.cpu, err
	}
}

// natsCPU reads the CPU seconds of the nats-server process listening on url's
// port (from /proc: Linux only).
func natsCPU(url string) func() (float64, error) {
	return func() (float64, error) {
		_, port, err := net.SplitHostPort(strings.TrimPrefix(url, "nats://"))
		if err != nil {
			return 0, err
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			cmdline, err := os.ReadFile(p)
			if err != nil || !bytes.HasSuffix(bytes.SplitN(cmdline, []byte{0}, 2)[0], []byte("nats-server")) {
				continue
			}
			args := strings.Split(string(cmdline), "\x00")
			if i := slices.Index(args, "-p"); (i >= 0 && i+1 < len(args) && args[i+1] == port) || (i < 0 && port == "4222") {
				return procCPUSeconds(filepath.Dir(p))
			}
		}
		return 0, fmt.Errorf("no nats-server process listening on port %s", port)
	}
}

// procCPUSeconds reads utime + stime of /proc/PID/stat, in seconds (at the
// kernel's usual 100 ticks per second).
func procCPUSeconds(dir string) (float64, error) {
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return 0, err
	}
	// Fields after the command's closing parenthesis; utime and stime are the
	// 14th and 15th of the whole line.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("%s/stat: too short", dir)
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100, nil
}

// readRedisStats reads the command counts and reads so far of the Redis servers
// at addrs, added up over those that are not replicas (a replica runs what its
// master replicates), with one INFO each (which counts itself: one read, one call
// of info).
func readRedisStats(addrs ...string) (redisStats, error) {
	sum := redisStats{calls: map[string]int64{}}
	for _, addr := range addrs {
		info, err := redisCommand(addr, "INFO", "stats", "commandstats", "replication", "cpu")
		if err != nil {
			return redisStats{}, err
		}
		st := parseRedisStats(info)
		if st.replica {
			continue
		}
		for name, n := range st.calls {
			sum.calls[name] += n
		}
		sum.reads += st.reads
		sum.cpu += st.cpu
		sum.servers++
	}
	return sum, nil
}

func parseRedisStats(info string) redisStats {
	st := redisStats{calls: parseCommandStats(info), servers: 1}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "total_reads_processed:"); ok {
			st.reads, _ = strconv.ParseInt(v, 10, 64)
		}
		if line == "role:slave" {
			st.replica = true
		}
		for _, field := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, field); ok {
				s, _ := strconv.ParseFloat(v, 64)
				st.cpu += s
			}
		}
	}
	return st
}

// readsPerBroadcast divides the reads Redis made from its clients' connections
// between two readings by the messages sent: how many round trips (or pipelines)
// a broadcast costs, all nodes together. hubbench's own two INFO per server are
// left out.
func (st redisStats) readsPerBroadcast(after redisStats, sent int64) float64 {
	return float64(max(0, after.reads-st.reads-2*max(1, st.servers))) / float64(sent)
}

// parseCommandStats reads lines "cmdstat_publish:calls=12,usec=…".
func parseCommandStats(info string) map[string]int64 {
	calls := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		for _, field := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(field, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				calls[strings.ToLower(name)] = n
			}
		}
	}
	return calls
}

// perBroadcast divides the commands run between two readings by the messages
// sent, in all and by command; hubbench's own INFO is left out.
func perBroadcast(before, after map[string]int64, sent int64) (float64, map[string]float64) {
	var total float64
	by := map[string]float64{}
	for name, n := range after {
		if d := n - before[name]; d > 0 && name != "info" {
			by[name] = float64(d) / float64(sent)
			total += float64(d)
		}
	}
	return total / float64(sent), by
}

// topCommands is "publish 1.00, sadd 0.01" for the commands of a result, most per
// broadcast first, at most n.
func topCommands(by map[string]float64, n int) string {
	names := make([]string, 0, len(by))
	for name := range by {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		if by[a] != by[b] {
			if by[a] > by[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, name := range names[:min(n, len(names))] {
		parts = append(parts, fmt.Sprintf("%s %.2f", name, by[name]))
	}
	return strings.Join(parts, ", ")
}
