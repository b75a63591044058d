package admin

import (
	"container/heap"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// historySeconds is how far back the sparklines go: one sample a second.
const historySeconds = 600

// recentDisconnects is how many disconnect reasons a hub keeps.
const recentDisconnects = 20

// Sample is one second of a hub's traffic on one node.
type Sample struct {
	At          int64 `json:"at"` // Unix seconds
	In          int64 `json:"in"` // units received (a WebSocket message, a POST body)
	Out         int64 `json:"out"`
	Connects    int64 `json:"connects"`
	Disconnects int64 `json:"disconnects"`
}

// Disconnect is one connection's end, as the dashboard lists it.
type Disconnect struct {
	At        int64  `json:"at"` // Unix milliseconds
	Transport string `json:"transport"`
	Reason    string `json:"reason"` // as hub.EndObserver says it
}

// stats is what the dashboard counts for one hub on this node. The hot
// counters are atomics; the rest, rare, sits under mu.
type stats struct {
	in, out, connects, disconnects atomic.Int64
	strikes                        atomic.Int64 // rate-limit strikes (hub.RateLimitObserver)

	mu        sync.Mutex
	refusals  map[string]int64 // by Observer.Refused reason
	closes    map[string]int64 // server closes by reason (slow consumer, rate limited…)
	fallbacks map[string]int64 // "transport: reason" (FallbackObserver)
	recent    []Disconnect     // newest last, at most recentDisconnects
	ring      [historySeconds]Sample
	next      int    // where the next sample goes in ring
	filled    int    // samples in ring
	last      Sample // counter totals at the previous sample
}

func newStats() *stats {
	return &stats{refusals: map[string]int64{}, closes: map[string]int64{}, fallbacks: map[string]int64{}}
}

// collector is the hub.Observer half of a Dashboard.
type collector struct {
	hubs sync.Map // hub name -> *stats
}

func (c *collector) stats(name string) *stats {
	if s, ok := c.hubs.Load(name); ok {
		return s.(*stats)
	}
	s, _ := c.hubs.LoadOrStore(name, newStats())
	return s.(*stats)
}

func (c *collector) Negotiated(string) {}

func (c *collector) Refused(h, reason string) {
	s := c.stats(h)
	s.mu.Lock()
	s.refusals[reason]++
	s.mu.Unlock()
}

func (c *collector) Connected(h string, _ transports.Kind) { c.stats(h).connects.Add(1) }

func (c *collector) Disconnected(h string, _ transports.Kind, _ error) { c.stats(h).disconnects.Add(1) }

// Ended keeps the reason among the recent ones: in the access log's words, which
// tell a close by the client from one by the server, where Disconnected's error
// does not.
func (c *collector) Ended(h string, t transports.Kind, reason string) {
	s := c.stats(h)
	d := Disconnect{At: time.Now().UnixMilli(), Transport: t.String(), Reason: reason}
	s.mu.Lock()
	if len(s.recent) == recentDisconnects {
		s.recent = append(s.recent[:0], s.recent[1:]...)
	}
	s.recent = append(s.recent, d)
	s.mu.Unlock()
}

func (c *collector) Received(h string, _ transports.Kind, _ int) { c.stats(h).in.Add(1) }

func (c *collector) Sent(h string, _ transports.Kind, _, records int) {
	c.stats(h).out.Add(int64(records))
}

func (c *collector) Invoked(string, string, time.Duration, error) {}

func (c *collector) Closed(h string, reason error) {
	label := "other"
	switch {
	case errors.Is(reason, hub.ErrSlowConsumer):
		label = "slow consumer"
	case errors.Is(reason, hub.ErrRateLimited):
		label = "rate limited"
	case errors.Is(reason, hub.ErrClientTimeout):
		label = "client timeout"
	case errors.Is(reason, hub.ErrHandshakeTimeout):
		label = "handshake timeout"
	case reason != nil:
		label = reason.Error()
	}
	s := c.stats(h)
	s.mu.Lock()
	s.closes[label]++
	s.mu.Unlock()
}

func (c *collector) RateLimitStrike(h string) { c.stats(h).strikes.Add(1) }

func (c *collector) BackplaneError(string, error)     {}
func (c *collector) LinkLost(string, transports.Kind) {}
func (c *collector) Resumed(string, transports.Kind)  {}
func (c *collector) Fallback(h string, left transports.Kind, reason string) {
	s := c.stats(h)
	s.mu.Lock()
	s.fallbacks[left.String()+": "+reason]++
	s.mu.Unlock()
}

// sample closes the second ending at now: the counters' growth since the
// previous sample goes into the ring.
func (s *stats) sample(now time.Time) Sample {
	total := Sample{In: s.in.Load(), Out: s.out.Load(), Connects: s.connects.Load(), Disconnects: s.disconnects.Load()}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := Sample{
		At:          now.Unix(),
		In:          total.In - s.last.In,
		Out:         total.Out - s.last.Out,
		Connects:    total.Connects - s.last.Connects,
		Disconnects: total.Disconnects - s.last.Disconnects,
	}
	s.last = total
	s.ring[s.next] = d
	s.next = (s.next + 1) % historySeconds
	if s.filled < historySeconds {
		s.filled++
	}
	return d
}

// history returns the samples in the ring, oldest first.
func (s *stats) history() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sample, 0, s.filled)
	for i := s.filled; i > 0; i-- {
		out = append(out, s.ring[(s.next-i+historySeconds)%historySeconds])
	}
	return out
}

// counts copies the rare counters.
func (s *stats) counts() (refusals, closes, fallbacks map[string]int64, recent []Disconnect) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := func(m map[string]int64) map[string]int64 {
		out := make(map[string]int64, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return cp(s.refusals), cp(s.closes), cp(s.fallbacks), append([]Disconnect(nil), s.recent...)
}

// topGroups keeps the max fullest groups of m (ties by name). It keeps them in
// a heap whose top is the least full so far, rather than sorting every group:
// a node may hold 100,000, and this runs every second a page is open.
func topGroups(m map[string]int, max int) []Group {
	top := make(groupHeap, 0, min(max, len(m)))
	for name, n := range m {
		g := Group{Name: name, Members: n}
		switch {
		case len(top) < max:
			top = append(top, g) // and up into place: heap.Push would box g
			heap.Fix(&top, len(top)-1)
		case fuller(g, top[0]):
			top[0] = g
			heap.Fix(&top, 0)
		}
	}
	sort.Slice(top, func(i, j int) bool { return fuller(top[i], top[j]) })
	return top
}

// fuller orders groups for the page: more members first, then by name.
func fuller(a, b Group) bool {
	if a.Members != b.Members {
		return a.Members > b.Members
	}
	return a.Name < b.Name
}

// groupHeap is a min-heap in the page's order: its top is the group listed last.
type groupHeap []Group

func (h groupHeap) Len() int           { return len(h) }
func (h groupHeap) Less(i, j int) bool { return fuller(h[j], h[i]) }
func (h groupHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *groupHeap) Push(x any)        { *h = append(*h, x.(Group)) }
func (h *groupHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
