package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/backplane/redis/internal/clustertest"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
	"github.com/hubbub-go/hubbub/internal/redistest"
	"github.com/hubbub-go/hubbub/transports"
)

// The shared cluster suite on the topologies other than one Redis: behind
// Sentinel and on a Redis Cluster (sharded pub/sub over ClusterPartitions). Each
// topology is started once per test (its processes are killed at the end, so no
// key needs deleting), and every case runs three hub nodes on it under a prefix
// of its own.

// topology is a Redis topology the suite runs on.
type topology struct {
	name string
	// start starts it and returns Options.URL and what hands the master
	// serving channel over to a replica, gracefully (the old master lives on as
	// a replica), and returns the replica once it has taken over, with the
	// command that counts a channel's subscribers there.
	start func(t *testing.T) (url string, handOver handOver)
	want  redis.Topology
}

type handOver func(t *testing.T, channel string) (newMaster *redistest.Server, numsub string)

var topologies = []topology{
	{"Sentinel", func(t *testing.T) (string, handOver) {
		s := redistest.StartSentinelT(t, redistest.SentinelConfig{})
		return s.URL(), func(t *testing.T, _ string) (*redistest.Server, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			old, err := s.CurrentMaster(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Sentinels[0].Do(ctx, "SENTINEL", "FAILOVER", s.MasterName); err != nil {
				t.Fatal(err)
			}
			addr, err := s.WaitFailover(ctx, old)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("master %s handed over to %s", old, addr)
			return s.Server(addr), "NUMSUB"
		}
	}, redis.Sentinel},
	{"Cluster", func(t *testing.T) (string, handOver) {
		rc := redistest.StartClusterT(t, redistest.ClusterConfig{})
		return rc.URL(), func(t *testing.T, channel string) (*redistest.Server, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			m, err := rc.MasterOf(channel)
			if err != nil {
				t.Fatal(err)
			}
			replicas, err := rc.ReplicasOf(ctx, m)
			if err != nil || len(replicas) == 0 {
				t.Fatalf("replicas of %s: %v %v", m.Addr, replicas, err)
			}
			if _, err := replicas[0].Do(ctx, "CLUSTER", "FAILOVER"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the replica to take over", func() bool {
				n, err := rc.MasterOf(channel)
				return err == nil && n == replicas[0]
			})
			t.Logf("master %s handed %s over to %s", m.Addr, channel, replicas[0].Addr)
			return replicas[0], "SHARDNUMSUB"
		}
	}, redis.Cluster},
}

// randomPrefix returns a fresh key prefix (the topology dies with the test: no
// cleanup).
func randomPrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "hubbub-topo-" + hex.EncodeToString(b[:])
}

// startClusterOn starts hub nodes on the Redis at url, with fast intervals and
// opts applied after them.
func startClusterOn(t *testing.T, url string, nodes int, hubOpts func(*hub.Options), opts ...func(*redis.Options)) *clustertest.Cluster {
	t.Helper()
	return startClusterPrefixed(t, url, randomPrefix(), nodes, hubOpts, opts...)
}

// startClusterPrefixed is startClusterOn with the prefix given.
func startClusterPrefixed(t *testing.T, url, prefix string, nodes int, hubOpts func(*hub.Options), opts ...func(*redis.Options)) *clustertest.Cluster {
	t.Helper()
	return startClusterConfig(t, clustertest.Config{RedisURL: url, Prefix: prefix, Nodes: nodes, Hub: hubOpts, Backplane: func(o *redis.Options) {
		fastBackplane(o)
		// Fewer partitions than the default: fewer connections for a loaded
		// machine, and still several per shard.
		o.ClusterPartitions = 6
		for _, f := range opts {
			f(o)
		}
	}})
}

// TestTopologies runs the shared suite behind Sentinel and on Redis Cluster:
// every target kind with presence (Targets), claims and forwarding
// (NoStickySessions), a join then a send from another node, interest routing, a
// relayed stateful resume, and presence as nodes leave and crash. Session
// records, presence sets, node liveness and RPC over node channels must all work
// on each.
//
// On Redis Cluster the suites that tell a missed message by a sentinel sent
// after it (to All, on another channel) need one partition: with several, the
// channels of one node's envelopes lie on several shards and connections, and
// one node's envelopes keep their order per channel only (see ClusterPartitions).
// Several partitions get the suites that need no order across channels, and
// partitionedDelivery, which tells a missed message by a sentinel on its own
// channel.
func TestTopologies(t *testing.T) {
	for _, tp := range topologies {
		t.Run(tp.name, func(t *testing.T) {
			url, handOver := tp.start(t)
			starter := func(partitions int) func(t *testing.T) *clustertest.Cluster {
				return func(t *testing.T) *clustertest.Cluster {
					c := startClusterOn(t, url, 3, nil, func(o *redis.Options) { o.ClusterPartitions = partitions })
					if got := c.Nodes[0].Backplane.Topology(); got != tp.want {
						t.Fatalf("Topology() = %v, want %v", got, tp.want)
					}
					return c
				}
			}
			ordered, start := starter(1), starter(6)
			t.Run("Targets", func(t *testing.T) { suite.Targets(t, ordered(t)) })
			t.Run("JoinThenSendFromAnotherNode", func(t *testing.T) { suite.JoinThenSendFromAnotherNode(t, ordered(t)) })
			t.Run("InterestRouting", func(t *testing.T) { suite.InterestRouting(t, ordered(t), received) })
			// Names with hash tags after the partition's tag, and prefixes with
			// braces that leave it one slot per partition or put all in one.
			t.Run("HostileNames", func(t *testing.T) {
				for _, prefix := range []string{"", "{app}", "a{b", "}{"} {
					t.Run(prefix, func(t *testing.T) {
						suite.HostileNames(t, startClusterPrefixed(t, url, prefix+randomPrefix(), 2, nil, func(o *redis.Options) { o.ClusterPartitions = 1 }))
					})
				}
			})
			t.Run("NoStickySessions", func(t *testing.T) { suite.NoStickySessions(t, start(t)) })
			t.Run("RelayedResume", func(t *testing.T) { suite.RelayedResume(t, start(t)) })
			t.Run("RelayRefusals", func(t *testing.T) { suite.RelayRefusals(t, start(t)) })
			t.Run("GoClientThroughCluster", func(t *testing.T) { suite.GoClientThroughCluster(t, start(t)) })
			t.Run("Presence", func(t *testing.T) { presence(t, start(t)) })
			t.Run("PartitionedDelivery", func(t *testing.T) { partitionedDelivery(t, start(t)) })
			t.Run("RecordsRemoved", func(t *testing.T) { recordsRemoved(t, url) })
			// Last: it changes the topology's masters.
			t.Run("GracefulFailover", func(t *testing.T) { gracefulFailover(t, start(t), handOver) })
			// The check of the nodes awaited (PUBSUB NUMSUB, on Redis Cluster PUBSUB
			// SHARDNUMSUB on the channel's shard) finds the crashed owner.
			t.Run("OwnerCrash", func(t *testing.T) {
				if tp.want != redis.Cluster {
					t.Skip("behind Sentinel the check is the one TestOwnerCrash runs on one Redis (PUBSUB NUMSUB)")
				}
				slowTests(t) // 5 s a case, mostly the crashed node's hub draining on Close
				suite.OwnerCrash(t, func(t *testing.T) *clustertest.Cluster {
					return startClusterOn(t, url, 2,
						func(o *hub.Options) { o.TransportOptions.PollTimeout = 20 * time.Second },
						func(o *redis.Options) { o.HeartbeatInterval = crashHeartbeat })
				}, crashBound)
			})
		})
	}
}

// partitionedDelivery sends to many groups, users and connections at once, so
// that their channels lie in every partition, each from a node that holds none
// of its receivers, and checks that exactly the receivers get each message: a
// receiver that gets the sentinel sent after it on the same channel (so in
// order) without the message missed it.
func partitionedDelivery(t *testing.T, c *clustertest.Cluster) {
	ctx := context.Background()
	const keys = 12
	type receiver struct {
		cl    *testClient
		group string
		node  int
	}
	var rs []receiver
	for i := range keys {
		node := i % 2 // receivers on nodes 0 and 1, sent from node 2
		r := receiver{cl: dial(t, c.Nodes[node].URL+"/hubs/conformance", "pd-user-"+strconv.Itoa(i), transports.WebSockets), group: "pd-group-" + strconv.Itoa(i), node: node}
		if err := c.Nodes[node].Conformance.Groups().Add(ctx, r.cl.ID, r.group); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	sender := c.Nodes[2].Conformance.Clients()
	for _, kind := range []string{"group", "user", "connection"} {
		target := func(r receiver) hub.Target {
			switch kind {
			case "group":
				return sender.Group(r.group)
			case "user":
				return sender.User("pd-user-" + strings.TrimPrefix(r.group, "pd-group-"))
			default:
				return sender.Client(r.cl.ID)
			}
		}
		for i, r := range rs {
			if err := target(r).Send(ctx, "ev-"+kind, i); err != nil {
				t.Fatal(err)
			}
			if err := target(r).Send(ctx, "end-"+kind, i); err != nil {
				t.Fatal(err)
			}
		}
		for i, r := range rs {
			if _, before := r.cl.Expect(t, "end-"+kind); !slices.Equal(before, []string{"ev-" + kind}) {
				t.Errorf("%s %d: before its sentinel the receiver got %v, want [ev-%s]", kind, i, before, kind)
			}
		}
	}

	// A join, then at once a send from another node, as
	// suite.JoinThenSendFromAnotherNode, with the sentinel on the same channel.
	for i := range 20 {
		user, group := "pdj-user-"+strconv.Itoa(i), "pdj-group-"+strconv.Itoa(i)
		cl := dial(t, c.Nodes[0].URL+"/hubs/conformance", user, transports.WebSockets)
		if err := c.Nodes[0].Conformance.Groups().Add(ctx, cl.ID, group); err != nil {
			t.Fatal(err)
		}
		clients := c.Nodes[1].Conformance.Clients()
		for _, target := range []hub.Target{clients.Group(group), clients.Client(cl.ID), clients.User(user)} {
			for _, ev := range []string{"ev", "end"} {
				if err := target.Send(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
			if _, before := cl.Expect(t, "end"); !slices.Equal(before, []string{"ev"}) {
				t.Fatalf("round %d: before its sentinel the new receiver got %v, want [ev]", i, before)
			}
		}
		cl.Close()
	}
}

// presence checks GroupMembers across nodes: members on two nodes seen from a
// third, a leave, a node that closes (its memberships go at once) and a node
// that crashes (purged by the others once its liveness key expires).
func presence(t *testing.T, c *clustertest.Cluster) {
	ctx := context.Background()
	members := func(via int, group string) []string {
		t.Helper()
		ids, err := c.Nodes[via].Conformance.Groups().Members(ctx, group)
		if err != nil {
			t.Fatalf("GroupMembers(%s) via node %d: %v", group, via, err)
		}
		return ids
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	var conns []*testClient
	for i := range 3 {
		cl := dial(t, c.Nodes[i].URL+"/hubs/conformance", "p"+strconv.Itoa(i), transports.WebSockets)
		conns = append(conns, cl)
		// Several groups, so that their keys lie in several slots (shards).
		for _, g := range []string{"p-a", "p-b", "p-c", "p-d"} {
			if err := c.Nodes[i].Conformance.Groups().Add(ctx, cl.ID, g); err != nil {
				t.Fatal(err)
			}
		}
	}
	all := sorted(conns[0].ID, conns[1].ID, conns[2].ID)
	for _, g := range []string{"p-a", "p-b", "p-c", "p-d"} {
		for via := range 3 {
			if got := members(via, g); !slices.Equal(got, all) {
				t.Fatalf("members of %s via node %d = %v, want %v", g, via, got, all)
			}
		}
	}
	if err := c.Nodes[0].Conformance.Groups().Remove(ctx, conns[0].ID, "p-a"); err != nil {
		t.Fatal(err)
	}
	if got, want := members(1, "p-a"), sorted(conns[1].ID, conns[2].ID); !slices.Equal(got, want) {
		t.Fatalf("after a leave: %v, want %v", got, want)
	}
	// Node 2 closes: Close removes its records at once.
	if err := c.Nodes[2].Backplane.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := members(0, "p-b"), sorted(conns[0].ID, conns[1].ID); !slices.Equal(got, want) {
		t.Fatalf("after node 2 closed: %v, want %v", got, want)
	}
	// Node 1 crashes: node 0 purges it after NodeTTL.
	c.Nodes[1].Backplane.Crash()
	waitFor(t, "node 1's memberships to be purged", func() bool {
		return slices.Equal(members(0, "p-c"), []string{conns[0].ID}) && slices.Equal(members(0, "p-d"), []string{conns[0].ID})
	})
}

// recordsRemoved checks that the backplane leaves nothing behind in Redis: the
// session records of connections that moved (SSE streams opened away from
// their negotiate) go once they end, and a node that closes takes its
// membership set and liveness key with it. On Redis Cluster these keys lie in
// different slots.
func recordsRemoved(t *testing.T, url string) {
	prefix := randomPrefix()
	c := startClusterPrefixed(t, url, prefix, 3, nil)
	rdb := topologyClient(t, url)
	ctx := context.Background()
	var sessions []*testClient
	for range 4 {
		sessions = append(sessions, suite.DialSplit(t, c.Nodes[0].URL, c.Nodes[1].URL, transports.ServerSentEvents))
	}
	cl := dial(t, c.Nodes[2].URL+"/hubs/conformance", "rr", transports.WebSockets)
	if err := c.Nodes[2].Conformance.Groups().Add(ctx, cl.ID, "rr"); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, rdb, prefix, ":session:"); len(got) != len(sessions) {
		t.Fatalf("session records %v, want %d", got, len(sessions))
	}
	for _, s := range sessions {
		s.Close()
	}
	waitFor(t, "the session records of ended connections to go", func() bool { return len(keysOf(t, rdb, prefix, ":session:")) == 0 })

	node2 := c.Nodes[2].Backplane.NodeID()
	if got := keysOf(t, rdb, prefix, node2); len(got) != 2 {
		t.Fatalf("node 2's keys: %v, want its membership set and liveness key", got)
	}
	c.Nodes[2].Conformance.Close(ctx)
	if err := c.Nodes[2].Backplane.Close(); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, rdb, prefix, node2); len(got) != 0 {
		t.Errorf("node 2 closed and left %v", got)
	}
}

// topologyClient is a go-redis client for the Redis at url (Sentinel or Redis
// Cluster, as redistest's URLs give them).
func topologyClient(t *testing.T, url string) goredis.UniversalClient {
	t.Helper()
	scheme, rest, _ := strings.Cut(url, "://")
	hosts, master, _ := strings.Cut(rest, "/")
	rdb := goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs: strings.Split(hosts, ","), MasterName: master, IsClusterMode: scheme == "redis+cluster",
	})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// keysOf lists the keys under prefix that contain part, on every master.
func keysOf(t *testing.T, rdb goredis.UniversalClient, prefix, part string) []string {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var all []string
	list := func(ctx context.Context, c *goredis.Client) error {
		ks, err := c.Keys(ctx, prefix+":*").Result()
		mu.Lock()
		defer mu.Unlock()
		for _, k := range ks {
			if strings.Contains(k, part) {
				all = append(all, k)
			}
		}
		return err
	}
	var err error
	if cc, ok := rdb.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, list)
	} else {
		err = list(ctx, rdb.(*goredis.Client))
	}
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(all)
	return all
}

// handOverBound bounds the time from a graceful failover to delivery.
const handOverBound = 4 * time.Second

// gracefulFailover hands the master serving a group's channel over to its
// replica (SENTINEL FAILOVER, CLUSTER FAILOVER): the old master lives on as a
// replica, so no connection to it breaks by itself (Sentinel has it drop its
// clients when it next reconfigures it; Redis Cluster unsubscribes the sharded
// channels of the slots it no longer serves). The member's node must subscribe
// on the new master within the bound, then every send reaches the member, and
// presence holds.
func gracefulFailover(t *testing.T, c *clustertest.Cluster, handOver handOver) {
	ctx := context.Background()
	const group = "handed-over"
	cl := dial(t, c.Nodes[1].URL+"/hubs/conformance", "ho", transports.WebSockets)
	if err := c.Nodes[1].Conformance.Groups().Add(ctx, cl.ID, group); err != nil {
		t.Fatal(err)
	}
	sender := c.Nodes[0].Conformance.Clients()
	if err := sender.Group(group).Send(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	cl.Expect(t, "before")

	channel := c.Nodes[0].Backplane.EnvelopeChannel("conformance", hub.SelectGroups, group)
	began := time.Now()
	master, numsub := handOver(t, channel)
	handedOver := time.Now()
	t.Logf("handed over in %v", handedOver.Sub(began).Round(time.Millisecond))
	waitFor(t, "the member's node to subscribe on the new master", func() bool {
		reply, err := master.DoReply(ctx, "PUBSUB", numsub, channel)
		r, _ := reply.([]any)
		return err == nil && len(r) == 2 && r[1] == int64(1)
	})
	// Without following the new master, a node keeps its subscription on the
	// old one, where nothing is published any more, until Sentinel has the old
	// master drop its clients (its next INFO, ~10 s): meanwhile every send
	// returns nil and is lost. The backplane notices within a heartbeat (100
	// ms here); the rest of the bound is slack for a loaded machine.
	if took := time.Since(handedOver); took > handOverBound {
		t.Errorf("subscribed on the new master %v after the hand-over, want within %v", took.Round(time.Millisecond), handOverBound)
	} else {
		t.Logf("subscribed on the new master %v after the hand-over", took.Round(time.Millisecond))
	}
	// Behind Sentinel the old master drops its clients as it becomes a replica:
	// a node is in an outage until it reconnects, and its sends fail meanwhile,
	// as documented. Those made once every node is back must arrive.
	waitFor(t, "every node's backplane to be up", func() bool {
		for _, n := range c.Nodes {
			if !n.Backplane.Healthy() {
				return false
			}
		}
		return true
	})
	for i := range 10 {
		if err := sender.Group(group).Send(ctx, "after", i); err != nil {
			t.Fatalf("send %d after the hand-over: %v", i, err)
		}
	}
	for range 10 {
		cl.Expect(t, "after")
	}
	waitFor(t, "the group's members after the hand-over", func() bool {
		ids, err := c.Nodes[2].Conformance.Groups().Members(ctx, group)
		return err == nil && slices.Equal(ids, []string{cl.ID})
	})
}
