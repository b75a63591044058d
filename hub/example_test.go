package hub_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	hubclient "github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
)

// A hub with one method, served on a net/http mux, and a Go client calling it.
// A browser would load /hubs/calc/hubbub.js and call the same method.
func Example() {
	calc := hub.New(hub.Options{Name: "calc"})
	calc.On("Add", func(a, b int) int { return a + b })
	calc.On("Divide", func(a, b int) (int, error) {
		if b == 0 {
			return 0, hub.NewError("cannot divide %d by zero", a) // the client sees this text
		}
		return a / b, nil
	})

	mux := http.NewServeMux()
	mux.Handle("/hubs/calc", calc)
	mux.Handle("/hubs/calc/", calc)
	srv := httptest.NewServer(mux) // a real program: http.ListenAndServe(addr, mux)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := hubclient.Dial(ctx, srv.URL+"/hubs/calc", hubclient.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	sum, err := hubclient.InvokeAs[int](ctx, conn, "Add", 2, 3)
	fmt.Println(sum, err)
	_, err = hubclient.InvokeAs[int](ctx, conn, "Divide", 1, 0)
	fmt.Println(err)
	// Output:
	// 5 <nil>
	// client: Divide failed: cannot divide 1 by zero
}

// Push to every client from anywhere in the program: a background goroutine, a
// REST handler. The client registers its handler before it starts, so that it
// misses nothing.
func ExampleTarget_Send() {
	news := hub.New(hub.Options{Name: "news"})
	srv := httptest.NewServer(news) // the hub serves every path of this test server
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := hubclient.New(srv.URL, hubclient.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	headlines := make(chan string, 1)
	conn.On("headline", func(args []protocol.RawValue) {
		var text string
		if err := conn.DecodeArgs(args, &text); err == nil {
			headlines <- text
		}
	})
	if err := conn.Start(ctx); err != nil {
		log.Fatal(err)
	}

	// Once Start has returned, the hub knows the connection.
	if err := news.Clients().All().Send(ctx, "headline", "Gophers land on Mars"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-headlines)
	// Output: Gophers land on Mars
}

// Groups: a connection joins a group in a hub method, and a message to the group
// reaches its members only. Messages to one connection arrive in the order they
// were sent: had the group's message reached Bob, it would come before the one
// sent to him alone.
func ExampleGroups_Add() {
	chat := hub.New(hub.Options{Name: "chat"})
	chat.On("Join", func(ctx *hub.Context, room string) error {
		return ctx.Groups().Add(ctx, ctx.ConnectionID(), room)
	})
	srv := httptest.NewServer(chat)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	received := make(chan string, 3)
	dial := func(name string) *hubclient.Conn {
		conn, err := hubclient.New(srv.URL, hubclient.Options{})
		if err != nil {
			log.Fatal(err)
		}
		conn.On("message", func(args []protocol.RawValue) {
			var text string
			if err := conn.DecodeArgs(args, &text); err == nil {
				received <- name + ": " + text
			}
		})
		if err := conn.Start(ctx); err != nil {
			log.Fatal(err)
		}
		return conn
	}
	ada, bob := dial("ada"), dial("bob")
	defer ada.Close()
	defer bob.Close()
	if _, err := ada.Invoke(ctx, "Join", "tea"); err != nil {
		log.Fatal(err)
	}

	chat.Clients().Group("tea").Send(ctx, "message", "the tea is ready")
	fmt.Println(<-received)
	chat.Clients().Client(bob.ConnectionID()).Send(ctx, "message", "no tea for you")
	fmt.Println(<-received)
	// Output:
	// ada: the tea is ready
	// bob: no tea for you
}

// Client results: a hub method calls a method of its caller and waits for the
// answer. The client answers with OnInvoke.
func ExampleConn_Invoke() {
	h := hub.New(hub.Options{Name: "greeter"})
	h.On("Greet", func(ctx *hub.Context) (string, error) {
		raw, err := ctx.Conn().Invoke(ctx, "GetName") // the caller's GetName
		if err != nil {
			return "", err
		}
		var name string
		if err := ctx.Conn().Protocol().DecodeValue(raw, &name); err != nil {
			return "", err
		}
		return "Hello, " + name + "!", nil
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := hubclient.New(srv.URL, hubclient.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conn.OnInvoke("GetName", func(ctx context.Context, args []protocol.RawValue) (any, error) {
		return "Ada", nil
	})
	if err := conn.Start(ctx); err != nil {
		log.Fatal(err)
	}

	greeting, err := hubclient.InvokeAs[string](ctx, conn, "Greet")
	fmt.Println(greeting, err)
	// Output: Hello, Ada! <nil>
}

// Authentication: Options.Authenticate runs on negotiate and on every transport
// request, and its Identity follows the connection into every handler. An error
// refuses the request with 401. Package auth/jwtauth provides one for JWTs.
func ExampleOptions_authenticate() {
	tokens := map[string]string{"secret-of-ada": "ada"} // a real program asks its identity provider
	h := hub.New(hub.Options{
		Name: "private",
		Authenticate: func(r *http.Request) (hub.Identity, error) {
			user, ok := tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
			if !ok {
				return hub.Identity{}, errors.New("unknown token")
			}
			return hub.Identity{UserID: user}, nil
		},
	})
	h.On("WhoAmI", func(ctx *hub.Context) string { return ctx.UserID() })
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	token := func(t string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return t, nil }
	}
	conn, err := hubclient.Dial(ctx, srv.URL, hubclient.Options{AccessToken: token("secret-of-ada")})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Println(hubclient.InvokeAs[string](ctx, conn, "WhoAmI"))

	_, err = hubclient.Dial(ctx, srv.URL, hubclient.Options{AccessToken: token("forged")})
	var refused *hubclient.HTTPError
	if errors.As(err, &refused) {
		fmt.Println(refused.StatusCode, refused.Body)
	}
	// Output:
	// ada <nil>
	// 401 Unauthorized: unknown token
}

// Streams both ways. A method returning a channel (or an iter.Seq) streams its
// items to the client; it stops when its context ends, which happens when the
// client cancels. A <-chan T parameter receives a stream from the client.
func ExampleHub_On_stream() {
	h := hub.New(hub.Options{Name: "streams"})
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
	h.On("Total", func(ctx *hub.Context, amounts <-chan float64) (float64, error) {
		var total float64
		for a := range amounts { // closed when the client ends its stream, or the call ends
			total += a
		}
		return total, ctx.Err() // an error when the stream was cut short
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := hubclient.Dial(ctx, srv.URL, hubclient.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	// Server to client.
	s, err := conn.Stream(ctx, "Countdown", 3)
	if err != nil {
		log.Fatal(err)
	}
	for n, err := range hubclient.Items[int](s) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(n, " ")
	}
	fmt.Println("liftoff")

	// Client to server.
	up := hubclient.NewUploadStream()
	go func() {
		defer up.Close() // ends the stream: Total's loop ends
		for _, a := range []float64{1.5, 2, 3} {
			if err := up.Send(ctx, a); err != nil {
				return
			}
		}
	}()
	fmt.Println(hubclient.InvokeAs[float64](ctx, conn, "Total", up))
	// Output:
	// 3 2 1 0 liftoff
	// 6.5 <nil>
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
