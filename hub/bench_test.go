package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// benchClient is a lean WebSocket client of a hub: negotiate, handshake, then a
// goroutine that counts the records it receives (pings, every 15 s, included).
type benchClient struct {
	id       string
	ws       *websocket.Conn
	received atomic.Int64
	done     chan struct{}
}

func dialBench(tb testing.TB, base string) *benchClient {
	tb.Helper()
	resp, err := http.Post(base+"/negotiate?negotiateVersion=1", "text/plain", nil)
	if err != nil {
		tb.Fatal(err)
	}
	var neg struct {
		ConnectionID    string `json:"connectionId"`
		ConnectionToken string `json:"connectionToken"`
	}
	err = json.NewDecoder(resp.Body).Decode(&neg)
	resp.Body.Close()
	if err != nil {
		tb.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"?id="+neg.ConnectionToken, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("{\"protocol\":\"json\",\"version\":1}\x1e")); err != nil {
		tb.Fatal(err)
	}
	if _, msg, err := ws.ReadMessage(); err != nil || !bytes.HasPrefix(msg, []byte("{}\x1e")) {
		tb.Fatalf("handshake: %q %v", msg, err)
	}
	c := &benchClient{id: neg.ConnectionID, ws: ws, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, r, err := ws.NextReader()
			if err != nil {
				return
			}
			var buf [4096]byte
			for {
				n, err := r.Read(buf[:])
				// Count record separators: a record can span two reads, a byte cannot.
				c.received.Add(int64(bytes.Count(buf[:n], []byte{0x1e})))
				if err != nil {
					break
				}
			}
		}
	}()
	return c
}

// unitCounter counts what the hub writes: units (one write each) and the messages
// they carry, for the messages-per-write figure of a benchmark.
type unitCounter struct {
	hub.NopObserver
	units, records atomic.Int64
}

func (u *unitCounter) Sent(_ string, _ transports.Kind, _, records int) {
	u.units.Add(1)
	u.records.Add(int64(records))
}

// report adds msgs/write, the mean number of hub messages per unit written.
func (u *unitCounter) report(b *testing.B) {
	if n := u.units.Load(); n > 0 {
		b.ReportMetric(float64(u.records.Load())/float64(n), "msgs/write")
	}
}

// benchHub serves a hub on a loopback httptest server with n connected clients.
func benchHub(b *testing.B, n int) (*hub.Hub, []*benchClient) {
	h, clients, _ := benchHubCounting(b, n)
	return h, clients
}

// benchHubCounting is benchHub with a count of the units the hub writes.
func benchHubCounting(b *testing.B, n int) (*hub.Hub, []*benchClient, *unitCounter) {
	b.Helper()
	counter := &unitCounter{}
	h := hub.New(hub.Options{MaxConnectionsPerIP: 1 << 20, MaxPendingNegotiations: 1 << 20, DisableAccessLog: true, Observer: counter})
	mux := http.NewServeMux()
	mux.Handle("/hub", h)
	mux.Handle("/hub/", h)
	srv := httptest.NewServer(mux)
	clients := make([]*benchClient, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range clients {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			clients[i] = dialBench(b, srv.URL+"/hub")
		}()
	}
	wg.Wait()
	for h.ConnectionCount() < n {
		time.Sleep(time.Millisecond)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
		for _, c := range clients {
			c.ws.Close()
			<-c.done
		}
		srv.Close()
	})
	return h, clients, counter
}

// waitDelivered waits until the clients have received want records in all.
func waitDelivered(b *testing.B, clients []*benchClient, want int64) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got int64
		for _, c := range clients {
			got += c.received.Load()
		}
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d", got, want)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

var payload128 = strings.Repeat("x", 128)

// BenchmarkBroadcast is fan-out to N real WebSocket connections on loopback: each
// op is one Clients().All().Send of a 128-byte string, and the benchmark ends once
// every connection has received every message. At most 256 messages are in flight,
// well under MaxQueueLength, so no connection is dropped as a slow consumer.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			h, clients := benchHub(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if i >= 256 && i%64 == 0 {
					waitDelivered(b, clients, int64(i-256)*int64(n))
				}
				if err := h.Clients().All().Send(ctx, "tick", payload128); err != nil {
					b.Fatal(err)
				}
			}
			waitDelivered(b, clients, int64(b.N)*int64(n))
			b.ReportMetric(float64(b.N)*float64(n)/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkBroadcastBurst is a news burst: each op sends burst broadcasts of a
// 128-byte string back to back, without waiting, to N real WebSocket connections on
// loopback, then waits until every connection has received all of them.
func BenchmarkBroadcastBurst(b *testing.B) {
	const burst = 100
	for _, n := range []int{1000, 2000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			h, clients, counter := benchHubCounting(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			counter.units.Store(0)
			counter.records.Store(0)
			start := time.Now()
			for i := range b.N {
				for range burst {
					if err := h.Clients().All().Send(ctx, "tick", payload128); err != nil {
						b.Fatal(err)
					}
				}
				waitDelivered(b, clients, int64(i+1)*burst*int64(n))
			}
			b.ReportMetric(float64(b.N)*burst*float64(n)/time.Since(start).Seconds(), "deliveries/s")
			counter.report(b)
		})
	}
}

// BenchmarkGroupSend sends to one group of 10 among 100 groups (1,000 connections):
// group lookup plus fan-out to its members.
func BenchmarkGroupSend(b *testing.B) {
	const n, groups = 1000, 100
	h, clients := benchHub(b, n)
	ctx := context.Background()
	for i, c := range clients {
		if err := h.Groups().Add(ctx, c.id, fmt.Sprintf("g%d", i%groups)); err != nil {
			b.Fatal(err)
		}
	}
	names := make([]string, groups)
	for i := range names {
		names[i] = fmt.Sprintf("g%d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if i >= 2048 && i%256 == 0 {
			waitDelivered(b, clients, int64(i-2048)*n/groups)
		}
		if err := h.Clients().Group(names[i%groups]).Send(ctx, "tick", payload128); err != nil {
			b.Fatal(err)
		}
	}
	waitDelivered(b, clients, int64(b.N)*n/groups)
	b.ReportMetric(float64(b.N)*n/groups/time.Since(start).Seconds(), "deliveries/s")
}

// BenchmarkSendNoReceivers is the fixed cost of one Send: argument encoding, the
// envelope, the in-memory backplane and the receiver lookup, with nobody to deliver
// to (an empty group).
func BenchmarkSendNoReceivers(b *testing.B) {
	h := hub.New(hub.Options{})
	ctx := context.Background()
	b.Cleanup(func() { h.Close(ctx) })
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Clients().Group("nobody").Send(ctx, "tick", payload128); err != nil {
			b.Fatal(err)
		}
	}
}
