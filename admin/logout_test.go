package admin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
)

// TestLogoutVoidsCookie: a logout voids its cookie on every node, not just in
// the browser that logged out: a copy of it no longer opens the admin hub nor
// the session, and the pages open with it are closed.
func TestLogoutVoidsCookie(t *testing.T) { onTwoBackplanes(t, logoutVoidsCookie) }

func logoutVoidsCookie(t *testing.T, bpA, bpB hub.Backplane) {
	a, b := startNode(t, "a", bpA), startNode(t, "b", bpB)
	_, cookie := login(t, a.srv.URL, password)
	_, other := login(t, a.srv.URL, password) // another session, which stays
	if cookie == nil || other == nil {
		t.Fatal("login set no cookie")
	}
	page := dial(t, b.srv.URL+"/admin/hub", 0, http.Header{"Cookie": {cookie.String()}})

	status := func(method, url string, c *http.Cookie) int {
		req, _ := http.NewRequest(method, url, nil)
		req.AddCookie(c)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := status(http.MethodPost, a.srv.URL+"/admin/logout", cookie); got != http.StatusNoContent {
		t.Fatalf("logout: %d, want 204", got)
	}
	select {
	case <-page.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the page open with the cookie on node b was not closed")
	}
	var ce *client.CloseError
	if err := page.Err(); !errors.As(err, &ce) || ce.AllowReconnect {
		t.Errorf("page closed with %v, want a Close message without reconnect", err)
	}
	for _, n := range []*node{a, b} {
		// Node b heard of the logout before it closed the page.
		if got := status(http.MethodPost, n.srv.URL+"/admin/hub/negotiate?negotiateVersion=1", cookie); got != http.StatusUnauthorized {
			t.Errorf("negotiate on %s with the cookie after logout: %d, want 401", n.d.Node(), got)
		}
		if got := status(http.MethodGet, n.srv.URL+"/admin/session", cookie); got != http.StatusUnauthorized {
			t.Errorf("session on %s with the cookie after logout: %d, want 401", n.d.Node(), got)
		}
		if got := status(http.MethodPost, n.srv.URL+"/admin/hub/negotiate?negotiateVersion=1", other); got != http.StatusOK {
			t.Errorf("negotiate on %s with another session's cookie: %d, want 200", n.d.Node(), got)
		}
	}
}

// failingPublish is a memory backplane whose Publish fails once down is set.
type failingPublish struct {
	*hub.MemoryBackplane
	down atomic.Bool
}

func (b *failingPublish) Publish(ctx context.Context, env *hub.Envelope) error {
	if b.down.Load() {
		return errors.New("backplane down")
	}
	return b.MemoryBackplane.Publish(ctx, env)
}

// TestLogoutBackplaneDown: a logout the other nodes cannot hear of says so
// (503), rather than a 204 that would claim the session is void everywhere;
// the browser's cookie is cleared all the same.
func TestLogoutBackplaneDown(t *testing.T) {
	bp := &failingPublish{MemoryBackplane: hub.NewMemoryBackplane()}
	n := startNode(t, "a", bp)
	_, cookie := login(t, n.srv.URL, password)
	bp.down.Store(true)
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/admin/logout", nil)
	req.AddCookie(cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "backplane down") ||
		len(res.Cookies()) != 1 || res.Cookies()[0].MaxAge >= 0 {
		t.Errorf("logout: %d %q, cookies %v; want 503 naming the error, and the cookie cleared", res.StatusCode, body, res.Cookies())
	}
}
