package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// wait bounds every wait of these tests: generous, as the machine is shared.
const wait = 30 * time.Second

// allowedOrigin is the one CORS setting the tests start the app with.
const allowedOrigin = "http://app.example.test"

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode) // no debug banner
	m.Run()
}

// output is the app's stdout: Gin's Logger and the hub's log, written
// concurrently.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor returns the first submatches of re in the output, polling until they
// appear or wait has passed.
func (o *output) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		if m := re.FindStringSubmatch(o.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line matching %s in the output:\n%s", re, o)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// app is the example running in this process, as go run would start it.
type app struct {
	url  string // http://127.0.0.1:port
	out  *output
	stop context.CancelFunc // SIGTERM
	done chan error         // run's result
}

// start runs the app on a free loopback port with the allowed origin, and stops
// it when the test ends.
func start(t *testing.T) *app {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	a := &app{out: &output{}, stop: stop, done: make(chan error, 1)}
	go func() { a.done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-allowed-origins", allowedOrigin}, a.out) }()
	a.url = "http://" + a.out.waitFor(t, regexp.MustCompile(`listening on http://(\S+)\n`))[1]
	t.Cleanup(func() {
		stop()
		select {
		case err := <-a.done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(wait):
			t.Error("run did not return after its context ended")
		}
	})
	return a
}

// do sends a request and returns its status, headers and body.
func do(t *testing.T, method, url string, hdr http.Header, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// dial connects a Go client as alice over one transport.
func dial(t *testing.T, a *app, kind transports.Kind) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, err := client.Dial(ctx, a.url+"/hubs/news", client.Options{
		Transports:  kind,
		AccessToken: func(context.Context) (string, error) { return "alice-token", nil },
	})
	if err != nil {
		t.Fatalf("dial over %s: %v", kind, err)
	}
	return conn
}

var bearer = http.Header{"Authorization": {"Bearer alice-token"}}

// TestScriptLoadsWithoutAuth: the page and the bundled client it names load
// without a token, the script with an ETag and under its versioned URL, while the
// hub itself asks for one.
func TestScriptLoadsWithoutAuth(t *testing.T) {
	a := start(t)
	st, _, page := do(t, "GET", a.url+"/", nil, "")
	script := regexp.MustCompile(`<script src="(/hubs/news/hubbub\.js\?v=[^"]+)"`).FindStringSubmatch(page)
	if st != http.StatusOK || script == nil {
		t.Fatalf("GET /: %d, no versioned hubbub.js in:\n%s", st, page)
	}
	for _, path := range []string{"/hubs/news/hubbub.js", script[1]} {
		st, hdr, body := do(t, "GET", a.url+path, nil, "")
		if st != http.StatusOK || hdr.Get("ETag") == "" || !strings.Contains(body, "Hubbub") {
			t.Errorf("GET %s without a token: %d, ETag %q, %d bytes; want 200 with an ETag", path, st, hdr.Get("ETag"), len(body))
		}
	}
	if st, _, _ := do(t, "POST", a.url+"/hubs/news/negotiate?negotiateVersion=1", nil, ""); st != http.StatusUnauthorized {
		t.Errorf("negotiate without a token: %d, want 401", st)
	}
}

// TestOneCORSSetting: with CORS set once, in gin-contrib/cors (-allowed-origins),
// a page of the allowed origin preflights, negotiates and opens a WebSocket on the
// hub, and preflights the REST API; a page of another origin is refused at each.
func TestOneCORSSetting(t *testing.T) {
	a := start(t)
	const other = "http://evil.example.test"
	preflight := func(origin, method string) http.Header {
		return http.Header{"Origin": {origin}, "Access-Control-Request-Method": {method}, "Access-Control-Request-Headers": {"authorization"}}
	}
	withOrigin := func(origin string) http.Header {
		return http.Header{"Origin": {origin}, "Authorization": {"Bearer alice-token"}}
	}
	tests := []struct {
		name, method, path string
		hdr                http.Header
		want               int
	}{
		{"negotiate preflight", "OPTIONS", "/hubs/news/negotiate?negotiateVersion=1", preflight(allowedOrigin, "POST"), 204},
		{"negotiate", "POST", "/hubs/news/negotiate?negotiateVersion=1", withOrigin(allowedOrigin), 200},
		{"transport preflight", "OPTIONS", "/hubs/news?id=x", preflight(allowedOrigin, "POST"), 204},
		{"API preflight", "OPTIONS", "/api/news/acme", preflight(allowedOrigin, "POST"), 204},
		{"negotiate preflight, other origin", "OPTIONS", "/hubs/news/negotiate?negotiateVersion=1", preflight(other, "POST"), 403},
		{"negotiate, other origin", "POST", "/hubs/news/negotiate?negotiateVersion=1", withOrigin(other), 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, hdr, body := do(t, tc.method, a.url+tc.path, tc.hdr, "")
			if st != tc.want {
				t.Fatalf("%s %s: %d %q, want %d", tc.method, tc.path, st, body, tc.want)
			}
			if st >= 300 {
				return
			}
			if got := hdr.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != allowedOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want exactly %q", got, allowedOrigin)
			}
			if tc.method == "OPTIONS" && !strings.Contains(hdr.Get("Access-Control-Allow-Headers"), "Authorization") {
				t.Errorf("preflight: Access-Control-Allow-Headers %q, want Authorization in it", hdr.Get("Access-Control-Allow-Headers"))
			}
		})
	}
	// Browsers send their Origin on a WebSocket upgrade, and the token in the query.
	for _, origin := range []string{allowedOrigin, other} {
		t.Run("WebSocket from "+origin, func(t *testing.T) {
			ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a.url, "http")+"/hubs/news?access_token=alice-token",
				http.Header{"Origin": {origin}})
			if ws != nil {
				ws.Close()
			}
			switch {
			case origin == allowedOrigin && err != nil:
				t.Errorf("upgrade: %v %v", resp, err)
			case origin == other && err == nil:
				t.Error("upgrade accepted, want 403")
			case origin == other && resp.StatusCode != http.StatusForbidden:
				t.Errorf("upgrade: %d, want 403", resp.StatusCode)
			}
		})
	}
}

// TestRouteUnderHubPath: the app's GET /hubs/news/history sits under the hub's
// path, behind the auth middleware, and lists what the REST handler pushed to the
// clients following a company.
func TestRouteUnderHubPath(t *testing.T) {
	a := start(t)
	conn := dial(t, a, transports.WebSockets)
	defer conn.Close()
	got := make(chan article, 1)
	conn.On("article", func(args []protocol.RawValue) {
		var art article
		if err := conn.DecodeArgs(args, &art); err == nil {
			got <- art
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := conn.Invoke(ctx, "Follow", "acme"); err != nil {
		t.Fatal(err)
	}
	if st, _, body := do(t, "POST", a.url+"/api/news/acme", http.Header{"Authorization": {"Bearer bob-token"}, "Content-Type": {"application/x-www-form-urlencoded"}}, "title=Q3+results"); st != http.StatusAccepted {
		t.Fatalf("POST /api/news/acme: %d %q", st, body)
	}
	select {
	case art := <-got:
		if art.Company != "acme" || art.Title != "Q3 results" || art.By != "bob" {
			t.Errorf("pushed article: %+v", art)
		}
	case <-ctx.Done():
		t.Fatal("no article pushed to the follower")
	}
	if st, _, _ := do(t, "GET", a.url+"/hubs/news/history", nil, ""); st != http.StatusUnauthorized {
		t.Errorf("GET /hubs/news/history without a token: %d, want 401", st)
	}
	st, _, body := do(t, "GET", a.url+"/hubs/news/history", bearer, "")
	var list []article
	if st != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list) != 1 || list[0].Title != "Q3 results" {
		t.Errorf("GET /hubs/news/history: %d %q, want the one article", st, body)
	}
}

// TestConnectionLogHasTrueDuration: a WebSocket held open for hold is logged by
// the hub, when it ends, with a duration of at least hold, while Gin's Logger
// logged its request when the hub took the connection over, long before: the
// reason the hub has an access log of its own.
func TestConnectionLogHasTrueDuration(t *testing.T) {
	const hold = 500 * time.Millisecond
	a := start(t)
	conn := dial(t, a, transports.WebSockets)
	id := conn.ConnectionID()
	time.Sleep(hold)
	conn.Close()

	line := a.out.waitFor(t, regexp.MustCompile(`(?m)^.*msg="hub: connection".*connection=`+regexp.QuoteMeta(id)+`\b.*$`))[0]
	m := regexp.MustCompile(`\bduration=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("access log line without a duration: %s", line)
	}
	logged, err := time.ParseDuration(m[1])
	if err != nil || logged < hold {
		t.Errorf("access log duration %s (%v), want at least %s: %s", m[1], err, hold, line)
	}
	for _, attr := range []string{"transport=WebSockets", "user=alice"} {
		if !strings.Contains(line, attr) {
			t.Errorf("access log line without %s: %s", attr, line)
		}
	}

	// [GIN] 2026/11/30 - 01:31:28 | 200 |     244.1µs |       127.0.0.1 | GET      "/hubs/news"
	gin := a.out.waitFor(t, regexp.MustCompile(`\[GIN\][^|]*\|\s*(\d+)\s*\|\s*(\S+)\s*\|[^|]*\|\s*GET\s+"/hubs/news"`))
	ginLatency, err := time.ParseDuration(gin[2])
	if err != nil {
		t.Fatalf("Gin's Logger latency %q: %v", gin[2], err)
	}
	// Not a speed assertion: an upgrade taking as long as the whole hold would be
	// a hang, and the point is that Gin's line is not the connection's life.
	if ginLatency >= hold {
		t.Errorf("Gin's Logger says the WebSocket request took %s, want far less than the %s it was open (the hub took it over)", ginLatency, hold)
	}
	t.Logf("Gin's Logger: %s %s; hub's access log: duration %s", gin[1], gin[2], logged)
}

// TestShutdownClosesEveryTransport: on SIGTERM (run's context ending) a client
// on each transport gets a Close message, not a cut, and run returns nil.
func TestShutdownClosesEveryTransport(t *testing.T) {
	a := start(t)
	kinds := []transports.Kind{transports.WebSockets, transports.ServerSentEvents, transports.LongPolling}
	conns := make([]*client.Conn, len(kinds))
	for i, kind := range kinds {
		conns[i] = dial(t, a, kind)
		defer conns[i].Close()
	}
	a.stop()
	for i, conn := range conns {
		select {
		case <-conn.Done():
		case <-time.After(wait):
			t.Fatalf("%s client still connected after the shutdown", kinds[i])
		}
		var closed *client.CloseError
		if !errors.As(conn.Err(), &closed) {
			t.Errorf("%s client ended with %v, want a Close message from the server", kinds[i], conn.Err())
		}
	}
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
		a.done <- nil // for start's cleanup
	case <-time.After(wait):
		t.Fatal("run did not return")
	}
}
