package hub_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/transports"
)

const rs = "\x1e"

// server starts the conformance hub on loopback and closes everything at the end.
func server(t *testing.T, opts hub.Options) (*httptest.Server, *hub.Hub) {
	t.Helper()
	h := conformance.NewHub(opts)
	mux := http.NewServeMux()
	mux.Handle("/hub", h)
	mux.Handle("/hub/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		// Long-polling clients of a test are gone: don't wait for their next poll.
		ctx, cancel := contextWithTimeout(time.Second)
		defer cancel()
		h.Close(ctx)
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv, h
}

type negotiation struct {
	ConnectionID    string `json:"connectionId"`
	ConnectionToken string `json:"connectionToken"`
}

func negotiate(t *testing.T, srv *httptest.Server) negotiation {
	t.Helper()
	resp, err := http.Post(srv.URL+"/hub/negotiate?negotiateVersion=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("negotiate: status %d", resp.StatusCode)
	}
	var n negotiation
	if err := json.NewDecoder(resp.Body).Decode(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// dialWS opens a WebSocket to the hub with a fresh negotiation and does the JSON handshake.
func dialWS(t *testing.T, srv *httptest.Server) *websocket.Conn {
	t.Helper()
	n := negotiate(t, srv)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub?id="+n.ConnectionToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	write(t, ws, `{"protocol":"json","version":1}`+rs)
	if got := read(t, ws); got != "{}"+rs {
		t.Fatalf("handshake reply %q, want {}RS", got)
	}
	return ws
}

func write(t *testing.T, ws *websocket.Conn, text string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		t.Fatal(err)
	}
}

// read returns the next WebSocket message that is not a Ping record.
func read(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	for {
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		s := strings.ReplaceAll(string(b), `{"type":6}`+rs, "")
		if s != "" {
			return s
		}
	}
}

// TestBadHTTPRequests covers what reaches the hub over plain HTTP: each case gets a
// status with a short reason, and the server keeps serving.
func TestBadHTTPRequests(t *testing.T) {
	srv, _ := server(t, hub.Options{})
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		reason             string
	}{
		{"negotiate with GET", "GET", "/hub/negotiate?negotiateVersion=1", nil, "", 405, "negotiate requires POST"},
		{"negotiate version not a number", "POST", "/hub/negotiate?negotiateVersion=x", nil, "", 400, "negotiateVersion"},
		{"negotiate negative version", "POST", "/hub/negotiate?negotiateVersion=-1", nil, "", 400, "negotiateVersion"},
		{"no id", "GET", "/hub", nil, "", 400, "Connection ID required"},
		{"unknown id long poll", "GET", "/hub?id=nope", nil, "", 404, "No Connection with that ID"},
		{"unknown id SSE", "GET", "/hub?id=nope", map[string]string{"Accept": "text/event-stream"}, "", 404, "No Connection with that ID"},
		{"unknown id POST", "POST", "/hub?id=nope", nil, "{}" + rs, 404, "No Connection with that ID"},
		{"unknown id DELETE", "DELETE", "/hub?id=nope", nil, "", 404, "No Connection with that ID"},
		{"unknown method", "PUT", "/hub?id=nope", nil, "", 404, "No Connection with that ID"},
		{"cross-origin not allowed", "POST", "/hub/negotiate?negotiateVersion=1", map[string]string{"Origin": "http://evil.example"}, "", 403, "Origin not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.reason) {
				t.Errorf("got %d %q, want %d containing %q", resp.StatusCode, body, tc.status, tc.reason)
			}
		})
	}
	// The server is still up and serving.
	dialWS(t, srv)
}

func TestUnknownTokenWebSocketIs404BeforeUpgrade(t *testing.T) {
	srv, _ := server(t, hub.Options{})
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub?id=unknown", nil)
	if err == nil {
		t.Fatal("upgrade with an unknown token succeeded")
	}
	if resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("got %v, want 404 before the upgrade", resp)
	}
}

func TestNegotiate(t *testing.T) {
	srv, _ := server(t, hub.Options{Transports: transports.WebSockets | transports.LongPolling})
	resp, err := http.Post(srv.URL+"/hub/negotiate?NegotiateVersion=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]json.RawMessage
	json.NewDecoder(resp.Body).Decode(&got)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var id, token string
	json.Unmarshal(got["connectionId"], &id)
	json.Unmarshal(got["connectionToken"], &token)
	if len(id) != 22 || len(token) != 22 || id == token {
		t.Errorf("connectionId %q and connectionToken %q: want two distinct 22-character tokens", id, token)
	}
	offered := got["availableTransports"]
	want := `[{"transport":"WebSockets","transferFormats":["Text","Binary"]},{"transport":"LongPolling","transferFormats":["Text","Binary"]}]`
	if string(offered) != want {
		t.Errorf("availableTransports %s, want %s", offered, want)
	}
	if _, ok := got["useStatefulReconnect"]; ok {
		t.Error("useStatefulReconnect sent although the client did not ask")
	}
	// Version 0 gets no token: the ID is used as the token.
	resp0, err := http.Post(srv.URL+"/hub/negotiate", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp0.Body.Close()
	var v0 map[string]any
	json.NewDecoder(resp0.Body).Decode(&v0)
	if _, ok := v0["connectionToken"]; ok || v0["negotiateVersion"] != float64(0) {
		t.Errorf("version 0 reply %v: want negotiateVersion 0 and no connectionToken", v0)
	}
}

// TestBadHandshake: each bad handshake gets the protocol's error reply and a closed
// connection.
func TestBadHandshake(t *testing.T) {
	srv, _ := server(t, hub.Options{})
	tests := []struct {
		name, request, reply string
	}{
		{"unknown protocol", `{"protocol":"xml","version":1}` + rs, `{"error":"The protocol 'xml' is not supported."}` + rs},
		{"unsupported version", `{"protocol":"json","version":99}` + rs, `{"error":"The server does not support version 99 of the 'json' protocol."}` + rs},
		{"garbage", "garbage" + rs, "An unexpected error occurred during connection handshake."},
		{"no separator", `{"protocol":"json","version":1}`, "message is incomplete"},
		{"missing protocol", `{"version":1}` + rs, "'protocol' must be a non-empty string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := negotiate(t, srv)
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub?id="+n.ConnectionToken, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			write(t, ws, tc.request)
			if got := read(t, ws); !strings.Contains(got, tc.reply) || !strings.HasPrefix(got, `{"error":`) {
				t.Errorf("reply %q, want an error containing %q", got, tc.reply)
			}
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := ws.ReadMessage(); err == nil {
				t.Error("connection still open after a refused handshake")
			}
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	srv, _ := server(t, hub.Options{HandshakeTimeout: 100 * time.Millisecond})
	n := negotiate(t, srv)
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub?id="+n.ConnectionToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := ws.ReadMessage(); err == nil {
		t.Fatalf("got %q, want the connection closed without a handshake", msg)
	}
}

// TestBadMessages: invalid frames close the connection with the protocol's Close
// error; bad invocations get an error Completion and the connection carries on.
func TestBadMessages(t *testing.T) {
	srv, _ := server(t, hub.Options{TransportOptions: transports.Options{MaxReceiveSize: 1024}})
	invocationErrors := []struct {
		name, message, want string
	}{
		{"unknown method", `{"type":1,"invocationId":"1","target":"Nope","arguments":[]}`, `{"type":3,"invocationId":"1","error":"Unknown hub method 'Nope'"}`},
		{"too few arguments", `{"type":1,"invocationId":"2","target":"Add","arguments":[1]}`, `Invocation provides 1 argument(s) but target expects 2.`},
		{"too many arguments", `{"type":1,"invocationId":"3","target":"Add","arguments":[1,2,3]}`, `Invocation provides 3 argument(s) but target expects 2.`},
		{"wrong argument type", `{"type":1,"invocationId":"4","target":"Add","arguments":["one",2]}`, `Error binding arguments. Argument 1 cannot be read as int64 (got \"one\").`},
		{"number too large", `{"type":1,"invocationId":"5","target":"Add","arguments":[1e400,2]}`, `Argument 1 cannot be read as int64 (got 1e400)`},
		{"null for an integer", `{"type":1,"invocationId":"10","target":"Add","arguments":[null,2]}`, `Argument 1 cannot be read as int64 (got null)`},
		{"stream method invoked plainly", `{"type":1,"invocationId":"6","target":"Counter","arguments":[1,1]}`, `attempted to invoke the streaming 'Counter' method with a non-streaming invocation`},
		{"plain method streamed", `{"type":4,"invocationId":"7","target":"Add","arguments":[1,2]}`, `attempted to invoke the non-streaming 'Add' method with a streaming invocation`},
		{"handler error", `{"type":1,"invocationId":"8","target":"Fail","arguments":["boom"]}`, `{"type":3,"invocationId":"8","error":"boom"}`},
	}
	ws := dialWS(t, srv)
	for _, tc := range invocationErrors {
		t.Run(tc.name, func(t *testing.T) {
			write(t, ws, tc.message+rs)
			if got := read(t, ws); !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want it to contain %q", got, tc.want)
			}
		})
	}
	// Still usable after all of that.
	write(t, ws, `{"type":1,"invocationId":"9","target":"Add","arguments":[2,3]}`+rs)
	if got := read(t, ws); got != `{"type":3,"invocationId":"9","result":5}`+rs {
		t.Errorf("Add after errors: %q", got)
	}

	fatal := []struct {
		name, message, want string
	}{
		{"invalid JSON", `{"type":1,`, `"type":7,"error":"Connection closed with an error. InvalidDataException: protocol: invalid message`},
		{"missing type", `{"target":"Add"}`, `missing required property 'type'`},
		{"arguments not an array", `{"type":1,"invocationId":"1","target":"Add","arguments":{}}`, `InvalidDataException`},
		{"no record separator", `{"type":6}`, `message is incomplete`},
	}
	for _, tc := range fatal {
		t.Run(tc.name, func(t *testing.T) {
			ws := dialWS(t, srv)
			ws.WriteMessage(websocket.TextMessage, []byte(strings.TrimSuffix(tc.message+rs, map[bool]string{true: rs}[tc.name == "no record separator"])))
			if got := read(t, ws); !strings.Contains(got, tc.want) || !strings.HasPrefix(got, `{"type":7`) {
				t.Errorf("got %q, want a Close containing %q", got, tc.want)
			}
		})
	}

	t.Run("message over the size limit", func(t *testing.T) {
		ws := dialWS(t, srv)
		big := `{"type":1,"invocationId":"1","target":"Echo","arguments":["` + strings.Repeat("x", 2048) + `"]}` + rs
		ws.WriteMessage(websocket.TextMessage, []byte(big))
		want := `{"type":7,"error":"Connection closed with an error. InvalidDataException: The maximum message size of 1024B was exceeded.`
		if got := read(t, ws); !strings.HasPrefix(got, want) {
			t.Errorf("got %q, want a Close starting %q", got, want)
		}
	})
}

// TestLongPollingBadInput covers the long-polling and send paths.
func TestLongPollingBadInput(t *testing.T) {
	srv, _ := server(t, hub.Options{TransportOptions: transports.Options{MaxTransportMessageSize: 1024, PollTimeout: 200 * time.Millisecond}})
	n := negotiate(t, srv)
	url := srv.URL + "/hub?id=" + n.ConnectionToken
	do := func(method, body string, header ...string) (int, string) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, _ := do("GET", ""); status != 200 {
		t.Fatalf("first poll: %d", status)
	}
	if status, body := do("GET", "", "Accept", "text/event-stream"); status != 400 || !strings.Contains(body, "Cannot change transports") {
		t.Errorf("SSE on a long-polling connection: %d %q", status, body)
	}
	if status, _ := do("POST", `{"protocol":"json","version":1}`+rs); status != 200 {
		t.Fatalf("handshake POST: %d", status)
	}
	if status, body := do("GET", ""); status != 200 || body != "{}"+rs {
		t.Fatalf("poll after handshake: %d %q", status, body)
	}
	if status, body := do("POST", strings.Repeat("x", 2048)); status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized POST: %d %q", status, body)
	}
	if status, _ := do("DELETE", ""); status != http.StatusAccepted {
		t.Errorf("DELETE: %d", status)
	}
	if status, _ := do("POST", `{"type":6}`+rs); status != 404 {
		t.Errorf("POST after DELETE: %d, want 404", status)
	}
}

// TestSSEPostOverLimit: the SSE send channel caps bodies too.
func TestSSEPostOverLimit(t *testing.T) {
	srv, _ := server(t, hub.Options{TransportOptions: transports.Options{MaxTransportMessageSize: 1024}})
	n := negotiate(t, srv)
	url := srv.URL + "/hub?id=" + n.ConnectionToken
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	if line, _ := events.ReadString('\n'); line != ":\r\n" {
		t.Fatalf("SSE preamble %q", line)
	}
	post, err := http.Post(url, "text/plain", strings.NewReader(strings.Repeat("x", 4096)))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized POST on SSE: %d, want 413", post.StatusCode)
	}
	// A POST on a WebSocket-less SSE connection still works after that.
	post, err = http.Post(url, "text/plain", strings.NewReader(`{"protocol":"json","version":1}`+rs))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != 200 {
		t.Fatalf("handshake POST: %d", post.StatusCode)
	}
	line, _ := events.ReadString('\n')
	if line != "data: {}"+rs+"\r\n" {
		t.Errorf("handshake reply event %q", line)
	}
}

// TestSecondConcurrentPoll: a poll arriving while another is held ends the held one
// with 204 (the transport spec's rule) and takes over delivery.
func TestSecondConcurrentPoll(t *testing.T) {
	srv, _ := server(t, hub.Options{TransportOptions: transports.Options{PollTimeout: 5 * time.Second}})
	n := negotiate(t, srv)
	url := srv.URL + "/hub?id=" + n.ConnectionToken
	poll := func() (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(body string) {
		resp, err := http.Post(url, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	poll() // the first poll returns at once
	post(`{"protocol":"json","version":1}` + rs)
	if status, body := poll(); status != 200 || body != "{}"+rs {
		t.Fatalf("handshake poll: %d %q", status, body)
	}
	type result struct {
		status int
		body   string
	}
	first := make(chan result, 1)
	go func() { s, b := poll(); first <- result{s, b} }()
	time.Sleep(300 * time.Millisecond) // let the first poll be held
	second := make(chan result, 1)
	go func() { s, b := poll(); second <- result{s, b} }()
	if r := <-first; r.status != http.StatusNoContent {
		t.Errorf("superseded poll: %d %q, want 204", r.status, r.body)
	}
	post(`{"type":1,"invocationId":"1","target":"Add","arguments":[1,2]}` + rs)
	if r := <-second; r.status != 200 || r.body != `{"type":3,"invocationId":"1","result":3}`+rs {
		t.Errorf("second poll: %d %q, want the completion", r.status, r.body)
	}
}
