package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hubbub-go/hubbub/transports"
)

// The cluster scenario: --cluster-nodes servers of one target (hubbub on
// backplane/redis; centrifuge with its Redis broker, the baseline) on a Redis
// hubbench starts for the run on a free loopback port, never the shared one.
// Subscribers (WebSockets) are spread evenly over the nodes, the publisher is on
// the first node, over --cluster-publishers connections; broadcast ("cluster") and group fan-out ("cluster-group"), each
// in every --mode. Each result carries the CPU seconds of every node and the Redis
// commands per broadcast, from INFO commandstats before and after.

// defaultClusterPublishers is --cluster-publishers' default: the default --window,
// so that every message in flight can be in progress on its own connection.
const defaultClusterPublishers = 32

// errNoRedisServer means the cluster scenario cannot run: no redis-server binary.
var errNoRedisServer = errors.New("redis-server not found")

// cluster runs the cluster scenarios under the current profile.
func (r *runner) cluster(ctx context.Context) {
	var targets []string
	for _, t := range r.cfg.Targets {
		if t == targetHubbub || t == targetCentrifuge {
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		r.skip("cluster: skipped: it measures hubbub and centrifuge, and --targets has neither")
		return
	}
	redis, err := startRedis(r.cfg.redisServer)
	if err != nil {
		r.skip(fmt.Sprintf("cluster: skipped: %v", err))
		return
	}
	r.redis = redis
	defer func() { redis.stop(); r.redis = nil }()
	for _, sc := range []struct {
		name   string
		groups int
	}{{"cluster", 0}, {"cluster-group", r.cfg.Groups}} {
		for _, size := range r.cfg.sizesOf(r.cfg.ClusterSizes) {
			for round := 1; round <= r.cfg.Rounds && ctx.Err() == nil; round++ {
				for _, t := range targets {
					spec := fanOutSpec{scenario: sc.name, fanOutPair: fanOutPair{target: t, kind: transports.WebSockets}, round: round, conns: size, groups: sc.groups, nodes: r.cfg.ClusterNodes}
					for _, res := range r.fanOut(ctx, spec) {
						r.add(res)
					}
				}
			}
		}
	}
}

// skip records that part of the run was skipped, and says so at once.
func (r *runner) skip(note string) {
	if !slices.Contains(r.notes, note) {
		r.notes = append(r.notes, note)
	}
	fmt.Fprintln(os.Stderr, "hubbench: "+note)
}

// redisProcess is a redis-server hubbench started for a run, on a free loopback
// port, keeping nothing on disk.
type redisProcess struct {
	addr string
	cmd  *exec.Cmd
	dir  string
}

// redisStartTimeout bounds how long a started redis-server may take to answer PING.
const redisStartTimeout = 10 * time.Second

// startRedis starts bin on a free port of 127.0.0.1 and waits until it answers.
func startRedis(bin string) (*redisProcess, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%w (%q: %v); install redis-server or pass --redis-server PATH", errNoRedisServer, bin, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("redis: find a free port: %w", err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	dir, err := os.MkdirTemp("", "hubbench-redis-")
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	cmd := exec.Command(path, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--loglevel", "warning", "--databases", "1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("redis: start %s: %w", path, err)
	}
	p := &redisProcess{addr: "127.0.0.1:" + port, cmd: cmd, dir: dir}
	deadline := time.Now().Add(redisStartTimeout)
	for {
		reply, err := redisCommand(p.addr, "PING")
		if err == nil && reply == "PONG" {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("redis: %s did not answer PING within %s: %v", p.addr, redisStartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends this run's redis-server (only it, by its process) and removes its
// directory.
func (p *redisProcess) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(p.dir)
}

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
	calls map[string]int64 // the calls of every command so far (INFO commandstats), by lower-case name
	reads int64            // reads from clients' connections (INFO stats: total_reads_processed)
}

// readRedisStats reads the Redis at addr's command counts and reads so far, with
// one INFO (which counts itself: one read, one call of info).
func readRedisStats(addr string) (redisStats, error) {
	info, err := redisCommand(addr, "INFO", "stats", "commandstats")
	if err != nil {
		return redisStats{}, err
	}
	return parseRedisStats(info), nil
}

func parseRedisStats(info string) redisStats {
	st := redisStats{calls: parseCommandStats(info)}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_reads_processed:"); ok {
			st.reads, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return st
}

// readsPerBroadcast divides the reads Redis made from its clients' connections
// between two readings by the messages sent: how many round trips (or pipelines)
// a broadcast costs, all nodes together. hubbench's own two INFO are left out.
func (st redisStats) readsPerBroadcast(after redisStats, sent int64) float64 {
	return float64(max(0, after.reads-st.reads-2)) / float64(sent)
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
