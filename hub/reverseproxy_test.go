package hub_test

import (
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	hubclient "github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// refusalCounter is an Observer that counts refusals by reason.
type refusalCounter struct {
	hub.NopObserver
	mu      sync.Mutex
	reasons map[string]int
}

func (o *refusalCounter) Refused(_, reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.reasons == nil {
		o.reasons = map[string]int{}
	}
	o.reasons[reason]++
}

func (o *refusalCounter) count(reason string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reasons[reason]
}

// originRefusal is the 403 text for a request from origin to a hub served directly
// (no trusted proxy) at serverURL.
func originRefusal(origin, serverURL string) string {
	return fmt.Sprintf("Origin not allowed: %s is not the same origin as host %s. "+
		"Add it to Options.AllowedOrigins (--allowed-origins), or list your reverse proxy in Options.TrustedProxies (--trusted-proxies).",
		origin, strings.TrimPrefix(serverURL, "http://"))
}

// hostRewritingProxy is a reverse proxy in front of upstream that sets Host to the
// upstream's and tells where the request came from in X-Forwarded-For/-Host/-Proto,
// as nginx does with "proxy_set_header Host $upstream" and the usual X-Forwarded-*
// lines.
func hostRewritingProxy(t *testing.T, upstream string) *httptest.Server {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target) // also sets Host to the upstream's
			pr.SetXForwarded()
		},
		Transport: transport,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	proxy := httptest.NewServer(rp)
	t.Cleanup(func() {
		proxy.CloseClientConnections()
		proxy.Close()
		transport.CloseIdleConnections()
	})
	return proxy
}

// proxiedHub serves a conformance hub behind a Host-rewriting proxy, with its logs
// and refusals recorded.
func proxiedHub(t *testing.T, opts hub.Options) (proxy, upstream *httptest.Server, logs *logBuffer, refusals *refusalCounter) {
	t.Helper()
	logs, refusals = &logBuffer{}, &refusalCounter{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts.Observer = refusals
	upstream, _ = server(t, opts)
	return hostRewritingProxy(t, upstream.URL), upstream, logs, refusals
}

// TestTrustedProxyConnects: behind a proxy that rewrites Host, and listed in
// TrustedProxies, a browser on the proxy's origin negotiates and connects over each
// transport.
func TestTrustedProxyConnects(t *testing.T) {
	proxy, _, logs, refusals := proxiedHub(t, hub.Options{TrustedProxies: []string{"127.0.0.1/32"}})
	origin := http.Header{"Origin": {proxy.URL}}

	st, body, hdr := doURL(t, "POST", proxy.URL+"/hub/negotiate?negotiateVersion=1", origin, "")
	wantNegotiated(t, st, body)
	if got := hdr.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("same-origin negotiate got Access-Control-Allow-Origin %q", got)
	}
	for _, kind := range []transports.Kind{transports.WebSockets, transports.ServerSentEvents, transports.LongPolling} {
		t.Run(kind.String(), func(t *testing.T) {
			c, err := hubclient.New(proxy.URL+"/hub", hubclient.Options{
				Transports: kind, Header: origin,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := contextWithTimeout(hostileWaitFor)
			defer cancel()
			if err := c.Start(ctx); err != nil {
				t.Fatalf("start through the proxy: %v", err)
			}
			res, err := c.Invoke(ctx, "Echo", "through the proxy")
			if err != nil {
				t.Fatal(err)
			}
			var got string
			if err := res.Decode(&got); err != nil || got != "through the proxy" {
				t.Errorf("Echo = %q, %v", got, err)
			}
		})
	}
	if n := refusals.count("origin"); n != 0 {
		t.Errorf("%d origin refusals, want none", n)
	}

	// Another site's page is still refused, and told what it was compared with.
	st, body, _ = doURL(t, "POST", proxy.URL+"/hub/negotiate?negotiateVersion=1", http.Header{"Origin": {"http://evil.example"}}, "")
	wantHTTP(t, st, body, 403, "Origin not allowed: http://evil.example is not the same origin as "+proxy.URL+
		" (as forwarded by a trusted proxy). Add it to Options.AllowedOrigins (--allowed-origins).")
	if n := refusals.count("origin"); n != 1 {
		t.Errorf("%d origin refusals, want 1", n)
	}
	for _, part := range []string{"origin=http://evil.example", "expected=" + proxy.URL, "trusted_proxy=true"} {
		if !strings.Contains(logs.String(), part) {
			t.Errorf("log lacks %q:\n%s", part, logs.String())
		}
	}
}

// TestUntrustedProxyRefusalIsExplained: the same proxy not listed in TrustedProxies
// is refused, and the refusal says which option to set, is logged and is counted.
func TestUntrustedProxyRefusalIsExplained(t *testing.T) {
	proxy, upstream, logs, refusals := proxiedHub(t, hub.Options{})
	origin := http.Header{"Origin": {proxy.URL}}
	want := originRefusal(proxy.URL, upstream.URL)

	st, body, _ := doURL(t, "POST", proxy.URL+"/hub/negotiate?negotiateVersion=1", origin, "")
	wantHTTP(t, st, body, 403, want)

	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(proxy.URL, "http")+"/hub", origin)
	wantRefused(t, resp, err, 403, want)

	if n := refusals.count("origin"); n != 2 {
		t.Errorf("%d origin refusals counted, want 2", n)
	}
	for _, part := range []string{`msg="hub: origin refused"`, "origin=" + proxy.URL,
		"expected=" + strings.TrimPrefix(upstream.URL, "http://"), "trusted_proxy=false"} {
		if !strings.Contains(logs.String(), part) {
			t.Errorf("log lacks %q:\n%s", part, logs.String())
		}
	}
}

// TestForwardingHeadersFromUntrustedPeers: a client that is not a trusted proxy
// cannot talk its way past the origin check or the per-IP limit with forwarding
// headers.
func TestForwardingHeadersFromUntrustedPeers(t *testing.T) {
	srv, _ := server(t, hub.Options{TrustedProxies: []string{"10.0.0.0/8"}, MaxConnectionsPerIP: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	spoof := http.Header{
		"Origin":            {"http://app.example"},
		"X-Forwarded-Host":  {"app.example"},
		"X-Forwarded-Proto": {"http"},
		"Forwarded":         {"host=app.example;proto=http"},
	}
	st, body, _ := doURL(t, "POST", srv.URL+"/hub/negotiate?negotiateVersion=1", spoof, "")
	wantHTTP(t, st, body, 403, originRefusal("http://app.example", srv.URL))

	st, body, _ = doURL(t, "POST", srv.URL+"/hub/negotiate?negotiateVersion=1", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "")
	wantNegotiated(t, st, body)
	st, body, _ = doURL(t, "POST", srv.URL+"/hub/negotiate?negotiateVersion=1", http.Header{"X-Forwarded-For": {"198.51.100.2"}}, "")
	wantHTTP(t, st, body, 429, "Too many connections from this address")
}

// TestTrustedProxyPerIP: behind a trusted proxy the per-IP limit counts the client
// the proxy names, not the proxy, and addresses the client put left of it do not
// count.
func TestTrustedProxyPerIP(t *testing.T) {
	logs := &logBuffer{}
	srv, _ := server(t, hub.Options{TrustedProxies: []string{"127.0.0.1"}, MaxConnectionsPerIP: 1,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	negotiateAs := func(xff string) (int, string) {
		st, body, _ := doURL(t, "POST", srv.URL+"/hub/negotiate?negotiateVersion=1", http.Header{"X-Forwarded-For": {xff}}, "")
		return st, body
	}
	st, body := negotiateAs("198.51.100.1")
	wantNegotiated(t, st, body)
	st, body = negotiateAs("198.51.100.2")
	wantNegotiated(t, st, body)
	st, body = negotiateAs("203.0.113.66, 198.51.100.1")
	wantHTTP(t, st, body, 429, "Too many connections from this address")
	if !strings.Contains(logs.String(), "ip=198.51.100.1") {
		t.Errorf("the refusal's log line lacks the client's address:\n%s", logs.String())
	}
}

// TestWebSocketOriginRefusalCounted: a refusal by a custom
// TransportOptions.CheckOrigin is logged and counted as the hub's own are.
func TestWebSocketOriginRefusalCounted(t *testing.T) {
	logs, refusals := &logBuffer{}, &refusalCounter{}
	srv, _ := server(t, hub.Options{
		TransportOptions: transports.Options{CheckOrigin: func(*http.Request) bool { return false }},
		Logger:           slog.New(slog.NewTextHandler(logs, nil)),
		Observer:         refusals,
	})
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub", nil)
	wantRefused(t, resp, err, 403, "origin not allowed")
	if n := refusals.count("origin"); n != 1 {
		t.Errorf("%d origin refusals counted, want 1", n)
	}
	if !strings.Contains(logs.String(), `msg="hub: origin refused"`) {
		t.Errorf("refusal not logged:\n%s", logs.String())
	}
}

// TestBadTrustedProxyIsLogged: an entry that is not an address or CIDR is logged
// at New and left out; the others still count.
func TestBadTrustedProxyIsLogged(t *testing.T) {
	logs := &logBuffer{}
	srv, _ := server(t, hub.Options{TrustedProxies: []string{"proxy.internal", "127.0.0.1"}, MaxConnectionsPerIP: 1,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if !strings.Contains(logs.String(), `level=ERROR msg="hub: some trusted proxies are left out"`) ||
		!strings.Contains(logs.String(), `proxy.internal`) {
		t.Errorf("bad entry not logged:\n%s", logs.String())
	}
	for _, xff := range []string{"198.51.100.1", "198.51.100.2"} {
		st, body, _ := doURL(t, "POST", srv.URL+"/hub/negotiate?negotiateVersion=1", http.Header{"X-Forwarded-For": {xff}}, "")
		wantNegotiated(t, st, body)
	}
}
