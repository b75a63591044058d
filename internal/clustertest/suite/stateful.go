package suite

// A raw stateful-reconnect client (docs/reconnect.md), after hub/reconnect_test.go:
// it numbers what it sends, drops duplicates, cuts its link and resumes on the same
// token, on whichever node a test names.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/transports"
)

// WireRecord is one hub message as the raw client reads it.
type WireRecord struct {
	Type         int               `json:"type"`
	InvocationID string            `json:"invocationId"`
	Target       string            `json:"target"`
	Arguments    []json.RawMessage `json:"arguments"`
	Result       json.RawMessage   `json:"result"`
	Error        string            `json:"error"`
	SequenceID   int64             `json:"sequenceId"`
}

// StatefulLink is one WebSocket, or one SSE stream, of a raw client.
type StatefulLink struct {
	kind   transports.Kind
	WS     *websocket.Conn // nil for SSE
	cancel context.CancelFunc
	recs   chan WireRecord
	ended  chan struct{}
	Status int // the status of a refused link
}

// HubURL is the conformance hub of a node.
func HubURL(node string) string { return node + "/hubs/conformance" }

// OpenStatefulLink opens a WebSocket or an SSE stream for token on node's
// conformance hub.
func OpenStatefulLink(t *testing.T, node string, kind transports.Kind, token string) *StatefulLink {
	t.Helper()
	return OpenStatefulLinkAt(t, HubURL(node)+"?id="+token, kind)
}

// OpenStatefulLinkAt opens a WebSocket or an SSE stream on u (with its query).
func OpenStatefulLinkAt(t *testing.T, u string, kind transports.Kind) *StatefulLink {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &StatefulLink{kind: kind, cancel: cancel, recs: make(chan WireRecord, 4096), ended: make(chan struct{})}
	t.Cleanup(l.Cut)
	switch kind {
	case transports.WebSockets:
		ws, resp, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(u, "http"), nil)
		if err != nil {
			if resp != nil {
				l.Status = resp.StatusCode
				close(l.ended)
				return l
			}
			t.Fatalf("websocket: %v", err)
		}
		l.WS = ws
		go func() {
			defer close(l.ended)
			for {
				_, data, err := ws.ReadMessage()
				if err != nil {
					return
				}
				l.push(data)
			}
		}()
	case transports.ServerSentEvents:
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("sse: %v", err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			l.Status = resp.StatusCode
			close(l.ended)
			return l
		}
		go func() {
			defer close(l.ended)
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			var data []byte
			for sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "data: "):
					if data != nil {
						data = append(data, '\n')
					}
					data = append(data, line[len("data: "):]...)
				case line == "" && data != nil:
					l.push(data)
					data = nil
				}
			}
		}()
	default:
		t.Fatalf("no raw stateful link over %v", kind)
	}
	return l
}

func (l *StatefulLink) push(unit []byte) {
	for _, rec := range bytes.Split(unit, []byte{0x1e}) {
		if len(rec) == 0 {
			continue
		}
		var r WireRecord
		if err := json.Unmarshal(rec, &r); err == nil {
			l.recs <- r
		}
	}
}

// Cut drops the link without a word, as a reset or a proxy would.
func (l *StatefulLink) Cut() {
	l.cancel()
	if l.WS != nil {
		l.WS.NetConn().Close()
	}
}

// Next returns the next record that is not a Ping.
func (l *StatefulLink) Next(t *testing.T) WireRecord {
	t.Helper()
	timeout := time.After(WaitTimeout)
	for {
		select {
		case r := <-l.recs:
			if r.Type != 6 {
				return r
			}
		case <-l.ended:
			select {
			case r := <-l.recs:
				if r.Type != 6 {
					return r
				}
				continue
			default:
			}
			t.Fatal("the link ended")
		case <-timeout:
			t.Fatalf("no message within %v", WaitTimeout)
		}
	}
}

// StatefulClient is a raw client's connection: its token and both counters.
type StatefulClient struct {
	kind      transports.Kind
	ID, Token string        // the connection's, from negotiate
	Link      *StatefulLink // the current link
	PostTo    string        // the node SSE POSTs go to
	sent      int64         // trackable messages sent
	next      int64         // the number of the next trackable message from the server
	processed int64         // the highest number taken
}

// DialStateful negotiates on node with useStatefulReconnect, opens kind there and
// shakes hands with version 2: node holds the connection.
func DialStateful(t *testing.T, node string, kind transports.Kind) *StatefulClient {
	t.Helper()
	return DialStatefulSplit(t, node, node, kind)
}

// DialStatefulSplit is DialStateful negotiating on negotiateNode: node claims the
// connection from it, and holds it.
func DialStatefulSplit(t *testing.T, negotiateNode, node string, kind transports.Kind) *StatefulClient {
	t.Helper()
	resp, err := http.Post(HubURL(negotiateNode)+"/negotiate?negotiateVersion=1&useStatefulReconnect=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var n transports.NegotiateResponse
	err = json.NewDecoder(resp.Body).Decode(&n)
	resp.Body.Close()
	if err != nil || !n.UseStatefulReconnect {
		t.Fatalf("negotiate: %+v, %v: want stateful reconnect", n, err)
	}
	c := &StatefulClient{kind: kind, ID: n.ConnectionID, Token: n.ConnectionToken, PostTo: node, next: 1}
	c.Link = OpenStatefulLink(t, node, kind, c.Token)
	if c.Link.Status != 0 {
		t.Fatalf("open %v: HTTP %d", kind, c.Link.Status)
	}
	c.Send(t, `{"protocol":"json","version":2}`)
	if r := c.Link.Next(t); r.Type != 0 || r.Error != "" {
		t.Fatalf("handshake reply: %+v", r)
	}
	return c
}

// Send sends records as one unit: over the WebSocket, or POSTed to PostTo.
func (c *StatefulClient) Send(t *testing.T, records ...string) {
	t.Helper()
	unit := strings.Join(records, "\x1e") + "\x1e"
	if c.Link.WS != nil {
		if err := c.Link.WS.WriteMessage(websocket.TextMessage, []byte(unit)); err != nil {
			t.Fatalf("send: %v", err)
		}
		return
	}
	resp, err := http.Post(HubURL(c.PostTo)+"?id="+c.Token, "text/plain", strings.NewReader(unit))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("send to %s: HTTP %d %s", c.PostTo, resp.StatusCode, body)
	}
}

// Invoke sends a numbered invocation.
func (c *StatefulClient) Invoke(t *testing.T, id, target string, args ...any) {
	t.Helper()
	if args == nil {
		args = []any{}
	}
	raw, _ := json.Marshal(args)
	c.sent++
	c.Send(t, fmt.Sprintf(`{"type":1,"invocationId":%q,"target":%q,"arguments":%s}`, id, target, raw))
}

// Take returns the next trackable message not taken before: a Sequence resets
// the numbering, and a message numbered at or below the last one taken is a
// replayed duplicate and is dropped, as the clients do.
func (c *StatefulClient) Take(t *testing.T) WireRecord {
	t.Helper()
	for {
		r := c.Link.Next(t)
		switch {
		case r.Type == 9:
			c.next = r.SequenceID
		case r.Type >= 1 && r.Type <= 5:
			n := c.next
			c.next++
			if n > c.processed {
				c.processed = n
				return r
			}
		case r.Type == 7:
			t.Fatalf("connection closed: %+v", r)
		}
	}
}

// Call invokes target and returns its Completion, checking that it comes next.
func (c *StatefulClient) Call(t *testing.T, id, target string, args ...any) WireRecord {
	t.Helper()
	c.Invoke(t, id, target, args...)
	r := c.Take(t)
	if r.Type != 3 || r.InvocationID != id || r.Error != "" {
		t.Fatalf("%s: got %+v, want its Completion", target, r)
	}
	return r
}

// Ack acks every message taken.
func (c *StatefulClient) Ack(t *testing.T) {
	t.Helper()
	c.Send(t, fmt.Sprintf(`{"type":8,"sequenceId":%d}`, c.processed))
}

// Resume opens a new link on node and checks that the server's Sequence comes
// first; it then sends the client's own (nothing of its is unacked: every call
// was answered). It returns the HTTP status of a refused resume, or 0.
func (c *StatefulClient) Resume(t *testing.T, node string) int {
	t.Helper()
	c.Link = OpenStatefulLink(t, node, c.kind, c.Token)
	if c.Link.Status != 0 {
		return c.Link.Status
	}
	c.PostTo = node
	r := c.Link.Next(t)
	if r.Type != 9 {
		t.Fatalf("first message on a resumed link: %+v, want a Sequence", r)
	}
	if r.SequenceID > c.processed+1 {
		t.Fatalf("server resumes from %d, past the %d messages taken", r.SequenceID, c.processed)
	}
	c.next = r.SequenceID
	c.Send(t, fmt.Sprintf(`{"type":9,"sequenceId":%d}`, c.sent+1))
	return 0
}

// Ended is closed when the link has ended (or was refused).
func (l *StatefulLink) Ended() <-chan struct{} { return l.ended }
