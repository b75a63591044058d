package suite

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// BenchBroadcast connects a WebSocket client to each of bases, then sends b.N
// broadcasts from sender, each waited for by every client before the next, and
// reports deliveries per second and the mean and 99th percentile latency.
func BenchBroadcast(b *testing.B, sender *hub.Hub, bases []string) {
	type arrival struct{ latency time.Duration }
	arrivals := make(chan arrival, len(bases))
	for _, base := range bases {
		cl := Dial(b, base, "", transports.WebSockets)
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
			case <-time.After(WaitTimeout):
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
