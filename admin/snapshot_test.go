package admin_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/admin"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// TestConnectionListStable: past Options.MaxConnections, the page lists the
// same connections every second (the first by ID), not a new random few each
// snapshot, so the one an operator searched for does not blink in and out.
func TestConnectionListStable(t *testing.T) {
	bp := hub.NewMemoryBackplane()
	d, err := admin.New(admin.Options{Password: password, Backplane: bp, MaxConnections: 3})
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Options{Name: "chat", Backplane: bp, Observer: d})
	d.Watch(h)
	srv := httptest.NewServer(http.StripPrefix("/hubs/chat", h))
	t.Cleanup(func() { srv.Close(); d.Close(); closeHub(h); closeHub(d.Hub()) })
	var ids []string
	for range 12 {
		ids = append(ids, dial(t, srv.URL+"/hubs/chat", transports.WebSockets, nil).ConnectionID())
	}
	slices.Sort(ids)
	for i := range 20 {
		hs := d.Snapshot(time.Now()).Hubs[0]
		var got []string
		for _, c := range hs.Conns {
			got = append(got, c.ID)
		}
		if hs.Connections != 12 || !slices.Equal(got, ids[:3]) {
			t.Fatalf("snapshot %d: %d connections, listed %q; want 12, listing the first three by ID %q", i, hs.Connections, got, ids[:3])
		}
	}
}
