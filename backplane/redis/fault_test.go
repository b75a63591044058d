package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"encoding/json"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/backplane/redis/internal/clustertest"
	"github.com/hubbub-go/hubbub/transports"
)

const redisServerBin = "/usr/bin/redis-server"

// ownRedis is a redis-server this test starts and kills; the shared one is never
// touched.
type ownRedis struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

func startOwnRedis(t testing.TB) *ownRedis {
	t.Helper()
	if _, err := os.Stat(redisServerBin); err != nil {
		if os.Getenv("HUBBUB_REQUIRE_REDIS") == "1" {
			t.Fatalf("%s is required (HUBBUB_REQUIRE_REDIS=1): %v", redisServerBin, err)
		}
		t.Skipf("%s not found (%v): skipping the outage test", redisServerBin, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &ownRedis{t: t, port: ln.Addr().(*net.TCPAddr).Port}
	ln.Close()
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *ownRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *ownRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command(redisServerBin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	waitFor(r.t, "redis-server to accept connections", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// kill stops this test's redis-server (only it: by its own process).
func (r *ownRedis) kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}

// logCounter counts log records by message.
type logCounter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	text slog.Handler
}

func newLogCounter() (*logCounter, *slog.Logger) {
	lc := &logCounter{}
	lc.text = slog.NewTextHandler(&lockedWriter{lc}, &slog.HandlerOptions{Level: slog.LevelInfo})
	return lc, slog.New(lc.text)
}

type lockedWriter struct{ lc *logCounter }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.lc.mu.Lock()
	defer w.lc.mu.Unlock()
	return w.lc.buf.Write(p)
}

func (lc *logCounter) count(substr string) int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return strings.Count(lc.buf.String(), substr)
}

// TestRedisOutage kills the cluster's Redis while a node publishes continuously,
// checks that each node keeps delivering to its own connections (including a group
// joined during the outage), that publishing fails fast without piling up
// goroutines, and that the outage is logged once per node; then restarts Redis and
// checks that cluster delivery and presence resume without restarting anything.
func TestRedisOutage(t *testing.T) {
	rs := startOwnRedis(t)
	logs, logger := newLogCounter()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := clustertest.Start(ctx, clustertest.Config{
		RedisURL: rs.url(), Prefix: "hubbub-fault", Nodes: 2, Logger: logger, Backplane: fastBackplane,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(ctx)
	}()
	node0, node1 := c.Nodes[0], c.Nodes[1]
	hub0 := node0.URL + "/hubs/conformance"
	a1 := dial(t, hub0, "a1", transports.WebSockets)
	a2 := dial(t, hub0, "a2", transports.LongPolling)
	b1 := dial(t, node1.URL+"/hubs/conformance", "b1", transports.ServerSentEvents)

	a1.MustInvoke(t, "Broadcast", "before", 1)
	for _, cl := range []*testClient{a1, a2, b1} {
		cl.Expect(t, "before")
	}

	// Traffic from node 0 for the whole test.
	stop := make(chan struct{})
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if err := node0.Conformance.Clients().All().Send(context.Background(), "tick", i); err != nil {
				failed.Add(1)
			} else {
				sent.Add(1)
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()

	rs.kill()
	waitFor(t, "both nodes to notice the outage", func() bool { return !node0.Backplane.Healthy() && !node1.Backplane.Healthy() })
	if err := node0.Backplane.Err(); !errors.Is(err, redis.ErrUnavailable) {
		t.Fatalf("Err() = %v, want ErrUnavailable", err)
	}

	t.Run("local delivery continues", func(t *testing.T) {
		// The caller is told that other nodes missed it, its own node delivers.
		if _, err := a1.Invoke("Broadcast", "during", 2); err == nil {
			t.Error("Broadcast during the outage reported no error")
		}
		a1.Expect(t, "during")
		a2.Expect(t, "during")
		// Group membership changes still work locally.
		a2.MustInvoke(t, "JoinGroup", "outage-group")
		a1.Invoke("SendToGroup", "outage-group", "group-during", 3) // an error too, as Broadcast
		a2.Expect(t, "group-during")
	})

	t.Run("publishing fails fast without piling up", func(t *testing.T) {
		before := runtime.NumGoroutine()
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				for range 40 {
					// A group nobody is in: the publishing path, without flooding clients.
					err := node1.Conformance.Clients().Group("nobody").Send(context.Background(), "flood", 0)
					if !errors.Is(err, redis.ErrUnavailable) {
						t.Errorf("Send during the outage: %v, want ErrUnavailable", err)
						return
					}
				}
			})
		}
		wg.Wait()
		if after := runtime.NumGoroutine(); after > before+10 {
			t.Errorf("goroutines grew from %d to %d during the outage", before, after)
		}
		if _, err := node1.Conformance.Groups().Members(context.Background(), "outage-group"); !errors.Is(err, redis.ErrUnavailable) {
			t.Errorf("GroupMembers during the outage: %v, want ErrUnavailable", err)
		}
	})

	rs.start()
	waitFor(t, "both nodes to reconnect", func() bool { return node0.Backplane.Healthy() && node1.Backplane.Healthy() })

	t.Run("cluster delivery resumes", func(t *testing.T) {
		a1.MustInvoke(t, "Broadcast", "after", 4)
		for _, cl := range []*testClient{a1, a2, b1} {
			cl.Expect(t, "after")
		}
		b1.MustInvoke(t, "SendToGroup", "outage-group", "group-after", 5)
		a2.Expect(t, "group-after")
		// Presence: the membership made during the outage reaches Redis.
		waitFor(t, "the outage-time membership to be written", func() bool {
			var ids []string
			raw, err := b1.Invoke("GroupMembers", "outage-group")
			return err == nil && json.Unmarshal(raw, &ids) == nil && slices.Equal(ids, []string{a2.ID})
		})
	})

	t.Run("one log line per change of state", func(t *testing.T) {
		for _, tc := range []struct{ msg string }{
			{"redis backplane: Redis unreachable"},
			{"redis backplane: Redis is back"},
		} {
			if got := logs.count(tc.msg); got != 2 {
				t.Errorf("%q logged %d times, want once per node (2)", tc.msg, got)
			}
		}
	})
	t.Logf("background traffic: %d sends to the cluster, %d delivered on their node only", sent.Load(), failed.Load())
}
