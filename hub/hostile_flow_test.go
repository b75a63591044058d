package hub_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
)

// flowCases are hostile cases about flow: clients that do not read what they
// are sent, and upload streams left hanging.
func flowCases() []hostileCase {
	return []hostileCase{
		{name: "flow/attacker never reads its socket while invoking broadcasts", run: func(t *testing.T, e *env) {
			attacker := dialNonReading(t, e.srv)
			payload := `"` + strings.Repeat("x", 16<<10) + `"`
			const n = hostileBurst / 2 // under the rate limit
			for i := range n {
				attacker.SetWriteDeadline(time.Now().Add(hostileWaitFor))
				msg := fmt.Sprintf(`{"type":1,"invocationId":"%d","target":"Broadcast","arguments":["Flood",%s]}`+rs, i, payload)
				if err := attacker.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			// Every invocation runs (or the attacker is closed): the bystander gets
			// each broadcast, whatever the attacker's own socket holds.
			for i := range n {
				e.ws.await(t, fmt.Sprint("flood ", i), func(r record) bool { return r.Type == 1 && r.Target == "Flood" })
			}
		}},
		{name: "flow/upload stream left hanging by a client that leaves", run: func(t *testing.T, e *env) {
			returned := make(chan struct{})
			e.h.On("HangingTotal", func(amounts <-chan int) int {
				total := 0
				for a := range amounts {
					total += a
				}
				close(returned)
				return total
			})
			attacker := &client{ws: dialWS(t, e.srv)}
			attacker.send(t, `{"type":1,"invocationId":"1","target":"HangingTotal","arguments":[],"streamIds":["s"]}`+rs+
				`{"type":2,"invocationId":"s","item":1}`+rs)
			time.Sleep(100 * time.Millisecond) // let the call start
			attacker.ws.NetConn().Close()      // no Completion for the stream, no close frame
			select {
			case <-returned:
			case <-time.After(hostileWaitFor):
				t.Fatal("the handler of a stream whose client left never returned")
			}
		}},
		{name: "flow/upload stream overrun by a handler that does not read", opts: func(o *hub.Options) {
			o.StreamBufferCapacity = 2
			o.MaxStreamBacklogBytes = 64
		}, run: func(t *testing.T, e *env) {
			e.h.On("Ignore", func(ctx *hub.Context, amounts <-chan int) error {
				<-ctx.Done()
				return nil
			})
			attacker := &client{ws: dialWS(t, e.srv)}
			var b strings.Builder
			b.WriteString(`{"type":1,"invocationId":"1","target":"Ignore","arguments":[],"streamIds":["s"]}` + rs)
			for i := range 30 {
				fmt.Fprintf(&b, `{"type":2,"invocationId":"s","item":%d}`+rs, 1000+i)
			}
			attacker.send(t, b.String())
			attacker.wantError(t, "1", "Stream 's' overran its buffer: the server did not keep up with its items (limit 64 bytes).")
			attacker.wantAlive(t)
			e.wantLogged(t, "hub: upload stream overran its backlog")
		}},
	}
}
