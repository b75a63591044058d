package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	natsbackplane "github.com/hubbub-go/hubbub/backplane/nats"
	redisbackplane "github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/hub"
)

// Backplanes a cluster node runs on (run --cluster-backplanes, --interest-backplanes).
const (
	// bpRedis is one Redis with backplane/redis's default routing: by interest
	// (each node subscribes to the channels of its groups, users and connections).
	bpRedis = "redis"
	// bpRedisByHub is one Redis with Options.RouteByHub: every envelope on one
	// channel per hub, every node receives everything (the routing before issue 18).
	bpRedisByHub = "redis-by-hub"
	// bpRedisCluster is a Redis Cluster hubbench starts for the run (3 masters, 3
	// replicas): sharded pub/sub.
	bpRedisCluster = "redis-cluster"
	// bpNATS is the NATS at --nats (the shared one), a prefix of its own per run.
	bpNATS = "nats"
)

var backplaneNames = []string{bpRedis, bpRedisByHub, bpRedisCluster, bpNATS}

// backplaneStatsPath answers GET with the node's backplaneStats (loopback clients
// only); 404 when the node has no backplane that counts (centrifuge, one node).
const backplaneStatsPath = "/bench/backplane-stats"

// backplaneStats is a node's backplane counters so far: backplane/redis's and
// backplane/nats's Stats, and how the node routes.
type backplaneStats struct {
	Backplane string `json:"backplane"` // redis or nats
	// Routing is "interest" (the node receives only the envelopes for what it has
	// receivers for) or "hub" (every envelope of the hub).
	Routing string `json:"routing"`
	// Uncounted means the counters below could not be read: the run shows "–".
	Uncounted bool   `json:"uncounted,omitempty"`
	Published uint64 `json:"published"` // envelopes this node published
	Received  uint64 `json:"received"`  // envelopes this node received from other nodes
	Failed    uint64 `json:"failed"`
	Dropped   uint64 `json:"dropped,omitempty"`
}

// nodeBackplane is a hubbub node's backplane with what the bench endpoint reads.
type nodeBackplane struct {
	bp    hub.Backplane
	stats func() (backplaneStats, error)
	close func()
}

// newNodeBackplane connects a hubbub node's backplane for opts (Redis or NATS)
// and waits until it is ready.
func newNodeBackplane(opts serveOptions) (*nodeBackplane, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch {
	case opts.nats != "":
		bp, err := natsbackplane.New(natsbackplane.Options{URL: opts.nats, Prefix: opts.prefix, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("nats backplane: %w", err)
		}
		if err := bp.Ready(ctx); err != nil {
			bp.Close()
			return nil, err
		}
		return &nodeBackplane{bp: bp, close: func() { bp.Close() }, stats: func() (backplaneStats, error) {
			st := bp.Stats()
			return backplaneStats{Backplane: "nats", Routing: "interest", Published: st.Published, Received: st.Received, Failed: st.Failed, Dropped: st.Dropped}, nil
		}}, nil
	case opts.redis != "":
		routing := "interest"
		if opts.routeByHub {
			routing = "hub"
		}
		bp, err := redisbackplane.New(redisbackplane.Options{URL: redisURL(opts.redis), Prefix: opts.prefix, RouteByHub: opts.routeByHub, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("redis backplane: %w", err)
		}
		if err := bp.Ready(ctx); err != nil {
			bp.Close()
			return nil, err
		}
		return &nodeBackplane{bp: bp, close: func() { bp.Close() }, stats: func() (backplaneStats, error) {
			st := bp.Stats()
			return backplaneStats{Backplane: "redis", Routing: routing, Published: st.Published, Received: st.Received, Failed: st.Failed}, nil
		}}, nil
	}
	return nil, errors.New("no backplane: neither --redis nor --nats")
}

// redisURL is the URL backplane/redis takes for --redis: a URL as it is
// (redis://, redis+cluster://, redis+sentinel://), host:port as redis://host:port/0.
func redisURL(s string) string {
	if strings.Contains(s, "://") {
		return s
	}
	return "redis://" + s + "/0"
}

// singleRedisAddr is the host:port of a single Redis given as host:port or
// redis://[user:password@]host:port[/db] (centrifuge's Redis broker takes an
// address); Redis Cluster and Sentinel URLs fail: the baseline runs on one Redis.
func singleRedisAddr(s string) (string, error) {
	if !strings.Contains(s, "://") {
		return s, nil
	}
	rest, ok := strings.CutPrefix(s, "redis://")
	if !ok {
		return "", fmt.Errorf("%q: centrifuge runs on a single Redis only (host:port or redis://host:port)", s)
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	host, _, _ := strings.Cut(rest, "/")
	if strings.Contains(host, ",") {
		return "", fmt.Errorf("%q: centrifuge runs on a single Redis only", s)
	}
	return host, nil
}

// checkLoopbackURL refuses a backplane address (host:port, or a URL with one host
// or several separated by commas, as Redis Cluster, Sentinel and NATS take them)
// naming any host outside 127.0.0.0/8.
func checkLoopbackURL(s string) error {
	for _, part := range strings.Split(s, ",") {
		if _, rest, ok := strings.Cut(part, "://"); ok {
			part = rest
		}
		if i := strings.LastIndexByte(part, '@'); i >= 0 {
			part = part[i+1:]
		}
		part, _, _ = strings.Cut(part, "/")
		if err := checkLoopback(part); err != nil {
			return err
		}
	}
	return nil
}

// serveBackplaneStats answers backplaneStatsPath from stats (nil: 404).
func serveBackplaneStats(stats func() (backplaneStats, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err != nil || !net.ParseIP(host).IsLoopback() {
			http.Error(w, "loopback only", http.StatusForbidden)
			return
		}
		if stats == nil {
			http.Error(w, "no backplane stats on this node", http.StatusNotFound)
			return
		}
		st, err := stats()
		if err != nil {
			st.Uncounted = true // the routing is known all the same
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	}
}

// fetchBackplaneStats reads a node's backplaneStatsPath.
func fetchBackplaneStats(addr string) (*backplaneStats, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + backplaneStatsPath)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg [256]byte
		n, _ := resp.Body.Read(msg[:])
		return nil, fmt.Errorf("backplane stats: %s: %s", resp.Status, strings.TrimSpace(string(msg[:n])))
	}
	var st backplaneStats
	return &st, json.NewDecoder(resp.Body).Decode(&st)
}
