package admin_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hubbub-go/hubbub/admin"
	"github.com/hubbub-go/hubbub/hub"
)

// TestLifecycle: Close before Start, Start twice, Close twice and Watch after
// Close neither panic nor leave a goroutine behind.
func TestLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(d *admin.Dashboard, h *hub.Hub)
	}{
		{"close before start", func(d *admin.Dashboard, _ *hub.Hub) { d.Close() }},
		{"close twice", func(d *admin.Dashboard, _ *hub.Hub) { d.Start(); d.Close(); d.Close() }},
		{"start twice", func(d *admin.Dashboard, _ *hub.Hub) { d.Start(); d.Start(); d.Close() }},
		{"start after close", func(d *admin.Dashboard, _ *hub.Hub) { d.Start(); d.Close(); d.Start(); d.Close() }},
		{"watch after close", func(d *admin.Dashboard, h *hub.Hub) { d.Start(); d.Close(); d.Watch(h); d.Snapshot(timeNow()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			bp := hub.NewMemoryBackplane()
			d, err := admin.New(admin.Options{Password: password, Backplane: bp})
			if err != nil {
				t.Fatal(err)
			}
			h := hub.New(hub.Options{Name: "chat", Backplane: bp, Observer: d})
			tc.run(d, h)
			closeHub(h)
			closeHub(d.Hub())
		})
	}
}

func timeNow() time.Time { return time.Now() }

// TestWatchTwice: a hub watched twice is shown, and acted on, once.
func TestWatchTwice(t *testing.T) {
	bp := hub.NewMemoryBackplane()
	d, err := admin.New(admin.Options{Password: password, Backplane: bp})
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Options{Name: "chat", Backplane: bp, Observer: d})
	t.Cleanup(func() { d.Close(); closeHub(h); closeHub(d.Hub()) })
	d.Watch(h, h)
	d.Watch(h)
	if n := len(d.Snapshot(time.Now()).Hubs); n != 1 {
		t.Errorf("%d hubs in the snapshot, want 1", n)
	}
}
