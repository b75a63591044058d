package hub_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	hubclient "github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// Snapshot counts this node's connections by transport and its groups' members,
// and lists at most the connections asked for; UserConnections finds a user's.
func TestSnapshot(t *testing.T) {
	h := hub.New(hub.Options{UserID: func(r *http.Request) string { return r.URL.Query().Get("user") }})
	h.On("Join", func(c *hub.Context, group string) error { return c.Groups().Add(c, c.ConnectionID(), group) })
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, c := range []struct {
		user   string
		kind   transports.Kind
		groups []string
	}{
		{"ann", transports.WebSockets, []string{"a", "b"}},
		{"ann", transports.WebSockets, []string{"a"}},
		{"bo", transports.LongPolling, nil},
	} {
		conn, err := hubclient.Dial(ctx, srv.URL+"?user="+c.user, hubclient.Options{Transports: c.kind})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, g := range c.groups {
			if _, err := conn.Invoke(ctx, "Join", g); err != nil {
				t.Fatal(err)
			}
		}

	}

	s := h.Snapshot(2)
	if s.Transports[transports.WebSockets] != 2 || s.Transports[transports.LongPolling] != 1 || len(s.Transports) != 2 {
		t.Errorf("transports %v, want 2 WebSockets and 1 LongPolling", s.Transports)
	}
	if s.Groups["a"] != 2 || s.Groups["b"] != 1 || len(s.Groups) != 2 {
		t.Errorf("groups %v, want a: 2, b: 1", s.Groups)
	}
	if len(s.Connections) != 2 || s.Connections[0].ID > s.Connections[1].ID {
		t.Errorf("connections %+v, want 2 sorted by ID", s.Connections)
	}
	if all := h.Snapshot(10).Connections; len(all) != 3 {
		t.Errorf("Snapshot(10) lists %d connections, want 3", len(all))
	}
	ann := h.UserConnections("ann")
	if len(ann) != 2 || ann[0].UserID() != "ann" || ann[1].UserID() != "ann" {
		t.Errorf("UserConnections(ann): %d", len(ann))
	}
	if n := len(h.UserConnections("nobody")); n != 0 {
		t.Errorf("UserConnections(nobody): %d", n)
	}
}
