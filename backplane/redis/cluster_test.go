package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/backplane/redis/internal/clustertest"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
)

// fastBackplane shortens the reconnect and heartbeat intervals so that tests of
// outages and presence do not wait for the production defaults. PingInterval
// keeps its default: a killed Redis is noticed at once (the connection closes),
// and a short one would take a loaded machine's slow pong for an outage.
func fastBackplane(o *redis.Options) {
	o.ReconnectMinDelay = 20 * time.Millisecond
	o.ReconnectMaxDelay = 200 * time.Millisecond
	o.HeartbeatInterval = 100 * time.Millisecond
	o.NodeTTL = time.Second
}

func startCluster(t testing.TB, url, prefix string) *clustertest.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := clustertest.Start(ctx, clustertest.Config{RedisURL: url, Prefix: prefix, Backplane: fastBackplane})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	})
	return c
}

// TestTargetsAcrossNodes runs the shared cross-node target suite (suite.Targets)
// on Redis.
func TestTargetsAcrossNodes(t *testing.T) {
	url := redisURL(t)
	suite.Targets(t, startCluster(t, url, testPrefix(t, url)))
}

// TestNoStickySessions runs the shared routing rules (suite.NoStickySessions) on
// Redis.
func TestNoStickySessions(t *testing.T) {
	url := redisURL(t)
	suite.NoStickySessions(t, startCluster(t, url, testPrefix(t, url)))
}

// TestGoClientThroughCluster runs the shared suite.GoClientThroughCluster (the
// conformance scenarios with the Go client, on each transport) on Redis.
func TestGoClientThroughCluster(t *testing.T) {
	url := redisURL(t)
	suite.GoClientThroughCluster(t, startCluster(t, url, testPrefix(t, url)))
}
