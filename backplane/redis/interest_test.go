package redis_test

import (
	"context"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/backplane/redis/internal/clustertest"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// TestUnsubscribeLinger: after a group's last local member leaves, its channel
// stays subscribed for UnsubscribeLinger (a leave and a join cost no command),
// then goes; a connection's and its user's channels go the same way when it ends.
func TestUnsubscribeLinger(t *testing.T) {
	url := redisURL(t)
	opts, _ := goredis.ParseURL(url)
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	subscribers := func(channel string) int64 {
		n, err := rdb.PubSubNumSub(context.Background(), channel).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n[channel]
	}
	tests := []struct {
		name   string
		linger time.Duration
		stays  bool
	}{
		{"within the linger", time.Minute, true},
		{"after the linger", 20 * time.Millisecond, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := startClusterConfig(t, clustertest.Config{RedisURL: url, Prefix: testPrefix(t, url), Nodes: 1, Backplane: func(o *redis.Options) {
				fastBackplane(o)
				o.UnsubscribeLinger = tc.linger
			}})
			node := c.Nodes[0]
			ctx := context.Background()
			cl := dial(t, node.URL+"/hubs/conformance", "ada", transports.WebSockets)
			group := node.Backplane.EnvelopeChannel("conformance", hub.SelectGroups, "room")
			user := node.Backplane.EnvelopeChannel("conformance", hub.SelectUsers, "ada")
			conn := node.Backplane.EnvelopeChannel("conformance", hub.SelectConnections, cl.ID)
			if err := node.Conformance.Groups().Add(ctx, cl.ID, "room"); err != nil {
				t.Fatal(err)
			}
			for _, ch := range []string{group, user, conn} {
				if n := subscribers(ch); n != 1 {
					t.Fatalf("%s has %d subscribers after the join, want 1", ch, n)
				}
			}
			if err := node.Conformance.Groups().Remove(ctx, cl.ID, "room"); err != nil {
				t.Fatal(err)
			}
			if !tc.stays {
				waitFor(t, "the group's channel to go", func() bool { return subscribers(group) == 0 })
				cl.Close()
				waitFor(t, "the user's and connection's channels to go", func() bool { return subscribers(user)+subscribers(conn) == 0 })
				return
			}
			// Another join goes through the subscription batches after the leave:
			// an unsubscribe queued by the leave would have gone before it.
			if err := node.Conformance.Groups().Add(ctx, cl.ID, "other"); err != nil {
				t.Fatal(err)
			}
			if n := subscribers(group); n != 1 {
				t.Errorf("the group's channel has %d subscribers within the linger, want 1", n)
			}
		})
	}
}
