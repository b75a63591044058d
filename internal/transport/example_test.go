package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/internal/transport"
	"github.com/hubbub-go/hubbub/transports"
)

// An echo server on the WebSockets transport. The Receiver runs on the transport's
// read goroutine and only hands units over; one writer (here the handler's
// goroutine) calls Send, as Transport requires.
func ExampleAcceptWebSocket() {
	ended := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		units := make(chan []byte, 16)
		stop := make(chan struct{})
		defer close(stop)
		ws, err := transport.AcceptWebSocket(w, r, transports.Options{}, false, func(unit []byte) {
			select {
			case units <- bytes.Clone(unit): // the slice is only valid during the call
			case <-stop:
			}
		})
		if err != nil {
			return // the client has had its answer (403 for a foreign origin…)
		}
		for {
			select {
			case u := <-units:
				if ws.Send(context.Background(), u) != nil {
					return
				}
			case <-ws.Done():
				ended <- ws.Err()
				return
			}
		}
	}))
	defer srv.Close()

	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.WriteMessage(websocket.TextMessage, []byte("hello"))
	_, echo, _ := c.ReadMessage()
	fmt.Printf("echo: %s\n", echo)

	c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	fmt.Println("normal close:", errors.Is(<-ended, transports.ErrClosed))
	// Output:
	// echo: hello
	// normal close: true
}
