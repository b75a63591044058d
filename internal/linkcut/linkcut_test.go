package linkcut

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds what should happen "soon"; it never measures anything.
const waitTimeout = 10 * time.Second

// start runs upstream behind a Proxy with opts; both close when the test ends.
func start(t *testing.T, upstream http.Handler, opts Options) (*Proxy, *httptest.Server) {
	t.Helper()
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	opts.Target = up.URL
	opts.Logf = t.Logf
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p, up
}

// newClient returns an HTTP client with its own connection pool.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitTimeout}
}

// holding returns a handler that holds each request until its context ends, and
// channels that receive once a request is started and once it is cancelled.
func holding() (h http.HandlerFunc, started, cancelled chan struct{}) {
	started, cancelled = make(chan struct{}, 16), make(chan struct{}, 16)
	return func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
		cancelled <- struct{}{}
	}, started, cancelled
}

// do sends req in the background; the channel receives its outcome.
func do(c *http.Client, req *http.Request) <-chan error {
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		errc <- err
	}()
	return errc
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("%s: not within %v", what, waitTimeout)
		panic("unreachable")
	}
}

func get(t *testing.T, url string) *http.Request {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// eventually fails t unless cond holds within waitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(waitTimeout); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitTimeout)
		}
	}
}

func TestForwardsRequests(t *testing.T) {
	p, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.RequestURI(), body)
	}), Options{})
	c := newClient(t)
	resp, err := c.Post(p.URL()+"/base/x?y=1", "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := string(body), "POST /base/x?y=1 hi"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	if s := p.Stats(); s.Requests != 1 || s.Live != 1 {
		t.Errorf("Stats() = %+v, want 1 request and 1 live link", s)
	}
}

func TestResetIsAConnectionError(t *testing.T) {
	h, started, cancelled := holding()
	p, _ := start(t, h, Options{})
	errc := do(newClient(t), get(t, p.URL()+"/poll"))
	receive(t, started, "upstream request")
	if n := p.Cut(Reset); n != 1 {
		t.Fatalf("Cut(Reset) = %d, want 1", n)
	}
	if err := receive(t, errc, "client error"); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client got %v, want a connection reset", err)
	}
	receive(t, cancelled, "upstream request cancelled")
	eventually(t, "no live link", func() bool { return p.Stats().Live == 0 })
	if s := p.Stats(); s.Cuts[Reset] != 1 || s.Requests != 1 {
		t.Errorf("Stats() = %+v, want 1 reset of 1 request", s)
	}
}

func TestBlackHoleHangsThenFails(t *testing.T) {
	const holdFor = 300 * time.Millisecond
	tests := []struct {
		name      string
		warm      bool // a live keep-alive link exists when the hole begins
		wantLinks int
	}{
		{"live link", true, 1},
		{"new link", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var served atomic.Int32
			p, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
			}), Options{BlackHoleFor: holdFor})
			c := newClient(t)
			if tc.warm {
				resp, err := c.Get(p.URL())
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			before := served.Load()
			if n := p.Cut(BlackHole); n != tc.wantLinks {
				t.Fatalf("Cut(BlackHole) = %d, want %d", n, tc.wantLinks)
			}
			begun := time.Now()
			// POST: Go's transport would silently retry a GET on a reused link.
			resp, err := c.Post(p.URL(), "text/plain", strings.NewReader("x"))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("request through a black hole got %s, want an error", resp.Status)
			}
			if held := time.Since(begun); held < holdFor {
				t.Errorf("request failed after %v, before the hole ended (%v): %v", held, holdFor, err)
			}
			if served.Load() != before {
				t.Errorf("the upstream served a request sent into the black hole")
			}
			if s := p.Stats(); s.Cuts[BlackHole] != tc.wantLinks {
				t.Errorf("Stats().Cuts = %v, want %d black-holed", s.Cuts, tc.wantLinks)
			}
		})
	}
}

func TestGatewayTimeout(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		cut  bool
	}{
		{"hold limit", Options{HoldLimit: 100 * time.Millisecond}, false},
		{"on demand", Options{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, started, cancelled := holding()
			p, _ := start(t, h, tc.opts)
			c := newClient(t)
			errc := do(c, get(t, p.URL()+"/poll"))
			receive(t, started, "upstream request")
			if tc.cut {
				if n := p.Cut(GatewayTimeout); n != 1 {
					t.Fatalf("Cut(GatewayTimeout) = %d, want 1", n)
				}
			}
			if err := receive(t, errc, "response"); err == nil || !strings.HasPrefix(err.Error(), "status 504") {
				t.Errorf("client got %v, want status 504", err)
			}
			receive(t, cancelled, "upstream request cancelled")
			if s := p.Stats(); s.Cuts[GatewayTimeout] != 1 {
				t.Errorf("Stats().Cuts = %v, want one 504", s.Cuts)
			}
			// The link survives a 504, as behind nginx.
			if s := p.Stats(); s.Live != 1 {
				t.Errorf("Stats().Live = %d, want 1", s.Live)
			}
		})
	}
}

// sse streams events "data: 0", "data: 1"... each sent once the previous one is
// acknowledged on ack; event i is padded to size bytes by pad(i).
func sse(ack <-chan struct{}, pad func(i int) int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			fmt.Fprintf(w, "data: %d%s\n\n", i, strings.Repeat("x", pad(i)))
			w.(http.Flusher).Flush()
			select {
			case <-ack:
			case <-r.Context().Done():
				return
			}
		}
	}
}

func TestSSEArrivesEventByEvent(t *testing.T) {
	ack := make(chan struct{})
	p, _ := start(t, sse(ack, func(int) int { return 0 }), Options{})
	resp, err := newClient(t).Get(p.URL() + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	for i := range 3 {
		// The upstream sends event i+1 only once event i arrived: a buffering proxy
		// would hang here until the client's timeout.
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := fmt.Sprintf("data: %d\n", i); line != want {
			t.Fatalf("event %d: got %q, want %q", i, line, want)
		}
		lines.ReadString('\n')
		ack <- struct{}{}
	}
}

func TestMidResponseCutsAStream(t *testing.T) {
	const bigEvent = 1000
	ack := make(chan struct{})
	p, _ := start(t, sse(ack, func(i int) int { return i * bigEvent }), Options{Seed: 7})
	resp, err := newClient(t).Get(p.URL() + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewReader(resp.Body)
	if line, err := lines.ReadString('\n'); line != "data: 0\n" {
		t.Fatalf("first event: %q, %v", line, err)
	}
	if n := p.Cut(MidResponse); n != 1 {
		t.Fatalf("Cut(MidResponse) = %d, want 1", n)
	}
	ack <- struct{}{}
	rest, err := io.ReadAll(lines)
	if err == nil {
		t.Errorf("stream ended cleanly, want an error")
	}
	if len(rest) >= bigEvent {
		t.Errorf("got %d bytes after the cut, want the event cut short", len(rest))
	}
	if s := p.Stats(); s.Cuts[MidResponse] != 1 {
		t.Errorf("Stats().Cuts = %v, want one mid-response cut", s.Cuts)
	}
}

func TestWebSocketThroughProxy(t *testing.T) {
	for _, kind := range []Kind{Reset, MidResponse} {
		t.Run(string(kind), func(t *testing.T) {
			upstreamGone := make(chan struct{})
			p, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer ws.Close()
				defer close(upstreamGone)
				for {
					typ, msg, err := ws.ReadMessage()
					if err != nil {
						return
					}
					ws.WriteMessage(typ, msg)
				}
			}), Options{})
			ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(p.URL(), "http")+"/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			ws.SetReadDeadline(time.Now().Add(waitTimeout))
			echo := func(msg string) (string, error) {
				if err := ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
					return "", err
				}
				_, got, err := ws.ReadMessage()
				return string(got), err
			}
			if got, err := echo("hello"); got != "hello" || err != nil {
				t.Fatalf("echo through the proxy: %q, %v", got, err)
			}
			if n := p.Cut(kind); n != 1 {
				t.Fatalf("Cut(%s) = %d, want 1", kind, n)
			}
			if got, err := echo(strings.Repeat("y", 500)); err == nil {
				t.Errorf("after the cut, echo got %d bytes, want an error", len(got))
			}
			receive(t, upstreamGone, "upstream sees the link go")
		})
	}
}

func TestRewriteHost(t *testing.T) {
	headers := []string{"X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-For", "Forwarded"}
	tests := []struct {
		name        string
		rewriteHost bool
	}{
		{"transparent", false},
		{"rewrite host", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := make(chan *http.Request, 1)
			p, up := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r }),
				Options{RewriteHost: tc.rewriteHost})
			resp, err := newClient(t).Get(p.URL())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			r := receive(t, seen, "upstream request")
			proxyHost, upHost := strings.TrimPrefix(p.URL(), "http://"), strings.TrimPrefix(up.URL, "http://")
			want := map[string]string{"Host": proxyHost}
			if tc.rewriteHost {
				want = map[string]string{
					"Host":              upHost,
					"X-Forwarded-Host":  proxyHost,
					"X-Forwarded-Proto": "http",
					"X-Forwarded-For":   "127.0.0.1",
					"Forwarded":         fmt.Sprintf("for=127.0.0.1;host=%q;proto=http", proxyHost),
				}
			}
			if r.Host != want["Host"] {
				t.Errorf("Host = %q, want %q", r.Host, want["Host"])
			}
			for _, h := range headers {
				if got := r.Header.Get(h); got != want[h] {
					t.Errorf("%s = %q, want %q", h, got, want[h])
				}
			}
		})
	}
}

func TestRandomCutsAndPause(t *testing.T) {
	h, _, _ := holding()
	p, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/quick" {
			return
		}
		h(w, r)
	}), Options{Every: 20 * time.Millisecond, Kinds: []Kind{Reset}, Seed: 1})
	c := newClient(t)
	for i := range 3 {
		if err := receive(t, do(c, get(t, p.URL()+"/hold")), "a random cut"); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("request %d: %v, want a connection reset", i, err)
		}
	}
	p.Pause()
	paused := p.Stats()
	if !paused.Paused || paused.Cuts[Reset] < 3 {
		t.Fatalf("Stats() = %+v, want paused after 3 resets", paused)
	}
	// Over many mean intervals, no cut comes while paused.
	for range 10 {
		resp, err := c.Get(p.URL() + "/quick")
		if err != nil {
			t.Fatalf("while paused: %v", err)
		}
		resp.Body.Close()
		time.Sleep(10 * time.Millisecond)
	}
	if s := p.Stats(); s.Cuts[Reset] != paused.Cuts[Reset] {
		t.Errorf("cuts while paused: %d, then %d", paused.Cuts[Reset], s.Cuts[Reset])
	}
	p.Resume()
	if err := receive(t, do(c, get(t, p.URL()+"/hold")), "a cut after Resume"); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after Resume: %v, want a connection reset", err)
	}
}

func TestControlAPI(t *testing.T) {
	h, started, _ := holding()
	p, _ := start(t, h, Options{ControlAPI: true, BlackHoleFor: 200 * time.Millisecond})
	c := newClient(t)
	call := func(method, path string, wantStatus int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, p.URL()+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: %s, %v, %v; want status %d", method, path, resp.Status, v, err, wantStatus)
		}
		return v
	}
	errc := do(c, get(t, p.URL()+"/poll"))
	receive(t, started, "upstream request")
	if v := call("POST", "/__linkcut/cut?kind=reset", 200); v["cut"] != 1.0 {
		t.Errorf("cut: %v, want {cut: 1}", v)
	}
	receive(t, errc, "the cut request")
	v := call("GET", "/__linkcut/stats", 200)
	if cuts := v["cuts"].(map[string]any); cuts["reset"] != 1.0 || v["requests"] != 1.0 || v["live"] != 0.0 {
		t.Errorf("stats: %v, want 1 reset of 1 request and no live link", v)
	}
	if v := call("POST", "/__linkcut/pause", 200); v["paused"] != true {
		t.Errorf("pause: %v", v)
	}
	if v := call("POST", "/__linkcut/resume", 200); v["paused"] != false {
		t.Errorf("resume: %v", v)
	}
	call("POST", "/__linkcut/cut?kind=blackhole", 200)
	call("GET", "/__linkcut/stats", 200) // the control API works during a black hole
	call("POST", "/__linkcut/cut?kind=nope", 400)
	call("GET", "/__linkcut/cut?kind=reset", 405)
	call("GET", "/__linkcut/nope", 404)
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no target", Options{}},
		{"target not http", Options{Target: "ftp://127.0.0.1:1"}},
		{"listen on all interfaces", Options{Target: "http://127.0.0.1:1", Listen: ":0"}},
		{"listen off loopback", Options{Target: "http://127.0.0.1:1", Listen: "0.0.0.0:0"}},
		{"unknown kind", Options{Target: "http://127.0.0.1:1", Kinds: []Kind{"nope"}}},
		{"negative interval", Options{Target: "http://127.0.0.1:1", Every: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := New(tc.opts); err == nil {
				p.Close()
				t.Fatalf("New(%+v) succeeded, want an error", tc.opts)
			}
		})
	}
	if _, err := ParseKinds("reset,504,nope"); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("ParseKinds: %v, want ErrUnknownKind", err)
	}
	if kinds, err := ParseKinds("reset, blackhole,504,midresponse"); err != nil || len(kinds) != 4 {
		t.Errorf("ParseKinds: %v, %v", kinds, err)
	}
}
