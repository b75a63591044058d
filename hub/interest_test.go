package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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

// blockingRouter is an in-memory backplane whose AddInterest for users waits for
// release: a subscription that takes its time.
type blockingRouter struct {
	*hub.MemoryBackplane
	entered, release chan struct{}
	returned         atomic.Bool
}

func (r *blockingRouter) AddInterest(_ context.Context, _ string, kind hub.SelectorKind, _ string) error {
	if kind == hub.SelectUsers {
		close(r.entered)
		<-r.release
		r.returned.Store(true)
	}
	return nil
}

func (r *blockingRouter) RemoveInterest(string, hub.SelectorKind, string) {}

// TestHandshakeReplyWaitsForInterest: a client gets its handshake reply only
// once the backplane routes its messages here, even when something is sent to
// it meanwhile (it is reachable from the start of its join). A broadcast during
// the join started the writer, which sent the reply first: the client took
// itself for connected, and a message another node then sent to its user was
// lost, its subscription not yet made.
func TestHandshakeReplyWaitsForInterest(t *testing.T) {
	r := &blockingRouter{MemoryBackplane: hub.NewMemoryBackplane(), entered: make(chan struct{}), release: make(chan struct{})}
	srv, h := server(t, hub.Options{Backplane: r, UserID: func(r *http.Request) string { return r.URL.Query().Get("user") }})
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub?user=ada", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	write(t, ws, `{"protocol":"json","version":1}`+rs)
	<-r.entered
	type frame struct {
		data          string
		beforeRouting bool
		err           error
	}
	got := make(chan frame, 1)
	go func() {
		_, data, err := ws.ReadMessage()
		got <- frame{string(data), !r.returned.Load(), err}
	}()
	if err := h.Clients().All().Send(context.Background(), "event"); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-got:
		t.Fatalf("the client got %q (%v) while its join was not routed yet", f.data, f.err)
	case <-time.After(500 * time.Millisecond): // long enough for a writer to have written
	}
	close(r.release)
	f := <-got
	if f.err != nil || f.beforeRouting || !strings.HasPrefix(f.data, "{}"+rs) {
		t.Fatalf("first frame %q (err %v, before routing %v), want the handshake reply", f.data, f.err, f.beforeRouting)
	}
}
