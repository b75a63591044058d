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
		{name: "flow/attacker never reads its socket while invoking broadcasts", opts: func(o *hub.Options) {
			o.TransportOptions.WriteTimeout = time.Second
			o.MessageBurst, o.MaxMessagesPerSecond = 1000, 1000
		}, run: func(t *testing.T, e *env) {
			attacker := dialWS(t, e.srv) // never read
			invoke := func(id, target, payload string) {
				attacker.SetWriteDeadline(time.Now().Add(hostileWaitFor))
				msg := fmt.Sprintf(`{"type":1,"invocationId":"%s","target":"%s","arguments":["Flood",%s]}`+rs, id, target, payload)
				if err := attacker.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
					t.Logf("write %s: %v", id, err) // closed already
				}
			}
			// 8 MB to itself fill its socket; then it broadcasts.
			big := `"` + strings.Repeat("x", 30<<10) + `"`
			for i := range 270 {
				invoke(fmt.Sprint("fill", i), "SendToCaller", big)
			}
			for i := range 20 {
				invoke(fmt.Sprint(i), "Broadcast", "1")
			}
			// More than its queue holds waits for it: it is closed as a slow consumer,
			// once, and the bystanders go on (checked after the case).
			eventually(t, "the attacker closed as a slow consumer", func() bool {
				return strings.Contains(e.logs.String(), "hub: closing slow consumer")
			})
			if k := strings.Count(e.logs.String(), "hub: closing slow consumer"); k != 1 {
				t.Errorf("%d slow-consumer lines for one connection", k)
			}
		}},
		{name: "flow/upload stream left hanging by a client that leaves", run: func(t *testing.T, e *env) {
			started, returned := make(chan struct{}), make(chan struct{})
			e.h.On("HangingTotal", func(amounts <-chan int) int {
				close(started)
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
			select {
			case <-started:
			case <-time.After(hostileWaitFor):
				t.Fatal("the handler did not start")
			}
			attacker.ws.NetConn().Close() // no Completion for the stream, no close frame
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
