package hub_test

// Stateful reconnect on the wire (docs/reconnect.md), for each transport, with a raw
// client that plays the official client's part: it numbers what it sends, acks,
// cuts its link and resumes on the same token.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// wireRecord is one hub message as the raw client reads it.
type wireRecord struct {
	Type         int             `json:"type"`
	InvocationID string          `json:"invocationId"`
	Target       string          `json:"target"`
	Arguments    []any           `json:"arguments"`
	Result       json.RawMessage `json:"result"`
	Error        string          `json:"error"`
	SequenceID   int64           `json:"sequenceId"`
}

// rawLink is one transport exchange of a raw client: a WebSocket, an SSE stream
// (plus POSTs) or a run of long polls (plus POSTs).
type rawLink struct {
	kind   transports.Kind
	base   string
	token  string
	ws     *websocket.Conn
	cancel context.CancelFunc
	recs   chan wireRecord
	ended  chan struct{}
	status int   // the status of a refused resume
	err    error // why a WebSocket link ended, once ended is closed
}

// openLink opens a link for token: the connection's first with link 0, else the
// one its link-th resume opens (long polls carry &resume=1 on the first poll and
// &link=N on every poll, as the bundled clients send them).
func openLink(t *testing.T, srv *httptest.Server, kind transports.Kind, token string, link int) *rawLink {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &rawLink{kind: kind, base: srv.URL + "/hub", token: token, cancel: cancel,
		recs: make(chan wireRecord, 4096), ended: make(chan struct{})}
	t.Cleanup(l.cut)
	switch kind {
	case transports.WebSockets:
		ws, resp, err := websocket.DefaultDialer.DialContext(ctx, "ws"+strings.TrimPrefix(l.base, "http")+"?id="+token, nil)
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
					l.err = err
					return
				}
				l.push(data)
			}
		}()
	case transports.ServerSentEvents:
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.base+"?id="+token, nil)
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
	case transports.LongPolling:
		first := make(chan int, 1)
		go func() {
			defer close(l.ended)
			query := "?id=" + token
			firstQuery := query
			if link > 0 {
				query += fmt.Sprintf("&link=%d", link)
				firstQuery = query + "&resume=1"
			}
			for n := 0; ; n++ {
				url := l.base + query
				if n == 0 {
					url = l.base + firstQuery
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					if n == 0 {
						first <- 0
					}
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if n == 0 {
					first <- resp.StatusCode
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					return
				}
				l.push(body)
			}
		}()
		if status := <-first; status != http.StatusOK {
			l.status = status
		}
	}
	return l
}

func (l *rawLink) push(unit []byte) {
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
func (l *rawLink) cut() {
	l.cancel()
	if l.ws != nil {
		l.ws.NetConn().Close()
	}
}

func (l *rawLink) send(t *testing.T, records ...string) {
	t.Helper()
	unit := strings.Join(records, "\x1e") + "\x1e"
	if l.ws != nil {
		if err := l.ws.WriteMessage(websocket.TextMessage, []byte(unit)); err != nil {
			t.Fatalf("send: %v", err)
		}
		return
	}
	resp, err := http.Post(l.base+"?id="+l.token, "text/plain", strings.NewReader(unit))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("send: HTTP %d", resp.StatusCode)
	}
}

// next returns the next record that is not a Ping.
func (l *rawLink) next(t *testing.T) wireRecord {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case r := <-l.recs:
			if r.Type != 6 {
				return r
			}
		case <-timeout:
			t.Fatal("no message within 5 s")
		}
	}
}

// statefulClient is the raw client's connection: its token and both counters.
type statefulClient struct {
	srv      *httptest.Server
	kind     transports.Kind
	id       string
	token    string
	link     *rawLink
	received int64 // trackable messages taken (the number of the last one)
	sent     int64 // trackable messages sent
	links    int   // links opened to resume the connection
}

// negotiateStateful negotiates a connection with useStatefulReconnect.
func negotiateStateful(t *testing.T, srv *httptest.Server) transports.NegotiateResponse {
	t.Helper()
	resp, err := http.Post(srv.URL+"/hub/negotiate?negotiateVersion=1&useStatefulReconnect=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var n transports.NegotiateResponse
	decodeJSON(t, resp, &n)
	if !n.UseStatefulReconnect {
		t.Fatalf("negotiate did not grant stateful reconnect: %+v", n)
	}
	return n
}

// dialStateful negotiates with useStatefulReconnect and shakes hands with version 2.
func dialStateful(t *testing.T, srv *httptest.Server, kind transports.Kind, version int) *statefulClient {
	t.Helper()
	n := negotiateStateful(t, srv)
	c := &statefulClient{srv: srv, kind: kind, id: n.ConnectionID, token: n.ConnectionToken}
	// Over long polling the first poll opens the transport; the handshake goes by
	// POST after it.
	c.link = openLink(t, srv, kind, c.token, 0)
	c.link.send(t, fmt.Sprintf(`{"protocol":"json","version":%d}`, version))
	if r := c.link.next(t); r.Type != 0 || r.Error != "" {
		t.Fatalf("handshake reply: %+v", r)
	}
	return c
}

// invoke sends a numbered invocation.
func (c *statefulClient) invoke(t *testing.T, id, target string, args ...any) {
	t.Helper()
	raw, _ := json.Marshal(args)
	c.sent++
	c.link.send(t, fmt.Sprintf(`{"type":1,"invocationId":%q,"target":%q,"arguments":%s}`, id, target, raw))
}

// take reads the next trackable message, counting it; a Sequence resets the count
// as the client must.
func (c *statefulClient) take(t *testing.T) wireRecord {
	t.Helper()
	for {
		r := c.link.next(t)
		switch {
		case r.Type == 9:
			c.received = r.SequenceID - 1
		case r.Type >= 1 && r.Type <= 5:
			c.received++
			return r
		case r.Type == 7:
			t.Fatalf("connection closed: %+v", r)
		}
	}
}

// resume opens a new link on the same token and checks the server's Sequence
// message comes first.
func (c *statefulClient) resume(t *testing.T) (sequence int64) {
	t.Helper()
	c.links++
	c.link = openLink(t, c.srv, c.kind, c.token, c.links)
	if c.link.status != 0 {
		t.Fatalf("resume refused: HTTP %d", c.link.status)
	}
	r := c.link.next(t)
	if r.Type != 9 {
		t.Fatalf("first message on a resumed link: %+v, want a Sequence", r)
	}
	if r.SequenceID > c.received+1 {
		t.Fatalf("server resumes from %d, past the %d messages received", r.SequenceID, c.received)
	}
	return r.SequenceID
}

func statefulServer(t *testing.T, opts hub.Options) (*hub.Hub, *httptest.Server) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	h := hub.New(opts)
	h.On("Join", func(ctx *hub.Context, group string) error {
		return ctx.Groups().Add(ctx, ctx.ConnectionID(), group)
	})
	h.On("Echo", func(s string) string { return s })
	mux := http.NewServeMux()
	mux.Handle("/hub", h)
	mux.Handle("/hub/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	return h, srv
}

func TestStatefulReconnectResumes(t *testing.T) {
	for _, kind := range transports.Kinds {
		t.Run(kind.String(), func(t *testing.T) {
			obs := &linkObserver{lost: make(chan transports.Kind, 8), resumed: make(chan transports.Kind, 8)}
			h, srv := statefulServer(t, hub.Options{Observer: obs, TransportOptions: transports.Options{PollTimeout: 200 * time.Millisecond}})
			c := dialStateful(t, srv, kind, 2)
			c.invoke(t, "j", "Join", "g")
			if r := c.take(t); r.Type != 3 || r.InvocationID != "j" || r.Error != "" {
				t.Fatalf("Join: %+v", r)
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
				for want <= to {
					r := c.take(t)
					if r.Type != 1 || r.Target != "msg" || int(r.Arguments[0].(float64)) != want {
						t.Fatalf("got %+v, want msg %d", r, want)
					}
					want++
				}
			}
			send(1, 5)
			expect(5)
			// Ack all but the last two: the server keeps those for a replay.
			c.link.send(t, fmt.Sprintf(`{"type":8,"sequenceId":%d}`, c.received-2))

			c.link.cut()
			<-c.link.ended
			if kind != transports.LongPolling { // a cut poll is no lost link: the transport waits for the next
				select {
				case <-obs.lost: // the server has read all the link carried, the Ack included
				case <-time.After(5 * time.Second):
					t.Fatal("the server did not notice the link was lost")
				}
			}
			send(6, 10) // while the client is away
			seq := c.resume(t)
			select {
			case k := <-obs.resumed:
				if k != kind {
					t.Errorf("Resumed(%v), want %v", k, kind)
				}
			case <-time.After(5 * time.Second):
				t.Error("the observer was not told of the resume")
			}
			if seq != c.received-1 {
				t.Errorf("server resumes from %d, want %d (the first unacked)", seq, c.received-1)
			}
			c.received = seq - 1
			want = 4 // msg 4 and 5 again, then 6 to 10
			expect(10)

			// The client resumes its side: Sequence from its first unacked (it sent
			// one invocation, Join, which the server took and will not run twice).
			c.link.send(t, `{"type":9,"sequenceId":1}`)
			c.sent = 0
			c.invoke(t, "j", "Join", "g") // the replay of number 1: a duplicate
			c.invoke(t, "e", "Echo", "after")
			r := c.take(t)
			if r.Type != 3 || r.InvocationID != "e" || string(r.Result) != `"after"` {
				t.Fatalf("after the resume: %+v, want Echo's Completion (and no second Join)", r)
			}
			conn, ok := h.Conn(c.id)
			if !ok {
				t.Fatal("the connection is gone from the hub")
			}
			members, _ := h.Groups().Members(context.Background(), "g")
			if len(members) != 1 || members[0] != conn.ID() {
				t.Errorf("group members after the resume: %v, want [%s]", members, c.id)
			}
			send(11, 11)
			expect(11)
		})
	}
}

func TestStatefulReconnectAcksTheClient(t *testing.T) {
	_, srv := statefulServer(t, hub.Options{})
	c := dialStateful(t, srv, transports.WebSockets, 2)
	c.invoke(t, "1", "Echo", "a")
	c.invoke(t, "2", "Echo", "b")
	deadline := time.After(5 * time.Second)
	for {
		select {
		case r := <-c.link.recs:
			if r.Type == 8 {
				if r.SequenceID != 2 {
					t.Fatalf("Ack %d, want 2", r.SequenceID)
				}
				return
			}
		case <-deadline:
			t.Fatal("no Ack within 5 s")
		}
	}
}

func TestStatefulReconnectEnds(t *testing.T) {
	t.Run("the window passes", func(t *testing.T) {
		var mu sync.Mutex
		var reason error
		h, srv := statefulServer(t, hub.Options{ReconnectWindow: 200 * time.Millisecond})
		ended := make(chan struct{})
		h.OnDisconnected(func(_ *hub.Context, err error) {
			mu.Lock()
			reason = err
			mu.Unlock()
			close(ended)
		})
		c := dialStateful(t, srv, transports.WebSockets, 2)
		c.link.cut()
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("the connection outlived its reconnect window")
		}
		mu.Lock()
		defer mu.Unlock()
		if !errors.Is(reason, hub.ErrReconnectTimeout) {
			t.Errorf("OnDisconnected got %v, want ErrReconnectTimeout", reason)
		}
		if l := openLink(t, srv, transports.WebSockets, c.token, 1); l.status != http.StatusNotFound {
			t.Errorf("resume after the window: HTTP %d, want 404", l.status)
		}
		resp, err := http.Get(srv.URL + "/hub?id=" + c.token + "&resume=1")
		if err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, resp); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "did not come back within the reconnect window (200ms)") {
			t.Errorf("a poll after the window: %d %q, want 404 saying why", resp.StatusCode, body)
		}
	})
	t.Run("handshake version 1 is not stateful", func(t *testing.T) {
		h, srv := statefulServer(t, hub.Options{})
		ended := connectedAndEnded(h)
		c := dialStateful(t, srv, transports.WebSockets, 1)
		<-ended.connected
		c.link.cut()
		select {
		case <-ended.disconnected:
		case <-time.After(5 * time.Second):
			t.Fatal("a version 1 connection outlived its link")
		}
	})
	t.Run("the buffer fills", func(t *testing.T) {
		h, srv := statefulServer(t, hub.Options{StatefulReconnectBufferSize: 300, MaxQueueLength: 8})
		c := dialStateful(t, srv, transports.WebSockets, 2)
		conn, _ := h.Conn(c.id)
		for i := 0; i < 40; i++ {
			conn.Send("msg", strings.Repeat("x", 50)) // never acked
		}
		for {
			r := c.link.next(t)
			if r.Type == 7 {
				if !strings.Contains(r.Error, "slow consumer: more than 8 messages") {
					t.Errorf("Close: %q, want the reason", r.Error)
				}
				// A slow consumer ends: it does not wait for its client to resume.
				select {
				case <-conn.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("the slow consumer did not end")
				}
				if l := openLink(t, srv, transports.WebSockets, c.token, 1); l.status != http.StatusNotFound {
					t.Errorf("resume after a slow consumer's Close: HTTP %d, want 404", l.status)
				}
				return
			}
		}
	})
	t.Run("a DELETE ends a long-polling connection", func(t *testing.T) {
		h, srv := statefulServer(t, hub.Options{})
		ended := connectedAndEnded(h)
		c := dialStateful(t, srv, transports.LongPolling, 2)
		<-ended.connected
		req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/hub?id="+c.token, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		select {
		case <-ended.disconnected:
		case <-time.After(5 * time.Second):
			t.Fatal("a DELETE did not end the connection")
		}
	})
}

func TestStatefulReconnectNegotiate(t *testing.T) {
	tests := []struct {
		name  string
		opts  hub.Options
		query string
		want  bool
	}{
		{"asked", hub.Options{}, "negotiateVersion=1&useStatefulReconnect=true", true},
		{"not asked", hub.Options{}, "negotiateVersion=1", false},
		{"disabled", hub.Options{DisableStatefulReconnect: true}, "negotiateVersion=1&useStatefulReconnect=true", false},
		{"negotiate version 0", hub.Options{}, "useStatefulReconnect=true", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := statefulServer(t, tc.opts)
			resp, err := http.Post(srv.URL+"/hub/negotiate?"+tc.query, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			decodeJSON(t, resp, &body)
			if got := body["useStatefulReconnect"] == true; got != tc.want {
				t.Errorf("useStatefulReconnect = %v, want %v", body["useStatefulReconnect"], tc.want)
			}
		})
	}
}

// hooks tells when a hub's one connection has connected and ended.
type hooks struct{ connected, disconnected chan struct{} }

func connectedAndEnded(h *hub.Hub) hooks {
	k := hooks{make(chan struct{}), make(chan struct{})}
	h.OnConnected(func(*hub.Context) error { close(k.connected); return nil })
	h.OnDisconnected(func(*hub.Context, error) { close(k.disconnected) })
	return k
}

// linkObserver tells of lost and resumed links.
type linkObserver struct {
	hub.NopObserver
	lost, resumed chan transports.Kind
}

func (o *linkObserver) LinkLost(_ string, k transports.Kind) { o.lost <- k }
func (o *linkObserver) Resumed(_ string, k transports.Kind)  { o.resumed <- k }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testLogger() *slog.Logger {
	if os.Getenv("HUBBUB_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return discardLogger()
}

func TestStatefulReconnectBadInput(t *testing.T) {
	tests := []struct {
		name      string
		send      string // sent once the connection is up
		wantClose string // "" : the connection must stay up
	}{
		{"sequence past what was sent", `{"type":9,"sequenceId":5}`, "Sequence ID greater than amount of messages we've received."},
		{"sequence zero", `{"type":9,"sequenceId":0}`, "Sequence ID greater than amount of messages we've received."},
		{"sequence negative", `{"type":9,"sequenceId":-3}`, "Sequence ID greater than amount of messages we've received."},
		{"ack past what was sent", `{"type":8,"sequenceId":1000000}`, ""},
		{"ack negative", `{"type":8,"sequenceId":-1}`, ""},
		{"ack without an id", `{"type":8}`, "Connection closed with an error. InvalidDataException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := statefulServer(t, hub.Options{})
			c := dialStateful(t, srv, transports.WebSockets, 2)
			c.link.send(t, tc.send, `{"type":1,"invocationId":"e","target":"Echo","arguments":["alive"]}`)
			for {
				r := c.link.next(t)
				if r.Type == 7 {
					if tc.wantClose == "" || !strings.Contains(r.Error, tc.wantClose) {
						t.Fatalf("Close %q, want %q", r.Error, tc.wantClose)
					}
					return
				}
				if r.Type == 3 {
					if tc.wantClose != "" {
						t.Fatalf("the connection is still up (%+v), want a Close with %q", r, tc.wantClose)
					}
					return
				}
			}
		})
	}
}

func TestStatefulReconnectRefusals(t *testing.T) {
	t.Run("another transport", func(t *testing.T) {
		_, srv := statefulServer(t, hub.Options{})
		c := dialStateful(t, srv, transports.WebSockets, 2)
		c.link.cut()
		if l := openLink(t, srv, transports.ServerSentEvents, c.token, 1); l.status != http.StatusBadRequest {
			t.Errorf("an SSE resume of a WebSocket connection: HTTP %d, want 400", l.status)
		}
	})
	t.Run("a connection that is not stateful", func(t *testing.T) {
		_, srv := statefulServer(t, hub.Options{})
		c := dialStateful(t, srv, transports.ServerSentEvents, 1)
		if l := openLink(t, srv, transports.ServerSentEvents, c.token, 1); l.status != http.StatusConflict {
			t.Errorf("a second stream for a version 1 connection: HTTP %d, want 409", l.status)
		}
	})
	t.Run("a resume replaces a link still open", func(t *testing.T) {
		_, srv := statefulServer(t, hub.Options{})
		c := dialStateful(t, srv, transports.WebSockets, 2)
		old := c.link
		c.resume(t)
		select {
		case <-old.ended:
		case <-time.After(5 * time.Second):
			t.Fatal("the replaced WebSocket is still open")
		}
		c.link.send(t, `{"type":9,"sequenceId":1}`)
		c.invoke(t, "e", "Echo", "x")
		if r := c.take(t); r.Type != 3 || r.InvocationID != "e" {
			t.Fatalf("on the new link: %+v", r)
		}
	})
}

// Over SSE and long polling our clients put a Sequence before every message they
// POST: a POST of a lost link may reach the server after the replay that follows the
// resume, and must not run again.
func TestStatefulReconnectLatePost(t *testing.T) {
	for _, kind := range []transports.Kind{transports.ServerSentEvents, transports.LongPolling} {
		t.Run(kind.String(), func(t *testing.T) {
			_, srv := statefulServer(t, hub.Options{})
			c := dialStateful(t, srv, kind, 2)
			invoke := func(n int, id string) string {
				return fmt.Sprintf(`{"type":9,"sequenceId":%d}`+"\x1e"+`{"type":1,"invocationId":%q,"target":"Echo","arguments":[%q]}`, n, id, id)
			}
			c.link.send(t, invoke(1, "a"))
			c.link.send(t, invoke(2, "b"))
			c.link.send(t, invoke(1, "a")) // late: taken already
			c.link.send(t, invoke(3, "c"))
			c.link.send(t, invoke(5, "e")) // past a gap: waits for the client to send 4 again
			c.link.send(t, invoke(4, "d"), invoke(5, "e"))
			var got []string
			for len(got) < 5 {
				if r := c.take(t); r.Type == 3 {
					got = append(got, r.InvocationID)
				}
			}
			if strings.Join(got, "") != "abcde" {
				t.Errorf("completions %q, want each of abcde once, in order", got)
			}
		})
	}
}

// A poll answer lost unseen (a browser sends a failed poll again by itself) must show
// as a gap: every long-polling answer with messages starts with the Sequence of its
// first one.
func TestStatefulLongPollAnswersSayTheirNumber(t *testing.T) {
	h, srv := statefulServer(t, hub.Options{TransportOptions: transports.Options{PollTimeout: 200 * time.Millisecond}})
	n := negotiateStateful(t, srv)
	poll := func(query ...string) []wireRecord {
		t.Helper()
		_, recs := pollOnce(t, srv, n.ConnectionToken, strings.Join(query, ""))
		return recs
	}
	poll() // opens the transport
	post := func(unit string) { postOnce(t, srv, n.ConnectionToken, unit+rs) }
	post(`{"protocol":"json","version":2}`)
	poll() // the handshake reply
	conn, _ := h.Conn(n.ConnectionID)
	for i, want := range []int64{1, 2, 3} {
		conn.Send("msg", i)
		recs := poll() // the second answer is "lost": the next must say where it starts
		if len(recs) < 2 || recs[0].Type != 9 || recs[0].SequenceID != want || recs[1].Type != 1 {
			t.Fatalf("answer %d: %+v, want Sequence %d then the message", i, recs, want)
		}
	}
	// A poll acks what came before it: the resume it asks for replays nothing. (A
	// new long-polling link answers its first poll at once, empty.)
	poll("&ack=3&resume=1")
	if recs := poll(); len(recs) != 1 || recs[0].Type != 9 || recs[0].SequenceID != 4 {
		t.Fatalf("a resume poll that acks 3: %+v, want only Sequence 4", recs)
	}
}

// pollOnce sends one long poll for token, query appended to ?id=…, and returns
// the answer's status and the records it carried.
func pollOnce(t *testing.T, srv *httptest.Server, token, query string) (int, []wireRecord) {
	t.Helper()
	resp, err := httpClient.Get(srv.URL + "/hub?id=" + token + query)
	if err != nil {
		t.Fatalf("poll %q: %v", query, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	l := &rawLink{recs: make(chan wireRecord, 64)}
	l.push(body)
	close(l.recs)
	var recs []wireRecord
	for r := range l.recs {
		recs = append(recs, r)
	}
	return resp.StatusCode, recs
}

// postOnce POSTs unit for token and checks that it was taken.
func postOnce(t *testing.T, srv *httptest.Server, token, unit string) {
	t.Helper()
	resp, err := httpClient.Post(srv.URL+"/hub?id="+token, "text/plain", strings.NewReader(unit))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: HTTP %d", resp.StatusCode)
	}
}

// TestStalePollKeepsOffAResumedLink: a poll the client sent on a link it then gave
// up on may reach the server after the poll that resumed the connection on a new
// link (&resume=1&link=N). It is answered 204 at once and carries nothing: the
// Sequence and the replay go to the new link's poll, which a stale poll does not
// supersede either.
func TestStalePollKeepsOffAResumedLink(t *testing.T) {
	tests := []struct {
		name    string
		resumes int    // the links the client opens to resume; the last is the new one
		stale   string // the stale poll's query after ?id=…
	}{
		{"a poll of the first link", 1, ""},
		{"a poll of a resumed link", 2, "&link=1"},
		{"the resume poll of an older link", 2, "&resume=1&link=1"},
		{"a poll of the first link after two resumes", 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := statefulServer(t, hub.Options{TransportOptions: transports.Options{PollTimeout: 200 * time.Millisecond}})
			token := negotiateStateful(t, srv).ConnectionToken
			// takeUntil polls with query until an answer carries a record of type want,
			// and returns the records of that answer.
			takeUntil := func(query string, want int) []wireRecord {
				t.Helper()
				for range 10 {
					status, recs := pollOnce(t, srv, token, query)
					if status != http.StatusOK {
						t.Fatalf("poll %q: HTTP %d", query, status)
					}
					for _, r := range recs {
						if r.Type == want {
							return recs
						}
					}
				}
				t.Fatalf("no message of type %d on polls %q", want, query)
				return nil
			}
			pollOnce(t, srv, token, "") // opens the transport
			postOnce(t, srv, token, `{"protocol":"json","version":2}`+rs)
			takeUntil("", 0) // the handshake reply
			postOnce(t, srv, token, `{"type":1,"invocationId":"e","target":"Echo","arguments":["x"]}`+rs)
			takeUntil("", 3) // its Completion, number 1, which the client does not ack

			// Every resume but the last is answered in full: its Sequence and replay.
			for link := 1; link <= tc.resumes; link++ {
				query := fmt.Sprintf("&link=%d", link)
				if status, recs := pollOnce(t, srv, token, query+"&resume=1"); status != http.StatusOK || len(recs) != 0 {
					t.Fatalf("resume poll of link %d: HTTP %d %+v, want 200 empty", link, status, recs)
				}
				if link < tc.resumes {
					takeUntil(query, 9)
				}
			}
			status, recs := pollOnce(t, srv, token, tc.stale)
			if status != http.StatusNoContent || len(recs) != 0 {
				t.Fatalf("stale poll %q: HTTP %d %+v, want 204 with nothing", tc.stale, status, recs)
			}
			recs = takeUntil(fmt.Sprintf("&link=%d", tc.resumes), 9)
			if len(recs) < 2 || recs[0].Type != 9 || recs[0].SequenceID != 1 || recs[1].Type != 3 || recs[1].InvocationID != "e" {
				t.Fatalf("the new link's poll: %+v, want Sequence 1, then the Completion of e again", recs)
			}
		})
	}
}

// TestPollLinkMustBeANumber: a poll whose link number is not a non-negative
// integer is refused with 400 and says why.
func TestPollLinkMustBeANumber(t *testing.T) {
	_, srv := statefulServer(t, hub.Options{TransportOptions: transports.Options{PollTimeout: 200 * time.Millisecond}})
	token := dialStateful(t, srv, transports.LongPolling, 2).token
	for _, link := range []string{"abc", "-1", "1.5", "99999999999999999999"} {
		t.Run(link, func(t *testing.T) {
			resp, err := httpClient.Get(srv.URL + "/hub?id=" + token + "&link=" + link)
			if err != nil {
				t.Fatal(err)
			}
			if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "link must be a non-negative integer") {
				t.Errorf("link=%s: HTTP %d %q, want 400 saying what link must be", link, resp.StatusCode, body)
			}
		})
	}
}

// A POST that lands while the server holds a connection whose link it saw go (and
// the client does not know yet) must not say the connection is gone (404).
func TestStatefulPostWhileDetached(t *testing.T) {
	obs := &linkObserver{lost: make(chan transports.Kind, 8), resumed: make(chan transports.Kind, 8)}
	_, srv := statefulServer(t, hub.Options{Observer: obs})
	c := dialStateful(t, srv, transports.ServerSentEvents, 2)
	c.link.cut()
	select {
	case <-obs.lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not notice the link was lost")
	}
	resp, err := http.Post(srv.URL+"/hub?id="+c.token, "text/plain", strings.NewReader(`{"type":6}`+"\x1e"))
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST while detached: %d %q, want 503", resp.StatusCode, body)
	}
	c.resume(t) // and the connection is still there
}
