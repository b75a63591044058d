package nats_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hubbub-go/hubbub/backplane/nats"
	"github.com/hubbub-go/hubbub/hub"
)

// Every node of a cluster makes its hubs on a NATS backplane; a message sent on
// one node reaches the receivers on every node.
func Example() {
	bp, err := nats.New(nats.Options{URL: "nats://127.0.0.1:4222", Prefix: "example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bp.Close() // after the hub
	chat := hub.New(hub.Options{Name: "chat", Backplane: bp})
	defer chat.Close(context.Background())
	chat.On("Send", func(ctx *hub.Context, room, text string) error {
		// Reaches the members of room on every node; only the nodes holding some
		// receive it.
		return ctx.Clients().Group(room).Send(ctx, "message", ctx.UserID(), text)
	})
	chat.On("Join", func(ctx *hub.Context, room string) error {
		// Returns once messages sent to room by any node reach this connection.
		return ctx.Groups().Add(ctx, ctx.ConnectionID(), room)
	})
	mux := http.NewServeMux()
	mux.Handle("/hubs/chat", chat)
	mux.Handle("/hubs/chat/", chat)
	_ = mux // serve it: http.ListenAndServe(addr, mux)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(bp.Ready(ctx) == nil)
	// Output: true
}
