package redis_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
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
		benchBroadcast(b, h, bases)
	})
	b.Run("cross-node", func(b *testing.B) {
		url := redisURL(b)
		c := startCluster(b, url, testPrefix(b, url))
		var bases []string
		for i := range receivers {
			bases = append(bases, c.Nodes[1+i%2].URL+"/hubs/conformance")
		}
		benchBroadcast(b, c.Nodes[0].Conformance, bases)
	})
}

func benchBroadcast(b *testing.B, sender *hub.Hub, bases []string) {
	type arrival struct{ latency time.Duration }
	arrivals := make(chan arrival, len(bases))
	for _, base := range bases {
		cl := dial(b, base, "", transports.WebSockets)
		go func() {
			for {
				m, err := cl.Next()
				if err != nil {
					return
				}
				if m.Target != "bench" || len(m.Arguments) == 0 {
					continue
				}
				sent, _ := strconv.ParseInt(string(m.Arguments[0]), 10, 64)
				arrivals <- arrival{time.Duration(time.Now().UnixNano() - sent)}
			}
		}()
	}
	ctx := context.Background()
	latencies := make([]time.Duration, 0, b.N*len(bases))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := sender.Clients().All().Send(ctx, "bench", time.Now().UnixNano()); err != nil {
			b.Fatal(err)
		}
		for range bases {
			select {
			case a := <-arrivals:
				latencies = append(latencies, a.latency)
			case <-time.After(waitTimeout):
				b.Fatal("a receiver did not get the broadcast")
			}
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	var sum time.Duration
	for _, l := range latencies {
		sum += l
	}
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(sum.Microseconds())/float64(len(latencies)), "mean-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
}
