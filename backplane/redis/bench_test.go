package redis_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/backplane/redis/internal/clustertest"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/internal/redistest"
	"github.com/hubbub-go/hubbub/transports"
)

// BenchmarkBroadcast compares a broadcast's deliveries per second and latency on
// one node (in-memory backplane) with the same broadcast crossing nodes through
// Redis (the sender's node has no receivers; they live on two other nodes), in one
// run. Each iteration sends one message to all receivers and waits until every
// receiver has read it, so latency is per delivery, unloaded.
//
//	go test -run '^$' -bench Broadcast ./backplane/redis/
func BenchmarkBroadcast(b *testing.B) {
	const receivers = 8
	b.Run("single-node", func(b *testing.B) {
		h := conformance.NewHub(hub.Options{Name: "bench"})
		mux := http.NewServeMux()
		mux.Handle("/hub", h)
		mux.Handle("/hub/", h)
		srv := httptest.NewServer(mux)
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			h.Close(ctx)
			srv.Close()
		})
		var bases []string
		for range receivers {
			bases = append(bases, srv.URL+"/hub")
		}
		suite.BenchBroadcast(b, h, bases)
	})
	b.Run("cross-node", func(b *testing.B) {
		url := redisURL(b)
		c := startCluster(b, url, testPrefix(b, url))
		var bases []string
		for i := range receivers {
			bases = append(bases, c.Nodes[1+i%2].URL+"/hubs/conformance")
		}
		suite.BenchBroadcast(b, c.Nodes[0].Conformance, bases)
	})
}

// BenchmarkGroupChurn measures what joins and leaves cost Redis when routing by
// interest: connections on one node join fresh groups (each a new channel to
// subscribe to) and leave them, from 16 × GOMAXPROCS goroutines at once, on a Redis of its own.
// It reports SUBSCRIBE and UNSUBSCRIBE commands per join: under 1 when joins
// that arrive together share a command.
//
//	go test -run '^$' -bench GroupChurn ./backplane/redis/
func BenchmarkGroupChurn(b *testing.B) {
	srv := redistest.StartServerT(b)
	c, err := clustertest.Start(context.Background(), clustertest.Config{RedisURL: srv.URL(), Prefix: "churn", Nodes: 1, Backplane: func(o *redis.Options) {
		fastBackplane(o)
		o.UnsubscribeLinger = 10 * time.Millisecond
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	node := c.Nodes[0]
	const conns = 8
	var ids []string
	for range conns {
		ids = append(ids, dial(b, node.URL+"/hubs/conformance", "", transports.WebSockets).ID)
	}
	calls := func(cmd string) float64 {
		info, err := srv.Do(context.Background(), "INFO", "commandstats")
		if err != nil {
			b.Fatal(err)
		}
		_, rest, ok := strings.Cut(info, "cmdstat_"+cmd+":calls=")
		if !ok {
			return 0
		}
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		return float64(n)
	}
	subs, unsubs := calls("subscribe"), calls("unsubscribe")
	var next atomic.Int64
	groups := node.Conformance.Groups()
	b.SetParallelism(16) // 16 × GOMAXPROCS joiners at once
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := next.Add(1)
			id, group := ids[int(i)%conns], "g"+strconv.FormatInt(i, 10)
			if err := groups.Add(ctx, id, group); err != nil {
				b.Error(err)
				return
			}
			groups.Remove(ctx, id, group)
		}
	})
	b.StopTimer()
	time.Sleep(100 * time.Millisecond) // the last unsubscribes
	b.ReportMetric((calls("subscribe")-subs)/float64(b.N), "SUBSCRIBE/join")
	b.ReportMetric((calls("unsubscribe")-unsubs)/float64(b.N), "UNSUBSCRIBE/join")
}

// BenchmarkPublish measures one node's Publish of a group message through Redis
// (no receivers): its allocations are paid per send.
//
//	go test -run '^$' -bench Publish -benchmem ./backplane/redis/
func BenchmarkPublish(b *testing.B) {
	url := redisURL(b)
	bp, err := redis.New(redis.Options{URL: url, Prefix: testPrefix(b, url), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer bp.Close()
	ctx := context.Background()
	if err := bp.Ready(ctx); err != nil {
		b.Fatal(err)
	}
	env := &hub.Envelope{Hub: "bench", Selector: hub.Selector{Kind: hub.SelectGroups, IDs: []string{"room"}}, Method: "m"}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := bp.Publish(ctx, env); err != nil {
			b.Fatal(err)
		}
	}
}
