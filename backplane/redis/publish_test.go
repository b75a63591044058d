package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/hub"
)

// The tests of Publish under load: many goroutines publishing at once, which the
// backplane writes to Redis in pipelines through one writer.

// receiver records the envelopes one node receives for a hub.
type receiver struct {
	mu   sync.Mutex
	got  map[string][]int // publisher (the envelope's Method) -> sequence numbers in arrival order
	seen int
}

func (r *receiver) deliver(env *hub.Envelope) {
	n, _ := strconv.Atoi(string(env.Args[0]))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[string][]int{}
	}
	r.got[env.Method] = append(r.got[env.Method], n)
	r.seen++
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen
}

// newBackplane starts a backplane on url under prefix and waits until it is up.
func newBackplane(t *testing.T, url, prefix string, tune func(*redis.Options)) *redis.Backplane {
	t.Helper()
	opts := redis.Options{URL: url, Prefix: prefix}
	fastBackplane(&opts)
	if tune != nil {
		tune(&opts)
	}
	bp, err := redis.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bp.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bp.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return bp
}

func envelope(hubName, publisher string, seq int) *hub.Envelope {
	return &hub.Envelope{Hub: hubName, Method: publisher, Args: []json.RawMessage{json.RawMessage(strconv.Itoa(seq))}}
}

// TestConcurrentPublishesReachEveryNodeInOrder has many goroutines on two nodes
// publish at once, and checks that every node, the publishing ones included,
// receives every envelope once, and each publisher's in the order it published them.
func TestConcurrentPublishesReachEveryNodeInOrder(t *testing.T) {
	url := redisURL(t)
	prefix := testPrefix(t, url)
	const (
		nodes      = 3
		publishers = 16 // per publishing node
		each       = 100
	)
	bps := make([]*redis.Backplane, nodes)
	recv := make([]*receiver, nodes)
	for i := range bps {
		bps[i] = newBackplane(t, url, prefix, nil)
		recv[i] = &receiver{}
		detach, err := bps[i].Attach("h", recv[i].deliver)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(detach)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*publishers*each)
	for _, from := range bps[:2] {
		for p := range publishers {
			name := fmt.Sprintf("%s-%d", from.NodeID(), p)
			wg.Go(func() {
				for seq := range each {
					if err := from.Publish(context.Background(), envelope("h", name, seq)); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("publish: %v", err)
	}
	total := 2 * publishers * each
	for i, r := range recv {
		waitFor(t, fmt.Sprintf("node %d to receive %d envelopes", i, total), func() bool { return r.count() >= total })
		r.mu.Lock()
		if r.seen != total || len(r.got) != 2*publishers {
			t.Errorf("node %d received %d envelopes from %d publishers, want %d from %d", i, r.seen, len(r.got), total, 2*publishers)
		}
		for name, seqs := range r.got {
			for k, n := range seqs {
				if n != k {
					t.Errorf("node %d: publisher %s: envelope %d arrived as number %d (order %v…)", i, name, n, k, seqs[:min(len(seqs), 10)])
					break
				}
			}
		}
		r.mu.Unlock()
	}
}

// redisClients is how many clients the Redis at url has connected, this query's
// own included.
func redisClients(t *testing.T, url string) int {
	t.Helper()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	info, err := rdb.Info(context.Background(), "clients").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_clients:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no connected_clients in INFO clients: %q", info)
	return 0
}

// TestConcurrentPublishesShareAConnection has 64 goroutines publish at once on one
// node and checks that the node did not open a Redis connection per concurrent
// publish: publishes are written in pipelines on one connection, whatever the
// number of callers, so a busy node costs Redis a few clients, not one per sender.
func TestConcurrentPublishesShareAConnection(t *testing.T) {
	r := startOwnRedis(t)
	bp := newBackplane(t, r.url(), "pub", nil)
	before := redisClients(t, r.url())
	var wg sync.WaitGroup
	for p := range 64 {
		wg.Go(func() {
			for seq := range 50 {
				if err := bp.Publish(context.Background(), envelope("h", strconv.Itoa(p), seq)); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	// The subscription, the publishes' connection, at most one more for the
	// heartbeat and the owner checks, and this query.
	if after := redisClients(t, r.url()); after > before+2 {
		t.Errorf("Redis had %d clients before 64 goroutines published at once and %d after; want at most %d", before, after, before+2)
	}
}

// TestPublishErrorReachesEachCaller has a node whose Redis user may publish to one
// hub's channel only publish to that hub and to another at once: each caller gets
// its own answer, in the same pipelines: nil for the allowed hub (and the other
// node receives those envelopes), Redis's refusal wrapped in
// hub.ErrClusterDelivery for the other.
func TestPublishErrorReachesEachCaller(t *testing.T) {
	r := startOwnRedis(t)
	const prefix = "acl"
	admin := goredis.NewClient(&goredis.Options{Addr: strings.TrimSuffix(strings.TrimPrefix(r.url(), "redis://"), "/0")})
	defer admin.Close()
	if err := admin.Do(context.Background(), "ACL", "SETUSER", "limited", "on", ">secret", "~*", "+@all",
		"resetchannels", "&"+prefix+":node:*", "&"+prefix+":hub:open").Err(); err != nil {
		t.Fatal(err)
	}
	limitedURL := strings.Replace(r.url(), "redis://", "redis://limited:secret@", 1)
	sender := newBackplane(t, limitedURL, prefix, nil)
	other := newBackplane(t, r.url(), prefix, nil)
	recv := &receiver{}
	for _, name := range []string{"open", "closed"} {
		detach, err := other.Attach(name, recv.deliver)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(detach)
	}

	const each = 50
	type answer struct {
		hub string
		err error
	}
	answers := make(chan answer, 2*each)
	var wg sync.WaitGroup
	for seq := range each {
		for _, name := range []string{"open", "closed"} {
			wg.Go(func() {
				answers <- answer{name, sender.Publish(context.Background(), envelope(name, name+strconv.Itoa(seq), seq))}
			})
		}
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		switch {
		case a.hub == "open" && a.err != nil:
			t.Errorf("publish to the allowed hub: %v", a.err)
		case a.hub == "closed" && !errors.Is(a.err, hub.ErrClusterDelivery):
			t.Errorf("publish to the refused hub: got %v, want an error wrapping hub.ErrClusterDelivery", a.err)
		case a.hub == "closed" && !strings.Contains(a.err.Error(), "NOPERM"):
			t.Errorf("publish to the refused hub: got %v, want Redis's NOPERM", a.err)
		}
	}
	waitFor(t, "the other node to receive the allowed envelopes", func() bool { return recv.count() >= each })
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if recv.seen != each {
		t.Errorf("the other node received %d envelopes, want the %d published to the allowed hub", recv.seen, each)
	}
}

// stopRedis freezes r's redis-server (SIGSTOP) until the returned func resumes it:
// commands are accepted by the kernel and never answered, as on a stalled server.
func stopRedis(t *testing.T, r *ownRedis) (resume func()) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume = func() { once.Do(func() { r.cmd.Process.Signal(syscall.SIGCONT) }) }
	t.Cleanup(resume)
	return resume
}

// TestPublishQueueBound stalls Redis and has more goroutines publish at once than
// MaxPendingPublishes lets wait: those beyond the bound (the queue plus the
// pipeline in flight) fail with ErrPublishQueueFull when their context ends instead of
// piling up, every caller gets an error wrapping hub.ErrClusterDelivery, and once
// Redis answers again publishes go through.
func TestPublishQueueBound(t *testing.T) {
	r := startOwnRedis(t)
	const bound, callers = 4, 20
	bp := newBackplane(t, r.url(), "bound", func(o *redis.Options) {
		o.MaxPendingPublishes = bound
		o.OpTimeout = 5 * time.Second // the pipeline in flight waits that long;
		o.PingInterval = time.Minute  // and the stall must not count as an outage
	})
	resume := stopRedis(t, r)
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			// Callers give up sooner than the pipeline in flight, so no room frees
			// up meanwhile.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			errs <- bp.Publish(ctx, envelope("h", "p", i))
		})
	}
	wg.Wait()
	close(errs)
	full := 0
	for err := range errs {
		if !errors.Is(err, hub.ErrClusterDelivery) {
			t.Errorf("publish to a stalled Redis: got %v, want an error wrapping hub.ErrClusterDelivery", err)
		}
		if errors.Is(err, redis.ErrPublishQueueFull) {
			full++
		}
	}
	if want := callers - 2*bound; full < want {
		t.Errorf("%d of %d publishes failed with ErrPublishQueueFull; with %d waiting and at most %d in flight, want at least %d", full, callers, bound, bound, want)
	}
	resume()
	waitFor(t, "publishing to work again", func() bool {
		return bp.Publish(context.Background(), envelope("h", "p", 0)) == nil
	})
}

// TestCloseEndsPendingPublishes closes a backplane while publishes wait on a
// stalled Redis: each caller returns with an error wrapping
// hub.ErrClusterDelivery, and the writer goroutine ends (TestMain's leak check).
func TestCloseEndsPendingPublishes(t *testing.T) {
	r := startOwnRedis(t)
	bp := newBackplane(t, r.url(), "close", func(o *redis.Options) {
		o.OpTimeout = time.Minute // only Close can end the publishes
		o.PingInterval = time.Minute
	})
	resume := stopRedis(t, r)
	const callers = 10
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { errs <- bp.Publish(context.Background(), envelope("h", "p", i)) })
	}
	time.Sleep(100 * time.Millisecond) // let them queue (not needed for correctness)
	closed := make(chan struct{})
	go func() { bp.Close(); close(closed) }()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("publishes still waiting after Close")
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, hub.ErrClusterDelivery) {
			t.Errorf("publish ended by Close: got %v, want an error wrapping hub.ErrClusterDelivery", err)
		}
	}
	resume() // Close removes the node's records from Redis before it returns
	<-closed
}
