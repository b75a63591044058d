package client_test

// Wire-level tests against fake servers: negotiate shapes and errors, each
// transport's framing, keep-alive and timeouts, streams and client results on the
// wire.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

func dialFake(t *testing.T, url string, opts client.Options) (*client.Conn, error) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	c, err := client.Dial(testCtx(t), url, opts)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func waitDone(t *testing.T, c *client.Conn) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not end")
		return nil
	}
}

func TestNegotiateErrors(t *testing.T) {
	tests := []struct {
		name      string
		negotiate func(http.ResponseWriter, *http.Request)
		is        error  // errors.Is
		status    int    // an *HTTPError with this status, when not zero
		contains  string // in the error text
	}{
		{"404", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no hub here", 404) },
			client.ErrNegotiate, 404, "no hub here"},
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "kaboom", 500) },
			client.ErrNegotiate, 500, "kaboom"},
		{"201 is not 200", jsonBody(201, `{"connectionId":"a","connectionToken":"b","negotiateVersion":1,"availableTransports":[]}`),
			client.ErrNegotiate, 201, ""},
		{"refusal", jsonBody(200, `{"error":"This connection is not allowed."}`),
			client.ErrNegotiate, 0, "This connection is not allowed."},
		{"not JSON", jsonBody(200, `<html>hello</html>`),
			client.ErrNegotiate, 0, "not a negotiate response"},
		{"old ASP.NET SignalR", jsonBody(200, `{"ProtocolVersion":"1.5","ConnectionId":"x"}`),
			client.ErrNegotiate, 0, "ASP.NET SignalR"},
		{"unrequested stateful reconnect", jsonBody(200, `{"connectionId":"a","connectionToken":"b","negotiateVersion":1,"useStatefulReconnect":true,"availableTransports":[{"transport":"LongPolling","transferFormats":["Text"]}]}`),
			client.ErrNegotiate, 0, "stateful reconnect"},
		{"no connection ID", jsonBody(200, `{"negotiateVersion":1,"availableTransports":[]}`),
			client.ErrNegotiate, 0, "no connectionId"},
		{"no transports", jsonBody(200, `{"connectionId":"a","connectionToken":"b","negotiateVersion":1,"availableTransports":[]}`),
			client.ErrNoTransport, 0, "none of the transports"},
		{"binary only", jsonBody(200, `{"connectionId":"a","connectionToken":"b","negotiateVersion":1,"availableTransports":[{"transport":"WebSockets","transferFormats":["Binary"]}]}`),
			client.ErrNoTransport, 0, "no Text transfer format"},
		{"text only, MessagePack client", jsonBody(200, `{"connectionId":"a","connectionToken":"b","negotiateVersion":1,"availableTransports":[{"transport":"WebSockets","transferFormats":["Text"]},{"transport":"ServerSentEvents","transferFormats":["Text","Binary"]}]}`),
			client.ErrNoTransport, 0, "WebSockets: no Binary transfer format"},
		{"names are case-sensitive", jsonBody(200, `{"connectionId":"a","connectionToken":"b","negotiateVersion":1,"availableTransports":[{"transport":"websockets","transferFormats":["Text"]}]}`),
			client.ErrNoTransport, 0, ""},
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"url":"http://%s/hub"}`, r.Host)
		}, client.ErrNegotiate, 0, "redirects"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.negotiate = tc.negotiate
			// A client that did not ask for stateful reconnect refuses it.
			opts := client.Options{DisableStatefulReconnect: strings.Contains(tc.name, "stateful")}
			if strings.Contains(tc.name, "MessagePack") {
				opts.Protocol = protocol.MessagePack
			}
			_, err := dialFake(t, f.URL, opts)
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			if tc.status != 0 {
				var he *client.HTTPError
				if !errors.As(err, &he) || he.StatusCode != tc.status || he.Method != http.MethodPost {
					t.Errorf("err = %v, want an *HTTPError %d", err, tc.status)
				}
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("err = %q, want it to contain %q", err, tc.contains)
			}
		})
	}
}

// lpFake is a long polling server scripted through channels.
type lpFake struct {
	*fake
	replies chan lpReply  // what later polls get, in order
	posts   chan string   // bodies POSTed by the client
	status  atomic.Int32  // status for POSTs (default 200)
	inPost  atomic.Int32  // POSTs in progress
	polls   atomic.Int32  // polls received
	deletes chan struct{} // one per DELETE
}

type lpReply struct {
	status int
	body   string
}

func newLPFake(t *testing.T, token string) *lpFake {
	f := &lpFake{fake: newFake(t), replies: make(chan lpReply, 16), posts: make(chan string, 64), deletes: make(chan struct{}, 4)}
	f.negotiate = negotiateV1(transports.LongPolling, "cid", token)
	f.poll = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("id") != token || r.URL.Query().Get("_") == "" || r.Header.Get("X-Requested-With") != "XMLHttpRequest" {
			t.Errorf("poll %s %v", r.URL, r.Header)
		}
		if f.polls.Add(1) == 1 {
			w.WriteHeader(http.StatusOK) // the first poll returns at once
			return
		}
		select {
		case rep := <-f.replies:
			w.WriteHeader(rep.status)
			io.WriteString(w, rep.body)
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
			w.WriteHeader(http.StatusOK) // the server's poll timeout
		}
	}
	f.post = func(w http.ResponseWriter, r *http.Request) {
		if f.inPost.Add(1) > 1 {
			t.Error("two POSTs at once")
		}
		defer f.inPost.Add(-1)
		if ct := r.Header.Get("Content-Type"); ct != "text/plain;charset=UTF-8" {
			t.Errorf("POST Content-Type %q", ct)
		}
		body, _ := io.ReadAll(r.Body)
		time.Sleep(20 * time.Millisecond) // let the client queue up
		if s := f.status.Load(); s != 0 {
			http.Error(w, "post refused", int(s))
			return
		}
		f.posts <- string(body)
	}
	f.del = func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		f.deletes <- struct{}{}
	}
	return f
}

func (f *lpFake) expectPost(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-f.posts:
		if got != want {
			t.Fatalf("POST body %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no POST, want %q", want)
	}
}

func TestLongPolling(t *testing.T) {
	f := newLPFake(t, "tok-1")
	done := make(chan *client.Conn, 1)
	go func() {
		c, err := dialFake(t, f.URL, client.Options{})
		if err != nil {
			t.Error(err)
		}
		done <- c
	}()
	f.expectPost(t, `{"protocol":"json","version":1}`+rs)
	f.replies <- lpReply{200, "{}" + rs}
	c := <-done
	if c == nil {
		t.FailNow()
	}
	if c.ConnectionID() != "cid" || c.Transport() != transports.LongPolling {
		t.Errorf("ConnectionID %q, Transport %v", c.ConnectionID(), c.Transport())
	}
	got := listen(c, "hello")

	// Empty polls are renewed, invocations are delivered, several per body.
	f.replies <- lpReply{200, ""}
	f.replies <- lpReply{200, `{"type":1,"target":"hello","arguments":[1]}` + rs + `{"type":1,"target":"Hello","arguments":[2]}` + rs}
	expectJSON(t, got, "1")
	expectJSON(t, got, "2")

	// No ping after the handshake over long polling: the next POST is the invoke.
	res := make(chan error, 1)
	go func() {
		r, err := c.Invoke(testCtx(t), "Echo", "x")
		if err == nil && string(r.Raw) != `"x"` {
			err = fmt.Errorf("result %s", r.Raw)
		}
		res <- err
	}()
	f.expectPost(t, `{"type":1,"invocationId":"0","target":"Echo","arguments":["x"]}`+rs)
	f.replies <- lpReply{200, `{"type":3,"invocationId":"0","result":"x"}` + rs}
	if err := <-res; err != nil {
		t.Fatal(err)
	}

	// A refused POST fails that call only.
	f.status.Store(500)
	err := c.Send(testCtx(t), "Anything")
	var he *client.HTTPError
	if !errors.As(err, &he) || he.StatusCode != 500 || he.Body != "post refused" {
		t.Errorf("Send with a refused POST: %v", err)
	}
	f.status.Store(0)
	if c.Err() != nil {
		t.Fatalf("a refused POST ended the connection: %v", c.Err())
	}

	// Sends are serialized and batched: one POST at a time (the fake checks),
	// several records in one body.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := c.Send(testCtx(t), "N", i); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	records, posts := 0, 0
	for records < 20 {
		body := <-f.posts
		posts++
		records += strings.Count(body, rs)
	}
	if posts >= 20 {
		t.Errorf("20 sends took %d POSTs: no batching", posts)
	}

	// 204: the server ended the connection, without an error.
	f.replies <- lpReply{204, ""}
	err = waitDone(t, c)
	if !errors.Is(err, client.ErrClosed) || !strings.Contains(err.Error(), "ended") {
		t.Errorf("Err after 204 = %v", err)
	}
	var ce *client.CloseError
	if errors.As(err, &ce) {
		t.Errorf("Err after 204 is a CloseError")
	}
	select {
	case <-f.deletes:
	case <-time.After(5 * time.Second):
		t.Error("no DELETE")
	}
}

func TestLongPollingErrors(t *testing.T) {
	t.Run("poll error", func(t *testing.T) {
		f := newLPFake(t, "tok")
		go func() {
			f.expectPost(t, `{"protocol":"json","version":1}`+rs)
			f.replies <- lpReply{200, "{}" + rs}
			f.replies <- lpReply{500, "the poll broke"}
		}()
		c, err := dialFake(t, f.URL, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = waitDone(t, c)
		var he *client.HTTPError
		if !errors.As(err, &he) || he.StatusCode != 500 || he.Method != http.MethodGet || !errors.Is(err, client.ErrClosed) {
			t.Errorf("Err = %v", err)
		}
		if strings.Contains(err.Error(), "id=tok") {
			t.Errorf("the error shows the connection token: %v", err)
		}
	})
	t.Run("first poll refused", func(t *testing.T) {
		f := newFake(t)
		f.negotiate = negotiateV1(transports.LongPolling, "cid", "tok")
		f.poll = func(w http.ResponseWriter, r *http.Request) { http.Error(w, "No Connection with that ID", 404) }
		_, err := dialFake(t, f.URL, client.Options{})
		var he *client.HTTPError
		if !errors.Is(err, client.ErrNoTransport) || !errors.As(err, &he) || he.StatusCode != 404 || !strings.Contains(he.Body, "No Connection") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("handshake refused", func(t *testing.T) {
		f := newLPFake(t, "tok")
		go func() {
			<-f.posts
			f.replies <- lpReply{200, `{"error":"The protocol 'json' is not supported."}` + rs}
		}()
		_, err := dialFake(t, f.URL, client.Options{})
		if !errors.Is(err, client.ErrHandshake) || !strings.Contains(err.Error(), "The protocol 'json' is not supported.") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestNegotiateRedirectAndV0(t *testing.T) {
	// The second server speaks negotiate version 0: the connection ID is the token.
	second := newLPFake(t, "legacy-id")
	var negotiateAuth atomic.Value
	second.negotiate = func(w http.ResponseWriter, r *http.Request) {
		negotiateAuth.Store(r.Header.Get("Authorization"))
		if r.URL.Query().Get("tenant") != "t1" || r.URL.Query().Get("negotiateVersion") != "1" {
			t.Errorf("redirected negotiate %s", r.URL)
		}
		jsonBody(200, `{"connectionId":"legacy-id","availableTransports":[{"transport":"LongPolling","transferFormats":["Text","Binary"]}]}`)(w, r)
	}
	var pollAuth atomic.Value
	poll := second.poll
	second.poll = func(w http.ResponseWriter, r *http.Request) {
		pollAuth.Store(r.Header.Get("Authorization"))
		poll(w, r)
	}
	first := newFake(t)
	first.negotiate = jsonBody(200, fmt.Sprintf(`{"url":%q,"accessToken":"redirect-token"}`, second.URL+"?tenant=t1"))
	go func() {
		second.expectPost(t, `{"protocol":"json","version":1}`+rs)
		second.replies <- lpReply{200, "{}" + rs}
	}()
	userCalls := 0
	c, err := dialFake(t, first.URL, client.Options{AccessToken: func(context.Context) (string, error) {
		userCalls++
		return "user-token", nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if c.ConnectionID() != "legacy-id" {
		t.Errorf("ConnectionID = %q", c.ConnectionID())
	}
	if got := negotiateAuth.Load(); got != "Bearer redirect-token" {
		t.Errorf("redirected negotiate Authorization = %v", got)
	}
	if got := pollAuth.Load(); got != "Bearer redirect-token" {
		t.Errorf("poll Authorization = %v", got)
	}
	if userCalls != 1 {
		t.Errorf("the token function was called %d times, want 1 (before the redirect)", userCalls)
	}
	c.Close()
	for _, r := range second.requests() {
		if !strings.Contains(r, "tenant=t1") {
			t.Errorf("request without the redirect URL's query: %s", r)
		}
	}
}

// TestAccessTokenRetry: a 401 on a POST makes the client ask for a new token once.
func TestAccessTokenRetry(t *testing.T) {
	f := newLPFake(t, "tok")
	var calls atomic.Int32
	post := f.post
	f.post = func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer token-2" {
			http.Error(w, "expired", http.StatusUnauthorized)
			return
		}
		post(w, r)
	}
	go func() {
		f.expectPost(t, `{"protocol":"json","version":1}`+rs)
		f.replies <- lpReply{200, "{}" + rs}
	}()
	_, err := dialFake(t, f.URL, client.Options{AccessToken: func(context.Context) (string, error) {
		return fmt.Sprintf("token-%d", calls.Add(1)), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Errorf("token function called %d times, want 2", calls.Load())
	}
}

// sseFake serves an event stream written by the test.
func sseFake(t *testing.T, stream func(w io.Writer, flush func(), posts <-chan string)) *fake {
	f := newFake(t)
	f.negotiate = negotiateV1(transports.ServerSentEvents, "cid", "tok")
	posts := make(chan string, 16)
	f.post = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("access_token") != "" {
			t.Error("the token is in the POST's query")
		}
		body, _ := io.ReadAll(r.Body)
		posts <- string(body)
	}
	f.sse = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("id") != "tok" || r.URL.Query().Get("access_token") != "secret/token+1" || r.Header.Get("Authorization") != "" {
			t.Errorf("SSE request %s %v", r.URL, r.Header)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fl := w.(http.Flusher)
		stream(w, fl.Flush, posts)
	}
	return f
}

func TestServerSentEvents(t *testing.T) {
	f := sseFake(t, func(w io.Writer, flush func(), posts <-chan string) {
		io.WriteString(w, ":\r\n")
		flush()
		select {
		case got := <-posts:
			if got != `{"protocol":"json","version":1}`+rs {
				t.Errorf("handshake %q", got)
			}
		case <-time.After(5 * time.Second):
			t.Error("no handshake")
			return
		}
		// The handshake reply and a message in one event, a message split over two
		// data lines (CR line ends), comments, other fields, empty events.
		io.WriteString(w, "data: {}"+rs+`{"type":1,"target":"m","arguments":["one"]}`+rs+"\r\n\r\n")
		io.WriteString(w, ": a comment\n\nevent: ignored\nid: 7\nretry: 10\n\n")
		io.WriteString(w, "data:{\"type\":1,\"target\":\"m\",\rdata: \"arguments\":[\"two\"]}"+rs+"\r\r")
		io.WriteString(w, "data: {\"type\":6}"+rs+"\n\n")
		flush()
		select {
		case got := <-posts:
			if got != `{"type":6}`+rs {
				t.Errorf("ping after handshake %q", got)
			}
		case <-time.After(5 * time.Second):
			t.Error("no ping after the handshake")
			return
		}
		time.Sleep(50 * time.Millisecond)
		io.WriteString(w, "data: "+`{"type":1,"target":"m","arguments":["three"]}`+rs+"\n\n")
		flush()
		// then the stream ends
	})
	c, err := client.New(f.URL, client.Options{Logger: quiet, AccessToken: func(context.Context) (string, error) { return "secret/token+1", nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := listen(c, "m") // before Start: "one" comes with the handshake reply
	if err := c.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	expectJSON(t, got, `"one"`)
	expectJSON(t, got, `"two"`)
	expectJSON(t, got, `"three"`)
	err = waitDone(t, c)
	if !errors.Is(err, client.ErrClosed) || !strings.Contains(err.Error(), "ended") {
		t.Errorf("Err = %v", err)
	}
	if c.Stats().PingsReceived != 1 {
		t.Errorf("PingsReceived = %d", c.Stats().PingsReceived)
	}
}

func TestServerSentEventsRefused(t *testing.T) {
	f := newFake(t)
	f.negotiate = negotiateV1(transports.ServerSentEvents, "cid", "tok")
	f.sse = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>")
	}
	_, err := dialFake(t, f.URL, client.Options{})
	if !errors.Is(err, client.ErrNoTransport) || !strings.Contains(err.Error(), "text/event-stream") {
		t.Errorf("err = %v", err)
	}
}

func TestWebSocketHandshake(t *testing.T) {
	tests := []struct {
		name  string
		reply string // "" sends nothing
		opts  client.Options
		is    []error
		text  string
	}{
		{"refused", `{"error":"The protocol 'json' is not supported."}` + rs, client.Options{},
			[]error{client.ErrHandshake}, "The protocol 'json' is not supported."},
		{"timeout", "", client.Options{HandshakeTimeout: 100 * time.Millisecond},
			[]error{client.ErrHandshake, client.ErrTimeout}, "no handshake reply"},
		{"message first", `{"type":6}` + rs, client.Options{},
			[]error{client.ErrHandshake}, "before the handshake reply"},
		{"incomplete", `{}`, client.Options{},
			[]error{client.ErrHandshake, protocol.ErrIncomplete}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := wsFake(t, func(p *wsPeer) {
				p.handshake(tc.reply)
				p.drain()
			})
			c, err := dialFake(t, f.URL, tc.opts)
			if err == nil {
				t.Fatalf("Dial succeeded: %v", c.Transport())
			}
			for _, is := range tc.is {
				if !errors.Is(err, is) {
					t.Errorf("err = %v, want %v", err, is)
				}
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v, want it to contain %q", err, tc.text)
			}
		})
	}
}

func TestWebSocketRefused(t *testing.T) {
	f := newFake(t)
	f.negotiate = negotiateV1(transports.WebSockets, "cid", "tok")
	_, err := dialFake(t, f.URL, client.Options{})
	var he *client.HTTPError
	if !errors.Is(err, client.ErrNoTransport) || !errors.As(err, &he) || he.StatusCode != 404 || he.Body != "not here" {
		t.Errorf("err = %v", err)
	}
}

func TestServerTimeout(t *testing.T) {
	t.Run("silent server", func(t *testing.T) {
		t.Parallel()
		f := wsFake(t, func(p *wsPeer) {
			p.handshake("{}" + rs)
			p.drain()
		})
		c, err := dialFake(t, f.URL, client.Options{ServerTimeout: 150 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = waitDone(t, c)
		if !errors.Is(err, client.ErrTimeout) || !errors.Is(err, client.ErrClosed) {
			t.Errorf("Err = %v, want ErrTimeout", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
	})
	t.Run("pinging server", func(t *testing.T) {
		t.Parallel()
		stop := make(chan struct{})
		f := wsFake(t, func(p *wsPeer) {
			p.handshake("{}" + rs)
			go p.drain()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					p.send(`{"type":6}` + rs)
				case <-stop:
					return
				}
			}
		})
		c, err := dialFake(t, f.URL, client.Options{ServerTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(1200 * time.Millisecond)
		close(stop)
		if err := c.Err(); err != nil {
			t.Fatalf("a pinging server timed out: %v", err)
		}
		if n := c.Stats().PingsReceived; n < 5 {
			t.Errorf("%d pings received", n)
		}
	})
}

func TestKeepAlive(t *testing.T) {
	pings := make(chan int, 1)
	f := wsFake(t, func(p *wsPeer) {
		p.handshake("{}" + rs)
		n := 0
		for {
			m, err := p.next(true)
			if err != nil {
				pings <- n
				return
			}
			if m.Type == protocol.PingType {
				n++
			}
		}
	})
	c, err := dialFake(t, f.URL, client.Options{KeepAliveInterval: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(330 * time.Millisecond)
	c.Close()
	// About 10; fewer on a loaded machine, never a flood.
	if n := <-pings; n < 3 || n > 13 {
		t.Errorf("%d pings in 330 ms with a 30 ms interval", n)
	}
}

func TestCloseMessages(t *testing.T) {
	tests := []struct {
		name   string
		record string
		want   client.CloseError
	}{
		{"error", `{"type":7,"error":"Server is going down."}`, client.CloseError{Message: "Server is going down."}},
		{"reconnect", `{"type":7,"error":"bye","allowReconnect":true}`, client.CloseError{Message: "bye", AllowReconnect: true}},
		{"bare", `{"type":7}`, client.CloseError{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := wsFake(t, func(p *wsPeer) {
				p.handshake("{}" + rs)
				// A message before the Close in the same unit is still handled.
				p.send(`{"type":1,"target":"last","arguments":[]}`+rs, tc.record+rs)
				p.drain()
			})
			got := make(chan struct{}, 1)
			c, err := client.New(f.URL, client.Options{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			c.On("last", func([]protocol.RawValue) { got <- struct{}{} })
			if err := c.Start(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			err = waitDone(t, c)
			var ce *client.CloseError
			if !errors.As(err, &ce) || *ce != tc.want {
				t.Errorf("Err = %#v, want %#v", err, tc.want)
			}
			c.Close()
			select {
			case <-got:
			default:
				t.Error("the message before the Close was not handled")
			}
		})
	}
}

// TestProtocolError: a unit that is not whole records ends the connection.
func TestProtocolError(t *testing.T) {
	f := wsFake(t, func(p *wsPeer) {
		p.handshake("{}" + rs)
		p.send(`{"type":1,"target":"x","arguments":[]}`) // no RS
		p.drain()
	})
	c, err := dialFake(t, f.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = waitDone(t, c)
	if !errors.Is(err, client.ErrProtocol) || !errors.Is(err, protocol.ErrIncomplete) {
		t.Errorf("Err = %v", err)
	}
}

// TestWebSocketCloseCodes: a close with 1000 ends without a transport error; other
// codes are reported.
func TestWebSocketCloseCodes(t *testing.T) {
	for _, code := range []int{websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseInternalServerErr} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			f := wsFake(t, func(p *wsPeer) {
				p.handshake("{}" + rs)
				p.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "reason"), time.Now().Add(time.Second))
				p.drain()
			})
			c, err := dialFake(t, f.URL, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			err = waitDone(t, c)
			if !errors.Is(err, client.ErrClosed) {
				t.Errorf("Err = %v", err)
			}
			if hasCode := strings.Contains(err.Error(), fmt.Sprint(code)); hasCode == (code == websocket.CloseNormalClosure) {
				t.Errorf("Err = %v", err)
			}
		})
	}
}

// TestStreamsOnTheWire checks the messages of both stream directions and of a
// cancellation, as the official client sends them.
func TestStreamsOnTheWire(t *testing.T) {
	result := make(chan error, 1)
	f := wsFake(t, func(p *wsPeer) {
		result <- func() error {
			p.handshake("{}" + rs)
			expect := func(want string) error {
				m, err := p.next(false)
				if err != nil {
					return err
				}
				if got := record(m); got != want+rs {
					return fmt.Errorf("got %s, want %s", got, want)
				}
				return nil
			}
			// Upload: the invocation with the stream ID, items, an error end.
			if err := expect(`{"type":1,"invocationId":"0","target":"Sum","arguments":["label"],"streamIds":["1"]}`); err != nil {
				return err
			}
			for _, want := range []string{
				`{"type":2,"invocationId":"1","item":1}`,
				`{"type":2,"invocationId":"1","item":{"x":2}}`,
				`{"type":3,"invocationId":"1","error":"the source broke"}`,
			} {
				if err := expect(want); err != nil {
					return err
				}
			}
			p.send(`{"type":3,"invocationId":"0","error":"stream failed"}` + rs)

			// Download, cancelled after two items.
			if err := expect(`{"type":4,"invocationId":"2","target":"Counter","arguments":[10]}`); err != nil {
				return err
			}
			p.send(`{"type":2,"invocationId":"2","item":0}`+rs, `{"type":2,"invocationId":"2","item":1}`+rs)
			if err := expect(`{"type":5,"invocationId":"2"}`); err != nil {
				return err
			}
			p.send(`{"type":2,"invocationId":"2","item":2}`+rs, `{"type":3,"invocationId":"2"}`+rs) // late: dropped

			// A StreamItem for a plain invocation fails it.
			if err := expect(`{"type":1,"invocationId":"3","target":"Plain","arguments":[]}`); err != nil {
				return err
			}
			p.send(`{"type":2,"invocationId":"3","item":0}` + rs)

			// A void completion.
			if err := expect(`{"type":1,"invocationId":"4","target":"Void","arguments":[]}`); err != nil {
				return err
			}
			p.send(`{"type":3,"invocationId":"4"}` + rs)
			p.drain()
			return nil
		}()
	})
	c, err := dialFake(t, f.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	up := client.NewUploadStream()
	go func() {
		up.Send(ctx, 1)
		up.Send(ctx, map[string]int{"x": 2})
		up.CloseWithError(errors.New("the source broke"))
	}()
	_, err = c.Invoke(ctx, "Sum", "label", up)
	var ie *client.InvocationError
	if !errors.As(err, &ie) || ie.Message != "stream failed" || ie.Method != "Sum" {
		t.Errorf("Sum: %v", err)
	}

	s, err := c.Stream(ctx, "Counter", 10)
	if err != nil {
		t.Fatal(err)
	}
	for want := range 2 {
		item, err := s.Next(ctx)
		if err != nil || string(item) != fmt.Sprint(want) {
			t.Fatalf("item %s, %v", item, err)
		}
	}
	s.Cancel()
	s.Cancel()
	if _, err := s.Next(ctx); !errors.Is(err, client.ErrCanceled) {
		t.Errorf("Next after Cancel: %v", err)
	}

	if _, err := c.Invoke(ctx, "Plain"); !errors.Is(err, client.ErrProtocol) {
		t.Errorf("Plain: %v, want ErrProtocol", err)
	}
	res, err := c.Invoke(ctx, "Void")
	if err != nil || !res.IsVoid() {
		t.Errorf("Void: %s, %v", res.Raw, err)
	}
	var v = "untouched"
	if err := res.Decode(&v); err != nil || v != "untouched" {
		t.Errorf("decoding a void result: %q, %v", v, err)
	}
	c.Close()
	if err := <-result; err != nil {
		t.Fatal(err)
	}
}

// TestClientResultsOnTheWire: replies to server invocations that carry an ID.
func TestClientResultsOnTheWire(t *testing.T) {
	result := make(chan error, 1)
	f := wsFake(t, func(p *wsPeer) {
		result <- func() error {
			p.handshake("{}" + rs)
			p.send(
				`{"type":1,"invocationId":"s1","target":"unknown","arguments":[]}`+rs,
				`{"type":1,"invocationId":"s2","target":"ASK","arguments":[20]}`+rs,
				`{"type":1,"invocationId":"s3","target":"ask","arguments":["x"]}`+rs,
				`{"type":1,"invocationId":"s4","target":"nothing","arguments":[]}`+rs,
				`{"type":1,"invocationId":"s5","target":"panics","arguments":[]}`+rs,
			)
			for _, want := range []string{
				`{"type":3,"invocationId":"s1","error":"Client didn't provide a result."}`,
				`{"type":3,"invocationId":"s2","result":21}`,
				`{"type":3,"invocationId":"s3","error":"client: argument 0: protocol: decode \"x\": json: cannot unmarshal string into Go value of type int"}`,
				`{"type":3,"invocationId":"s4","result":null}`,
				`{"type":3,"invocationId":"s5","error":"client: the result handler panicked"}`,
			} {
				m, err := p.next(false)
				if err != nil {
					return err
				}
				if got := record(m); got != want+rs {
					return fmt.Errorf("got %s, want %s", got, want)
				}
			}
			return nil
		}()
		p.drain()
	})
	c, err := client.New(f.URL, client.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	c.OnInvoke("Ask", func(ctx context.Context, args []protocol.RawValue) (any, error) {
		var n int
		if err := client.DecodeArgs(args, &n); err != nil {
			return nil, err
		}
		return n + 1, nil
	})
	c.OnInvoke("nothing", func(context.Context, []protocol.RawValue) (any, error) { return nil, nil })
	c.OnInvoke("panics", func(context.Context, []protocol.RawValue) (any, error) { panic("oops") })
	if err := c.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case err := <-result:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("timeout")
	}
}

// TestCloseOnTheWire: Close sends what is queued, a Close message, then a close
// frame.
func TestCloseOnTheWire(t *testing.T) {
	result := make(chan []string, 1)
	f := wsFake(t, func(p *wsPeer) {
		p.handshake("{}" + rs)
		var got []string
		for {
			m, err := p.next(false)
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					got = append(got, fmt.Sprintf("close %d", ce.Code))
				} else {
					got = append(got, err.Error())
				}
				result <- got
				return
			}
			got = append(got, strings.TrimSuffix(record(m), rs))
		}
	})
	c, err := dialFake(t, f.URL, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(testCtx(t), "Last", 1); err != nil {
		t.Fatal(err)
	}
	c.Close()
	want := []string{`{"type":1,"target":"Last","arguments":[1]}`, `{"type":7}`, "close 1000"}
	if got := <-result; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the server saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !errors.Is(c.Err(), client.ErrClosed) || c.Err() != client.ErrClosed {
		t.Errorf("Err = %v", c.Err())
	}
}

// TestLifecycle covers New/Start/Close edge cases and the pending calls of a
// connection that ends.
func TestLifecycle(t *testing.T) {
	t.Run("bad URL", func(t *testing.T) {
		for _, u := range []string{"ftp://x/hub", "http://", "::"} {
			if _, err := client.New(u, client.Options{}); err == nil {
				t.Errorf("New(%q) succeeded", u)
			}
		}
		if _, err := client.New("http://x/hub", client.Options{SkipNegotiation: true}); err == nil {
			t.Error("SkipNegotiation with every transport accepted")
		}
	})
	t.Run("close before start", func(t *testing.T) {
		c, err := client.New("http://127.0.0.1:1/hub", client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Invoke(testCtx(t), "X"); err == nil {
			t.Error("Invoke before Start succeeded")
		}
		c.Close()
		<-c.Done()
		if err := c.Start(testCtx(t)); !errors.Is(err, client.ErrClosed) {
			t.Errorf("Start after Close: %v", err)
		}
	})
	t.Run("start twice", func(t *testing.T) {
		f := wsFake(t, func(p *wsPeer) { p.handshake("{}" + rs); p.drain() })
		c, err := dialFake(t, f.URL, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(testCtx(t)); err == nil {
			t.Error("second Start succeeded")
		}
	})
	t.Run("start canceled", func(t *testing.T) {
		f := wsFake(t, func(p *wsPeer) { p.handshake(""); p.drain() })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		c, err := client.New(f.URL, client.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Start: %v", err)
		}
		<-c.Done()
		if c.Err() == nil {
			t.Error("Err is nil after a failed Start")
		}
	})
	t.Run("close during start", func(t *testing.T) {
		f := wsFake(t, func(p *wsPeer) { p.handshake(""); p.drain() })
		c, err := client.New(f.URL, client.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			time.Sleep(100 * time.Millisecond)
			c.Close()
		}()
		if err := c.Start(testCtx(t)); !errors.Is(err, client.ErrClosed) {
			t.Errorf("Start: %v", err)
		}
	})
	t.Run("pending calls fail when the connection ends", func(t *testing.T) {
		f := wsFake(t, func(p *wsPeer) {
			p.handshake("{}" + rs)
			p.next(false) // the invocation
			p.next(false) // the stream
			p.conn.Close()
		})
		c, err := dialFake(t, f.URL, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx := testCtx(t)
		invoked := make(chan error, 1)
		go func() {
			_, err := c.Invoke(ctx, "Hang")
			invoked <- err
		}()
		time.Sleep(20 * time.Millisecond)
		s, err := c.Stream(ctx, "HangToo")
		if err != nil {
			t.Fatal(err)
		}
		if err := <-invoked; !errors.Is(err, client.ErrClosed) {
			t.Errorf("Invoke: %v", err)
		}
		if _, err := s.Next(ctx); !errors.Is(err, client.ErrClosed) {
			t.Errorf("Next: %v", err)
		}
	})
	t.Run("invoke context", func(t *testing.T) {
		f := wsFake(t, func(p *wsPeer) { p.handshake("{}" + rs); p.drain() })
		c, err := dialFake(t, f.URL, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := c.Invoke(ctx, "NeverAnswered"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Invoke: %v", err)
		}
		if c.Err() != nil {
			t.Error(c.Err())
		}
	})
	t.Run("close from a handler", func(t *testing.T) {
		f := wsFake(t, func(p *wsPeer) {
			p.handshake("{}" + rs)
			p.send(`{"type":1,"target":"bye","arguments":[]}` + rs)
			p.drain()
		})
		c, err := client.New(f.URL, client.Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		closed := make(chan struct{})
		c.On("bye", func([]protocol.RawValue) {
			c.Close()
			close(closed)
		})
		if err := c.Start(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close from a handler did not return")
		}
		c.Close()
	})
}

// TestHTTPClientAndHeaders: a caller's HTTP client (with its cookie jar) and
// headers are used for every request, the WebSocket upgrade included.
func TestHTTPClientAndHeaders(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	f := wsFake(t, func(p *wsPeer) { p.handshake("{}" + rs); p.drain() })
	negotiate := f.negotiate
	f.negotiate = func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "affinity", Value: "node-7"})
		mu.Lock()
		seen = append(seen, "negotiate "+r.Header.Get("X-Tenant")+" "+r.Header.Get("User-Agent"))
		mu.Unlock()
		negotiate(w, r)
	}
	ws := f.ws
	f.ws = func(conn *websocket.Conn, r *http.Request) {
		ck, _ := r.Cookie("affinity")
		mu.Lock()
		seen = append(seen, fmt.Sprintf("ws %s %s %v", r.Header.Get("X-Tenant"), r.Header.Get("User-Agent"), ck))
		mu.Unlock()
		ws(conn, r)
	}
	jar := newJar()
	httpClient := &http.Client{Jar: jar}
	c, err := dialFake(t, f.URL, client.Options{
		HTTPClient: httpClient,
		Header:     http.Header{"X-Tenant": {"acme"}, "User-Agent": {"tester/1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	httpClient.CloseIdleConnections()
	mu.Lock()
	defer mu.Unlock()
	want := "negotiate acme tester/1\nws acme tester/1 affinity=node-7"
	if strings.Join(seen, "\n") != want {
		t.Errorf("seen\n%s\nwant\n%s", strings.Join(seen, "\n"), want)
	}
}

// jar is a minimal cookie jar (net/http/cookiejar would do; this keeps the test
// independent of its public-suffix behaviour on 127.0.0.1).
type jar struct {
	mu      sync.Mutex
	cookies []*http.Cookie
}

func newJar() *jar { return &jar{} }

func (j *jar) SetCookies(_ *url.URL, cookies []*http.Cookie) {
	j.mu.Lock()
	j.cookies = append(j.cookies, cookies...)
	j.mu.Unlock()
}

func (j *jar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]*http.Cookie(nil), j.cookies...)
}
