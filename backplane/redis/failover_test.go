package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/backplane/redis/internal/clustertest"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/redistest"
	"github.com/hubbub-go/hubbub/transports"
)

// slowTests skips a test unless HUBBUB_SLOW_TESTS=1 (.ci/run sets it): the
// failover tests wait for Redis to elect a new master, seconds each.
func slowTests(t *testing.T) {
	t.Helper()
	if os.Getenv("HUBBUB_SLOW_TESTS") != "1" {
		t.Skip("a slow test: set HUBBUB_SLOW_TESTS=1 to run it")
	}
}

// TestFailover kills the master that serves a group's channel (behind Sentinel,
// the master) while node 0 publishes continuously to the group and to All, whose
// members are on nodes 1 and 2, and checks that:
//
//   - every node reports the outage and, once a replica has taken over, is
//     healthy again, each change logged once per node (no flapping);
//   - every send that failed returned an error wrapping hub.ErrClusterDelivery,
//     and Stats().Failed counts them;
//   - every send made once every node is healthy again arrives, and the sends
//     that returned nil but were lost all fell within the failover (reported:
//     pub/sub is at most once);
//   - presence is right again after the failover (the heartbeat's resync
//     rewrites what the new master lacks), and a join after it works;
//   - the old master restarted (behind Sentinel a master again for ~10 s, until
//     Sentinel reconfigures it) changes nothing: delivery goes on, every node
//     stays healthy.
func TestFailover(t *testing.T) {
	slowTests(t)
	t.Run("Sentinel", func(t *testing.T) {
		s := redistest.StartSentinelT(t, redistest.SentinelConfig{})
		failover(t, s.URL(), func(t *testing.T, _ *clustertest.Cluster) (string, string, killFunc) {
			return "failover", "", func() (func(context.Context) error, *redistest.Server) {
				old := s.Master
				t.Logf("killing the master %s", old.Addr)
				if err := old.Kill(); err != nil {
					t.Fatal(err)
				}
				return func(ctx context.Context) error {
					addr, err := s.WaitFailover(ctx, old.Addr)
					t.Logf("new master %s", addr)
					return err
				}, old
			}
		})
	})
	t.Run("Cluster", func(t *testing.T) {
		rc := redistest.StartClusterT(t, redistest.ClusterConfig{})
		failover(t, rc.URL(), func(t *testing.T, c *clustertest.Cluster) (string, string, killFunc) {
			// A group whose channel lies on the shard of the node registry (the
			// liveness keys), so that the kill takes both.
			bp := c.Nodes[0].Backplane
			m, err := rc.MasterOf(bp.RegistryKey())
			if err != nil {
				t.Fatal(err)
			}
			var group, channel, other string
			for i := 0; group == "" || other == ""; i++ {
				g := "failover-" + strconv.Itoa(i)
				ch := bp.EnvelopeChannel("conformance", hub.SelectGroups, g)
				o, err := rc.MasterOf(ch)
				switch {
				case err != nil:
					t.Fatal(err)
				case o == m && group == "":
					group, channel = g, ch
				case o != m && other == "":
					other = g
				}
			}
			var also []string
			for _, ch := range []string{bp.EnvelopeChannel("conformance", hub.SelectAll, ""), c.Nodes[0].Backplane.NodeChannel(), c.Nodes[1].Backplane.NodeChannel(), c.Nodes[2].Backplane.NodeChannel()} {
				if o, _ := rc.MasterOf(ch); o == m {
					also = append(also, ch)
				}
			}
			return group, other, func() (func(context.Context) error, *redistest.Server) {
				t.Logf("killing %s, the master of the node registry, %s and %v", m.Addr, channel, also)
				if err := m.Kill(); err != nil {
					t.Fatal(err)
				}
				return func(ctx context.Context) error { return rc.WaitFailover(ctx, m) }, m
			}
		})
	})
}

// sendRecord is one Send of the publisher: its event and argument, and its error.
type sendRecord struct {
	event string
	n     int
	err   error
	after bool          // made once every node was healthy again
	at    time.Duration // since the kill (negative before)
}

// killFunc kills a master and returns what waits for the failover, and the
// server killed.
type killFunc func() (wait func(context.Context) error, killed *redistest.Server)

// failover runs the scenario of TestFailover on the Redis at url; setup names
// the group and returns kill, which kills a master and returns what waits for
// the failover.
//
// On Redis Cluster, setup also names a group whose channel lies on another
// shard: sends to it must go on (nil, and delivered) through the failover.
func failover(t *testing.T, url string, setup func(*testing.T, *clustertest.Cluster) (group, otherGroup string, kill killFunc)) {
	logs, logger := newLogCounter()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := clustertest.Start(ctx, clustertest.Config{RedisURL: url, Prefix: randomPrefix(), Logger: logger, Backplane: func(o *redis.Options) {
		fastBackplane(o)
		o.ClusterPartitions = 6
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	bg := context.Background()
	failoverGroup, otherGroup, kill := setup(t, c)
	var members []*testClient
	for _, node := range []int{1, 2} {
		cl := dial(t, c.Nodes[node].URL+"/hubs/conformance", "member", transports.WebSockets)
		for _, g := range []string{failoverGroup, otherGroup} {
			if g == "" {
				continue
			}
			if err := c.Nodes[node].Conformance.Groups().Add(bg, cl.ID, g); err != nil {
				t.Fatal(err)
			}
		}
		members = append(members, cl)
	}
	wantMembers := []string{members[0].ID, members[1].ID}
	slices.Sort(wantMembers)

	// Each member collects what it receives, by event.
	type got struct{ group, all, other map[int]bool }
	gots := make([]got, len(members))
	var readers sync.WaitGroup
	var gotMu sync.Mutex
	for i, cl := range members {
		gots[i] = got{map[int]bool{}, map[int]bool{}, map[int]bool{}}
		readers.Go(func() {
			ends, want := 0, 2
			if otherGroup != "" {
				want = 3
			}
			for ends < want {
				m, err := cl.Next()
				if err != nil {
					t.Errorf("member %d: %v", i, err)
					return
				}
				var n int
				if len(m.Arguments) > 0 {
					json.Unmarshal(m.Arguments[0], &n)
				}
				gotMu.Lock()
				switch m.Target {
				case "g":
					gots[i].group[n] = true
				case "a":
					gots[i].all[n] = true
				case "o":
					gots[i].other[n] = true
				case "end-g", "end-a", "end-o":
					ends++
				}
				gotMu.Unlock()
			}
		})
	}

	pub := c.Nodes[0]
	failedBefore := pub.Backplane.Stats().Failed
	var (
		recMu     sync.Mutex
		records   []sendRecord
		recovered bool
	)
	var killed time.Time
	stop := make(chan struct{})
	var publisher sync.WaitGroup
	publisher.Go(func() {
		clients := pub.Conformance.Clients()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			targets := []struct {
				event  string
				target hub.Target
			}{{"g", clients.Group(failoverGroup)}, {"a", clients.All()}}
			if otherGroup != "" {
				targets = append(targets, struct {
					event  string
					target hub.Target
				}{"o", clients.Group(otherGroup)})
			}
			for _, tc := range targets {
				recMu.Lock()
				after, k := recovered, killed
				recMu.Unlock()
				at := time.Now()
				err := tc.target.Send(bg, tc.event, n)
				recMu.Lock()
				records = append(records, sendRecord{tc.event, n, err, after, at.Sub(k)})
				recMu.Unlock()
			}
		}
	})
	sent := func() int { recMu.Lock(); defer recMu.Unlock(); return len(records) }
	waitFor(t, "traffic before the kill", func() bool { return sent() >= 40 })

	recMu.Lock()
	killed = time.Now()
	recMu.Unlock()
	wait, killedServer := kill()
	waitFor(t, "every node to notice", func() bool {
		for _, n := range c.Nodes {
			if n.Backplane.Healthy() {
				return false
			}
		}
		return true
	})
	fctx, fcancel := context.WithTimeout(bg, 30*time.Second)
	defer fcancel()
	if err := wait(fctx); err != nil {
		t.Fatal(err)
	}
	failedOver := time.Since(killed)
	waitFor(t, "every node to be healthy again", func() bool {
		for _, n := range c.Nodes {
			if !n.Backplane.Healthy() {
				return false
			}
		}
		return true
	})
	healthy := time.Since(killed)
	recMu.Lock()
	recovered = true
	afterFrom := len(records)
	recMu.Unlock()
	waitFor(t, "traffic after the failover", func() bool { return sent() >= afterFrom+40 })
	close(stop)
	publisher.Wait()

	clients := pub.Conformance.Clients()
	ends := []struct {
		event  string
		target hub.Target
	}{{"end-g", clients.Group(failoverGroup)}, {"end-a", clients.All()}}
	if otherGroup != "" {
		ends = append(ends, struct {
			event  string
			target hub.Target
		}{"end-o", clients.Group(otherGroup)})
	}
	for _, end := range ends {
		if err := end.target.Send(bg, end.event, 0); err != nil {
			t.Fatalf("%s after the failover: %v", end.event, err)
		}
	}
	readers.Wait()

	var failed, lostNil, okSends int
	var firstLost, lastLost time.Duration
	for _, r := range records {
		if r.event == "o" {
			// Its shard lived: the failover of another must not touch it.
			if r.err != nil {
				t.Errorf("send %d to a group on a live shard failed: %v", r.n, r.err)
			}
			for i := range members {
				if !gots[i].other[r.n] {
					t.Errorf("send %d to a group on a live shard did not reach member %d", r.n, i)
				}
			}
			continue
		}
		if r.err != nil {
			failed++
			if !errors.Is(r.err, hub.ErrClusterDelivery) {
				t.Errorf("send %s %d failed with %v, want an error wrapping hub.ErrClusterDelivery", r.event, r.n, r.err)
			}
			continue
		}
		okSends++
		for i := range members {
			set := gots[i].group
			if r.event == "a" {
				set = gots[i].all
			}
			if set[r.n] {
				continue
			}
			if r.after {
				t.Errorf("send %s %d, made once every node was healthy again, did not reach member %d", r.event, r.n, i)
			} else {
				if lostNil == 0 {
					firstLost = r.at
				}
				lostNil++
				lastLost = r.at
			}
		}
	}
	if got := pub.Backplane.Stats().Failed - failedBefore; got != uint64(failed) {
		t.Errorf("Stats().Failed grew by %d, want %d (the sends that returned an error)", got, failed)
	}
	t.Logf("failover %v after the kill, every node healthy %v after it; %d sends: %d failed with ErrClusterDelivery, %d returned nil; deliveries lost after a nil: %d (all during the failover, sent %v to %v after the kill)",
		failedOver.Round(time.Millisecond), healthy.Round(time.Millisecond), len(records), failed, okSends, lostNil, firstLost.Round(time.Millisecond), lastLost.Round(time.Millisecond))
	if failed == 0 {
		t.Error("no send failed while the master was gone")
	}

	t.Run("presence", func(t *testing.T) {
		waitFor(t, "the group's members after the failover", func() bool {
			ids, err := c.Nodes[0].Conformance.Groups().Members(bg, failoverGroup)
			return err == nil && slices.Equal(ids, wantMembers)
		})
		cl := dial(t, c.Nodes[2].URL+"/hubs/conformance", "late", transports.WebSockets)
		if err := c.Nodes[2].Conformance.Groups().Add(bg, cl.ID, "after-failover"); err != nil {
			t.Fatal(err)
		}
		ids, err := c.Nodes[1].Conformance.Groups().Members(bg, "after-failover")
		if err != nil || !slices.Equal(ids, []string{cl.ID}) {
			t.Fatalf("members of a group joined after the failover: %v %v, want [%s]", ids, err, cl.ID)
		}
		if err := c.Nodes[1].Conformance.Clients().Group("after-failover").Send(bg, "hello"); err != nil {
			t.Fatal(err)
		}
		cl.Expect(t, "hello")
	})

	t.Run("old master back", func(t *testing.T) {
		// A node once marked failing by the client, back: nothing must change.
		ctx, cancel := context.WithTimeout(bg, 30*time.Second)
		defer cancel()
		if err := killedServer.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		// Behind Sentinel it says it is the master until Sentinel next reconfigures
		// it (~10 s): nothing may go there meanwhile. A few heartbeats, so that
		// the checks of the subscriptions run with it back.
		role, _ := killedServer.Do(ctx, "ROLE")
		t.Logf("the old master is back, role %s", strings.SplitN(role, "\n", 2)[0])
		time.Sleep(5 * 100 * time.Millisecond)
		clients := pub.Conformance.Clients()
		for i := range 5 {
			if err := clients.Group(failoverGroup).Send(bg, "back-g", i); err != nil {
				t.Fatal(err)
			}
			if err := clients.All().Send(bg, "back-a", i); err != nil {
				t.Fatal(err)
			}
		}
		for _, cl := range members {
			for range 10 {
				if _, err := cl.Next(); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i, n := range c.Nodes {
			if !n.Backplane.Healthy() {
				t.Errorf("node %d unhealthy after the old master came back: %v", i, n.Backplane.Err())
			}
		}
	})

	t.Run("no live node taken for dead", func(t *testing.T) {
		// Liveness keys expire during a failover longer than NodeTTL: that
		// proves nothing about a node that could not heartbeat either.
		for _, msg := range []string{"a node is gone", "purging the memberships of a dead node"} {
			if got := logs.count(msg); got != 0 {
				t.Errorf("%q logged %d times, want 0: every node lived", msg, got)
			}
		}
	})

	t.Run("one log line per change of state", func(t *testing.T) {
		for _, msg := range []string{"redis backplane: Redis unreachable", "redis backplane: Redis is back"} {
			if got := logs.count(msg); got != len(c.Nodes) {
				t.Errorf("%q logged %d times, want once per node (%d)", msg, got, len(c.Nodes))
			}
		}
	})
}

// TestFrozenShard pauses the master of one shard of a Redis Cluster (CLIENT
// PAUSE ALL: it reads nothing for a while, as a frozen process or a network
// partition) while node 0 sends to a group on it and to a group on another
// shard: the sends to the live shard must all return nil and arrive, whatever
// the frozen one does to the sends that share their way.
func TestFrozenShard(t *testing.T) {
	slowTests(t)
	rc := redistest.StartClusterT(t, redistest.ClusterConfig{})
	c := startClusterOn(t, rc.URL(), 3, nil)
	bp := c.Nodes[0].Backplane
	masters, err := rc.Masters(context.Background())
	if err != nil || len(masters) < 2 {
		t.Fatalf("masters: %v %v", masters, err)
	}
	frozen := masters[0]
	var frozenGroup, liveGroup string
	for i := 0; frozenGroup == "" || liveGroup == ""; i++ {
		g := "frozen-" + strconv.Itoa(i)
		m, err := rc.MasterOf(bp.EnvelopeChannel("conformance", hub.SelectGroups, g))
		switch {
		case err != nil:
			t.Fatal(err)
		case m == frozen && frozenGroup == "":
			frozenGroup = g
		case m != frozen && liveGroup == "":
			liveGroup = g
		}
	}
	bg := context.Background()
	cl := dial(t, c.Nodes[1].URL+"/hubs/conformance", "fz", transports.WebSockets)
	for _, g := range []string{frozenGroup, liveGroup} {
		if err := c.Nodes[1].Conformance.Groups().Add(bg, cl.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	clients := c.Nodes[0].Conformance.Clients()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var liveSent int
	var liveErrs []error
	var liveSlowest time.Duration
	frozenFailed := 0
	for _, g := range []string{frozenGroup, liveGroup} {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				began := time.Now()
				err := clients.Group(g).Send(bg, "ev-"+g, n)
				took := time.Since(began)
				mu.Lock()
				if g == liveGroup {
					liveSent++
					liveSlowest = max(liveSlowest, took)
					if err != nil {
						liveErrs = append(liveErrs, err)
					}
				} else if err != nil {
					frozenFailed++
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := frozen.Do(bg, "CLIENT", "PAUSE", "3000", "ALL"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := clients.Group(liveGroup).Send(bg, "end"); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		m, err := cl.Next()
		if err != nil {
			t.Fatal(err)
		}
		if m.Target == "end" {
			break
		}
		if m.Target == "ev-"+liveGroup {
			n++
		}
	}
	t.Logf("live shard: %d sends, %d failed, %d delivered, the slowest took %v; frozen shard: %d sends failed", liveSent, len(liveErrs), n, liveSlowest.Round(time.Millisecond), frozenFailed)
	// Sends to the frozen shard wait up to OpTimeout (1 s) each; a send to the
	// live shard that waits behind them (one writer for all shards) takes as
	// long. Half of it is far above a loaded machine's noise.
	if bound := redis.DefaultOpTimeout / 2; liveSlowest > bound {
		t.Errorf("a send to the live shard took %v, want within %v: it waited for the frozen shard", liveSlowest.Round(time.Millisecond), bound)
	}
	if len(liveErrs) > 0 {
		t.Errorf("%d of %d sends to a group on a live shard failed while another shard was frozen; first: %v", len(liveErrs), liveSent, liveErrs[0])
	}
	if n != liveSent-len(liveErrs) {
		t.Errorf("%d sends to the live shard returned nil, %d arrived", liveSent-len(liveErrs), n)
	}
}
