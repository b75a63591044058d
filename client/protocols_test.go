package client_test

// The client's scenarios under each hub protocol (JSON and MessagePack) over the
// transports that carry both (WebSockets, long polling), against the real hub.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// protocols is the protocol table of the protocol scenarios.
var protocols = []protocol.Protocol{protocol.JSON, protocol.MessagePack}

// binaryKinds are the transports that carry every protocol.
var binaryKinds = []struct {
	name string
	kind transports.Kind
}{
	{"WebSockets", transports.WebSockets},
	{"LongPolling", transports.LongPolling},
}

// payload is a value with every kind of field the protocols must carry alike.
type payload struct {
	Name  string            `json:"name"`
	Count int64             `json:"count"`
	Ratio float64           `json:"ratio"`
	Data  []byte            `json:"data"`
	Tags  []string          `json:"tags"`
	Extra map[string]string `json:"extra"`
	Empty *string           `json:"empty"`
}

var samplePayload = payload{
	Name: "héllo\x1e", Count: 1<<53 + 1, Ratio: 0.25,
	Data: []byte{0, 1, 0x1e, 0x7f, 0x80, 0xff},
	Tags: []string{"a", "b"}, Extra: map[string]string{"k": "v"},
}

func TestProtocols(t *testing.T) {
	scenarios := []struct {
		name string
		run  func(t *testing.T, proto protocol.Protocol, kind transports.Kind)
	}{
		{"Echo", testProtocolEcho},
		{"BytesEcho", testProtocolBytesEcho},
		{"DownloadStream", testProtocolDownloadStream},
		{"UploadStream", testProtocolUploadStream},
		{"ClientResults", testProtocolClientResults},
		{"HubSendsToClient", testProtocolHubSends},
		{"PostContentType", testProtocolPostContentType},
		{"WebSocketFrameTypes", testProtocolFrameTypes},
	}
	for _, proto := range protocols {
		for _, k := range binaryKinds {
			t.Run(proto.Name()+"/"+k.name, func(t *testing.T) {
				t.Parallel()
				for _, sc := range scenarios {
					t.Run(sc.name, func(t *testing.T) { sc.run(t, proto, k.kind) })
				}
			})
		}
	}
}

func dialProtocol(t *testing.T, url string, proto protocol.Protocol, kind transports.Kind) *client.Conn {
	t.Helper()
	c := dial(t, url, kind, client.Options{Protocol: proto})
	if c.Protocol() != proto {
		t.Fatalf("Protocol() = %s, want %s", c.Protocol().Name(), proto.Name())
	}
	return c
}

func testProtocolEcho(t *testing.T, proto protocol.Protocol, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dialProtocol(t, th.URL, proto, kind)
	ctx := testCtx(t)
	check := func(name string, arg any, into any) {
		t.Helper()
		res, err := c.Invoke(ctx, "Echo", arg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := res.Decode(into); err != nil {
			t.Fatalf("%s: Decode: %v (raw %x)", name, err, res.Raw)
		}
		if got := reflect.ValueOf(into).Elem().Interface(); !reflect.DeepEqual(got, arg) {
			t.Errorf("%s: Echo = %#v, want %#v", name, got, arg)
		}
	}
	check("string", "hello, world é\x1e", new(string))
	check("int64", int64(-1)<<62, new(int64))
	check("struct", samplePayload, new(payload))
	check("large", strings.Repeat("x", 20<<10), new(string))
	check("nested", map[string][]int{"a": {1, 2}}, new(map[string][]int))

	if n, err := client.InvokeAs[int64](ctx, c, "Add", 2, 40); err != nil || n != 42 {
		t.Errorf("Add = %d, %v", n, err)
	}
	var ie *client.InvocationError
	if _, err := c.Invoke(ctx, "Fail", "boom"); !errors.As(err, &ie) || ie.Message != "boom" {
		t.Errorf("Fail: %v, want an *InvocationError \"boom\"", err)
	}
	res, err := c.Invoke(ctx, "Echo", nil)
	if err != nil || res.IsVoid() {
		t.Fatalf("Echo(nil) = %x, %v", res.Raw, err)
	}
	p := &payload{}
	if err := res.Decode(&p); err != nil || p != nil {
		t.Errorf("Echo(nil) decoded to %v, %v; want a nil pointer", p, err)
	}
}

// testProtocolBytesEcho: a []byte goes as base64 under JSON and as bin under
// MessagePack, and comes back as the same Go bytes.
func testProtocolBytesEcho(t *testing.T, proto protocol.Protocol, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dialProtocol(t, th.URL, proto, kind)
	ctx := testCtx(t)
	for _, in := range [][]byte{{}, {0, 1, 2, 0x1e, 0xff}, bytes.Repeat([]byte{0xc1, 0x00}, 10<<10)} {
		res, err := c.Invoke(ctx, "Echo", in)
		if err != nil {
			t.Fatalf("Echo(%d bytes): %v", len(in), err)
		}
		wire := res.Raw[0]
		if proto == protocol.JSON && wire != '"' {
			t.Errorf("JSON: %d bytes echoed as %.20q, want a base64 string", len(in), res.Raw)
		}
		if proto == protocol.MessagePack && (wire < 0xc4 || wire > 0xc6) {
			t.Errorf("MessagePack: %d bytes echoed with the type byte %#x, want bin (0xc4-0xc6)", len(in), wire)
		}
		var out []byte
		if err := res.Decode(&out); err != nil || !bytes.Equal(out, in) {
			t.Errorf("Echo(%d bytes) decoded to %d bytes, %v", len(in), len(out), err)
		}
		var again []byte
		if err := c.Decode(res.Raw, &again); err != nil || !bytes.Equal(again, in) {
			t.Errorf("Conn.Decode of %d bytes: %d bytes, %v", len(in), len(again), err)
		}
	}
	got, err := client.InvokeAs[payload](ctx, c, "Echo", samplePayload)
	if err != nil || !bytes.Equal(got.Data, samplePayload.Data) {
		t.Errorf("struct with bytes: %x, %v", got.Data, err)
	}
}

func testProtocolDownloadStream(t *testing.T, proto protocol.Protocol, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dialProtocol(t, th.URL, proto, kind)
	s, err := c.Stream(testCtx(t), "Counter", 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for n, err := range client.Items[int](s) {
		if err != nil {
			t.Fatalf("item %d: %v", want, err)
		}
		if n != want {
			t.Fatalf("item %d = %d", want, n)
		}
		want++
	}
	if want != 50 {
		t.Errorf("%d items, want 50", want)
	}
	// Cancel mid-stream: the connection goes on.
	s, err = c.Stream(testCtx(t), "Counter", 1000, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	s.Cancel()
	if n, err := client.InvokeAs[int64](testCtx(t), c, "Add", 1, 1); err != nil || n != 2 {
		t.Errorf("after a cancel: Add = %d, %v", n, err)
	}
}

func testProtocolUploadStream(t *testing.T, proto protocol.Protocol, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dialProtocol(t, th.URL, proto, kind)
	ctx := testCtx(t)
	up := client.NewUploadStream()
	go func() {
		defer up.Close()
		for _, n := range []float64{1, 2, 3.5, 100} {
			if err := up.Send(ctx, n); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	if sum, err := client.InvokeAs[float64](ctx, c, "Sum", up); err != nil || sum != 106.5 {
		t.Errorf("Sum(upload) = %v, %v", sum, err)
	}
	ch := make(chan int, 3)
	ch <- 1
	ch <- 2
	ch <- 3
	close(ch)
	if sum, err := client.InvokeAs[float64](ctx, c, "Sum", ch); err != nil || sum != 6 {
		t.Errorf("Sum(channel) = %v, %v", sum, err)
	}
	// An item that does not encode is Send's error; the stream goes on.
	up = client.NewUploadStream()
	done := make(chan error, 1)
	go func() {
		defer up.Close()
		if err := up.Send(ctx, func() {}); err == nil {
			done <- errors.New("Send(func) = nil, want an encoding error")
			return
		}
		done <- up.Send(ctx, 5)
	}()
	if sum, err := client.InvokeAs[float64](ctx, c, "Sum", up); err != nil || sum != 5 {
		t.Errorf("Sum after a bad item = %v, %v", sum, err)
	}
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// testProtocolClientResults: the hub calls the client (hub.Conn.Invoke); the
// arguments arrive in the connection's protocol and the result goes back in it.
func testProtocolClientResults(t *testing.T, proto protocol.Protocol, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dialProtocol(t, th.URL, proto, kind)
	c.OnInvoke("Transform", func(ctx context.Context, args []protocol.RawValue) (any, error) {
		var p payload
		var data []byte
		if err := c.DecodeArgs(args, &p, &data); err != nil {
			return nil, err
		}
		if len(data) == 0 {
			return nil, errors.New("no data")
		}
		p.Data = append(p.Data, data...)
		return p, nil
	})
	c.OnInvoke("Bytes", func(ctx context.Context, args []protocol.RawValue) (any, error) {
		return []byte{0xde, 0xad, 0xbe, 0xef}, nil
	})
	hc, ok := th.Hub.Conn(c.ConnectionID())
	if !ok {
		t.Fatal("the hub does not know the connection")
	}
	ctx := testCtx(t)
	raw, err := hc.Invoke(ctx, "transform", samplePayload, []byte{9, 9})
	if err != nil {
		t.Fatal(err)
	}
	var got payload
	if err := proto.DecodeValue(raw, &got); err != nil {
		t.Fatalf("decoding the client result %x: %v", raw, err)
	}
	want := samplePayload
	want.Data = append(bytes.Clone(want.Data), 9, 9)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("client result = %+v, want %+v", got, want)
	}
	if _, err := hc.Invoke(ctx, "Transform", samplePayload, []byte{}); err == nil || !strings.Contains(err.Error(), "no data") {
		t.Errorf("failing client result: %v", err)
	}
	raw, err = hc.Invoke(ctx, "Bytes")
	var b []byte
	if err != nil || proto.DecodeValue(raw, &b) != nil || !bytes.Equal(b, []byte{0xde, 0xad, 0xbe, 0xef}) {
		t.Errorf("[]byte client result = %x (%x), %v", b, raw, err)
	}
	if _, err := hc.Invoke(ctx, "NoHandler"); err == nil || !strings.Contains(err.Error(), "Client didn't provide a result.") {
		t.Errorf("client result without handler: %v", err)
	}
}

// testProtocolHubSends: the hub's sends (to the caller, to the connection, with
// several arguments) reach the handlers, decoded with the connection's protocol.
func testProtocolHubSends(t *testing.T, proto protocol.Protocol, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dialProtocol(t, th.URL, proto, kind)
	got := make(chan payload, 1)
	c.On("event", func(args []protocol.RawValue) {
		var p payload
		if err := c.DecodeArgs(args, &p); err != nil {
			t.Error(err)
		}
		got <- p
	})
	if _, err := c.Invoke(testCtx(t), "SendToCaller", "event", samplePayload); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if !reflect.DeepEqual(p, samplePayload) {
			t.Errorf("received %+v, want %+v", p, samplePayload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
	}
}

// testProtocolPostContentType: long polling POSTs say what they carry: text for
// JSON, bytes for MessagePack.
func testProtocolPostContentType(t *testing.T, proto protocol.Protocol, kind transports.Kind) {
	if kind != transports.LongPolling {
		t.Skip("no POSTs")
	}
	th := startHub(t, hub.Options{}, nil)
	c := dialProtocol(t, th.URL, proto, kind)
	if _, err := c.Invoke(testCtx(t), "Echo", 1); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"json": "text/plain;charset=UTF-8", "messagepack": "application/octet-stream"}[proto.Name()]
	posts := 0
	for _, r := range th.seen() {
		if r.Method == http.MethodPost && !strings.HasSuffix(r.Path, "/negotiate") {
			posts++
			if ct := r.Header.Get("Content-Type"); ct != want {
				t.Errorf("POST Content-Type %q, want %q", ct, want)
			}
		}
	}
	if posts == 0 {
		t.Error("no POST seen")
	}
}

// testProtocolFrameTypes: the client's WebSocket frames are text for JSON and
// binary for MessagePack. It reads the opcode of each frame the client writes
// (gorilla writes a frame's header and payload in one Write; the first byte,
// FIN and opcode, is not masked).
func testProtocolFrameTypes(t *testing.T, proto protocol.Protocol, kind transports.Kind) {
	if kind != transports.WebSockets {
		t.Skip("no frames")
	}
	th := startHub(t, hub.Options{}, nil)
	var mu sync.Mutex
	opcodes := map[byte]int{}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	dialer := &net.Dialer{}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &frameSpy{Conn: conn, seen: func(op byte) {
			mu.Lock()
			opcodes[op]++
			mu.Unlock()
		}}, nil
	}
	c := dial(t, th.URL, kind, client.Options{Protocol: proto, HTTPClient: &http.Client{Transport: tr}})
	if _, err := c.Invoke(testCtx(t), "Echo", []byte{1}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want, unwanted := byte(1), byte(2) // text, binary
	if proto.TransferFormat() == protocol.BinaryFormat {
		want, unwanted = 2, 1
	}
	if opcodes[want] == 0 || opcodes[unwanted] != 0 {
		t.Errorf("frames written by opcode: %v; want %d only", opcodes, want)
	}
}

// frameSpy reports the opcode of each WebSocket frame written after the HTTP
// upgrade request.
type frameSpy struct {
	net.Conn
	upgraded bool
	seen     func(opcode byte)
}

func (s *frameSpy) Write(b []byte) (int, error) {
	if s.upgraded && len(b) > 0 && b[0]&0x0f < 8 {
		s.seen(b[0] & 0x0f)
	}
	s.upgraded = true // the first write is the upgrade request
	return s.Conn.Write(b)
}

// TestMessagePackSkipNegotiation: a WebSocket straight to the hub URL speaks
// MessagePack too.
func TestMessagePackSkipNegotiation(t *testing.T) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, transports.WebSockets, client.Options{SkipNegotiation: true, Protocol: protocol.MessagePack})
	if b, err := client.InvokeAs[[]byte](testCtx(t), c, "Echo", []byte{7, 0, 7}); err != nil || !bytes.Equal(b, []byte{7, 0, 7}) {
		t.Errorf("Echo = %x, %v", b, err)
	}
}

// TestProtocolsGroupBroadcastMixed: one group send reaches JSON and MessagePack
// clients at once, on WebSockets and long polling, each decoding the same Go
// value with its connection's protocol. A send from the server, or relayed from
// a MessagePack client, carries []byte to all; relayed from a JSON client (the
// hub method takes a protocol.RawValue), bytes are only a base64 string, which
// MessagePack clients receive as such.
func TestProtocolsGroupBroadcastMixed(t *testing.T) {
	th := startHub(t, hub.Options{}, nil)
	ctx := testCtx(t)
	type member struct {
		name string
		c    *client.Conn
		got  chan payload
	}
	var members []member
	for _, proto := range protocols {
		for _, k := range binaryKinds {
			m := member{name: proto.Name() + "/" + k.name, c: dialProtocol(t, th.URL, proto, k.kind), got: make(chan payload, 4)}
			m.c.On("news", func(args []protocol.RawValue) {
				var p payload
				if err := m.c.DecodeArgs(args, &p); err != nil {
					t.Errorf("%s: %v", m.name, err)
				}
				m.got <- p
			})
			if _, err := m.c.Invoke(ctx, "JoinGroup", "mixed"); err != nil {
				t.Fatal(err)
			}
			members = append(members, m)
		}
	}
	fromJSON := samplePayload
	fromJSON.Data = []byte(base64.StdEncoding.EncodeToString(samplePayload.Data))
	senders := []struct {
		name string
		send func() error
		// want is what a receiver of proto gets.
		want func(proto protocol.Protocol) payload
	}{
		{"the server", func() error { return th.Hub.Clients().Group("mixed").Send(ctx, "news", samplePayload) },
			func(protocol.Protocol) payload { return samplePayload }},
		{"a MessagePack client", func() error {
			_, err := members[len(members)-1].c.Invoke(ctx, "SendToGroup", "mixed", "news", samplePayload)
			return err
		}, func(protocol.Protocol) payload { return samplePayload }},
		{"a JSON client", func() error {
			_, err := members[0].c.Invoke(ctx, "SendToGroup", "mixed", "news", samplePayload)
			return err
		}, func(proto protocol.Protocol) payload {
			if proto == protocol.MessagePack {
				return fromJSON
			}
			return samplePayload
		}},
	}
	for _, s := range senders {
		if err := s.send(); err != nil {
			t.Fatalf("from %s: %v", s.name, err)
		}
		for _, m := range members {
			select {
			case p := <-m.got:
				if want := s.want(m.c.Protocol()); !reflect.DeepEqual(p, want) {
					t.Errorf("%s received from %s %+v, want %+v", m.name, s.name, p, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s received nothing from %s", m.name, s.name)
			}
		}
	}
}

// TestMessagePackSkipsServerSentEvents: an event stream carries text only, so a
// MessagePack client never uses SSE: refused up front when it is the only
// transport allowed, skipped (without a request) when others are.
func TestMessagePackSkipsServerSentEvents(t *testing.T) {
	t.Run("only SSE allowed", func(t *testing.T) {
		_, err := client.New("http://127.0.0.1:1/hub", client.Options{Protocol: protocol.MessagePack, Transports: transports.ServerSentEvents})
		if !errors.Is(err, client.ErrNoTransport) || !strings.Contains(err.Error(), "ServerSentEvents") {
			t.Errorf("New = %v, want ErrNoTransport naming ServerSentEvents", err)
		}
	})

	refuseWS := func(r *http.Request) int {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			return http.StatusForbidden
		}
		return 0
	}
	tests := []struct {
		name       string
		transports transports.Kind
		refuse     func(r *http.Request) int
		negotiates int
	}{
		{"SSE and long polling allowed", transports.ServerSentEvents | transports.LongPolling, nil, 1},
		{"WebSocket refused: falls back to long polling", 0, refuseWS, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			th := startHub(t, hub.Options{}, tc.refuse)
			c, err := client.Dial(testCtx(t), th.URL, client.Options{Protocol: protocol.MessagePack, Transports: tc.transports, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Transport() != transports.LongPolling {
				t.Errorf("Transport = %v, want LongPolling", c.Transport())
			}
			if b, err := client.InvokeAs[[]byte](testCtx(t), c, "Echo", []byte{1, 2}); err != nil || !bytes.Equal(b, []byte{1, 2}) {
				t.Errorf("Echo = %x, %v", b, err)
			}
			negotiates := 0
			for _, r := range th.seen() {
				if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
					t.Errorf("an SSE request was sent: %s %s?%s", r.Method, r.Path, r.RawQuery)
				}
				if strings.HasSuffix(r.Path, "/negotiate") {
					negotiates++
				}
			}
			if negotiates != tc.negotiates {
				t.Errorf("%d negotiates, want %d", negotiates, tc.negotiates)
			}
		})
	}

	t.Run("server without Binary transports", func(t *testing.T) {
		t.Parallel()
		// A server offering SSE only leaves nothing to use.
		th := startHub(t, hub.Options{Transports: transports.ServerSentEvents}, nil)
		_, err := client.Dial(testCtx(t), th.URL, client.Options{Protocol: protocol.MessagePack, Logger: quiet})
		if !errors.Is(err, client.ErrNoTransport) || !strings.Contains(err.Error(), "ServerSentEvents") {
			t.Errorf("Dial = %v, want ErrNoTransport naming ServerSentEvents", err)
		}
	})
}
