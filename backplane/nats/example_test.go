package nats_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/hubbub-go/hubbub/backplane/nats"
	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
)

// Two nodes serve one hub through NATS: a client of node B joins a group, and a
// message node A sends to the group reaches it. Only the nodes holding members
// of a group receive its messages. Here both nodes are in one process; in
// production each is its own process behind a load balancer, with the same hub
// name and the same NATS. (This example needs NATS at 127.0.0.1:4222, so it is
// compiled but not run by go test.)
func Example() {
	node := func() (*hub.Hub, *nats.Backplane) {
		bp, err := nats.New(nats.Options{URL: "nats://127.0.0.1:4222", Prefix: "example"})
		if err != nil {
			log.Fatal(err)
		}
		chat := hub.New(hub.Options{Name: "chat", Backplane: bp})
		chat.On("Join", func(ctx *hub.Context, room string) error {
			// Returns once messages sent to room by any node reach this connection.
			return ctx.Groups().Add(ctx, ctx.ConnectionID(), room)
		})
		return chat, bp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hubA, bpA := node()
	hubB, bpB := node()
	defer bpA.Close() // the backplane after its hub
	defer bpB.Close()
	defer hubA.Close(ctx)
	defer hubB.Close(ctx)

	nodeB := httptest.NewServer(hubB)
	defer nodeB.Close()
	conn, err := client.New(nodeB.URL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	received := make(chan string, 1)
	conn.On("message", func(args []protocol.RawValue) {
		var text string
		if err := conn.DecodeArgs(args, &text); err == nil {
			received <- text
		}
	})
	if err := conn.Start(ctx); err != nil { // connected to node B
		log.Fatal(err)
	}
	if _, err := conn.Invoke(ctx, "Join", "tea"); err != nil {
		log.Fatal(err)
	}

	// Node A has no member of "tea": the message goes through NATS to node B.
	if err := hubA.Clients().Group("tea").Send(ctx, "message", "the tea is ready"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-received)
}
