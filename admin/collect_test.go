package admin_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/admin"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// The Dashboard counts what its Observer methods are told, per hub and per
// second, and keeps ten minutes of samples.
func TestCollector(t *testing.T) {
	d, err := admin.New(admin.Options{Password: "pw", Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := hub.New(hub.Options{Name: "chat", Observer: d})
	defer closeHub(h)
	d.Watch(h)
	var obs hub.Observer = d
	if _, ok := obs.(hub.FallbackObserver); !ok {
		t.Fatal("Dashboard is not a hub.FallbackObserver")
	}
	if _, ok := obs.(hub.RateLimitObserver); !ok {
		t.Fatal("Dashboard is not a hub.RateLimitObserver")
	}
	if _, ok := obs.(hub.EndObserver); !ok {
		t.Fatal("Dashboard is not a hub.EndObserver")
	}
	// Through hub.Observers, as cmd/hubbub combines it with metrics.
	obs = hub.Observers(hub.NopObserver{}, d)

	for range 3 {
		obs.Connected("chat", transports.WebSockets)
	}
	obs.Connected("other", transports.LongPolling) // another hub: counted apart
	obs.Received("chat", transports.WebSockets, 10)
	obs.Received("chat", transports.WebSockets, 10)
	obs.Sent("chat", transports.WebSockets, 100, 5)
	obs.Closed("chat", hub.ErrSlowConsumer)
	obs.Closed("chat", fmt.Errorf("wrapped: %w", hub.ErrRateLimited))
	obs.Closed("chat", hub.ErrRateLimited)
	obs.(hub.RateLimitObserver).RateLimitStrike("chat")
	obs.(hub.RateLimitObserver).RateLimitStrike("chat")
	obs.Refused("chat", "origin")
	obs.Refused("chat", "Too many connections for this user")
	obs.(hub.FallbackObserver).Fallback("chat", transports.WebSockets, "upgrade-refused")
	obs.Disconnected("chat", transports.WebSockets, nil)
	obs.(hub.EndObserver).Ended("chat", transports.WebSockets, "client closed")
	obs.Disconnected("chat", transports.ServerSentEvents, errors.New("boom"))
	obs.(hub.EndObserver).Ended("chat", transports.ServerSentEvents, "boom")

	t0 := time.Unix(1_000_000, 0)
	snap := d.Snapshot(t0)
	if snap.Node != "n1" || len(snap.Hubs) != 1 || snap.Hubs[0].Name != "chat" {
		t.Fatalf("snapshot: node %q, hubs %+v; want n1 and the watched hub chat only", snap.Node, snap.Hubs)
	}
	hs := snap.Hubs[0]
	want := admin.Sample{At: t0.Unix(), In: 2, Out: 5, Connects: 3, Disconnects: 2}
	if hs.Sample != want {
		t.Errorf("sample = %+v, want %+v", hs.Sample, want)
	}
	for name, c := range map[string]struct {
		got  map[string]int64
		want map[string]int64
	}{
		"closes":    {hs.Closes, map[string]int64{"slow consumer": 1, "rate limited": 2}},
		"refusals":  {hs.Refusals, map[string]int64{"origin": 1, "Too many connections for this user": 1}},
		"fallbacks": {hs.Fallbacks, map[string]int64{"WebSockets: upgrade-refused": 1}},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
	if hs.Strikes != 2 {
		t.Errorf("strikes = %d, want 2", hs.Strikes)
	}
	if len(hs.Recent) != 2 || hs.Recent[0].Reason != "client closed" || hs.Recent[1].Reason != "boom" || hs.Recent[1].Transport != "ServerSentEvents" {
		t.Errorf("recent = %+v, want a WebSockets client close then boom on ServerSentEvents", hs.Recent)
	}

	// The next second counts only what happened in it.
	obs.Received("chat", transports.WebSockets, 1)
	if got := d.Snapshot(t0.Add(time.Second)).Hubs[0].Sample; got != (admin.Sample{At: t0.Unix() + 1, In: 1}) {
		t.Errorf("second sample = %+v, want one unit in", got)
	}
	if got := d.Snapshot(t0.Add(2 * time.Second)).Hubs[0].Totals; got != (admin.Sample{In: 3, Out: 5, Connects: 3, Disconnects: 2}) {
		t.Errorf("totals = %+v", got)
	}

	// Ten minutes of samples, oldest first, the oldest forgotten.
	for i := 3; i < 700; i++ {
		d.Snapshot(t0.Add(time.Duration(i) * time.Second))
	}
	hist := d.History("chat")
	if len(hist) != 600 || hist[0].At != t0.Unix()+100 || hist[599].At != t0.Unix()+699 {
		t.Fatalf("history: %d samples from %d to %d; want 600 from %d to %d",
			len(hist), hist[0].At, hist[len(hist)-1].At, t0.Unix()+100, t0.Unix()+699)
	}
}

// Recent disconnects keep the last 20.
func TestCollectorRecentIsBounded(t *testing.T) {
	d, err := admin.New(admin.Options{Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := hub.New(hub.Options{Name: "chat", Observer: d})
	defer closeHub(h)
	d.Watch(h)
	for i := range 25 {
		d.Ended("chat", transports.LongPolling, fmt.Sprintf("reason %d", i))
	}
	r := d.Snapshot(time.Now()).Hubs[0].Recent
	if len(r) != 20 || r[0].Reason != "reason 5" || r[19].Reason != "reason 24" {
		t.Fatalf("recent: %d, from %q to %q; want 20 from reason 5 to reason 24", len(r), r[0].Reason, r[len(r)-1].Reason)
	}
}

func TestNewNeedsAPassword(t *testing.T) {
	if _, err := admin.New(admin.Options{}); !errors.Is(err, admin.ErrNoPassword) {
		t.Fatalf("New without a password: %v, want ErrNoPassword", err)
	}
}
