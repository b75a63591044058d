package client_test

// End-to-end: the Go client and the real hub, through the link-cutting proxy
// (internal/linkcut). The headline: a long sequenced stream sent to a group arrives
// whole, in order and once, across many cuts of every kind, on every transport.

import (
	"context"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/internal/linkcut"
	"github.com/hubbub-go/hubbub/transports"
)

// Sizes of the cut test; HUBBUB_CUTS and HUBBUB_CUT_MESSAGES change them.
const (
	defaultCuts        = 100
	defaultCutMessages = 50_000
	// inFlight bounds the messages sent and not yet received, below the hub's
	// MaxQueueLength, so that an outage never overflows the connection's queue.
	inFlight = 400
)

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a number", name, s)
	}
	return n
}

// cutHub is the conformance hub on a loopback server behind a link-cutting proxy.
type cutHub struct {
	hub          *hub.Hub
	proxy        *linkcut.Proxy
	url          string // the hub's URL through the proxy
	disconnected atomic.Int32
}

func startCutHub(t *testing.T, seed uint64) *cutHub {
	t.Helper()
	ch := &cutHub{}
	ch.hub = conformance.NewHub(hub.Options{Logger: quiet})
	ch.hub.OnDisconnected(func(ctx *hub.Context, err error) { ch.disconnected.Add(1) })
	srv := httptest.NewServer(ch.hub)
	opts := linkcut.Options{Target: srv.URL, Seed: seed, BlackHoleFor: 150 * time.Millisecond}
	if os.Getenv("HUBBUB_TEST_LOG") != "" {
		opts.Logf = t.Logf
	}
	p, err := linkcut.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ch.proxy = p
	ch.url = p.URL() + "/hubs/conformance"
	t.Cleanup(func() {
		p.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ch.hub.Close(ctx)
		srv.Close()
	})
	return ch
}

// TestCutsSequencedGroupStream: through random resets, black holes, 504s and
// mid-response cuts, a sequenced stream sent to a group arrives at the Go client
// with nothing lost, duplicated or reordered, on the same connection (same ID,
// still in the group, never disconnected on the server).
func TestCutsSequencedGroupStream(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	// JSON over every transport; a shorter MessagePack run over those that carry
	// it. HUBBUB_CUTS and HUBBUB_CUT_MESSAGES set the JSON sizes; the MessagePack
	// run takes a fifth of each.
	cuts := envInt(t, "HUBBUB_CUTS", defaultCuts)
	total := envInt(t, "HUBBUB_CUT_MESSAGES", defaultCutMessages)
	type run struct {
		proto       protocol.Protocol
		name        string
		kind        transports.Kind
		cuts, total int
	}
	var runs []run
	for _, k := range kinds {
		runs = append(runs, run{protocol.JSON, k.name, k.kind, cuts, total})
	}
	for _, k := range binaryKinds {
		runs = append(runs, run{protocol.MessagePack, "messagepack/" + k.name, k.kind, cuts / 5, total / 5})
	}
	for i, r := range runs {
		cuts, total := r.cuts, r.total
		t.Run(r.name, func(t *testing.T) {
			ch := startCutHub(t, uint64(i+1))
			var reconnects, resumedFalse atomic.Int32
			c := dial(t, ch.url, r.kind, client.Options{
				Protocol:         r.proto,
				Logger:           quiet,
				HandshakeTimeout: 5 * time.Second,
				OnReconnected: func(resumed bool) {
					reconnects.Add(1)
					if !resumed {
						resumedFalse.Add(1)
					}
				},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			id := c.ConnectionID()

			var next, lost, dups atomic.Int64 // next: the number expected
			c.On("seq", func(args []protocol.RawValue) {
				var n int64
				if err := c.DecodeArgs(args, &n); err != nil {
					t.Error(err)
					return
				}
				switch want := next.Load(); {
				case n == want:
					next.Add(1)
				case n < want:
					dups.Add(1)
				default:
					lost.Add(n - want)
					next.Store(n + 1)
				}
			})
			if _, err := c.Invoke(ctx, "JoinGroup", "g"); err != nil {
				t.Fatal(err)
			}

			rng := rand.New(rand.NewPCG(uint64(i+1), 7))
			group := ch.hub.Clients().Group("g")
			start := time.Now()
			sent, forced := 0, 0
			perCut := max(total/max(cuts, 1), 1)
			for sent < total || forced < cuts {
				// A slice of the stream, paced so that an outage never overflows the
				// connection's queue on the server.
				for end := min(sent+perCut, total); sent < end; sent++ {
					for int64(sent)-next.Load() >= inFlight {
						if ctx.Err() != nil || c.Err() != nil {
							t.Fatalf("stuck at %d of %d sent, %d received; client: %v", sent, total, next.Load(), c.Err())
						}
						time.Sleep(time.Millisecond)
					}
					if err := group.Send(ctx, "seq", sent); err != nil {
						t.Fatal(err)
					}
				}
				if forced < cuts {
					before := reconnects.Load()
					if ch.proxy.Cut(cutKind(rng)) > 0 {
						forced++
						// Let the client come back before the next cut, or cuts in a
						// tight loop (once every message is sent) would reset each
						// new link as it opens. A cut the client does not notice
						// (a mid-response cut armed on an idle link) is waited for
						// a short while only.
						for wait := time.Now(); reconnects.Load() == before && time.Since(wait) < 2*time.Second; {
							time.Sleep(time.Millisecond)
						}
					}
				}
				if c.Err() != nil {
					t.Fatalf("the connection ended after %d cuts: %v", forced, c.Err())
				}
			}
			for next.Load() < int64(total) && lost.Load() == 0 {
				if ctx.Err() != nil || c.Err() != nil {
					t.Fatalf("received %d of %d; client: %v", next.Load(), total, c.Err())
				}
				time.Sleep(5 * time.Millisecond)
			}
			elapsed := time.Since(start)

			if lost.Load() != 0 || dups.Load() != 0 || next.Load() != int64(total) {
				t.Errorf("received up to %d of %d: %d lost, %d duplicated or reordered", next.Load(), total, lost.Load(), dups.Load())
			}
			members, err := ch.hub.Groups().Members(ctx, "g")
			if err != nil || !slices.Equal(members, []string{id}) {
				t.Errorf("group members %v (%v), want [%s]", members, err, id)
			}
			var who conformance.Whoami
			if r, err := c.Invoke(ctx, "Whoami"); err != nil || r.Decode(&who) != nil || who.ConnectionID != id {
				t.Errorf("Whoami %+v, %v; want the connection ID %s", who, err, id)
			}
			if n := ch.disconnected.Load(); n != 0 {
				t.Errorf("the hub saw %d disconnections", n)
			}
			if resumedFalse.Load() != 0 {
				t.Errorf("%d reconnects lost state", resumedFalse.Load())
			}
			st := ch.proxy.Stats()
			cs := c.Stats()
			t.Logf("%d messages, %d forced cuts in %s; proxy cuts %v over %d requests; client: %d reconnects, %d resumes, %d acks, %d replayed, %d duplicates dropped, %d discarded",
				total, forced, elapsed.Round(time.Millisecond), st.Cuts, st.Requests, reconnects.Load(), cs.Resumes, cs.AcksSent, cs.Replayed, cs.Duplicates, cs.Discarded)
		})
	}
}

// cutKind draws a kind of cut: mostly resets and mid-response cuts, some 504s and
// a few black holes (each holds every link for a while).
func cutKind(rng *rand.Rand) linkcut.Kind {
	switch n := rng.IntN(20); {
	case n < 8:
		return linkcut.Reset
	case n < 14:
		return linkcut.MidResponse
	case n < 19:
		return linkcut.GatewayTimeout
	default:
		return linkcut.BlackHole
	}
}
