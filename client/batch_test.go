package client_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// TestLongPollAnswerOfManyMessagesFitsTheClientLimit: messages that queue up for a
// long-polling client while it has no poll open must not come back as one answer
// larger than the client's MaxReceiveSize, which ends its connection: the server
// bounds what it packs into one unit, as ASP.NET Core does.
func TestLongPollAnswerOfManyMessagesFitsTheClientLimit(t *testing.T) {
	const (
		messages  = 200
		itemSize  = 4 << 10
		readLimit = 128 << 10 // far below messages*itemSize
	)
	var gating atomic.Bool
	open := make(chan struct{})
	held := make(chan struct{}, 1)
	// Without stateful reconnect: its buffer (100 KB by default) bounds what is
	// written and not acked, and with it what a poll answer can hold.
	th := startHub(t, hub.Options{DisableStatefulReconnect: true}, func(r *http.Request) int {
		if gating.Load() && r.Method == http.MethodGet && r.URL.Query().Get("id") != "" {
			select { // hold the client's next poll while messages queue up
			case held <- struct{}{}:
			default:
			}
			<-open
		}
		return 0
	})
	c := dial(t, th.URL, transports.LongPolling, client.Options{MaxReceiveSize: readLimit})
	var received atomic.Int64
	all := make(chan struct{})
	c.On("item", func([]protocol.RawValue) {
		if received.Add(1) == messages {
			close(all)
		}
	})

	ctx := testCtx(t)
	target := th.Hub.Clients().Client(c.ConnectionID())
	item := strings.Repeat("x", itemSize)
	gating.Store(true)
	// The poll open now answers with the first message; the next one is held.
	if err := target.Send(ctx, "item", item); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the client did not poll again")
	}
	for range messages - 1 {
		if err := target.Send(ctx, "item", item); err != nil {
			t.Fatal(err)
		}
	}
	close(open)
	select {
	case <-all:
	case <-c.Done():
		t.Fatalf("connection ended after %d of %d messages: %v", received.Load(), messages, c.Err())
	case <-time.After(10 * time.Second):
		t.Fatalf("%d of %d messages within 10 s", received.Load(), messages)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("connection error: %v", err)
	}
	var got string
	res, err := c.Invoke(ctx, "Echo", "still here")
	if err == nil {
		err = res.Decode(&got)
	}
	if err != nil || got != "still here" {
		t.Fatalf("Echo after the burst: %q, %v", got, err)
	}
}
