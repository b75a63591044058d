package hub_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// Hostile cases of the size limits: one hub message over MaxReceiveSize (the
// connection is closed with the protocol's Close message and a reason), one unit
// over MaxTransportMessageSize (1009 / 413), and an unterminated record sent in
// pieces.

// tooLargeClose is the start of the Close error a message over the limit gets.
var tooLargeClose = fmt.Sprintf("Connection closed with an error. InvalidDataException: The maximum message size of %dB was exceeded.", hostileMaxReceive)

// echoRecord is an Echo invocation of value (a string that needs no escaping),
// with its separator.
func echoRecord(id, value string) string {
	return `{"type":1,"invocationId":"` + id + `","target":"Echo","arguments":["` + value + `"]}` + rs
}

func msgSizeCases() []hostileCase {
	overMessageLimit := echoRecord("big", strings.Repeat("x", hostileMaxReceive))
	unterminated := `{"type":1,"invocationId":"1","target":"Echo","arguments":["`
	return []hostileCase{
		{name: "msgsize/WebSocket message with one record over the per-message limit", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, echoRecord("small", "ok")+overMessageLimit)
			c.wantClosePrefix(t, tooLargeClose, "TransportOptions.MaxReceiveSize")
		}},
		{name: "msgsize/long-polling POST with one record over the per-message limit", run: func(t *testing.T, e *env) {
			lp := e.openLP(t, nil)
			if st, body := lp.post(t, overMessageLimit); st != 200 {
				t.Fatalf("POST within the transport limit: %d %q, want 200", st, body)
			}
			r := lp.await(t, "Close", func(r record) bool { return r.Type == 7 })
			if !strings.HasPrefix(r.errText(), tooLargeClose) || r.AllowReconnect {
				t.Errorf("Close %q (allowReconnect %v), want %q...", r.errText(), r.AllowReconnect, tooLargeClose)
			}
		}},
		{name: "msgsize/handshake over the per-message limit", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			ws, resp, err := e.dialRaw(t, n.ConnectionToken, nil)
			if err != nil {
				t.Fatalf("dial: %v %v", resp, err)
			}
			c := &client{ws: ws}
			c.send(t, `{"protocol":"json","version":1,"pad":"`+strings.Repeat("x", hostileMaxReceive)+`"}`+rs)
			got := read(t, ws)
			want := "The maximum message size of"
			if !strings.HasPrefix(got, `{"error":"An unexpected error occurred during connection handshake.`) || !strings.Contains(got, want) {
				t.Errorf("handshake reply %.200q, want an error saying %q", got, want)
			}
			c.wantEnd(t)
		}},
		{name: "msgsize/WebSocket message of small records over the transport limit", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			unit := strings.Repeat(echoRecord("1", "x"), hostileMaxTransport/40)
			c.ws.WriteMessage(websocket.TextMessage, []byte(unit))
			if err := c.readUntilError(t); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
				t.Errorf("got %v, want close 1009 (message too big)", err)
			}
		}},
		{name: "msgsize/long-polling POST of small records over the transport limit", run: func(t *testing.T, e *env) {
			lp := e.openLP(t, nil)
			st, body := lp.post(t, strings.Repeat(echoRecord("1", "x"), hostileMaxTransport/40))
			wantHTTP(t, st, body, 413, "message too large")
			lp.wantAlive(t)
		}},
		{name: "msgsize/unterminated record sent in WebSocket pieces", run: func(t *testing.T, e *env) {
			// Records do not span units: the first piece ends the connection, and
			// nothing of it is kept to grow with the next.
			c := &client{ws: dialWS(t, e.srv)}
			piece := strings.Repeat("x", hostileMaxReceive/4)
			c.send(t, unterminated+piece)
			for range 8 {
				if c.ws.WriteMessage(websocket.TextMessage, []byte(piece)) != nil {
					break
				}
			}
			c.wantClosePrefix(t, "Connection closed with an error. InvalidDataException: protocol: message is incomplete", "")
		}},
		{name: "msgsize/unterminated record over the per-message limit", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, unterminated+strings.Repeat("x", hostileMaxReceive))
			c.wantClosePrefix(t, tooLargeClose, "")
		}},
		{name: "msgsize/long-polling POST of an unterminated record over the per-message limit", run: func(t *testing.T, e *env) {
			lp := e.openLP(t, nil)
			if st, body := lp.post(t, unterminated+strings.Repeat("x", hostileMaxReceive)); st != 200 {
				t.Fatalf("POST within the transport limit: %d %q, want 200", st, body)
			}
			r := lp.await(t, "Close", func(r record) bool { return r.Type == 7 })
			if !strings.HasPrefix(r.errText(), tooLargeClose) {
				t.Errorf("Close %q, want %q...", r.errText(), tooLargeClose)
			}
		}},
	}
}
