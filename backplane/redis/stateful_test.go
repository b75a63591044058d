package redis_test

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

// wireRecord is one hub message as the raw client reads it.
type wireRecord struct {
	Type         int               `json:"type"`
	InvocationID string            `json:"invocationId"`
	Target       string            `json:"target"`
	Arguments    []json.RawMessage `json:"arguments"`
	Result       json.RawMessage   `json:"result"`
	Error        string            `json:"error"`
	SequenceID   int64             `json:"sequenceId"`
}

// statefulLink is one WebSocket, or one SSE stream, of a raw client.
type statefulLink struct {
	kind   transports.Kind
	ws     *websocket.Conn
	cancel context.CancelFunc
	recs   chan wireRecord
	ended  chan struct{}
	status int // the status of a refused link
}

// hubURL is the conformance hub of a node.
func hubURL(node string) string { return node + "/hubs/conformance" }

// openStatefulLink opens a WebSocket or an SSE stream for token on node's
// conformance hub.
func openStatefulLink(t *testing.T, node string, kind transports.Kind, token string) *statefulLink {
	t.Helper()
	return openStatefulLinkAt(t, hubURL(node)+"?id="+token, kind)
}

// openStatefulLinkAt opens a WebSocket or an SSE stream on u (with its query).
func openStatefulLinkAt(t *testing.T, u string, kind transports.Kind) *statefulLink {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &statefulLink{kind: kind, cancel: cancel, recs: make(chan wireRecord, 4096), ended: make(chan struct{})}
	t.Cleanup(l.cut)
	switch kind {
	case transports.WebSockets:
		ws, resp, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(u, "http"), nil)
		if err != nil {
			if resp != nil {
				l.status = resp.StatusCode
				close(l.ended)
				return l
			}
			t.Fatalf("websocket: %v", err)
		}
		l.ws = ws
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
			l.status = resp.StatusCode
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

func (l *statefulLink) push(unit []byte) {
	for _, rec := range bytes.Split(unit, []byte{0x1e}) {
		if len(rec) == 0 {
			continue
		}
		var r wireRecord
		if err := json.Unmarshal(rec, &r); err == nil {
			l.recs <- r
		}
	}
}

// cut drops the link without a word, as a reset or a proxy would.
func (l *statefulLink) cut() {
	l.cancel()
	if l.ws != nil {
		l.ws.NetConn().Close()
	}
}

// next returns the next record that is not a Ping.
func (l *statefulLink) next(t *testing.T) wireRecord {
	t.Helper()
	timeout := time.After(waitTimeout)
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
			t.Fatalf("no message within %v", waitTimeout)
		}
	}
}

// statefulClient is a raw client's connection: its token and both counters.
type statefulClient struct {
	kind      transports.Kind
	id, token string
	link      *statefulLink
	postTo    string // the node SSE POSTs go to
	sent      int64  // trackable messages sent
	next      int64  // the number of the next trackable message from the server
	processed int64  // the highest number taken
}

// dialStateful negotiates on node with useStatefulReconnect, opens kind there and
// shakes hands with version 2: node holds the connection.
func dialStateful(t *testing.T, node string, kind transports.Kind) *statefulClient {
	t.Helper()
	resp, err := http.Post(hubURL(node)+"/negotiate?negotiateVersion=1&useStatefulReconnect=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var n transports.NegotiateResponse
	err = json.NewDecoder(resp.Body).Decode(&n)
	resp.Body.Close()
	if err != nil || !n.UseStatefulReconnect {
		t.Fatalf("negotiate: %+v, %v: want stateful reconnect", n, err)
	}
	c := &statefulClient{kind: kind, id: n.ConnectionID, token: n.ConnectionToken, postTo: node, next: 1}
	c.link = openStatefulLink(t, node, kind, c.token)
	if c.link.status != 0 {
		t.Fatalf("open %v: HTTP %d", kind, c.link.status)
	}
	c.send(t, `{"protocol":"json","version":2}`)
	if r := c.link.next(t); r.Type != 0 || r.Error != "" {
		t.Fatalf("handshake reply: %+v", r)
	}
	return c
}

// send sends records as one unit: over the WebSocket, or POSTed to postTo.
func (c *statefulClient) send(t *testing.T, records ...string) {
	t.Helper()
	unit := strings.Join(records, "\x1e") + "\x1e"
	if c.link.ws != nil {
		if err := c.link.ws.WriteMessage(websocket.TextMessage, []byte(unit)); err != nil {
			t.Fatalf("send: %v", err)
		}
		return
	}
	resp, err := http.Post(hubURL(c.postTo)+"?id="+c.token, "text/plain", strings.NewReader(unit))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("send to %s: HTTP %d %s", c.postTo, resp.StatusCode, body)
	}
}

// invoke sends a numbered invocation.
func (c *statefulClient) invoke(t *testing.T, id, target string, args ...any) {
	t.Helper()
	if args == nil {
		args = []any{}
	}
	raw, _ := json.Marshal(args)
	c.sent++
	c.send(t, fmt.Sprintf(`{"type":1,"invocationId":%q,"target":%q,"arguments":%s}`, id, target, raw))
}

// take returns the next trackable message not taken before: a Sequence resets
// the numbering, and a message numbered at or below the last one taken is a
// replayed duplicate and is dropped, as the clients do.
func (c *statefulClient) take(t *testing.T) wireRecord {
	t.Helper()
	for {
		r := c.link.next(t)
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

// call invokes target and returns its Completion, checking that it comes next.
func (c *statefulClient) call(t *testing.T, id, target string, args ...any) wireRecord {
	t.Helper()
	c.invoke(t, id, target, args...)
	r := c.take(t)
	if r.Type != 3 || r.InvocationID != id || r.Error != "" {
		t.Fatalf("%s: got %+v, want its Completion", target, r)
	}
	return r
}

// ack acks every message taken.
func (c *statefulClient) ack(t *testing.T) {
	t.Helper()
	c.send(t, fmt.Sprintf(`{"type":8,"sequenceId":%d}`, c.processed))
}

// resume opens a new link on node and checks that the server's Sequence comes
// first; it then sends the client's own (nothing of its is unacked: every call
// was answered). It returns the HTTP status of a refused resume, or 0.
func (c *statefulClient) resume(t *testing.T, node string) int {
	t.Helper()
	c.link = openStatefulLink(t, node, c.kind, c.token)
	if c.link.status != 0 {
		return c.link.status
	}
	c.postTo = node
	r := c.link.next(t)
	if r.Type != 9 {
		t.Fatalf("first message on a resumed link: %+v, want a Sequence", r)
	}
	if r.SequenceID > c.processed+1 {
		t.Fatalf("server resumes from %d, past the %d messages taken", r.SequenceID, c.processed)
	}
	c.next = r.SequenceID
	c.send(t, fmt.Sprintf(`{"type":9,"sequenceId":%d}`, c.sent+1))
	return 0
}
