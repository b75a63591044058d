package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/hub"
)

// TestStreamUploadEndsWhenClientLeaves: a handler that ranges over its upload
// channel, as the documentation's example does, must return however its call
// ends, not only when the client completes the stream: else each call left
// hanging holds a goroutine for good.
func TestStreamUploadEndsWhenClientLeaves(t *testing.T) {
	tests := []struct {
		name string
		opts func(o *hub.Options)
		end  func(t *testing.T, c *client, h *hub.Hub)
		// want is the Completion the client gets for the call, if it is to get one.
		want string
	}{
		{name: "client closes its socket", end: func(t *testing.T, c *client, h *hub.Hub) {
			c.ws.Close()
		}},
		{name: "client cancels the invocation", end: func(t *testing.T, c *client, h *hub.Hub) {
			c.send(t, `{"type":5,"invocationId":"up"}`+rs)
		}, want: "Invocation canceled."},
		{name: "invalid stream item", end: func(t *testing.T, c *client, h *hub.Hub) {
			c.send(t, `{"type":2,"invocationId":"s","item":"not a number"}`+rs)
		}},
		{name: "client ends the stream with an error", end: func(t *testing.T, c *client, h *hub.Hub) {
			c.send(t, `{"type":3,"invocationId":"s","error":"source failed"}`+rs)
		}, want: "Stream 's' ended with an error: source failed"},
		{name: "hub closes", opts: func(o *hub.Options) { o.DrainTimeout = 100 * time.Millisecond },
			end: func(t *testing.T, c *client, h *hub.Hub) {
				go h.Close(context.Background())
			}, want: "Invocation canceled: the server is shutting down."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := hub.Options{}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			srv, h := server(t, opts)
			started, returned := make(chan struct{}), make(chan float64, 1)
			h.On("Total", func(amounts <-chan float64) float64 {
				close(started)
				var total float64
				for a := range amounts {
					total += a
				}
				returned <- total
				return total
			})
			c := &client{ws: dialWS(t, srv)}
			c.send(t, `{"type":1,"invocationId":"up","target":"Total","arguments":[],"streamIds":["s"]}`+rs)
			c.send(t, `{"type":2,"invocationId":"s","item":1}`+rs)
			select {
			case <-started:
			case <-time.After(hostileWaitFor):
				t.Fatal("the handler did not start")
			}
			tc.end(t, c, h)
			select {
			case <-returned:
			case <-time.After(hostileWaitFor):
				t.Fatal("the handler ranging over its upload channel never returned: its goroutine leaks")
			}
			if tc.want != "" {
				r := c.completion(t, "up")
				if r.errText() != tc.want || r.Result != nil {
					t.Errorf("completion: error %q result %s, want error %q", r.errText(), r.Result, tc.want)
				}
			}
		})
	}
}

// TestClientResultNotBlockedByFullUploadStream: a handler that asks its client
// for a result (Conn.Invoke) before it reads its upload stream must get the answer
// although the client has sent more stream items than StreamBufferCapacity: the
// Completion comes after them on the wire.
func TestClientResultNotBlockedByFullUploadStream(t *testing.T) {
	srv, h := server(t, hub.Options{StreamBufferCapacity: 4, InvokeClientTimeout: time.Minute})
	h.On("AskThenSum", func(ctx *hub.Context, numbers <-chan int) (int, error) {
		raw, err := ctx.Conn().Invoke(ctx, "Ask")
		if err != nil {
			return 0, err
		}
		var total int
		if err := json.Unmarshal(raw, &total); err != nil {
			return 0, err
		}
		for n := range numbers {
			total += n
		}
		return total, ctx.Err()
	})
	c := &client{ws: dialWS(t, srv)}
	var items strings.Builder
	items.WriteString(`{"type":1,"invocationId":"1","target":"AskThenSum","arguments":[],"streamIds":["s"]}` + rs)
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&items, `{"type":2,"invocationId":"s","item":%d}`+rs, i)
	}
	c.send(t, items.String())
	ask := c.await(t, "the server's Ask", func(r record) bool { return r.Type == 1 && r.Target == "Ask" })
	c.send(t, `{"type":3,"invocationId":"`+ask.InvocationID+`","result":1000}`+rs+`{"type":3,"invocationId":"s"}`+rs)
	done := make(chan record, 1)
	go func() {
		c.ws.SetReadDeadline(time.Now().Add(time.Minute))
		for {
			r, ok := c.nextOrEnd(t)
			if !ok || r.Type == 3 && r.InvocationID == "1" {
				done <- r
				return
			}
		}
	}()
	select {
	case r := <-done:
		if r.Error != nil || string(r.Result) != "1210" {
			t.Errorf("completion %+v (%s), want result 1210", r, r.errText())
		}
	case <-time.After(hostileWaitFor):
		t.Fatal("no Completion: the client's answer to Invoke is stuck behind the full upload stream")
	}
}

// TestUploadOverrunFailsItsCall: a client that streams faster than its handler
// takes items, past MaxStreamBacklogBytes, gets its call failed with a reason,
// and the connection carries on.
func TestUploadOverrunFailsItsCall(t *testing.T) {
	srv, h := server(t, hub.Options{StreamBufferCapacity: 1, MaxStreamBacklogBytes: 8})
	h.On("Stall", func(ctx *hub.Context, numbers <-chan int) error {
		<-ctx.Done() // takes nothing
		for range numbers {
		}
		return nil
	})
	c := &client{ws: dialWS(t, srv)}
	var items strings.Builder
	items.WriteString(`{"type":1,"invocationId":"1","target":"Stall","arguments":[],"streamIds":["s"]}` + rs)
	for i := 1000; i < 1010; i++ {
		fmt.Fprintf(&items, `{"type":2,"invocationId":"s","item":%d}`+rs, i)
	}
	c.send(t, items.String())
	c.wantError(t, "1", "Stream 's' overran its buffer: the server did not keep up with its items (limit 8 bytes).")
	c.wantAlive(t)
}
