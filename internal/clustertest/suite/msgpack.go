package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/clustertest"
)

// StartPlainNode starts a node of hub "mixed" on bp, on its own server; a
// connection lives on the node it dialed. The node and bp close when the test
// ends.
func StartPlainNode(t *testing.T, bp clustertest.Backplane) (*hub.Hub, string) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := hub.New(hub.Options{Name: "mixed", Backplane: bp, Logger: quiet})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
		srv.CloseClientConnections()
		srv.Close()
		bp.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bp.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return h, srv.URL
}

// DialProtocol opens a WebSocket to base and shakes hands in protocol p; it
// returns the connection and the bytes that followed the handshake reply.
func DialProtocol(t *testing.T, base string, p protocol.Protocol) (*websocket.Conn, []byte) {
	t.Helper()
	resp, err := http.Post(base+"/negotiate?negotiateVersion=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var n struct {
		ConnectionToken string `json:"connectionToken"`
	}
	err = json.NewDecoder(resp.Body).Decode(&n)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"?id="+n.ConnectionToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"protocol":"`+p.Name()+`","version":1}`+"\x1e")); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(WaitTimeout))
	_, unit, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	errText, rest, err := protocol.ParseHandshakeResponse(unit)
	if err != nil || errText != "" {
		t.Fatalf("handshake in %s: %q %v", p.Name(), errText, err)
	}
	return ws, rest
}

// AwaitInvocation reads until an invocation of target arrives, in protocol p.
func AwaitInvocation(t *testing.T, ws *websocket.Conn, p protocol.Protocol, pending []byte, target string) protocol.Message {
	t.Helper()
	for unit := pending; ; {
		msgs, err := p.ParseMessages(unit, nil)
		if err != nil {
			t.Fatalf("parse %q: %v", unit, err)
		}
		for _, m := range msgs {
			if m.Type == protocol.InvocationType && m.Target == target {
				return m
			}
		}
		ws.SetReadDeadline(time.Now().Add(WaitTimeout))
		if _, unit, err = ws.ReadMessage(); err != nil {
			t.Fatalf("waiting for %s: %v", target, err)
		}
	}
}

// BytesAcrossNodes: a []byte argument sent on one node reaches a JSON connection
// and a MessagePack connection on two nodes (on backplanes a and b) as the same
// Go bytes, whichever node sends it; the envelope on the backplane, which
// envelopes yields as JSON (hub.Envelope) for each broadcast of hub "mixed",
// carries the arguments encoded for both protocols, so the receiving node
// encodes nothing.
func BytesAcrossNodes(t *testing.T, a, b clustertest.Backplane, envelopes <-chan []byte) {
	hubA, baseA := StartPlainNode(t, a)
	hubB, baseB := StartPlainNode(t, b)
	jsonWS, jsonRest := DialProtocol(t, baseA, protocol.JSON)
	mpWS, mpRest := DialProtocol(t, baseB, protocol.MessagePack)

	data := []byte{0x00, 0x1e, 0x7f, 0x80, 0xff}
	for _, from := range []struct {
		name string
		h    *hub.Hub
	}{{"a", hubA}, {"b", hubB}} {
		target := "from-" + from.name
		if err := from.h.Clients().All().Send(context.Background(), target, data); err != nil {
			t.Fatal(err)
		}
		select {
		case payload := <-envelopes:
			var env hub.Envelope
			if err := json.Unmarshal(payload, &env); err != nil {
				t.Fatalf("envelope %q: %v", payload, err)
			}
			if len(env.Args) != 1 || len(env.MessagePackArgs) != 1 {
				t.Errorf("envelope from %s carries %d JSON and %d MessagePack arguments, want one each", from.name, len(env.Args), len(env.MessagePackArgs))
			}
		case <-time.After(WaitTimeout):
			t.Fatal("nothing published on the backplane")
		}

		var fromJSON, fromMsgPack []byte
		m := AwaitInvocation(t, jsonWS, protocol.JSON, jsonRest, target)
		jsonRest = nil
		if len(m.Arguments) != 1 || protocol.JSON.DecodeValue(m.Arguments[0], &fromJSON) != nil {
			t.Errorf("JSON receiver: arguments %s", m.Arguments)
		}
		m = AwaitInvocation(t, mpWS, protocol.MessagePack, mpRest, target)
		mpRest = nil
		if len(m.Arguments) != 1 || protocol.MessagePack.DecodeValue(m.Arguments[0], &fromMsgPack) != nil || m.Arguments[0][0] != 0xc4 {
			t.Errorf("MessagePack receiver: arguments %x, want one bin", m.Arguments)
		}
		if !bytes.Equal(fromJSON, data) || !bytes.Equal(fromMsgPack, data) {
			t.Errorf("sent from %s: JSON receiver got %x, MessagePack receiver %x, want %x", from.name, fromJSON, fromMsgPack, data)
		}
	}
}

// RelayedMessagePackResumeIsBinary: a stateful MessagePack connection of node
// 0 whose WebSocket resumes on node 1 (relayed to node 0) still gets binary
// messages, and what was sent while it was away.
func RelayedMessagePackResumeIsBinary[B clustertest.Backplane](t *testing.T, c *clustertest.Cluster[B]) {
	resp, err := http.Post(HubURL(c.Nodes[0].URL)+"/negotiate?negotiateVersion=1&useStatefulReconnect=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var n struct {
		ConnectionID    string `json:"connectionId"`
		ConnectionToken string `json:"connectionToken"`
	}
	json.NewDecoder(resp.Body).Decode(&n)
	resp.Body.Close()
	open := func(node string) *websocket.Conn {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(HubURL(node), "http")+"?id="+n.ConnectionToken, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		return ws
	}
	mp := protocol.MessagePack
	ws := open(c.Nodes[0].URL)
	ws.WriteMessage(websocket.TextMessage, []byte(`{"protocol":"messagepack","version":2}`+"\x1e"))
	var queue []protocol.Message
	readMsg := func() protocol.Message {
		t.Helper()
		for len(queue) == 0 {
			ws.SetReadDeadline(time.Now().Add(WaitTimeout))
			typ, unit, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if typ != websocket.BinaryMessage {
				t.Fatalf("%q came as a text message, want binary", unit)
			}
			if queue, err = mp.ParseMessages(unit, nil); err != nil {
				t.Fatalf("parse %x: %v", unit, err)
			}
		}
		m := queue[0]
		queue = queue[1:]
		return m
	}
	ws.SetReadDeadline(time.Now().Add(WaitTimeout))
	if _, unit, err := ws.ReadMessage(); err != nil {
		t.Fatal(err)
	} else if errText, rest, err := protocol.ParseHandshakeResponse(unit); err != nil || errText != "" {
		t.Fatalf("handshake: %q %v", errText, err)
	} else if queue, err = mp.ParseMessages(rest, nil); err != nil {
		t.Fatal(err)
	}
	group, _ := mp.EncodeValue("relay-mp")
	join, _ := mp.AppendMessage(nil, &protocol.Message{Type: protocol.InvocationType, InvocationID: "j", Target: "JoinGroup", Arguments: []protocol.RawValue{group}})
	ws.WriteMessage(websocket.BinaryMessage, join)
	if m := readMsg(); m.Type != protocol.CompletionType || m.HasError {
		t.Fatalf("JoinGroup: %+v", m)
	}
	WaitFor(t, "the connection to be indexed", func() bool { return c.Owner(n.ConnectionID) == 0 })
	ws.NetConn().Close()
	if err := c.Nodes[1].Conformance.Clients().Group("relay-mp").Send(context.Background(), "msg", []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	ws = open(c.Nodes[1].URL)
	queue = nil
	if m := readMsg(); m.Type != protocol.SequenceType {
		t.Fatalf("first message on the relayed link: %+v, want a Sequence", m)
	}
	m := readMsg()
	for m.Type == protocol.CompletionType || m.Type == protocol.PingType { // JoinGroup's, not acked: sent again
		m = readMsg()
	}
	var b []byte
	if m.Type != protocol.InvocationType || m.Target != "msg" || len(m.Arguments) != 1 || mp.DecodeValue(m.Arguments[0], &b) != nil || !bytes.Equal(b, []byte{1, 2, 3}) {
		t.Fatalf("got %+v, want msg(0x010203)", m)
	}
	if owner := c.Owner(n.ConnectionID); owner != 0 {
		t.Fatalf("the connection lives on node %d, want 0", owner)
	}
}
