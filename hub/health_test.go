package hub_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/hub"
)

// downBackplane is an in-memory backplane that reports itself unavailable.
type downBackplane struct{ *hub.MemoryBackplane }

func (downBackplane) Err() error { return errors.New("test backplane: cannot reach the other nodes") }

// TestHealthHandlerReportsEachHub: the health handler answers 200 while every hub
// serves with a working backplane, and 503 naming the hub and the reason when a
// hub's backplane is down or the hub is closing, so that a load balancer takes
// the node out.
func TestHealthHandlerReportsEachHub(t *testing.T) {
	type hubHealth struct {
		Status    string `json:"status"`
		Backplane string `json:"backplane"`
	}
	type health struct {
		Status string               `json:"status"`
		Hubs   map[string]hubHealth `json:"hubs"`
	}
	check := func(t *testing.T, hubs []*hub.Hub, wantStatus int, want health) {
		t.Helper()
		srv := httptest.NewServer(hub.HealthHandler(hubs...))
		defer srv.Close()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body := readBody(t, resp)
		var got health
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		if resp.StatusCode != wantStatus || got.Status != want.Status || len(got.Hubs) != len(want.Hubs) {
			t.Fatalf("got %d %s, want %d %+v", resp.StatusCode, body, wantStatus, want)
		}
		for name, w := range want.Hubs {
			g := got.Hubs[name]
			if g.Status != w.Status || !strings.Contains(g.Backplane, w.Backplane) {
				t.Errorf("hub %s: %+v, want %+v", name, g, w)
			}
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", cc)
		}
	}
	chat := hub.New(hub.Options{Name: "chat"})
	news := hub.New(hub.Options{Name: "news", Backplane: downBackplane{hub.NewMemoryBackplane()}})
	closing := hub.New(hub.Options{Name: "closing"})
	ctx, cancel := contextWithTimeout(hostileWaitFor)
	defer cancel()
	closing.Close(ctx)
	t.Cleanup(func() {
		chat.Close(ctx)
		news.Close(ctx)
	})

	t.Run("all well", func(t *testing.T) {
		check(t, []*hub.Hub{chat}, 200, health{Status: "ok", Hubs: map[string]hubHealth{"chat": {"ok", "ok"}}})
	})
	t.Run("backplane down", func(t *testing.T) {
		check(t, []*hub.Hub{chat, news}, 503, health{Status: "unavailable", Hubs: map[string]hubHealth{
			"chat": {"ok", "ok"},
			"news": {"unavailable", "test backplane: cannot reach the other nodes"},
		}})
	})
	t.Run("hub closing", func(t *testing.T) {
		check(t, []*hub.Hub{chat, closing}, 503, health{Status: "unavailable", Hubs: map[string]hubHealth{
			"chat":    {"ok", "ok"},
			"closing": {"closing", "ok"},
		}})
	})
}
