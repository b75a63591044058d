package transport

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/transports"
)

// wsServer serves AcceptWebSocket on a loopback listener and hands each accepted
// transport to the test.
type wsServer struct {
	*httptest.Server
	accepted chan *WebSocket
	units    *units
}

func newWSServer(t *testing.T, opts transports.Options, binary bool) *wsServer {
	t.Helper()
	s := &wsServer{accepted: make(chan *WebSocket, 1), units: newUnits()}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := AcceptWebSocket(w, r, opts, binary, s.units.receive)
		if err != nil {
			return
		}
		s.accepted <- ws
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *wsServer) url() string { return "ws" + strings.TrimPrefix(s.URL, "http") + "/hub" }

// dial connects a client and waits for the server side.
func (s *wsServer) dial(t *testing.T, header http.Header) (*websocket.Conn, *WebSocket) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(s.url(), header)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	var ws *WebSocket
	select {
	case ws = <-s.accepted:
	case <-time.After(waitTimeout):
		t.Fatal("server did not accept")
	}
	t.Cleanup(func() {
		ws.Close()
		waitClosed(t, ws.Done(), "websocket Done")
	})
	return c, ws
}

func TestWebSocketRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		binary   bool
		wantType int
	}{
		{"text", false, websocket.TextMessage},
		{"binary", true, websocket.BinaryMessage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWSServer(t, transports.Options{}, tc.binary)
			c, ws := srv.dial(t, nil)
			if ws.Kind() != transports.WebSockets {
				t.Errorf("Kind = %v", ws.Kind())
			}

			// The client may send both frame types on one socket (a MessagePack
			// client sends its handshake as text).
			if err := c.WriteMessage(websocket.TextMessage, []byte("{\"protocol\":\"json\",\"version\":1}\x1e")); err != nil {
				t.Fatal(err)
			}
			if err := c.WriteMessage(websocket.BinaryMessage, []byte{0x01, 0x00, 0xff}); err != nil {
				t.Fatal(err)
			}
			if got := string(srv.units.next(t)); got != "{\"protocol\":\"json\",\"version\":1}\x1e" {
				t.Errorf("first unit = %q", got)
			}
			if got := srv.units.next(t); string(got) != "\x01\x00\xff" {
				t.Errorf("second unit = %q", got)
			}

			unit := []byte("{}\x1e{\"type\":6}\x1e")
			if err := ws.Send(context.Background(), unit); err != nil {
				t.Fatalf("Send: %v", err)
			}
			typ, got, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if typ != tc.wantType || string(got) != string(unit) {
				t.Errorf("client read type %d %q, want type %d %q", typ, got, tc.wantType, unit)
			}
			if ws.Err() != nil {
				t.Errorf("Err while running = %v", ws.Err())
			}
		})
	}
}

func TestWebSocketOrigin(t *testing.T) {
	tests := []struct {
		name       string
		origin     string // "" for none; "SAME" for the server's own origin
		check      func(*http.Request) bool
		wantStatus int
	}{
		{"no origin", "", nil, http.StatusSwitchingProtocols},
		{"same origin", "SAME", nil, http.StatusSwitchingProtocols},
		{"other origin", "http://evil.example", nil, http.StatusForbidden},
		{"other origin allowed by CheckOrigin", "http://app.example", func(r *http.Request) bool {
			return r.Header.Get("Origin") == "http://app.example"
		}, http.StatusSwitchingProtocols},
		{"refused by CheckOrigin", "SAME", func(*http.Request) bool { return false }, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWSServer(t, transports.Options{CheckOrigin: tc.check}, false)
			header := http.Header{}
			switch tc.origin {
			case "":
			case "SAME":
				header.Set("Origin", srv.URL)
			default:
				header.Set("Origin", tc.origin)
			}
			c, resp, err := websocket.DefaultDialer.Dial(srv.url(), header)
			if c != nil {
				defer c.Close()
				ws := <-srv.accepted
				defer ws.Close()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (err %v)", resp.StatusCode, tc.wantStatus, err)
			}
			if tc.wantStatus == http.StatusForbidden {
				if body := readBody(t, resp); strings.TrimSpace(body) != "origin not allowed" {
					t.Errorf("body = %q", body)
				}
			}
		})
	}
}

func TestWebSocketReadLimit(t *testing.T) {
	const limit = 64
	srv := newWSServer(t, transports.Options{MaxTransportMessageSize: limit}, false)
	c, ws := srv.dial(t, nil)

	exact := strings.Repeat("a", limit)
	if err := c.WriteMessage(websocket.TextMessage, []byte(exact)); err != nil {
		t.Fatal(err)
	}
	if got := srv.units.next(t); string(got) != exact {
		t.Fatalf("unit at the limit = %d bytes", len(got))
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(exact+"b")); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("client read error = %v, want close 1009", err)
	}
	waitClosed(t, ws.Done(), "Done")
	if !errors.Is(ws.Err(), transports.ErrTooLarge) {
		t.Errorf("Err = %v, want ErrTooLarge", ws.Err())
	}
	if err := ws.Send(context.Background(), []byte("x")); !errors.Is(err, transports.ErrClosed) {
		t.Errorf("Send after end = %v, want ErrClosed", err)
	}
}

func TestWebSocketServerClose(t *testing.T) {
	srv := newWSServer(t, transports.Options{}, false)
	c, ws := srv.dial(t, nil)

	if err := ws.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ws.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("client read error = %v, want close 1000", err)
	}
	waitClosed(t, ws.Done(), "Done")
	if ws.Err() != transports.ErrClosed {
		t.Errorf("Err = %v, want ErrClosed", ws.Err())
	}
	if err := ws.Send(context.Background(), []byte("x")); !errors.Is(err, transports.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}

func TestWebSocketClientClose(t *testing.T) {
	tests := []struct {
		name       string
		payload    []byte // close frame payload; nil drops the TCP connection instead
		wantClosed bool   // Err wraps ErrClosed
	}{
		{"1000 normal", websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), true},
		{"1001 going away", websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), true},
		{"1005 no status", []byte{}, true},
		{"1011 internal error", websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "boom"), false},
		{"connection dropped", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWSServer(t, transports.Options{}, false)
			c, ws := srv.dial(t, nil)
			if tc.payload == nil {
				c.NetConn().Close()
			} else if err := c.WriteControl(websocket.CloseMessage, tc.payload, time.Now().Add(waitTimeout)); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, ws.Done(), "Done")
			err := ws.Err()
			if err == nil || errors.Is(err, transports.ErrClosed) != tc.wantClosed {
				t.Errorf("Err = %v, want wrapping transports.ErrClosed: %v", err, tc.wantClosed)
			}
			if !strings.HasPrefix(err.Error(), "transports: ") {
				t.Errorf("Err = %q, want the package prefix", err)
			}
		})
	}
}

func TestWebSocketPing(t *testing.T) {
	srv := newWSServer(t, transports.Options{}, false)
	c, _ := srv.dial(t, nil)
	pong := make(chan string, 1)
	c.SetPongHandler(func(data string) error { pong <- data; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	go c.ReadMessage() // control frames are handled while reading; ends when c closes
	select {
	case got := <-pong:
		if got != "p1" {
			t.Errorf("pong = %q", got)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no pong")
	}
}

// TestWebSocketCloseDuringSends runs Close against a stream of Sends; the race
// detector checks that the writes never overlap.
func TestWebSocketCloseDuringSends(t *testing.T) {
	srv := newWSServer(t, transports.Options{}, false)
	c, ws := srv.dial(t, nil)

	clientDone := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				clientDone <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		unit := []byte(strings.Repeat("x", 2048) + "\x1e")
		for ws.Send(context.Background(), unit) == nil {
		}
	}()
	time.Sleep(10 * time.Millisecond)
	ws.Close()
	wg.Wait()
	select {
	case err := <-clientDone:
		if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
			t.Errorf("client saw %v, want close 1000", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("client still reading")
	}
}

func TestWebSocketSendContext(t *testing.T) {
	srv := newWSServer(t, transports.Options{}, false)
	_, ws := srv.dial(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ws.Send(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a done ctx = %v", err)
	}
	if isClosed(ws.Done()) {
		t.Error("a refused Send ended the transport")
	}
}

func TestWebSocketBadUpgrade(t *testing.T) {
	srv := newWSServer(t, transports.Options{}, false)
	resp, err := http.Get(srv.URL) // a plain GET, no upgrade headers
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d, want 400", resp.StatusCode)
	}
}

// A WebSocket is accepted before the client names its hub protocol: the hub turns
// it to binary frames once the handshake chose MessagePack.
func TestWebSocketSetBinaryAfterAccept(t *testing.T) {
	srv := newWSServer(t, transports.Options{}, false)
	c, ws := srv.dial(t, nil)
	var _ BinarySetter = ws
	for _, step := range []struct {
		binary   bool
		wantType int
	}{{false, websocket.TextMessage}, {true, websocket.BinaryMessage}, {false, websocket.TextMessage}} {
		ws.SetBinary(step.binary)
		if err := ws.Send(context.Background(), []byte("\x02\x91\x06")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		typ, got, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if typ != step.wantType || string(got) != "\x02\x91\x06" {
			t.Errorf("after SetBinary(%v): client read type %d %q, want type %d", step.binary, typ, got, step.wantType)
		}
	}
}
