package redis_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
	"github.com/hubbub-go/hubbub/internal/conformance"
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
