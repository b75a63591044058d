package hub_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	hubclient "github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
)

// strikeObserver counts rate-limit strikes and closes by reason.
type strikeObserver struct {
	hub.NopObserver
	mu      sync.Mutex
	strikes int
	closed  []error
}

func (s *strikeObserver) RateLimitStrike(string) { s.mu.Lock(); s.strikes++; s.mu.Unlock() }
func (s *strikeObserver) Closed(_ string, err error) {
	s.mu.Lock()
	s.closed = append(s.closed, err)
	s.mu.Unlock()
}

// A RateLimitObserver, even behind hub.Observers, hears each strike of the
// inbound rate limit, then Closed(ErrRateLimited) once they are too many.
func TestRateLimitObserver(t *testing.T) {
	obs := &strikeObserver{}
	h := hub.New(hub.Options{
		// One message, then none for 1000 s: every further message is a strike.
		MaxMessagesPerSecond: 0.001, MessageBurst: 1, RateLimitStrikes: 3,
		Observer: hub.Observers(hub.NopObserver{}, obs),
	})
	h.On("Echo", func(s string) string { return s })
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := hubclient.Dial(ctx, srv.URL, hubclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		_, err := c.Invoke(ctx, "Echo", "x")
		if (i == 0) != (err == nil) {
			t.Fatalf("invocation %d: %v; want only the first to pass", i, err)
		}
	}
	c.Send(ctx, "Echo", "x") // the third strike closes
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("not closed after three strikes")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		obs.mu.Lock()
		strikes, closed := obs.strikes, append([]error(nil), obs.closed...)
		obs.mu.Unlock()
		if len(closed) > 0 {
			if strikes != 3 || len(closed) != 1 || !errors.Is(closed[0], hub.ErrRateLimited) {
				t.Fatalf("strikes %d, closed %v; want 3 and ErrRateLimited", strikes, closed)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Closed not observed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
