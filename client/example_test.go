package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/transports"
)

// serveConformance serves the conformance hub on a loopback test server, as a real
// program would serve its hub with http.ListenAndServe.
func serveConformance() (url string, stop func()) {
	h := conformance.NewHub(hub.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mux := http.NewServeMux()
	mux.Handle("/hubs/conformance", h)
	mux.Handle("/hubs/conformance/", h)
	srv := httptest.NewServer(mux)
	return srv.URL + "/hubs/conformance", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
		srv.Close()
	}
}

// Connect, call hub methods, and tell a hub method's failure from other errors.
func Example() {
	url, stop := serveConformance()
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, url, client.Options{})
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
	url, stop := serveConformance()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	conn, err := client.New(url, client.Options{Transports: transports.ServerSentEvents})
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
	// The conformance hub's SendToCaller(event, payload) calls event(payload) on us.
	if err := conn.Send(ctx, "SendToCaller", "Notify", "hi from the hub"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-received)
	// Output: hi from the hub
}

// Read a server-to-client stream, then stop another one early.
func ExampleConn_Stream() {
	url, stop := serveConformance()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, url, client.Options{Transports: transports.LongPolling})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	s, err := conn.Stream(ctx, "Counter", 3, 10) // 0, 1, 2, one every 10 ms
	if err != nil {
		log.Fatal(err)
	}
	for n, err := range client.Items[int](s) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("item", n)
	}

	s, err = conn.Stream(ctx, "Counter", 1000, 10)
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
	url, stop := serveConformance()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, url, client.Options{})
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
	url, stop := serveConformance()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, url, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	// The conformance hub's Disconnect makes the server close the connection.
	if _, err := conn.Invoke(ctx, "Disconnect", true); err != nil {
		log.Fatal(err)
	}
	<-conn.Done()
	var ce *client.CloseError
	if errors.As(conn.Err(), &ce) {
		fmt.Println("closed by the server; may reconnect:", ce.AllowReconnect)
	}
	// Output: closed by the server; may reconnect: true
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
	url, stop := serveConformance()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	conn, err := client.Dial(ctx, url, client.Options{Protocol: protocol.MessagePack})
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
	if err := conn.Send(ctx, "SendToCaller", "blob", []byte{0xca, 0xfe}); err != nil {
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
