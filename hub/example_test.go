package hub_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/hubbub-go/hubbub/hub"
)

// A chat hub on a plain net/http mux: typed methods, groups, and a background
// goroutine pushing to everyone.
func Example() {
	chat := hub.New(hub.Options{Name: "chat"})
	chat.On("Join", func(ctx *hub.Context, room string) error {
		if err := ctx.Groups().Add(ctx, ctx.ConnectionID(), room); err != nil {
			return err
		}
		return ctx.Clients().OthersInGroup(room).Send(ctx, "joined", ctx.UserID(), room)
	})
	chat.On("Say", func(ctx *hub.Context, room, text string) error {
		if text == "" {
			return hub.NewError("empty message") // the client sees this text
		}
		return ctx.Clients().Group(room).Send(ctx, "message", ctx.UserID(), text)
	})
	chat.On("Add", func(a, b int) int { return a + b }) // a result: the client's invoke resolves to it

	mux := http.NewServeMux()
	mux.Handle("/hubs/chat", chat)
	mux.Handle("/hubs/chat/", chat)

	// Outside any handler (a background goroutine, a REST handler): push to everyone.
	chat.Clients().All().Send(context.Background(), "tick", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println("mounted", chat.Name())
	// A real program would now run: http.ListenAndServe("127.0.0.1:8080", mux)

	// Output: mounted chat
}

// A server-to-client stream: return a channel (or an iter.Seq) and stop when the
// context ends, which happens when the client cancels.
func ExampleHub_On_stream() {
	h := hub.New(hub.Options{})
	h.On("Countdown", func(ctx *hub.Context, from int) <-chan int {
		out := make(chan int)
		go func() {
			defer close(out)
			for i := from; i >= 0; i-- {
				select {
				case out <- i:
				case <-ctx.Done():
					return
				}
			}
		}()
		return out
	})
	// A client-to-server stream: a <-chan T parameter. It is closed when the client
	// completes the stream, and also when the call ends otherwise (the client
	// cancels or leaves...): the context has ended then.
	h.On("Total", func(ctx *hub.Context, amounts <-chan float64) (float64, error) {
		var total float64
		for a := range amounts {
			total += a
		}
		if err := ctx.Err(); err != nil {
			return 0, err // the stream was cut short
		}
		return total, nil
	})
	fmt.Println("ok")
	// Output: ok
}

// Serve a hub until SIGINT or SIGTERM, then shut down gracefully: the hub drains
// and sends every client a Close message (on every transport, long polling
// included), then the server shuts down. http.Server.Shutdown alone would leave
// the hub's WebSockets and event streams open.
func ExampleServe() {
	chat := hub.New(hub.Options{Name: "chat"})
	mux := http.NewServeMux()
	mux.Handle("/hubs/chat", chat)
	mux.Handle("/hubs/chat/", chat)
	srv := &http.Server{Addr: "127.0.0.1:0", Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	// A real program: ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, stop := context.WithCancel(context.Background())
	stop() // here: shut down at once
	if err := hub.Serve(ctx, srv, chat); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("shut down")
	// Output: shut down
}
