package hub_test

// The MessagePack hub protocol on the wire, with a raw client built on the
// codec: the handshake and every frame after it over WebSockets (binary
// messages) and long polling (raw bodies), the refusal on Server-Sent Events,
// []byte arguments under both protocols, broadcasts to a mix of JSON and
// MessagePack connections, and stateful reconnect.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

var mp = protocol.MessagePack

// mpConn is a raw MessagePack client over a WebSocket or long polling.
type mpConn struct {
	kind    transports.Kind
	ws      *websocket.Conn
	url     string // long polling: the hub URL with ?id=token
	id      string
	token   string
	pending []protocol.Message
}

// negotiateFor negotiates, with stateful reconnect when asked.
func negotiateFor(t *testing.T, srv *httptest.Server, stateful bool) transports.NegotiateResponse {
	t.Helper()
	url := srv.URL + "/hub/negotiate?negotiateVersion=1"
	if stateful {
		url += "&useStatefulReconnect=true"
	}
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var n transports.NegotiateResponse
	decodeJSON(t, resp, &n)
	return n
}

// dialMsgPack negotiates, opens kind and shakes hands with MessagePack version.
func dialMsgPack(t *testing.T, srv *httptest.Server, kind transports.Kind, version int, stateful bool) *mpConn {
	t.Helper()
	n := negotiateFor(t, srv, stateful)
	c := &mpConn{kind: kind, id: n.ConnectionID, token: n.ConnectionToken}
	c.open(t, srv)
	if errText := c.handshake(t, version); errText != "" {
		t.Fatalf("handshake refused: %q", errText)
	}
	return c
}

// open opens the transport on c's token (a WebSocket, or long polling's first poll).
func (c *mpConn) open(t *testing.T, srv *httptest.Server) {
	t.Helper()
	switch c.kind {
	case transports.WebSockets:
		ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub?id="+c.token, nil)
		if err != nil {
			t.Fatalf("dial: %v %v", resp, err)
		}
		t.Cleanup(func() { ws.Close() })
		c.ws = ws
	case transports.LongPolling:
		c.url = srv.URL + "/hub?id=" + c.token
		if st, body := c.poll(t); st != 200 || len(body) != 0 {
			t.Fatalf("first poll: %d %q", st, body)
		}
	}
}

// handshake sends the MessagePack handshake and returns the reply's error text.
func (c *mpConn) handshake(t *testing.T, version int) string {
	t.Helper()
	req := fmt.Sprintf(`{"protocol":"messagepack","version":%d}`+rs, version)
	if c.ws != nil {
		// As the official client sends it: a text message, the handshake being JSON.
		write(t, c.ws, req)
	} else {
		c.sendUnit(t, []byte(req))
	}
	unit := c.readUnit(t)
	errText, rest, err := protocol.ParseHandshakeResponse(unit)
	if err != nil {
		t.Fatalf("handshake reply %q: %v", unit, err)
	}
	c.parse(t, rest)
	return errText
}

// readUnit reads one unit: a WebSocket message, which must be binary, or a poll
// answer with content, which must be application/octet-stream.
func (c *mpConn) readUnit(t *testing.T) []byte {
	t.Helper()
	if c.ws != nil {
		c.ws.SetReadDeadline(time.Now().Add(hostileWaitFor))
		typ, b, err := c.ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if typ != websocket.BinaryMessage {
			t.Fatalf("a %q arrived as a text message, want binary", b)
		}
		return b
	}
	deadline := time.Now().Add(hostileWaitFor)
	for time.Now().Before(deadline) {
		st, body := c.poll(t)
		if st != 200 {
			t.Fatalf("poll: %d %q", st, body)
		}
		if len(body) > 0 {
			return body
		}
	}
	t.Fatal("nothing polled in time")
	return nil
}

func (c *mpConn) poll(t *testing.T) (int, []byte) {
	t.Helper()
	resp, err := httpClient.Get(c.url)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode == 200 && ct != "application/octet-stream" {
		t.Errorf("poll answer Content-Type %q", ct)
	}
	return resp.StatusCode, body
}

// sendUnit sends one unit as is: a binary WebSocket message or a POST body.
func (c *mpConn) sendUnit(t *testing.T, unit []byte) {
	t.Helper()
	if c.ws != nil {
		if err := c.ws.WriteMessage(websocket.BinaryMessage, unit); err != nil {
			t.Fatalf("send: %v", err)
		}
		return
	}
	resp, err := httpClient.Post(c.url, "application/octet-stream", bytes.NewReader(unit))
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
}

// send encodes messages into one unit and sends it.
func (c *mpConn) send(t *testing.T, msgs ...protocol.Message) {
	t.Helper()
	var unit []byte
	for i := range msgs {
		var err error
		if unit, err = mp.AppendMessage(unit, &msgs[i]); err != nil {
			t.Fatalf("encode %+v: %v", msgs[i], err)
		}
	}
	c.sendUnit(t, unit)
}

// invoke sends an Invocation of target with args encoded in MessagePack.
func (c *mpConn) invoke(t *testing.T, id, target string, args ...any) {
	t.Helper()
	raw := make([]protocol.RawValue, len(args))
	for i, a := range args {
		v, err := mp.EncodeValue(a)
		if err != nil {
			t.Fatal(err)
		}
		raw[i] = v
	}
	c.send(t, protocol.Message{Type: protocol.InvocationType, InvocationID: id, Target: target, Arguments: raw})
}

func (c *mpConn) parse(t *testing.T, unit []byte) {
	t.Helper()
	msgs, err := mp.ParseMessages(unit, nil)
	if err != nil {
		t.Fatalf("parse %x: %v", unit, err)
	}
	for _, m := range msgs {
		if m.Type != protocol.PingType {
			c.pending = append(c.pending, m)
		}
	}
}

// next returns the next message that is not a Ping.
func (c *mpConn) next(t *testing.T) protocol.Message {
	t.Helper()
	for len(c.pending) == 0 {
		c.parse(t, c.readUnit(t))
	}
	m := c.pending[0]
	c.pending = c.pending[1:]
	return m
}

// await returns the next message match accepts, failing on a Close.
func (c *mpConn) await(t *testing.T, what string, match func(protocol.Message) bool) protocol.Message {
	t.Helper()
	for {
		m := c.next(t)
		if match(m) {
			return m
		}
		if m.Type == protocol.CloseType {
			t.Fatalf("closed (%q) while waiting for %s", m.Error, what)
		}
	}
}

// completion waits for the Completion of id and decodes its result into v (if
// not nil); it fails on an error completion.
func (c *mpConn) completion(t *testing.T, id string, v any) protocol.Message {
	t.Helper()
	m := c.await(t, "completion "+id, func(m protocol.Message) bool {
		return m.Type == protocol.CompletionType && m.InvocationID == id
	})
	if m.HasError {
		t.Fatalf("completion %s: error %q", id, m.Error)
	}
	if v != nil {
		if err := mp.DecodeValue(m.Result, v); err != nil {
			t.Fatalf("completion %s: result %x: %v", id, m.Result, err)
		}
	}
	return m
}

// wantAlive checks the connection still answers.
func (c *mpConn) wantAlive(t *testing.T) {
	t.Helper()
	c.invoke(t, "alive", "Add", 20, 22)
	var sum int64
	if c.completion(t, "alive", &sum); sum != 42 {
		t.Errorf("alive check: Add gave %d", sum)
	}
}

// wantClosePrefix reads up to a Close message, checks its error starts with
// prefix and contains contains, and that the connection then ends.
func (c *mpConn) wantClosePrefix(t *testing.T, prefix, contains string) {
	t.Helper()
	for {
		m := c.next(t)
		if m.Type != protocol.CloseType {
			continue
		}
		if !strings.HasPrefix(m.Error, prefix) || !strings.Contains(m.Error, contains) || m.AllowReconnect {
			t.Errorf("Close error %q (allowReconnect %v), want %q...%q", m.Error, m.AllowReconnect, prefix, contains)
		}
		break
	}
	if c.ws == nil {
		if st, body := c.poll(t); st != http.StatusNoContent {
			t.Errorf("poll after the Close: %d %q, want 204", st, body)
		}
		return
	}
	c.ws.SetReadDeadline(time.Now().Add(hostileWaitFor))
	for {
		if _, _, err := c.ws.ReadMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("connection still open: %v", err)
			}
			return
		}
	}
}

func TestMessagePackHandshakeAndEcho(t *testing.T) {
	for _, kind := range []transports.Kind{transports.WebSockets, transports.LongPolling} {
		for _, version := range []int{1, 2} {
			t.Run(fmt.Sprintf("%v/version %d", kind, version), func(t *testing.T) {
				srv, _ := server(t, hub.Options{})
				c := dialMsgPack(t, srv, kind, version, false)
				c.invoke(t, "1", "Echo", "héllo")
				var s string
				if c.completion(t, "1", &s); s != "héllo" {
					t.Errorf("Echo: %q", s)
				}
				c.invoke(t, "2", "Add", 2, 40)
				var sum int64
				if c.completion(t, "2", &sum); sum != 42 {
					t.Errorf("Add: %d", sum)
				}
				c.invoke(t, "3", "Fail", "on purpose")
				m := c.await(t, "completion 3", func(m protocol.Message) bool { return m.Type == protocol.CompletionType })
				if !m.HasError || !strings.Contains(m.Error, "on purpose") {
					t.Errorf("Fail: %+v", m)
				}
				// A server-to-client stream.
				c.send(t, protocol.Message{Type: protocol.StreamInvocationType, InvocationID: "4", Target: "Counter",
					Arguments: []protocol.RawValue{{0x03}, {0x00}}})
				for want := int64(0); want < 3; want++ {
					item := c.await(t, "stream item", func(m protocol.Message) bool { return m.Type == protocol.StreamItemType })
					var n int64
					if err := mp.DecodeValue(item.Item, &n); err != nil || n != want {
						t.Errorf("stream item %x (%v), want %d", item.Item, err, want)
					}
				}
				c.completion(t, "4", nil)
				// A client-to-server stream of integers and floats, as a JavaScript
				// client encodes numbers.
				c.send(t, protocol.Message{Type: protocol.InvocationType, InvocationID: "5", Target: "Sum", Arguments: []protocol.RawValue{}, StreamIDs: []string{"s"}})
				for _, item := range []any{2, 3.5, int64(1) << 40} {
					raw, _ := mp.EncodeValue(item)
					c.send(t, protocol.Message{Type: protocol.StreamItemType, InvocationID: "s", Item: raw})
				}
				c.send(t, protocol.Message{Type: protocol.CompletionType, InvocationID: "s"})
				var total float64
				if c.completion(t, "5", &total); total != 5.5+float64(int64(1)<<40) {
					t.Errorf("Sum: %v", total)
				}
			})
		}
	}
}

func TestNegotiateOffersBinaryWhereTheTransportCarriesIt(t *testing.T) {
	srv, _ := server(t, hub.Options{})
	n := negotiateFor(t, srv, false)
	want := map[string]string{"WebSockets": "Text,Binary", "ServerSentEvents": "Text", "LongPolling": "Text,Binary"}
	for _, a := range n.AvailableTransports {
		if got := strings.Join(a.TransferFormats, ","); got != want[a.Transport] {
			t.Errorf("%s offers %s, want %s", a.Transport, got, want[a.Transport])
		}
	}
}

func TestMessagePackRefusedOnServerSentEvents(t *testing.T) {
	srv, _ := server(t, hub.Options{})
	e := &env{srv: srv}
	n := negotiate(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/hub?id="+n.ConnectionToken, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if st, body, _ := e.do(t, "POST", "/hub?id="+n.ConnectionToken, nil, `{"protocol":"messagepack","version":1}`+rs); st != 200 {
		t.Fatalf("handshake POST: %d %q", st, body)
	}
	stream, _ := io.ReadAll(resp.Body) // the stream ends after the refusal
	want := `data: {"error":"Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format."}` + rs
	if !strings.Contains(string(stream), want) {
		t.Errorf("stream %q, want the event %q", stream, want)
	}
}

// TestBytesArgumentsUnderBothProtocols: a typed handler taking and returning
// []byte gets and gives the same Go bytes whether the client speaks JSON (base64)
// or MessagePack (bin).
func TestBytesArgumentsUnderBothProtocols(t *testing.T) {
	srv, h := server(t, hub.Options{})
	var mu sync.Mutex
	var got [][]byte
	h.On("EchoBytes", func(ctx *hub.Context, data []byte) ([]byte, error) {
		mu.Lock()
		got = append(got, data)
		mu.Unlock()
		return append([]byte("re:"), data...), nil
	})
	data := []byte{0, 1, 2, 0x1e, 0x7f, 0x80, 0xff}
	want := append([]byte("re:"), data...)

	// JSON: base64 both ways.
	j := &client{ws: dialWS(t, srv)}
	j.send(t, `{"type":1,"invocationId":"j","target":"EchoBytes","arguments":["AAECHn+A/w=="]}`+rs)
	if r := j.completion(t, "j"); string(r.Result) != `"cmU6AAECHn+A/w=="` {
		t.Errorf("JSON result %s, want the base64 of %q", r.Result, want)
	}
	// MessagePack: bin both ways.
	c := dialMsgPack(t, srv, transports.WebSockets, 1, false)
	c.invoke(t, "m", "EchoBytes", data)
	m := c.completion(t, "m", nil)
	if len(m.Result) == 0 || m.Result[0] != 0xc4 {
		t.Errorf("MessagePack result %x, want a bin 8", m.Result)
	}
	var result []byte
	if err := mp.DecodeValue(m.Result, &result); err != nil || !bytes.Equal(result, want) {
		t.Errorf("MessagePack result %q (%v), want %q", result, err, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || !bytes.Equal(got[0], data) || !bytes.Equal(got[1], data) {
		t.Errorf("the handler got %q, want %q twice", got, data)
	}
}

// TestBroadcastEncodesOncePerProtocol: a group of 3 JSON and 3 MessagePack
// connections gets one broadcast, encoded once for each protocol; each member
// reads the same Go values. A broadcast to JSON connections only encodes no
// MessagePack.
func TestBroadcastEncodesOncePerProtocol(t *testing.T) {
	srv, h := server(t, hub.Options{})
	var jsonConns []*client
	var mpConns []*mpConn
	for i := range 3 {
		j := &client{ws: dialWS(t, srv)}
		j.send(t, fmt.Sprintf(`{"type":1,"invocationId":"j%d","target":"JoinGroup","arguments":["mix"]}`+rs, i))
		j.completion(t, fmt.Sprint("j", i))
		j.send(t, fmt.Sprintf(`{"type":1,"invocationId":"o%d","target":"JoinGroup","arguments":["json only"]}`+rs, i))
		j.completion(t, fmt.Sprint("o", i))
		jsonConns = append(jsonConns, j)
		kind := transports.WebSockets
		if i == 2 {
			kind = transports.LongPolling
		}
		m := dialMsgPack(t, srv, kind, 1, false)
		m.invoke(t, "j", "JoinGroup", "mix")
		m.completion(t, "j", nil)
		mpConns = append(mpConns, m)
	}
	counts := hub.CountEncodes(t)

	data := []byte{0xde, 0xad, 0x00, 0xbe, 0xef}
	if err := h.Clients().Group("mix").Send(context.Background(), "cast", data, "text", 7); err != nil {
		t.Fatal(err)
	}
	for i, j := range jsonConns {
		r := j.await(t, "cast", func(r record) bool { return r.Type == 1 && r.Target == "cast" })
		if len(r.Arguments) != 3 || string(r.Arguments[0]) != `"3q0Avu8="` || string(r.Arguments[1]) != `"text"` || string(r.Arguments[2]) != "7" {
			t.Errorf("JSON receiver %d: arguments %s", i, r.Arguments)
		}
	}
	for i, m := range mpConns {
		r := m.await(t, "cast", func(m protocol.Message) bool { return m.Type == protocol.InvocationType && m.Target == "cast" })
		var b []byte
		var s string
		var n int
		if len(r.Arguments) != 3 || mp.DecodeValue(r.Arguments[0], &b) != nil || mp.DecodeValue(r.Arguments[1], &s) != nil ||
			mp.DecodeValue(r.Arguments[2], &n) != nil || !bytes.Equal(b, data) || s != "text" || n != 7 {
			t.Errorf("MessagePack receiver %d: arguments %x", i, r.Arguments)
		}
		if r.Arguments[0][0] != 0xc4 {
			t.Errorf("MessagePack receiver %d: the bytes came as %x, want a bin", i, r.Arguments[0])
		}
	}
	if got := counts(); got["json"] != 1 || got["messagepack"] != 1 {
		t.Errorf("encodes per protocol %v, want one each", got)
	}

	if err := h.Clients().Group("json only").Send(context.Background(), "cast2", data); err != nil {
		t.Fatal(err)
	}
	for _, j := range jsonConns {
		j.await(t, "cast2", func(r record) bool { return r.Type == 1 && r.Target == "cast2" })
	}
	if got := counts(); got["json"] != 2 || got["messagepack"] != 1 {
		t.Errorf("encodes per protocol after a JSON-only broadcast %v, want json 2, messagepack 1", got)
	}
}

// TestRawValueOfAMessagePackCallerReachesJSONReceivers: the conformance hub's
// Broadcast passes on the payload as the caller sent it (a protocol.RawValue);
// receivers of the other protocol get the same value.
func TestRawValueOfAMessagePackCallerReachesJSONReceivers(t *testing.T) {
	srv, _ := server(t, hub.Options{})
	j := &client{ws: dialWS(t, srv)}
	m := dialMsgPack(t, srv, transports.WebSockets, 1, false)
	payload := map[string]any{"n": 1, "s": "x", "b": []byte{1, 2}}
	m.invoke(t, "b", "Broadcast", "ev", payload) // the caller gets ev before the completion
	r := j.await(t, "ev", func(r record) bool { return r.Type == 1 && r.Target == "ev" })
	if len(r.Arguments) != 1 || string(r.Arguments[0]) != `{"b":"AQI=","n":1,"s":"x"}` {
		t.Errorf("JSON receiver got %s", r.Arguments)
	}
	got := m.await(t, "ev", func(m protocol.Message) bool { return m.Type == protocol.InvocationType && m.Target == "ev" })
	var back map[string]any
	if len(got.Arguments) != 1 || mp.DecodeValue(got.Arguments[0], &back) != nil || fmt.Sprint(back) != fmt.Sprint(map[string]any{"n": int8(1), "s": "x", "b": []byte{1, 2}}) {
		t.Errorf("MessagePack receiver got %x (%v)", got.Arguments, back)
	}
	m.completion(t, "b", nil)

	j.send(t, `{"type":1,"invocationId":"j","target":"Broadcast","arguments":["ev2",{"n":2}]}`+rs)
	got = m.await(t, "ev2", func(m protocol.Message) bool { return m.Type == protocol.InvocationType && m.Target == "ev2" })
	var n struct {
		N int `json:"n"`
	}
	if len(got.Arguments) != 1 || mp.DecodeValue(got.Arguments[0], &n) != nil || n.N != 2 {
		t.Errorf("MessagePack receiver of a JSON caller's payload got %x", got.Arguments)
	}
}

// TestMessagePackStatefulReconnect: a MessagePack connection over a WebSocket
// cut and resumed gets what it missed, in binary frames, and its replayed
// invocation is not run twice.
func TestMessagePackStatefulReconnect(t *testing.T) {
	obs := &linkObserver{lost: make(chan transports.Kind, 8), resumed: make(chan transports.Kind, 8)}
	h, srv := statefulServer(t, hub.Options{Observer: obs})
	c := dialMsgPack(t, srv, transports.WebSockets, 2, true)
	received := int64(0)
	take := func() protocol.Message {
		t.Helper()
		for {
			m := c.next(t)
			switch {
			case m.Type == protocol.SequenceType:
				received = m.SequenceID - 1
			case m.Type >= 1 && m.Type <= 5:
				received++
				return m
			case m.Type == protocol.CloseType:
				t.Fatalf("closed: %q", m.Error)
			}
		}
	}
	c.invoke(t, "j", "Join", "g")
	if m := take(); m.Type != protocol.CompletionType || m.InvocationID != "j" || m.HasError {
		t.Fatalf("Join: %+v", m)
	}
	send := func(from, to int) {
		for i := from; i <= to; i++ {
			if err := h.Clients().Group("g").Send(context.Background(), "msg", i); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := 1
	expect := func(to int) {
		t.Helper()
		for ; want <= to; want++ {
			m := take()
			var n int
			if m.Type != protocol.InvocationType || m.Target != "msg" || len(m.Arguments) != 1 || mp.DecodeValue(m.Arguments[0], &n) != nil || n != want {
				t.Fatalf("got %+v, want msg %d", m, want)
			}
		}
	}
	send(1, 5)
	expect(5)
	c.send(t, protocol.Message{Type: protocol.AckType, SequenceID: received - 2})
	c.ws.NetConn().Close()
	select {
	case <-obs.lost:
	case <-time.After(hostileWaitFor):
		t.Fatal("the server did not notice the link was lost")
	}
	send(6, 10)

	c.pending = nil
	c.open(t, srv)
	m := c.next(t)
	if m.Type != protocol.SequenceType || m.SequenceID != received-1 {
		t.Fatalf("first message on the resumed link %+v, want Sequence %d", m, received-1)
	}
	received = m.SequenceID - 1
	want = 4
	expect(10)

	c.send(t, protocol.Message{Type: protocol.SequenceType, SequenceID: 1})
	c.invoke(t, "j", "Join", "g") // the replay of number 1: a duplicate
	c.invoke(t, "e", "Echo", "after")
	var s string
	if m := take(); m.Type != protocol.CompletionType || m.InvocationID != "e" || mp.DecodeValue(m.Result, &s) != nil || s != "after" {
		t.Fatalf("after the resume: %+v, want Echo's Completion (and no second Join)", m)
	}
}

// TestMessagePackClientResult: a handler asks a MessagePack client for a result
// (Conn.Invoke): the invocation goes out in MessagePack, and the answer decodes
// with the connection's protocol.
func TestMessagePackClientResult(t *testing.T) {
	srv, h := server(t, hub.Options{})
	h.On("AskDouble", func(ctx *hub.Context, data []byte) ([]byte, error) {
		raw, err := ctx.Conn().Invoke(ctx, "Double", data)
		if err != nil {
			return nil, err
		}
		var doubled []byte
		if err := ctx.Conn().Protocol().DecodeValue(raw, &doubled); err != nil {
			return nil, err
		}
		return doubled, nil
	})
	c := dialMsgPack(t, srv, transports.WebSockets, 1, false)
	c.invoke(t, "1", "AskDouble", []byte{7, 0})
	ask := c.await(t, "Double", func(m protocol.Message) bool { return m.Type == protocol.InvocationType && m.Target == "Double" })
	var data []byte
	if len(ask.Arguments) != 1 || mp.DecodeValue(ask.Arguments[0], &data) != nil || ask.InvocationID == "" {
		t.Fatalf("client-result invocation %+v", ask)
	}
	result, _ := mp.EncodeValue(append(data, data...))
	c.send(t, protocol.Message{Type: protocol.CompletionType, InvocationID: ask.InvocationID, Result: result})
	var got []byte
	if c.completion(t, "1", &got); !bytes.Equal(got, []byte{7, 0, 7, 0}) {
		t.Errorf("AskDouble gave %x", got)
	}
}

// TestEnvelopeWithJSONOnlyReachesMessagePack: an envelope that carries its
// arguments in JSON only (from a node that predates MessagePack) still reaches a
// MessagePack connection, converted, with numbers as numbers.
func TestEnvelopeWithJSONOnlyReachesMessagePack(t *testing.T) {
	srv, h := server(t, hub.Options{})
	c := dialMsgPack(t, srv, transports.LongPolling, 1, false)
	hub.Deliver(h, &hub.Envelope{Hub: "conformance", Selector: hub.Selector{Kind: hub.SelectAll}, Method: "old",
		Args: []json.RawMessage{json.RawMessage(`{"n":12345678901,"f":1.5,"s":"x","l":[1,null]}`)}})
	m := c.await(t, "old", func(m protocol.Message) bool { return m.Type == protocol.InvocationType && m.Target == "old" })
	var v struct {
		N int64   `json:"n"`
		F float64 `json:"f"`
		S string  `json:"s"`
		L []any   `json:"l"`
	}
	if len(m.Arguments) != 1 || mp.DecodeValue(m.Arguments[0], &v) != nil || v.N != 12345678901 || v.F != 1.5 || v.S != "x" || len(v.L) != 2 || v.L[1] != nil {
		t.Errorf("got %x (%+v)", m.Arguments, v)
	}
}
