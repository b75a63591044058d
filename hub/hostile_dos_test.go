package hub_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/hub"
)

// dosCases are hostile cases of one client taking what others need: pending
// negotiations, and connections held open by request bodies that never finish.
func dosCases() []hostileCase {
	trickleOpts := func(o *hub.Options) { o.TransportOptions.BodyReadTimeout = 500 * time.Millisecond }
	return []hostileCase{
		{name: "dos/pending negotiations from one address", opts: func(o *hub.Options) {
			o.MaxPendingNegotiationsPerIP = 3
			o.TrustedProxies = []string{"127.0.0.1"}
		}, run: func(t *testing.T, e *env) {
			mallory := fromAddress("198.51.100.1")
			for range 3 {
				st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", mallory, "")
				wantNegotiated(t, st, body)
			}
			st, body, h := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", mallory, "")
			wantHTTP(t, st, body, http.StatusTooManyRequests, "Too many pending connections from this address")
			if h.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
			_, resp, err := e.dialRaw(t, "", mallory)
			wantRefused(t, resp, err, http.StatusTooManyRequests, "Too many pending connections from this address")
			e.wantLogged(t, "hub: connection refused by a limit", "Too many pending connections from this address", "ip=198.51.100.1")
			// Everyone else negotiates and connects.
			e.connectWS(t, nil)
			e.dialToken(t, "", fromAddress("198.51.100.2"))
		}},
		{name: "dos/trickling negotiate body", opts: trickleOpts, run: func(t *testing.T, e *env) {
			stop := make(chan struct{})
			defer close(stop)
			conn := trickle(t, e.srv, "/hub/negotiate?negotiateVersion=1", stop)
			if res := awaitAnswer(conn, hostileWaitFor); res.err != nil || res.status != http.StatusOK {
				t.Errorf("got %d %q, %v; want 200, then the connection closed", res.status, res.body, res.err)
			}
		}},
		{name: "dos/trickling long-polling POST body", opts: trickleOpts, run: func(t *testing.T, e *env) {
			stop := make(chan struct{})
			defer close(stop)
			lp := e.openLP(t, nil)
			conn := trickle(t, e.srv, strings.TrimPrefix(lp.url, e.srv.URL), stop)
			res := awaitAnswer(conn, hostileWaitFor)
			if res.err != nil || res.status != http.StatusRequestTimeout || res.body != "request body not received in time" {
				t.Errorf("got %d %q, %v; want 408, then the connection closed", res.status, res.body, res.err)
			}
			e.wantLogged(t, "hub: POST body not received in time")
			// The connection itself carries on.
			lp.wantAlive(t)
		}},
		{name: "dos/trickling SSE POST body", opts: trickleOpts, run: func(t *testing.T, e *env) {
			stop := make(chan struct{})
			defer close(stop)
			n := e.negotiate(t, nil)
			e.openSSE(t, n.ConnectionToken, nil)
			conn := trickle(t, e.srv, "/hub?id="+n.ConnectionToken, stop)
			res := awaitAnswer(conn, hostileWaitFor)
			if res.err != nil || res.status != http.StatusRequestTimeout || res.body != "request body not received in time" {
				t.Errorf("got %d %q, %v; want 408, then the connection closed", res.status, res.body, res.err)
			}
			if st, body, _ := e.do(t, "POST", "/hub?id="+n.ConnectionToken, nil, `{"type":6}`+rs); st != 200 {
				t.Errorf("POST after the trickled one: %d %q", st, body)
			}
		}},
	}
}
