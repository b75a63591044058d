package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/backplane/redis/internal/clustertest"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
	"github.com/hubbub-go/hubbub/transports"
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
	return startClusterConfig(t, clustertest.Config{RedisURL: url, Prefix: prefix, Backplane: fastBackplane})
}

// startClusterConfig starts the cluster cfg describes and closes it when the test
// ends.
func startClusterConfig(t testing.TB, cfg clustertest.Config) *clustertest.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := clustertest.Start(ctx, cfg)
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

// TestJoinThenSendFromAnotherNode runs suite.JoinThenSendFromAnotherNode on Redis.
func TestJoinThenSendFromAnotherNode(t *testing.T) {
	url := redisURL(t)
	suite.JoinThenSendFromAnotherNode(t, startCluster(t, url, testPrefix(t, url)))
}

// TestInterestRouting runs suite.InterestRouting on Redis.
func TestInterestRouting(t *testing.T) {
	url := redisURL(t)
	suite.InterestRouting(t, startCluster(t, url, testPrefix(t, url)), received)
}

// TestRouteByHub: with Options.RouteByHub, every node receives every envelope of
// the hub, as before interest routing, and delivery is still right.
func TestRouteByHub(t *testing.T) {
	url := redisURL(t)
	c := startClusterConfig(t, clustertest.Config{RedisURL: url, Prefix: testPrefix(t, url), Backplane: func(o *redis.Options) {
		fastBackplane(o)
		o.RouteByHub = true
	}})
	ctx := context.Background()
	cl := dial(t, c.Nodes[0].URL+"/hubs/conformance", "ada", transports.WebSockets)
	if err := c.Nodes[0].Conformance.Groups().Add(ctx, cl.ID, "g1"); err != nil {
		t.Fatal(err)
	}
	idle := c.Nodes[2].Backplane
	before := received(idle)
	sender := c.Nodes[1].Conformance.Clients()
	for _, target := range []hub.Target{sender.Group("g1"), sender.User("ada"), sender.All()} {
		if err := target.Send(ctx, "event"); err != nil {
			t.Fatal(err)
		}
	}
	cl.Expect(t, "event")
	waitFor(t, "the idle node to get all three", func() bool { return received(idle)-before >= 3 })
	if n := received(idle) - before; n != 3 {
		t.Errorf("with RouteByHub a node without receivers got %d envelopes, want 3", n)
	}
}

func received(b *redis.Backplane) uint64 { return b.Stats().Received }

// TestHostileNames runs suite.HostileNames on Redis: names with hash tags, glob
// characters, separators, NUL or thousands of bytes each reach their own
// receivers only.
func TestHostileNames(t *testing.T) {
	url := redisURL(t)
	suite.HostileNames(t, startClusterConfig(t, clustertest.Config{RedisURL: url, Prefix: testPrefix(t, url), Nodes: 2, Backplane: fastBackplane}))
}
