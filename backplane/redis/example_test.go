package redis_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
)

// Two nodes serve one hub through one Redis: a message sent on one node reaches a
// client connected to the other. Here both nodes are in one process; in
// production each is its own process behind a load balancer, with the same
// hub name and the same Redis. (This example needs Redis at 127.0.0.1:6379, so
// it is compiled but not run by go test.)
func Example() {
	node := func() (*hub.Hub, *redis.Backplane) {
		bp, err := redis.New(redis.Options{URL: "redis://127.0.0.1:6379/0", Prefix: "example"})
		if err != nil {
			log.Fatal(err)
		}
		return hub.New(hub.Options{Name: "chat", Backplane: bp}), bp
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

	// Node A has no connection of its own: the message goes through Redis.
	if err := hubA.Clients().Client(conn.ConnectionID()).Send(ctx, "message", "hello from node A"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-received)
	if err := hubA.Clients().All().Send(ctx, "message", "hello, everyone"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-received)
}
