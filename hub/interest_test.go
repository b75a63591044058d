package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
)

// interestRecorder is an in-memory backplane that is also a hub.InterestRouter,
// counting the receivers the hub tells it of, by kind and key.
type interestRecorder struct {
	*hub.MemoryBackplane
	mu    sync.Mutex
	count map[string]int
}

func newInterestRecorder() *interestRecorder {
	return &interestRecorder{MemoryBackplane: hub.NewMemoryBackplane(), count: map[string]int{}}
}

func interestName(kind hub.SelectorKind, key string) string {
	return fmt.Sprintf("%s:%s", map[hub.SelectorKind]string{hub.SelectGroups: "group", hub.SelectUsers: "user", hub.SelectConnections: "conn"}[kind], key)
}

func (r *interestRecorder) AddInterest(_ context.Context, _ string, kind hub.SelectorKind, key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count[interestName(kind, key)]++
	return nil
}

func (r *interestRecorder) RemoveInterest(_ string, kind hub.SelectorKind, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count[interestName(kind, key)]--
}

// nonZero is the keys whose count is not zero, with their counts.
func (r *interestRecorder) nonZero() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, n := range r.count {
		if n != 0 {
			out[k] = n
		}
	}
	return out
}

// TestInterestFollowsReceivers checks what the hub tells an InterestRouter: one
// receiver per connection, per connection of a user and per group membership
// while they last (a second join of the same group is no new receiver), and
// nothing for a connection whose handshake never came.
func TestInterestFollowsReceivers(t *testing.T) {
	rec := newInterestRecorder()
	srv, h := server(t, hub.Options{Backplane: rec, UserID: func(r *http.Request) string { return r.URL.Query().Get("user") }})
	waitCounts := func(want map[string]int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !maps.Equal(rec.nonZero(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("interest %v, want %v", rec.nonZero(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// open negotiates as user and opens a WebSocket, without the handshake.
	open := func(user string) (*websocket.Conn, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/hub/negotiate?negotiateVersion=1&user="+user, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var n struct{ ConnectionID, ConnectionToken string }
		err = json.NewDecoder(resp.Body).Decode(&n)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub?user="+user+"&id="+n.ConnectionToken, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ws, n.ConnectionID
	}

	t.Run("a connection's life", func(t *testing.T) {
		ws, id := open("ada")
		defer ws.Close()
		write(t, ws, `{"protocol":"json","version":1}`+rs)
		read(t, ws)
		waitCounts(map[string]int{"conn:" + id: 1, "user:ada": 1})
		ctx := context.Background()
		for range 2 {
			if err := h.Groups().Add(ctx, id, "g"); err != nil {
				t.Fatal(err)
			}
		}
		waitCounts(map[string]int{"conn:" + id: 1, "user:ada": 1, "group:g": 1})
		if err := h.Groups().Remove(ctx, id, "g"); err != nil {
			t.Fatal(err)
		}
		h.Groups().Remove(ctx, id, "g") // not a member: no receiver fewer
		if err := h.Groups().Add(ctx, id, "h"); err != nil {
			t.Fatal(err)
		}
		waitCounts(map[string]int{"conn:" + id: 1, "user:ada": 1, "group:h": 1})
		ws.Close()
		waitCounts(map[string]int{})
	})

	t.Run("no handshake", func(t *testing.T) {
		ws, _ := open("bob")
		ws.Close()
		// Nothing to wait for: watch a while that nothing shows up.
		for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if got := rec.nonZero(); len(got) != 0 {
				t.Fatalf("interest after a connection without handshake: %v, want none", got)
			}
		}
	})
}
