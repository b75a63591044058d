package hub_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// packedEchoes is what the official client sends for n concurrent invoke('Echo',
// value): its send queue packs them into one unit.
func packedEchoes(n int, value string) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(echoRecord(fmt.Sprint(i), value))
	}
	return b.String()
}

// sendUnit sends unit as it is, as one WebSocket message or one POST, and returns
// the POST's status (0 on a WebSocket).
func (l *rawLink) sendUnit(t *testing.T, unit string) int {
	t.Helper()
	if l.ws != nil {
		if err := l.ws.WriteMessage(websocket.TextMessage, []byte(unit)); err != nil {
			t.Fatalf("send: %v", err)
		}
		return 0
	}
	resp, err := http.Post(l.base+"?id="+l.token, "text/plain", strings.NewReader(unit))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSizeLimitAppliesPerHubMessage: MaxReceiveSize bounds each hub message, as
// ASP.NET Core's MaximumReceiveMessageSize, not the unit that carries them (the
// official client packs 400 concurrent invocations of a short Echo into one 45 KB
// WebSocket message or POST); MaxTransportMessageSize bounds the unit.
func TestSizeLimitAppliesPerHubMessage(t *testing.T) {
	const transportLimit = 256 << 10
	srv, _ := server(t, hub.Options{TransportOptions: transports.Options{MaxTransportMessageSize: transportLimit}})
	open := func(t *testing.T, kind transports.Kind) *rawLink {
		t.Helper()
		l := openLink(t, srv, kind, negotiate(t, srv).ConnectionToken, 0)
		l.send(t, `{"protocol":"json","version":1}`)
		if r := l.next(t); r.Type != 0 || r.Error != "" {
			t.Fatalf("handshake reply: %+v", r)
		}
		return l
	}
	for _, kind := range transports.Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			t.Run("400 packed invocations", func(t *testing.T) {
				l := open(t, kind)
				value := strings.Repeat("x", 50)
				unit := packedEchoes(400, value)
				if len(unit) <= transports.DefaultMaxReceiveSize {
					t.Fatalf("the unit is %d bytes: it must exceed the per-message limit", len(unit))
				}
				if status := l.sendUnit(t, unit); status != 0 && status != http.StatusOK {
					t.Fatalf("POST of %d bytes: HTTP %d, want 200", len(unit), status)
				}
				for i := range 400 {
					r := l.next(t)
					if r.Type != 3 || r.InvocationID != fmt.Sprint(i) || string(r.Result) != `"`+value+`"` {
						t.Fatalf("completion %d of 400: %+v", i, r)
					}
				}
			})
			t.Run("one message over the per-message limit", func(t *testing.T) {
				l := open(t, kind)
				unit := packedEchoes(1, "ok") + packedEchoes(1, strings.Repeat("x", transports.DefaultMaxReceiveSize))
				if status := l.sendUnit(t, unit); status != 0 && status != http.StatusOK {
					t.Fatalf("POST: HTTP %d, want 200 (the unit is within the transport limit)", status)
				}
				r := l.next(t)
				if r.Type == 3 {
					r = l.next(t) // the message before the oversized one may complete first
				}
				want := "The maximum message size of 32768B was exceeded"
				if r.Type != 7 || !strings.Contains(r.Error, want) {
					t.Fatalf("got %+v, want a Close whose error says %q", r, want)
				}
			})
			t.Run("unit over the transport limit", func(t *testing.T) {
				l := open(t, kind)
				unit := packedEchoes(transportLimit/60, strings.Repeat("x", 20))
				if len(unit) <= transportLimit {
					t.Fatalf("the unit is %d bytes: it must exceed %d", len(unit), transportLimit)
				}
				status := l.sendUnit(t, unit)
				if kind != transports.WebSockets {
					if status != http.StatusRequestEntityTooLarge {
						t.Fatalf("POST of %d bytes: HTTP %d, want 413", len(unit), status)
					}
					return
				}
				select {
				case <-l.ended:
				case <-time.After(10 * time.Second):
					t.Fatal("the WebSocket is still open")
				}
				if !websocket.IsCloseError(l.err, websocket.CloseMessageTooBig) {
					t.Fatalf("got %v, want close 1009", l.err)
				}
			})
		})
	}
}

// TestResumedLinkTakesAReplayOverThePerMessageLimit: a stateful client replays
// everything it has not seen acked, after its Sequence, in one unit on the resumed
// link (the bundled client does, up to its 100,000-byte buffer). The per-message
// limit applies to each replayed message, not to the replay.
func TestResumedLinkTakesAReplayOverThePerMessageLimit(t *testing.T) {
	for _, kind := range transports.Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			_, srv := statefulServer(t, hub.Options{TransportOptions: transports.Options{PollTimeout: 200 * time.Millisecond}})
			c := dialStateful(t, srv, kind, 2)
			c.link.cut()
			<-c.link.ended
			c.resume(t)
			const calls = 400
			value := strings.Repeat("x", 50)
			replay := `{"type":9,"sequenceId":1}` + rs + packedEchoes(calls, value)
			if status := c.link.sendUnit(t, replay); status != 0 && status != http.StatusOK {
				t.Fatalf("replay of %d bytes: HTTP %d, want 200", len(replay), status)
			}
			for i := range calls {
				r := c.take(t)
				if r.Type != 3 || r.InvocationID != fmt.Sprint(i) || string(r.Result) != `"`+value+`"` {
					t.Fatalf("completion %d of %d: %+v", i, calls, r)
				}
			}
		})
	}
}
