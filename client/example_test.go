package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// Connect, call hub methods, and tell a hub method's failure from other errors.
// The hub is served on a loopback test server here; a real program dials its
// server's URL.
func Example() {
	h := hub.New(hub.Options{Name: "demo"})
	h.On("Echo", func(text string) string { return text })
	h.On("Add", func(a, b int) int { return a + b })
	h.On("Fail", func(why string) error { return hub.NewError("%s", why) })
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, srv.URL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Println("transport:", conn.Transport())

	res, err := conn.Invoke(ctx, "Echo", "hello")
	if err != nil {
		log.Fatal(err)
	}
	var echoed string
	if err := res.Decode(&echoed); err != nil {
		log.Fatal(err)
	}
	fmt.Println("echo:", echoed)

	sum, err := client.InvokeAs[int](ctx, conn, "Add", 2, 3)
	fmt.Println("sum:", sum, err)

	_, err = conn.Invoke(ctx, "Fail", "out of coffee")
	var ie *client.InvocationError
	if errors.As(err, &ie) {
		fmt.Println("the hub method failed:", ie.Message)
	}
	// Output:
	// transport: WebSockets
	// echo: hello
	// sum: 5 <nil>
	// the hub method failed: out of coffee
}

// Register handlers before starting, so that nothing the hub sends is missed.
func ExampleConn_On() {
	h := hub.New(hub.Options{Name: "demo"})
	h.On("Greet", func(ctx *hub.Context, name string) error {
		return ctx.Clients().Caller().Send(ctx, "Notify", "hello, "+name)
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	conn, err := client.New(srv.URL, client.Options{Transports: transports.ServerSentEvents})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	received := make(chan string, 1)
	conn.On("notify", func(args []protocol.RawValue) { // matches "Notify" too
		var text string
		if err := conn.DecodeArgs(args, &text); err == nil {
			received <- text
		}
	})
	if err := conn.Start(ctx); err != nil {
		log.Fatal(err)
	}
	if err := conn.Send(ctx, "Greet", "gopher"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-received)
	// Output: hello, gopher
}

// Read a server-to-client stream, then stop another one early.
func ExampleConn_Stream() {
	h := hub.New(hub.Options{Name: "demo"})
	// Count streams 0, 1, 2… up to n (forever when n is 0), one every 10 ms.
	h.On("Count", func(ctx *hub.Context, n int) <-chan int {
		out := make(chan int)
		go func() {
			defer close(out)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; n == 0 || i < n; i++ {
				select {
				case out <- i:
				case <-ctx.Done(): // the client cancelled, or left
					return
				}
				<-tick.C
			}
		}()
		return out
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, srv.URL, client.Options{Transports: transports.LongPolling})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	s, err := conn.Stream(ctx, "Count", 3)
	if err != nil {
		log.Fatal(err)
	}
	for n, err := range client.Items[int](s) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("item", n)
	}

	s, err = conn.Stream(ctx, "Count", 0)
	if err != nil {
		log.Fatal(err)
	}
	first, _ := s.Next(ctx)
	s.Cancel() // the server stops producing
	_, err = s.Next(ctx)
	fmt.Println("first:", string(first), "then:", err)
	// Output:
	// item 0
	// item 1
	// item 2
	// first: 0 then: client: stream canceled
}

// Send a client-to-server stream.
func ExampleUploadStream() {
	h := hub.New(hub.Options{Name: "demo"})
	h.On("Sum", func(ctx *hub.Context, numbers <-chan float64) (float64, error) {
		var sum float64
		for n := range numbers { // closed when the client ends its stream
			sum += n
		}
		return sum, ctx.Err() // an error when the stream was cut short
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, srv.URL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	up := client.NewUploadStream()
	go func() {
		defer up.Close() // the end of the stream: the hub method returns
		for _, n := range []float64{1, 2, 3.5} {
			if err := up.Send(ctx, n); err != nil {
				return
			}
		}
	}()
	sum, err := client.InvokeAs[float64](ctx, conn, "Sum", up)
	fmt.Println(sum, err)
	// Output: 6.5 <nil>
}

// Find out why a connection ended.
func ExampleConn_Err() {
	h := hub.New(hub.Options{Name: "demo"})
	h.On("Leave", func(ctx *hub.Context) {
		ctx.Conn().Close("see you later", true) // the server ends the connection
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, srv.URL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	if err := conn.Send(ctx, "Leave"); err != nil {
		log.Fatal(err)
	}
	<-conn.Done()
	var ce *client.CloseError
	if errors.As(conn.Err(), &ce) {
		fmt.Printf("closed by the server: %q; may reconnect: %v\n", ce.Message, ce.AllowReconnect)
	}
	// Output: closed by the server: "see you later"; may reconnect: true
}

// Options for a service behind authentication: a bearer token, an extra header,
// and long polling only (say, through a proxy that breaks WebSockets and SSE).
func ExampleOptions() {
	opts := client.Options{
		Transports: transports.LongPolling,
		AccessToken: func(ctx context.Context) (string, error) {
			return "a-token-from-your-identity-provider", nil
		},
		Header:            http.Header{"X-Tenant": {"acme"}},
		KeepAliveInterval: 10 * time.Second,
		ServerTimeout:     time.Minute,
	}
	conn, err := client.New("https://chat.example.com/hubs/chat", opts)
	fmt.Println(conn.Transport(), err) // not started: no transport yet
	// Output: None <nil>
}

// Speak MessagePack: smaller messages, and []byte values sent as raw bytes (bin)
// instead of base64. Values are decoded with the connection's protocol.
func ExampleOptions_messagePack() {
	h := hub.New(hub.Options{Name: "demo"})
	h.On("Add", func(a, b int) int { return a + b })
	h.On("SendBlob", func(ctx *hub.Context) error {
		return ctx.Clients().Caller().Send(ctx, "blob", []byte{0xca, 0xfe})
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	conn, err := client.Dial(ctx, srv.URL, client.Options{Protocol: protocol.MessagePack})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Println("protocol:", conn.Protocol().Name(), "over", conn.Transport())

	received := make(chan []byte, 1)
	conn.On("blob", func(args []protocol.RawValue) {
		var b []byte
		if err := conn.DecodeArgs(args, &b); err == nil { // not client.DecodeArgs: that is JSON
			received <- b
		}
	})
	if err := conn.Send(ctx, "SendBlob"); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("received: %x\n", <-received)

	sum, err := client.InvokeAs[int](ctx, conn, "Add", 2, 3)
	fmt.Println("sum:", sum, err)
	// Output:
	// protocol: messagepack over WebSockets
	// received: cafe
	// sum: 5 <nil>
}
