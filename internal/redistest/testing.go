package redistest

import (
	"context"
	"os"
	"testing"
	"time"
)

// startTimeoutT bounds the starts of the test helpers.
const startTimeoutT = 60 * time.Second

// requireRedis skips the test when a binary is missing, or fails it when
// HUBBUB_REQUIRE_REDIS=1.
func requireRedis(tb testing.TB, bins ...string) {
	tb.Helper()
	for _, bin := range bins {
		if _, err := lookPath(bin); err != nil {
			if os.Getenv("HUBBUB_REQUIRE_REDIS") == "1" {
				tb.Fatalf("%v (required: HUBBUB_REQUIRE_REDIS=1)", err)
			}
			tb.Skipf("%v: skipping (HUBBUB_REQUIRE_REDIS=1 fails instead)", err)
		}
	}
}

// cleanup closes what a helper started when the test ends, after logging the
// tail of every process's log if the test failed.
func cleanup(tb testing.TB, close func(), servers ...*Server) {
	tb.Cleanup(func() {
		if tb.Failed() {
			for _, s := range servers {
				tb.Logf("redistest: the log of %s (%s), last lines:\n%s", s.Addr, s.Dir, s.logTail(25))
			}
		}
		close()
	})
}

// StartServerT is StartServer for tests: it skips the test when redis-server is
// missing (fails when HUBBUB_REQUIRE_REDIS=1), fails it if the server does not
// start, and closes the server when the test ends.
func StartServerT(tb testing.TB, args ...string) *Server {
	tb.Helper()
	requireRedis(tb, ServerPath)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeoutT)
	defer cancel()
	s, err := StartServer(ctx, args...)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	cleanup(tb, s.Close, s)
	return s
}

// StartClusterT is StartCluster for tests, as StartServerT is for StartServer
// (redis-cli is required too).
func StartClusterT(tb testing.TB, cfg ClusterConfig) *Cluster {
	tb.Helper()
	requireRedis(tb, ServerPath, CLIPath)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeoutT)
	defer cancel()
	c, err := StartCluster(ctx, cfg)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	cleanup(tb, c.Close, c.Nodes...)
	return c
}

// StartSentinelT is StartSentinel for tests, as StartServerT is for
// StartServer.
func StartSentinelT(tb testing.TB, cfg SentinelConfig) *Sentinel {
	tb.Helper()
	requireRedis(tb, ServerPath)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeoutT)
	defer cancel()
	s, err := StartSentinel(ctx, cfg)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	cleanup(tb, s.Close, s.servers()...)
	return s
}
