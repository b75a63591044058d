package hub_test

// TestHostileInputs throws named bad inputs at a running hub: negotiate, every
// transport and the hub protocol. Each case asserts the exact status or error the
// attacker sees, and after each case two well-behaved bystander connections on the
// same server (one WebSocket, one long polling) must still get their Echo answered
// and a broadcast sent by the server at the end of the case.
//
// Cases that need limits which would trip the bystanders' own traffic (pending
// negotiations, per-user and per-IP caps, Authenticate, a short disconnect timeout)
// get a server of their own, with its own pair of bystanders.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/auth/jwtauth"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// Limits of the shared server: small, so that cases trip them with a few messages.
const (
	hostileMaxReceive    = 32 << 10
	hostileMaxTransport  = 64 << 10
	hostileHandshake     = 300 * time.Millisecond
	hostilePollTimeout   = 300 * time.Millisecond
	hostileRate          = 200
	hostileBurst         = 40
	hostileStrikes       = 5
	hostileMaxGroups     = 3
	hostileMaxStreams    = 2
	hostileWaitFor       = 5 * time.Second // bound on anything that should happen soon
	hostileBystanderUser = "carol"
)

func hostileOptions() hub.Options {
	return hub.Options{
		TransportOptions: transports.Options{
			MaxReceiveSize:          hostileMaxReceive,
			MaxTransportMessageSize: hostileMaxTransport,
			PollTimeout:             hostilePollTimeout,
			DisconnectTimeout:       30 * time.Second, // the long-polling bystander idles during cases
		},
		HandshakeTimeout:       hostileHandshake,
		MaxMessagesPerSecond:   hostileRate,
		MessageBurst:           hostileBurst,
		RateLimitStrikes:       hostileStrikes,
		MaxGroupsPerConnection: hostileMaxGroups,
		MaxStreams:             hostileMaxStreams,
	}
}

type hostileCase struct {
	name string
	// opts, when set, gives the case a server of its own, built from
	// hostileOptions() changed by opts.
	opts func(o *hub.Options)
	// as is what the bystanders of the case's own server present (credentials).
	as  http.Header
	run func(t *testing.T, e *env)
}

func TestHostileInputs(t *testing.T) {
	shared := newEnv(t, hostileOptions(), nil)
	cases := hostileCases()
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	names := map[string]bool{}
	for _, tc := range cases {
		if names[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		names[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			e := shared
			if tc.opts != nil {
				o := hostileOptions()
				tc.opts(&o)
				e = newEnv(t, o, tc.as)
			}
			tc.run(t, e)
			e.checkBystanders(t, tc.name)
		})
	}
}

// hostileCases are all the cases of TestHostileInputs, by category.
func hostileCases() []hostileCase {
	return slices.Concat(
		hostileNegotiateCases(),
		hostileTokenCases(),
		hostileAuthCases(),
		hostileTransportCases(),
		hostileSlowlorisCases(),
		hostileProtocolCases(),
		hostileLimitCases(),
		lifeCases(),
		dosCases(),
		msgSizeCases(),
		identityCases(),
		flowCases(),
		msgpackCases(),
	)
}

// hostileNegotiateCases attack the negotiate endpoint: wrong methods, versions and
// sizes, foreign origins, and the caps on pending negotiations and on connections
// per user and per IP.
func hostileNegotiateCases() []hostileCase {
	return []hostileCase{
		{name: "negotiate/GET", run: func(t *testing.T, e *env) {
			st, body, hdr := e.do(t, "GET", "/hub/negotiate?negotiateVersion=1", nil, "")
			wantHTTP(t, st, body, 405, "negotiate requires POST")
			if got := hdr.Get("Allow"); got != "POST, OPTIONS" {
				t.Errorf("Allow %q", got)
			}
		}},
		{name: "negotiate/DELETE", run: func(t *testing.T, e *env) {
			st, body, _ := e.do(t, "DELETE", "/hub/negotiate", nil, "")
			wantHTTP(t, st, body, 405, "negotiate requires POST")
		}},
		{name: "negotiate/version not a number", run: func(t *testing.T, e *env) {
			st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=one", nil, "")
			wantHTTP(t, st, body, 400, "negotiateVersion must be a non-negative integer")
		}},
		{name: "negotiate/version overflowing int", run: func(t *testing.T, e *env) {
			st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=99999999999999999999999", nil, "")
			wantHTTP(t, st, body, 400, "negotiateVersion must be a non-negative integer")
		}},
		{name: "negotiate/huge version is capped at 1", run: func(t *testing.T, e *env) {
			st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=2147483648", nil, "")
			n := wantNegotiated(t, st, body)
			if n.NegotiateVersion != 1 || n.ConnectionToken == "" {
				t.Errorf("reply %s: want negotiateVersion 1 with a token", body)
			}
		}},
		{name: "negotiate/huge query", run: func(t *testing.T, e *env) {
			// 5,000 junk parameters, and the version under a case-folded key so the
			// case-insensitive lookup walks all of them.
			var q strings.Builder
			for i := range 5000 {
				fmt.Fprintf(&q, "junk%d=%s&", i, strings.Repeat("x", 8))
			}
			q.WriteString("NEGOTIATEVERSION=1")
			st, body, _ := e.do(t, "POST", "/hub/negotiate?"+q.String(), nil, "")
			if n := wantNegotiated(t, st, body); n.NegotiateVersion != 1 {
				t.Errorf("negotiateVersion %d, want 1", n.NegotiateVersion)
			}
		}},
		{name: "negotiate/large body with a wrong content type is ignored", run: func(t *testing.T, e *env) {
			hdr := http.Header{"Content-Type": {"application/xml"}}
			st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", hdr, "<x>"+strings.Repeat("A", 100<<10)+"</x>")
			wantNegotiated(t, st, body)
		}},
		{name: "negotiate/preflight from a foreign origin", run: func(t *testing.T, e *env) {
			hdr := http.Header{"Origin": {"http://evil.example"}, "Access-Control-Request-Method": {"POST"}}
			st, body, h := e.do(t, "OPTIONS", "/hub/negotiate?negotiateVersion=1", hdr, "")
			wantHTTP(t, st, body, 403, originRefusal("http://evil.example", e.srv.URL))
			if h.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("foreign origin allowed: %v", h)
			}
		}},
		{name: "negotiate/cross-origin WebSocket without negotiate", run: func(t *testing.T, e *env) {
			_, resp, err := e.dialRaw(t, "", http.Header{"Origin": {"http://evil.example"}})
			wantRefused(t, resp, err, 403, originRefusal("http://evil.example", e.srv.URL))
		}},
		{name: "negotiate/too many pending negotiations", opts: func(o *hub.Options) {
			o.MaxPendingNegotiations = 3
			o.NegotiateTimeout = 400 * time.Millisecond
		}, run: func(t *testing.T, e *env) {
			for range 3 {
				st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", nil, "")
				wantNegotiated(t, st, body)
			}
			st, body, h := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", nil, "")
			wantHTTP(t, st, body, 503, "Too many pending connections")
			if h.Get("Retry-After") != "5" {
				t.Errorf("Retry-After %q, want 5", h.Get("Retry-After"))
			}
			e.wantLogged(t, "hub: connection refused by a limit", "Too many pending connections")
			// The orphans expire after NegotiateTimeout and free their slots.
			eventually(t, "negotiate accepted again after the orphans expired", func() bool {
				st, _, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", nil, "")
				return st == 200
			})
		}},
		{name: "negotiate/too many connections per user", opts: func(o *hub.Options) {
			o.MaxConnectionsPerUser = 2
			o.UserID = func(r *http.Request) string { return r.Header.Get("X-Test-User") }
		}, run: func(t *testing.T, e *env) {
			mallory := http.Header{"X-Test-User": {"mallory"}}
			for range 2 {
				st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", mallory, "")
				wantNegotiated(t, st, body)
			}
			st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", mallory, "")
			wantHTTP(t, st, body, 429, "Too many connections for this user")
			// Skipping negotiate does not get around it: refused before the upgrade.
			_, resp, err := e.dialRaw(t, "", mallory)
			wantRefused(t, resp, err, 429, "Too many connections for this user")
			// Other users and anonymous clients are not affected.
			st, body, _ = e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", http.Header{"X-Test-User": {"bob"}}, "")
			wantNegotiated(t, st, body)
			st, body, _ = e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", nil, "")
			wantNegotiated(t, st, body)
		}},
		{name: "negotiate/too many connections per IP", opts: func(o *hub.Options) {
			o.MaxConnectionsPerIP = 4 // the two bystanders hold two
		}, run: func(t *testing.T, e *env) {
			for range 2 {
				st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", nil, "")
				wantNegotiated(t, st, body)
			}
			st, body, h := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", nil, "")
			wantHTTP(t, st, body, 429, "Too many connections from this address")
			if h.Get("Retry-After") != "5" {
				t.Errorf("Retry-After %q, want 5", h.Get("Retry-After"))
			}
		}},
	}
}

// hostileTokenCases use connection tokens that are missing, unknown, forged, replayed
// after their connection ended, or claimed by another transport.
func hostileTokenCases() []hostileCase {
	return []hostileCase{
		{name: "token/missing id on a poll", run: func(t *testing.T, e *env) {
			st, body, _ := e.do(t, "GET", "/hub", nil, "")
			wantHTTP(t, st, body, 400, "Connection ID required")
		}},
		{name: "token/empty id on POST", run: func(t *testing.T, e *env) {
			st, body, _ := e.do(t, "POST", "/hub?id=", nil, `{"type":6}`+rs)
			wantHTTP(t, st, body, 400, "Connection ID required")
		}},
		{name: "token/unknown on WebSocket", run: func(t *testing.T, e *env) {
			_, resp, err := e.dialRaw(t, transports.NewToken(), nil)
			wantRefused(t, resp, err, 404, "No Connection with that ID")
		}},
		{name: "token/unknown on SSE", run: func(t *testing.T, e *env) {
			st, body, _ := e.do(t, "GET", "/hub?id="+transports.NewToken(), http.Header{"Accept": {"text/event-stream"}}, "")
			wantHTTP(t, st, body, 404, "No Connection with that ID")
		}},
		{name: "token/unknown on a long poll", run: func(t *testing.T, e *env) {
			st, body, _ := e.do(t, "GET", "/hub?id="+transports.NewToken(), nil, "")
			wantHTTP(t, st, body, 404, "No Connection with that ID")
		}},
		{name: "token/unknown on POST", run: func(t *testing.T, e *env) {
			st, body, _ := e.do(t, "POST", "/hub?id="+transports.NewToken(), nil, `{"type":6}`+rs)
			wantHTTP(t, st, body, 404, "No Connection with that ID")
		}},
		{name: "token/unknown on DELETE", run: func(t *testing.T, e *env) {
			st, body, _ := e.do(t, "DELETE", "/hub?id="+transports.NewToken(), nil, "")
			wantHTTP(t, st, body, 404, "No Connection with that ID")
		}},
		{name: "token/forged with path traversal and NUL", run: func(t *testing.T, e *env) {
			st, body, _ := e.do(t, "GET", "/hub?id=..%2F..%2Fetc%2Fpasswd%00", nil, "")
			wantHTTP(t, st, body, 404, "No Connection with that ID")
		}},
		{name: "token/forged 8 KB long", run: func(t *testing.T, e *env) {
			st, body, _ := e.do(t, "POST", "/hub?id="+strings.Repeat("A", 8<<10), nil, `{"type":6}`+rs)
			wantHTTP(t, st, body, 404, "No Connection with that ID")
		}},
		{name: "token/forged one character off a real one", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			forged := []byte(n.ConnectionToken)
			forged[len(forged)-1] ^= 1
			st, body, _ := e.do(t, "GET", "/hub?id="+string(forged), nil, "")
			wantHTTP(t, st, body, 404, "No Connection with that ID")
		}},
		{name: "token/connectionId used as the token", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			st, body, _ := e.do(t, "GET", "/hub?id="+n.ConnectionID, nil, "")
			wantHTTP(t, st, body, 404, "No Connection with that ID")
			_, resp, err := e.dialRaw(t, n.ConnectionID, nil)
			wantRefused(t, resp, err, 404, "No Connection with that ID")
			st, body, _ = e.do(t, "POST", "/hub?id="+n.ConnectionID, nil, `{"type":6}`+rs)
			wantHTTP(t, st, body, 404, "No Connection with that ID")
		}},
		{name: "token/duplicated id parameter, unknown one first", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			st, body, _ := e.do(t, "GET", "/hub?id=nope&id="+n.ConnectionToken, nil, "")
			wantHTTP(t, st, body, 404, "No Connection with that ID")
		}},
		{name: "token/replayed after the WebSocket closed", run: func(t *testing.T, e *env) {
			c, n := e.connectWS(t, nil)
			c.send(t, `{"type":7}`+rs)
			c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			c.wantEnd(t)
			// 409 is allowed while the server is still tearing the connection down.
			eventually(t, "replayed token refused with 404", func() bool {
				_, resp, err := e.dialRaw(t, n.ConnectionToken, nil)
				if err == nil {
					t.Fatal("replayed token upgraded")
				}
				if resp == nil || (resp.StatusCode != 404 && resp.StatusCode != 409) {
					t.Fatalf("replay: %v %v", resp, err)
				}
				return resp.StatusCode == 404
			})
			st, body, _ := e.do(t, "GET", "/hub?id="+n.ConnectionToken, nil, "")
			wantHTTP(t, st, body, 404, "No Connection with that ID")
		}},
		{name: "token/replayed after a long-polling DELETE", run: func(t *testing.T, e *env) {
			lp := e.openLP(t, nil)
			st, body := lp.do(t, "DELETE", nil, "")
			wantHTTP(t, st, body, 202, "")
			// The session outlives the connection so the client learns of the end.
			st, body = lp.poll(t)
			wantHTTP(t, st, body, 204, "")
			st, body = lp.post(t, `{"type":1,"invocationId":"1","target":"Echo","arguments":[1]}`+rs)
			wantHTTP(t, st, body, 404, "connection closed")
			st, body = lp.do(t, "DELETE", nil, "")
			wantHTTP(t, st, body, 202, "") // idempotent: the client's Close may have ended it first
		}},
		{name: "token/long-polling token replayed after the disconnect timeout", opts: func(o *hub.Options) {
			o.TransportOptions.DisconnectTimeout = 800 * time.Millisecond
		}, run: func(t *testing.T, e *env) {
			lp := e.openLP(t, nil)
			st, body := lp.do(t, "DELETE", nil, "")
			wantHTTP(t, st, body, 202, "")
			st, body = lp.poll(t)
			wantHTTP(t, st, body, 204, "")
			// Keep the bystander polling (it would time out too) until the
			// attacker's session is forgotten.
			eventually(t, "token forgotten after the disconnect timeout", func() bool {
				e.lp.idlePoll(t)
				st, _ := lp.poll(t)
				if st != 204 && st != 404 {
					t.Fatalf("poll after DELETE: %d", st)
				}
				return st == 404
			})
			st, body = lp.post(t, `{"type":6}`+rs)
			wantHTTP(t, st, body, 404, "No Connection with that ID")
		}},
		{name: "token/second WebSocket on a claimed token", run: func(t *testing.T, e *env) {
			_, n := e.connectWS(t, nil)
			_, resp, err := e.dialRaw(t, n.ConnectionToken, nil)
			wantRefused(t, resp, err, 409, "Another WebSockets request is already active for this connection")
		}},
		{name: "token/SSE on a long-polling connection", run: func(t *testing.T, e *env) {
			lp := e.openLP(t, nil)
			st, body := lp.do(t, "GET", http.Header{"Accept": {"text/event-stream"}}, "")
			wantHTTP(t, st, body, 400, "Cannot change transports mid-connection")
		}},
		{name: "token/long poll on a WebSocket connection", run: func(t *testing.T, e *env) {
			_, n := e.connectWS(t, nil)
			st, body, _ := e.do(t, "GET", "/hub?id="+n.ConnectionToken, nil, "")
			wantHTTP(t, st, body, 400, "Cannot change transports mid-connection")
		}},
		{name: "token/WebSocket on an SSE connection", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			e.openSSE(t, n.ConnectionToken, nil)
			_, resp, err := e.dialRaw(t, n.ConnectionToken, nil)
			wantRefused(t, resp, err, 400, "Cannot change transports mid-connection")
		}},
		{name: "token/second SSE stream", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			e.openSSE(t, n.ConnectionToken, nil)
			st, body, _ := e.do(t, "GET", "/hub?id="+n.ConnectionToken, http.Header{"Accept": {"text/event-stream"}}, "")
			wantHTTP(t, st, body, 409, "Another ServerSentEvents request is already active for this connection")
		}},
		{name: "token/POST before any transport", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			st, body, _ := e.do(t, "POST", "/hub?id="+n.ConnectionToken, nil, `{"protocol":"json","version":1}`+rs)
			wantHTTP(t, st, body, 400, "No transport is open for this connection yet")
		}},
	}
}

// hostileAuthCases present bad credentials to a hub behind jwtauth: none, another
// key's, alg none, expired, and another user's connection token.
func hostileAuthCases() []hostileCase {
	return []hostileCase{
		{name: "auth/no bearer token", opts: withJWT, as: bearer(hostileBystanderUser), run: func(t *testing.T, e *env) {
			st, body, h := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", nil, "")
			wantHTTP(t, st, body, 401, "Unauthorized: missing bearer token")
			if h.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("WWW-Authenticate %q", h.Get("WWW-Authenticate"))
			}
		}},
		{name: "auth/JWT signed with another secret", opts: withJWT, as: bearer(hostileBystanderUser), run: func(t *testing.T, e *env) {
			forged := http.Header{"Authorization": {"Bearer " + signJWT(t, jwt.SigningMethodHS256, []byte("not-the-secret"), "alice", time.Hour)}}
			st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", forged, "")
			wantHTTP(t, st, body, 401, "Unauthorized: invalid token: bad signature")
		}},
		{name: "auth/JWT with alg none", opts: withJWT, as: bearer(hostileBystanderUser), run: func(t *testing.T, e *env) {
			none := http.Header{"Authorization": {"Bearer " + signJWT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "alice", time.Hour)}}
			st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", none, "")
			wantHTTP(t, st, body, 401, "Unauthorized: invalid token: bad signature")
		}},
		{name: "auth/expired JWT", opts: withJWT, as: bearer(hostileBystanderUser), run: func(t *testing.T, e *env) {
			old := http.Header{"Authorization": {"Bearer " + signJWT(t, jwt.SigningMethodHS256, jwtSecret, "alice", -time.Hour)}}
			st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", old, "")
			wantHTTP(t, st, body, 401, "Unauthorized: invalid token: token expired")
		}},
		{name: "auth/another user's connection token", opts: withJWT, as: bearer(hostileBystanderUser), run: func(t *testing.T, e *env) {
			alice, mallory := bearer("alice"), bearer("mallory")
			// Alice's WebSocket connection: mallory cannot open, poll or post on it.
			aliceWS := e.negotiate(t, alice)
			_, resp, err := e.dialRaw(t, aliceWS.ConnectionToken, mallory)
			wantRefused(t, resp, err, 403, "Forbidden: this connection belongs to another user")
			for _, method := range []string{"GET", "POST", "DELETE"} {
				st, body, _ := e.do(t, method, "/hub?id="+aliceWS.ConnectionToken, mallory, `{"type":6}`+rs)
				wantHTTP(t, st, body, 403, "Forbidden: this connection belongs to another user")
			}
			// Alice's token is not burnt by the attempts.
			c := e.dialToken(t, aliceWS.ConnectionToken, alice)
			c.send(t, `{"type":1,"invocationId":"w","target":"Whoami","arguments":[]}`+rs)
			if r := c.completion(t, "w"); !strings.Contains(string(r.Result), `"userId":"alice"`) {
				t.Errorf("Whoami %s", r.Result)
			}
			// Alice's long-polling connection: mallory cannot send on it either.
			lp := e.openLP(t, alice)
			st, body := lp.do(t, "POST", mallory, `{"type":1,"invocationId":"x","target":"Echo","arguments":[1]}`+rs)
			wantHTTP(t, st, body, 403, "Forbidden: this connection belongs to another user")
			e.wantLogged(t, "hub: connection token used by another user")
		}},
	}
}

// hostileTransportCases abuse the transports: bodies and messages over the limits,
// requests a connection's transport does not take, garbage in place of the handshake,
// and what follows a refused handshake or a protocol error.
func hostileTransportCases() []hostileCase {
	return []hostileCase{
		{name: "transport/POST body over the limit", run: func(t *testing.T, e *env) {
			lp := e.openLP(t, nil)
			st, body := lp.post(t, strings.Repeat("x", hostileMaxTransport+1))
			wantHTTP(t, st, body, 413, "message too large")
			lp.wantAlive(t)
		}},
		{name: "transport/chunked POST body over the limit", run: func(t *testing.T, e *env) {
			lp := e.openLP(t, nil)
			// No Content-Length: the limit is found while reading.
			body := struct{ io.Reader }{strings.NewReader(strings.Repeat("x", 2*hostileMaxTransport))}
			req, _ := http.NewRequest("POST", lp.url, body)
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if req.ContentLength != 0 && req.ContentLength != -1 {
				t.Fatalf("request has a Content-Length (%d)", req.ContentLength)
			}
			wantHTTP(t, resp.StatusCode, string(b), 413, "message too large")
			lp.wantAlive(t)
		}},
		{name: "transport/POST to a WebSocket connection", run: func(t *testing.T, e *env) {
			c, n := e.connectWS(t, nil)
			st, body, _ := e.do(t, "POST", "/hub?id="+n.ConnectionToken, nil, `{"type":6}`+rs)
			wantHTTP(t, st, body, 405, "POST requests are not allowed for WebSocket connections")
			c.wantAlive(t)
		}},
		{name: "transport/DELETE on a WebSocket connection", run: func(t *testing.T, e *env) {
			c, n := e.connectWS(t, nil)
			st, body, _ := e.do(t, "DELETE", "/hub?id="+n.ConnectionToken, nil, "")
			wantHTTP(t, st, body, 400, "DELETE is only allowed for long polling connections")
			c.wantAlive(t)
		}},
		{name: "transport/DELETE on an SSE connection", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			e.openSSE(t, n.ConnectionToken, nil)
			st, body, _ := e.do(t, "DELETE", "/hub?id="+n.ConnectionToken, nil, "")
			wantHTTP(t, st, body, 400, "DELETE is only allowed for long polling connections")
		}},
		{name: "transport/PUT on a connection", run: func(t *testing.T, e *env) {
			lp := e.openLP(t, nil)
			st, body := lp.do(t, "PUT", nil, `{"type":6}`+rs)
			wantHTTP(t, st, body, 405, "Method not allowed")
			lp.wantAlive(t)
		}},
		{name: "transport/WebSocket message over the limit", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			big := `{"type":1,"invocationId":"1","target":"Echo","arguments":["` + strings.Repeat("x", hostileMaxTransport) + `"]}` + rs
			c.ws.WriteMessage(websocket.TextMessage, []byte(big))
			if err := c.readUntilError(t); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
				t.Errorf("got %v, want close 1009 (message too big)", err)
			}
		}},
		{name: "transport/binary garbage as the handshake", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			ws, resp, err := e.dialRaw(t, n.ConnectionToken, nil)
			if err != nil {
				t.Fatalf("dial: %v %v", resp, err)
			}
			c := &client{ws: ws}
			ws.WriteMessage(websocket.BinaryMessage, []byte("\x00\xff\xfe\x91\x1e"))
			got := read(t, ws)
			if !strings.HasPrefix(got, `{"error":"An unexpected error occurred during connection handshake. `) || !strings.Contains(got, "not valid UTF-8") {
				t.Errorf("handshake reply %q", got)
			}
			if err := c.readUntilError(t); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("after a refused handshake: %v, want close 1000", err)
			}
		}},
		{name: "transport/binary garbage after the handshake", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.ws.WriteMessage(websocket.BinaryMessage, []byte("\x00\xff\xfe\x91\x1e"))
			c.wantClose(t, "Connection closed with an error. InvalidDataException: protocol: invalid message: record is not valid UTF-8")
		}},
		{name: "transport/JSON in a binary WebSocket frame is accepted", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"type":1,"invocationId":"b","target":"Add","arguments":[2,3]}`+rs))
			if r := c.completion(t, "b"); string(r.Result) != "5" || r.Error != nil {
				t.Errorf("completion %+v", r)
			}
		}},
		{name: "transport/odd content types are accepted on POST", run: func(t *testing.T, e *env) {
			lp := e.openLP(t, nil)
			for i, ct := range []string{"image/png", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
				id := fmt.Sprint("ct", i)
				st, body := lp.do(t, "POST", http.Header{"Content-Type": {ct}}, `{"type":1,"invocationId":"`+id+`","target":"Add","arguments":[1,`+fmt.Sprint(i)+`]}`+rs)
				wantHTTP(t, st, body, 200, "")
				if r := lp.completion(t, id); string(r.Result) != fmt.Sprint(1+i) {
					t.Errorf("Content-Type %q: completion %+v", ct, r)
				}
			}
		}},
		{name: "transport/second handshake after a refused one", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			lp := &lpConn{url: e.srv.URL + "/hub?id=" + n.ConnectionToken}
			st, body := lp.poll(t)
			wantHTTP(t, st, body, 200, "")
			st, body = lp.post(t, `{"protocol":"xml","version":1}`+rs)
			wantHTTP(t, st, body, 200, "")
			// The connection is over: a retried handshake must not revive it, and
			// what follows it must not run.
			st, body = lp.post(t, `{"protocol":"json","version":1}`+rs+`{"type":1,"invocationId":"1","target":"Broadcast","arguments":["Late",1]}`+rs)
			if st != 404 && st != 200 {
				t.Errorf("POST after a refused handshake: %d %q", st, body)
			}
			e.wantNoBroadcast(t, "Late")
			st, body = lp.poll(t)
			wantHTTP(t, st, body, 200, `{"error":"The protocol 'xml' is not supported."}`+rs)
			st, body = lp.poll(t)
			wantHTTP(t, st, body, 204, "")
		}},
		{name: "protocol/messages after a protocol error are not run", run: func(t *testing.T, e *env) {
			lp := e.openLP(t, nil)
			st, body := lp.post(t, `{"type":1,`+rs)
			wantHTTP(t, st, body, 200, "")
			// The Close waits for the next poll; until then the connection must not
			// run anything else the client sends.
			st, body = lp.post(t, `{"type":1,"invocationId":"1","target":"Broadcast","arguments":["Late",1]}`+rs)
			if st != 404 && st != 200 {
				t.Errorf("POST after a protocol error: %d %q", st, body)
			}
			e.wantNoBroadcast(t, "Late")
			r := lp.await(t, "Close", func(r record) bool { return r.Type == 7 || r.Type == 3 })
			if r.Type != 7 || r.errText() != "Connection closed with an error. InvalidDataException: protocol: invalid message: unexpected end of JSON input" {
				t.Errorf("got %+v, want the Close", r)
			}
			st, body = lp.poll(t)
			wantHTTP(t, st, body, 204, "")
		}},
	}
}

// hostileSlowlorisCases are clients that open a connection and then stall: no
// handshake, half a handshake, half a POST body.
func hostileSlowlorisCases() []hostileCase {
	return []hostileCase{
		{name: "transport/slowloris WebSocket never sends the handshake", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			ws, resp, err := e.dialRaw(t, n.ConnectionToken, nil)
			if err != nil {
				t.Fatalf("dial: %v %v", resp, err)
			}
			start := time.Now()
			err = (&client{ws: ws}).readUntilError(t)
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				t.Errorf("got %v, want close 1000", err)
			}
			if d := time.Since(start); d < hostileHandshake*8/10 || d > hostileHandshake+3*time.Second {
				t.Errorf("closed after %v, want about %v", d, hostileHandshake)
			}
			eventually(t, "token forgotten after the handshake timeout", func() bool {
				st, _, _ := e.do(t, "GET", "/hub?id="+n.ConnectionToken, nil, "")
				return st == 404
			})
		}},
		{name: "transport/slowloris long poll never sends the handshake", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			lp := &lpConn{url: e.srv.URL + "/hub?id=" + n.ConnectionToken}
			st, body := lp.poll(t)
			wantHTTP(t, st, body, 200, "")
			// The next poll is held until the handshake timeout ends the connection.
			start := time.Now()
			st, body = lp.poll(t)
			for st == 200 && body == "" && time.Since(start) < hostileWaitFor {
				st, body = lp.poll(t)
			}
			wantHTTP(t, st, body, 204, "")
		}},
		{name: "transport/slowloris handshake split across two frames", run: func(t *testing.T, e *env) {
			n := e.negotiate(t, nil)
			ws, resp, err := e.dialRaw(t, n.ConnectionToken, nil)
			if err != nil {
				t.Fatalf("dial: %v %v", resp, err)
			}
			write(t, ws, `{"protocol":"json",`)
			got := read(t, ws)
			if !strings.HasPrefix(got, `{"error":"An unexpected error occurred during connection handshake. handshake: protocol: message is incomplete`) || !strings.HasSuffix(got, `"}`+rs) {
				t.Errorf("handshake reply %q", got)
			}
		}},
		{name: "transport/slowloris POST body holds only its own connection", run: func(t *testing.T, e *env) {
			lp := e.openLP(t, nil)
			// A POST that declares 100 bytes and sends 10, then stalls.
			var conn net.Conn
			stall := func() {
				if conn != nil {
					conn.Close()
				}
				var err error
				if conn, err = net.Dial("tcp", e.srv.Listener.Addr().String()); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\n{\"type\":6}", strings.TrimPrefix(lp.url, e.srv.URL), e.srv.Listener.Addr())
			}
			stall()
			defer func() { conn.Close() }()
			// A concurrent POST on the same connection is refused while it stalls.
			eventually(t, "concurrent POST refused with 409", func() bool {
				// The stalled POST itself may have met one of ours and been
				// refused: then stall again.
				conn.SetReadDeadline(time.Now().Add(time.Millisecond))
				if n, _ := conn.Read(make([]byte, 1)); n > 0 {
					stall()
				}
				st, body := lp.post(t, `{"type":6}`+rs)
				switch st {
				case 200:
				case 409:
					wantHTTP(t, st, body, 409, "another send is in progress")
				default:
					t.Fatalf("concurrent POST: %d %q", st, body)
				}
				return st == 409
			})
			// The stalled client gives up: its POST fails, the connection carries on.
			conn.Close()
			eventually(t, "POST accepted again", func() bool {
				st, _ := lp.post(t, `{"type":6}`+rs)
				return st == 200
			})
			lp.wantAlive(t)
		}},
	}
}

// hostileProtocolCases send hub protocol messages that are malformed, or name
// methods, streams and invocations that do not exist or are someone else's, and a
// method that panics.
func hostileProtocolCases() []hostileCase {
	return []hostileCase{
		{name: "protocol/malformed JSON", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,`+rs)
			c.wantClose(t, "Connection closed with an error. InvalidDataException: protocol: invalid message: unexpected end of JSON input")
		}},
		{name: "protocol/invalid UTF-8 in a string", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, "{\"type\":1,\"target\":\"Echo\",\"arguments\":[\"\xc3\x28\"]}"+rs)
			c.wantClose(t, "Connection closed with an error. InvalidDataException: protocol: invalid message: record is not valid UTF-8")
		}},
		{name: "protocol/deep nesting within the decoder limit is echoed", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
			c.send(t, `{"type":1,"invocationId":"d","target":"Echo","arguments":[`+deep+`]}`+rs)
			if r := c.completion(t, "d"); string(r.Result) != deep {
				t.Errorf("deep value not echoed: %d bytes, error %v", len(r.Result), r.Error)
			}
		}},
		{name: "protocol/deep nesting beyond the decoder limit", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			deep := strings.Repeat("[", 12000) + strings.Repeat("]", 12000)
			c.send(t, `{"type":1,"invocationId":"d","target":"Echo","arguments":[`+deep+`]}`+rs)
			c.wantClosePrefix(t, "Connection closed with an error. InvalidDataException: protocol: invalid message: ", "exceeded max depth")
		}},
		{name: "protocol/huge float for an int64", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"h","target":"Add","arguments":[1e400,2]}`+rs)
			c.wantError(t, "h", addBindError+"Error binding arguments. Argument 1 cannot be read as int64 (got 1e400).")
		}},
		{name: "protocol/integer over int64", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"h","target":"Add","arguments":[1,9223372036854775808]}`+rs)
			c.wantError(t, "h", addBindError+"Error binding arguments. Argument 2 cannot be read as int64 (got 9223372036854775808).")
		}},
		{name: "protocol/huge integer is echoed exactly", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			big := "123456789012345678901234567890123456789"
			c.send(t, `{"type":1,"invocationId":"h","target":"Echo","arguments":[`+big+`]}`+rs)
			if r := c.completion(t, "h"); string(r.Result) != big {
				t.Errorf("result %s, want %s", r.Result, big)
			}
		}},
		{name: "protocol/arguments not an array", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"1","target":"Add","arguments":{"0":1,"1":2}}`+rs)
			c.wantClose(t, "Connection closed with an error. InvalidDataException: protocol: invalid message: Invocation requires 'arguments' (an array)")
		}},
		{name: "protocol/empty target", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"1","target":"","arguments":[]}`+rs)
			c.wantClose(t, "Connection closed with an error. InvalidDataException: protocol: invalid message: Invocation requires a non-empty 'target'")
		}},
		{name: "protocol/invocation id not a string", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":7,"target":"Add","arguments":[1,2]}`+rs)
			c.wantClose(t, "Connection closed with an error. InvalidDataException: protocol: invalid message: 'invocationId' must be a string")
		}},
		{name: "protocol/headers not strings", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"1","target":"Add","arguments":[1,2],"headers":{"a":1}}`+rs)
			c.wantClose(t, "Connection closed with an error. InvalidDataException: protocol: invalid message: 'headers' must be an object of strings")
		}},
		{name: "protocol/unknown message type is ignored", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":99,"invocationId":"x","whatever":[1,2,3]}`+rs+`{"type":1,"invocationId":"a","target":"Add","arguments":[1,2]}`+rs)
			if r := c.completion(t, "a"); string(r.Result) != "3" {
				t.Errorf("completion %+v", r)
			}
		}},
		{name: "protocol/unknown method", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"u","target":"Nope","arguments":[]}`+rs)
			c.wantError(t, "u", "Unknown hub method 'Nope'")
			c.wantAlive(t)
		}},
		{name: "protocol/ten thousand arguments", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			args := strings.TrimSuffix(strings.Repeat("0,", 10000), ",")
			c.send(t, `{"type":1,"invocationId":"n","target":"Add","arguments":[`+args+`]}`+rs)
			c.wantError(t, "n", addBindError+"Invocation provides 10000 argument(s) but target expects 2.")
		}},
		{name: "protocol/wrong argument type", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"w","target":"Add","arguments":[1,{"a":1}]}`+rs)
			c.wantError(t, "w", addBindError+`Error binding arguments. Argument 2 cannot be read as int64 (got {"a":1}).`)
		}},
		{name: "protocol/null for an int64", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"n","target":"Add","arguments":[1,null]}`+rs)
			c.wantError(t, "n", addBindError+"Error binding arguments. Argument 2 cannot be read as int64 (got null).")
		}},
		{name: "protocol/stream item for an unknown stream id is ignored", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":2,"invocationId":"nope","item":1}`+rs)
			c.wantAlive(t)
		}},
		{name: "protocol/completion for an unknown invocation is ignored", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":3,"invocationId":"h1","result":1}`+rs+`{"type":3,"invocationId":"zz","error":"x"}`+rs)
			c.wantAlive(t)
		}},
		{name: "protocol/cancel for an unknown invocation is ignored", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":5,"invocationId":"nope"}`+rs)
			c.wantAlive(t)
		}},
		{name: "protocol/completion with both result and error", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":3,"invocationId":"1","result":1,"error":"x"}`+rs)
			c.wantClose(t, "Connection closed with an error. InvalidDataException: protocol: invalid message: Completion carries both 'result' and 'error'")
		}},
		{name: "protocol/stream item of the wrong type", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"s","target":"Sum","arguments":[],"streamIds":["up"]}`+rs)
			c.send(t, `{"type":2,"invocationId":"up","item":"not a number"}`+rs)
			c.wantClose(t, "Connection closed with an error. InvalidDataException: stream item for stream 'up': protocol: decode \"not a number\": json: cannot unmarshal string into Go value of type float64")
		}},
		{name: "protocol/cancel of another connection's invocation", run: func(t *testing.T, e *env) {
			// The bystander starts a stream; the attacker cancels the same invocation ID.
			e.ws.send(t, `{"type":4,"invocationId":"victim","target":"Counter","arguments":[8,40]}`+rs)
			first := e.ws.await(t, "first item", func(r record) bool { return r.Type == 2 && r.InvocationID == "victim" })
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":5,"invocationId":"victim"}`+rs)
			c.wantAlive(t)
			items := []string{string(first.Item)}
			for {
				r := e.ws.await(t, "stream", func(r record) bool { return r.InvocationID == "victim" })
				if r.Type == 3 {
					if r.Error != nil || r.Result != nil {
						t.Errorf("stream completion %+v", r)
					}
					break
				}
				items = append(items, string(r.Item))
			}
			if got := strings.Join(items, ","); got != "0,1,2,3,4,5,6,7" {
				t.Errorf("bystander's stream got %s, want all 8 items", got)
			}
		}},
		{name: "protocol/stream ids for a method without streams", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"x","target":"Add","arguments":[1,2],"streamIds":["a"]}`+rs)
			c.wantError(t, "x", addBindError+"Invocation provides 1 stream(s) but target expects 0.")
			c.wantAlive(t)
		}},
		{name: "protocol/stateful-reconnect messages without negotiating it are ignored", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":8,"sequenceId":99999}`+rs+`{"type":9,"sequenceId":-5}`+rs)
			c.wantAlive(t)
		}},
		{name: "protocol/handler panic", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"p","target":"Panic","arguments":[]}`+rs)
			c.wantError(t, "p", "An unexpected error occurred invoking 'Panic' on the server.")
			c.wantAlive(t)
			e.wantLogged(t, "level=ERROR msg=\"hub: method failed\"", `err="panic: hostile test panic" stack="goroutine `)
		}},
	}
}

// hostileLimitCases run into the per-connection limits: the message rate, groups,
// streams, invocation IDs in use, and the queue of a client that does not read.
func hostileLimitCases() []hostileCase {
	return []hostileCase{
		{name: "protocol/message flood", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			var flood strings.Builder
			for i := range 2 * hostileBurst {
				fmt.Fprintf(&flood, `{"type":1,"invocationId":"f%d","target":"Add","arguments":[%d,1]}`+rs, i, i)
			}
			c.send(t, flood.String())
			limited := 0
			for {
				r, ok := c.nextOrEnd(t)
				if !ok {
					// The Close record can be lost (see the next case); the
					// connection is closed either way.
					t.Logf("connection closed without its Close record after %d rate-limit errors", limited)
					return
				}
				if r.Type == 7 {
					if r.errText() != "Connection closed: too many messages." || r.AllowReconnect {
						t.Errorf("Close %+v", r)
					}
					break
				}
				if r.Type == 3 && r.Error != nil {
					if *r.Error != fmt.Sprintf("Rate limit exceeded: at most %d messages per second.", hostileRate) {
						t.Errorf("error completion %q", *r.Error)
					}
					limited++
				}
			}
			if limited != hostileStrikes {
				t.Errorf("%d rate-limit errors before the Close, want %d", limited, hostileStrikes)
			}
			if err := c.readUntilError(t); err == nil {
				t.Error("connection open after the rate-limit Close")
			}
			e.wantLogged(t, "hub: closing a connection over its rate limit")
		}},
		{name: "protocol/the Close after a flood is never lost", run: func(t *testing.T, e *env) {
			var flood strings.Builder
			for i := range 2 * hostileBurst {
				fmt.Fprintf(&flood, `{"type":1,"invocationId":"f%d","target":"Add","arguments":[%d,1]}`+rs, i, i)
			}
			for i := range 100 {
				c := &client{ws: dialWS(t, e.srv)}
				c.send(t, flood.String())
				for {
					r, ok := c.nextOrEnd(t)
					if !ok {
						t.Fatalf("attempt %d: connection closed without the Close record", i)
					}
					if r.Type == 7 {
						break
					}
				}
				c.ws.Close()
			}
		}},
		{name: "protocol/too many groups", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			for i := range hostileMaxGroups {
				id := fmt.Sprint("g", i)
				c.send(t, `{"type":1,"invocationId":"`+id+`","target":"JoinGroup","arguments":["room`+fmt.Sprint(i)+`"]}`+rs)
				if r := c.completion(t, id); r.Error != nil {
					t.Fatalf("join %d: %s", i, *r.Error)
				}
			}
			c.send(t, `{"type":1,"invocationId":"over","target":"JoinGroup","arguments":["one-too-many"]}`+rs)
			c.wantError(t, "over", "Too many groups for this connection.")
			// Joining a group it is already in is no new group.
			c.send(t, `{"type":1,"invocationId":"again","target":"JoinGroup","arguments":["room0"]}`+rs)
			if r := c.completion(t, "again"); r.Error != nil {
				t.Errorf("re-join: %s", *r.Error)
			}
		}},
		{name: "protocol/too many streams", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			for i := range hostileMaxStreams {
				id := fmt.Sprint("s", i)
				c.send(t, `{"type":4,"invocationId":"`+id+`","target":"Counter","arguments":[1000,10000]}`+rs)
				c.await(t, "first item of "+id, func(r record) bool { return r.Type == 2 && r.InvocationID == id })
			}
			c.send(t, `{"type":4,"invocationId":"over","target":"Counter","arguments":[1,0]}`+rs)
			c.wantError(t, "over", fmt.Sprintf("Too many streams open on this connection (limit %d).", hostileMaxStreams))
			// Cancelling one frees its slot.
			c.send(t, `{"type":5,"invocationId":"s0"}`+rs)
			if r := c.completion(t, "s0"); r.Error != nil {
				t.Errorf("cancelled stream: %+v", r)
			}
			// (The slot is released just after the Completion is sent: retry.)
			for i := 0; ; i++ {
				id := fmt.Sprint("late", i)
				c.send(t, `{"type":4,"invocationId":"`+id+`","target":"Counter","arguments":[1,0]}`+rs)
				r := c.await(t, "answer to "+id, func(r record) bool { return r.InvocationID == id })
				if r.Type == 2 {
					break
				}
				if i == 50 || r.errText() != fmt.Sprintf("Too many streams open on this connection (limit %d).", hostileMaxStreams) {
					t.Fatalf("stream after a cancel: %+v", r)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}},
		{name: "protocol/a stream's slot is free once its Completion is out", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":4,"invocationId":"hold","target":"Counter","arguments":[1000,10000]}`+rs)
			c.await(t, "item of hold", func(r record) bool { return r.Type == 2 && r.InvocationID == "hold" })
			// Fewer rounds than the burst allows, so the rate limit stays out of it.
			for i := range hostileBurst / 3 {
				id := fmt.Sprint("s", i)
				c.send(t, `{"type":4,"invocationId":"`+id+`","target":"Counter","arguments":[1,0]}`+rs)
				if r := c.await(t, "answer to "+id, func(r record) bool { return r.InvocationID == id }); r.Type != 2 {
					t.Fatalf("stream %d after the previous one completed: %+v %s", i, r, r.errText())
				}
				if r := c.completion(t, id); r.Error != nil {
					t.Fatalf("stream %d: %+v", i, r)
				}
			}
		}},
		{name: "protocol/invocation id already in use", run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":4,"invocationId":"dup","target":"Counter","arguments":[1000,10000]}`+rs)
			c.await(t, "first item", func(r record) bool { return r.Type == 2 && r.InvocationID == "dup" })
			// A second call under the same ID would make both streams share it, and
			// leave one of them impossible to cancel.
			c.send(t, `{"type":4,"invocationId":"dup","target":"Counter","arguments":[1000,10000]}`+rs)
			r := c.await(t, "the refusal", func(r record) bool { return r.InvocationID == "dup" })
			if r.Type != 3 || !strings.Contains(r.errText(), "Invocation ID 'dup' is already in use.") {
				t.Errorf("second invocation under a used ID: %+v, want an error Completion", r)
			}
			c.send(t, `{"type":5,"invocationId":"dup"}`+rs)
			if r := c.completion(t, "dup"); r.Error != nil {
				t.Errorf("cancelled stream: %+v", r)
			}
			c.wantAlive(t)
		}},
		{name: "protocol/slow consumer is cut off without holding up others", opts: func(o *hub.Options) {
			o.MaxQueueLength = 4
			o.TransportOptions.WriteTimeout = time.Second
		}, run: func(t *testing.T, e *env) {
			attacker := &client{ws: dialWS(t, e.srv)}
			ids := make([]string, 0, 2)
			for _, c := range []*client{attacker, e.ws} {
				c.send(t, `{"type":1,"invocationId":"who","target":"Whoami","arguments":[]}`+rs)
				var w struct {
					ConnectionID string `json:"connectionId"`
				}
				json.Unmarshal(c.completion(t, "who").Result, &w)
				ids = append(ids, w.ConnectionID)
			}
			// The attacker stops reading; the server keeps sending to both. Each
			// message waits for the bystander, so only the attacker falls behind.
			chunk := strings.Repeat("x", 64<<10)
			ctx, cancel := contextWithTimeout(hostileWaitFor)
			defer cancel()
			for i := 0; ; i++ {
				if i == 500 {
					t.Fatal("the attacker was not cut off after 500 messages of 64 KB")
				}
				if err := e.h.Clients().Clients(ids...).Send(ctx, "Feed", i, chunk); err != nil {
					t.Fatal(err)
				}
				e.ws.await(t, fmt.Sprint("feed ", i), func(r record) bool { return r.Type == 1 && r.Target == "Feed" })
				if strings.Contains(e.logs.String(), "hub: closing slow consumer") {
					break
				}
			}
			attacker.ws.SetReadDeadline(time.Now().Add(hostileWaitFor))
			for {
				if _, _, err := attacker.ws.ReadMessage(); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						t.Errorf("slow consumer's socket still open: %v", err)
					}
					break
				}
			}
		}},
	}
}

// addBindError starts the error a client gets when its arguments do not bind to Add.
const addBindError = "Failed to invoke 'Add' due to an error on the server. InvalidDataException: "

// ---- the environment: a server and its bystanders ----

type env struct {
	srv  *httptest.Server
	h    *hub.Hub
	logs *logBuffer
	ws   *client // the WebSocket bystander
	lp   *lpConn // the long-polling bystander
	n    int
}

func newEnv(t *testing.T, opts hub.Options, as http.Header) *env {
	t.Helper()
	logs := &logBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, h := server(t, opts)
	h.On("Panic", func() { panic("hostile test panic") })
	e := &env{srv: srv, h: h, logs: logs}
	if as == nil {
		e.ws = &client{ws: dialWS(t, srv)}
	} else {
		e.ws, _ = e.connectWS(t, as)
	}
	e.lp = e.openLP(t, as)
	return e
}

// checkBystanders has both bystanders call Echo and the server broadcast to
// everyone; each bystander must get its answer and the broadcast.
func (e *env) checkBystanders(t *testing.T, name string) {
	t.Helper()
	e.n++
	id := fmt.Sprint("bystander-", e.n)
	payload, _ := json.Marshal(name)
	echo := `{"type":1,"invocationId":"` + id + `","target":"Echo","arguments":[` + string(payload) + `]}` + rs
	e.ws.send(t, echo)
	if st, body := e.lp.post(t, echo); st != 200 {
		t.Fatalf("long-polling bystander: POST %d %q", st, body)
	}
	// Should a bystander hang, leave the goroutines' stacks for whoever debugs it.
	stuck := filepath.Join(os.TempDir(), "hubbub-hostile-stuck.txt")
	dump := time.AfterFunc(hostileWaitFor-time.Second, func() {
		buf := make([]byte, 4<<20)
		os.WriteFile(stuck, buf[:runtime.Stack(buf, true)], 0o644)
		t.Logf("a bystander is stuck: goroutines dumped to %s", stuck)
	})
	defer dump.Stop()
	ctx, cancel := contextWithTimeout(hostileWaitFor)
	defer cancel()
	if err := e.h.Clients().All().Send(ctx, "AfterCase", name); err != nil {
		t.Fatalf("broadcast: %v", err)
	}
	seen := func(c interface {
		await(*testing.T, string, func(record) bool) record
	}, who string) {
		echoed, cast := false, false
		c.await(t, who+" bystander's echo and broadcast", func(r record) bool {
			switch {
			case r.Type == 3 && r.InvocationID == id:
				var s string
				if r.Error != nil || json.Unmarshal(r.Result, &s) != nil || s != name {
					t.Errorf("%s bystander: echo %+v %s", who, r, r.errText())
				}
				echoed = true
			case r.Type == 1 && r.Target == "AfterCase" && len(r.Arguments) == 1:
				var s string
				json.Unmarshal(r.Arguments[0], &s)
				cast = cast || s == name
			}
			return echoed && cast
		})
	}
	seen(e.ws, "WebSocket")
	seen(e.lp, "long-polling")
}

// wantNoBroadcast checks the WebSocket bystander gets no invocation of target
// (which an attacker's handler would broadcast) before a marker broadcast now.
func (e *env) wantNoBroadcast(t *testing.T, target string) {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // give a wrongly started handler time to run
	e.n++
	marker := fmt.Sprint("marker-", e.n)
	ctx, cancel := contextWithTimeout(hostileWaitFor)
	defer cancel()
	// Through the backplane, as the attacker's broadcast would go.
	if err := e.h.Clients().All().Send(ctx, marker); err != nil {
		t.Fatal(err)
	}
	e.ws.await(t, marker, func(r record) bool {
		if r.Type == 1 && r.Target == target {
			t.Errorf("bystander got %s%s: the attacker's invocation ran", r.Target, r.Arguments)
		}
		return r.Type == 1 && r.Target == marker
	})
}

func (e *env) wantLogged(t *testing.T, parts ...string) {
	t.Helper()
	logs := e.logs.String()
	for _, p := range parts {
		if !strings.Contains(logs, p) {
			t.Errorf("log lacks %q", p)
		}
	}
}

var httpClient = &http.Client{Timeout: hostileWaitFor}

// do sends one request to the server and returns the status, body and headers.
func (e *env) do(t *testing.T, method, path string, hdr http.Header, body string) (int, string, http.Header) {
	t.Helper()
	return doURL(t, method, e.srv.URL+path, hdr, body)
}

func doURL(t *testing.T, method, url string, hdr http.Header, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %.80s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (e *env) negotiate(t *testing.T, hdr http.Header) negotiation {
	t.Helper()
	st, body, _ := e.do(t, "POST", "/hub/negotiate?negotiateVersion=1", hdr, "")
	return wantNegotiated(t, st, body).negotiation
}

func (e *env) wsURL(token string) string {
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/hub"
	if token != "" {
		u += "?id=" + token
	}
	return u
}

// dialRaw opens a WebSocket on token ("" skips negotiate) without the handshake.
func (e *env) dialRaw(t *testing.T, token string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(e.wsURL(token), hdr)
	if ws != nil {
		t.Cleanup(func() { ws.Close() })
	}
	return ws, resp, err
}

// dialToken opens a WebSocket on a negotiated token and does the handshake.
func (e *env) dialToken(t *testing.T, token string, hdr http.Header) *client {
	t.Helper()
	ws, resp, err := e.dialRaw(t, token, hdr)
	if err != nil {
		t.Fatalf("dial: %v %v", resp, err)
	}
	write(t, ws, `{"protocol":"json","version":1}`+rs)
	if got := read(t, ws); got != "{}"+rs {
		t.Fatalf("handshake reply %q", got)
	}
	return &client{ws: ws}
}

// connectWS is dialWS with credentials, also returning the negotiation.
func (e *env) connectWS(t *testing.T, hdr http.Header) (*client, negotiation) {
	t.Helper()
	n := e.negotiate(t, hdr)
	return e.dialToken(t, n.ConnectionToken, hdr), n
}

// openSSE opens an event stream on token and does the handshake over POST.
func (e *env) openSSE(t *testing.T, token string, hdr http.Header) *bufio.Reader {
	t.Helper()
	return openSSE(t, e.srv, token, hdr)
}

// openSSE opens an SSE stream on token and does the handshake, up to its event's
// data line; the stream is closed at the end of the test.
func openSSE(t *testing.T, srv *httptest.Server, token string, hdr http.Header) *bufio.Reader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/hub?id="+token, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("SSE: status %d", resp.StatusCode)
	}
	events := bufio.NewReader(resp.Body)
	if line, _ := events.ReadString('\n'); line != ":\r\n" {
		t.Fatalf("SSE preamble %q", line)
	}
	if st, body, _ := doURL(t, "POST", srv.URL+"/hub?id="+token, hdr, `{"protocol":"json","version":1}`+rs); st != 200 {
		t.Fatalf("SSE handshake POST: %d %q", st, body)
	}
	if line, _ := events.ReadString('\n'); line != "data: {}"+rs+"\r\n" {
		t.Fatalf("SSE handshake event %q", line)
	}
	return events
}

// ---- long polling ----

type lpConn struct {
	url     string
	hdr     http.Header
	pending []record
}

func (e *env) openLP(t *testing.T, hdr http.Header) *lpConn {
	t.Helper()
	n := e.negotiate(t, hdr)
	lp := &lpConn{url: e.srv.URL + "/hub?id=" + n.ConnectionToken, hdr: hdr}
	if st, body := lp.poll(t); st != 200 || body != "" {
		t.Fatalf("first poll: %d %q", st, body)
	}
	if st, body := lp.post(t, `{"protocol":"json","version":1}`+rs); st != 200 {
		t.Fatalf("handshake POST: %d %q", st, body)
	}
	if st, body := lp.poll(t); st != 200 || body != "{}"+rs {
		t.Fatalf("handshake poll: %d %q", st, body)
	}
	return lp
}

func (lp *lpConn) do(t *testing.T, method string, hdr http.Header, body string) (int, string) {
	t.Helper()
	all := http.Header{}
	for k, v := range lp.hdr {
		all[k] = v
	}
	for k, v := range hdr {
		all[k] = v
	}
	st, b, _ := doURL(t, method, lp.url, all, body)
	return st, b
}

func (lp *lpConn) poll(t *testing.T) (int, string) {
	t.Helper()
	return lp.do(t, "GET", nil, "")
}

func (lp *lpConn) post(t *testing.T, body string) (int, string) {
	t.Helper()
	return lp.do(t, "POST", nil, body)
}

// idlePoll polls once, expecting nothing: it keeps the connection alive.
func (lp *lpConn) idlePoll(t *testing.T) {
	t.Helper()
	st, body := lp.poll(t)
	if st != 200 {
		t.Fatalf("idle poll: %d %q", st, body)
	}
	lp.pending = append(lp.pending, parseRecords(t, body)...)
}

func (lp *lpConn) await(t *testing.T, what string, match func(record) bool) record {
	t.Helper()
	deadline := time.Now().Add(hostileWaitFor)
	for {
		for len(lp.pending) > 0 {
			r := lp.pending[0]
			lp.pending = lp.pending[1:]
			if match(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("long polling: no %s", what)
		}
		st, body := lp.poll(t)
		if st != 200 {
			t.Fatalf("long polling: poll %d %q while waiting for %s", st, body, what)
		}
		lp.pending = parseRecords(t, body)
	}
}

func (lp *lpConn) completion(t *testing.T, id string) record {
	t.Helper()
	return lp.await(t, "completion "+id, func(r record) bool { return r.Type == 3 && r.InvocationID == id })
}

// wantAlive checks the connection still answers.
func (lp *lpConn) wantAlive(t *testing.T) {
	t.Helper()
	if st, body := lp.post(t, `{"type":1,"invocationId":"alive","target":"Add","arguments":[20,22]}`+rs); st != 200 {
		t.Fatalf("POST: %d %q", st, body)
	}
	if r := lp.completion(t, "alive"); string(r.Result) != "42" {
		t.Errorf("alive check: %+v", r)
	}
}

// ---- WebSocket client ----

type client struct {
	ws      *websocket.Conn
	pending []record
}

func (c *client) send(t *testing.T, text string) {
	t.Helper()
	write(t, c.ws, text)
}

func (c *client) next(t *testing.T) record {
	t.Helper()
	for len(c.pending) == 0 {
		c.pending = parseRecords(t, read(t, c.ws))
	}
	r := c.pending[0]
	c.pending = c.pending[1:]
	return r
}

// nextOrEnd is next, reporting the end of the connection instead of failing.
func (c *client) nextOrEnd(t *testing.T) (record, bool) {
	t.Helper()
	for len(c.pending) == 0 {
		c.ws.SetReadDeadline(time.Now().Add(hostileWaitFor))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("read: %v", err)
			}
			return record{}, false
		}
		c.pending = parseRecords(t, string(b))
	}
	r := c.pending[0]
	c.pending = c.pending[1:]
	return r, true
}

func (c *client) await(t *testing.T, what string, match func(record) bool) record {
	t.Helper()
	for {
		if r := c.next(t); match(r) {
			return r
		} else if r.Type == 7 {
			t.Fatalf("closed (%s) while waiting for %s", r.errText(), what)
		}
	}
}

func (c *client) completion(t *testing.T, id string) record {
	t.Helper()
	return c.await(t, "completion "+id, func(r record) bool { return r.Type == 3 && r.InvocationID == id })
}

func (c *client) wantError(t *testing.T, id, want string) {
	t.Helper()
	r := c.completion(t, id)
	if r.Error == nil || *r.Error != want || r.Result != nil {
		t.Errorf("completion %s: error %q result %s, want error %q", id, r.errText(), r.Result, want)
	}
}

// wantAlive checks the connection still answers.
func (c *client) wantAlive(t *testing.T) {
	t.Helper()
	c.send(t, `{"type":1,"invocationId":"alive","target":"Add","arguments":[20,22]}`+rs)
	if r := c.completion(t, "alive"); string(r.Result) != "42" {
		t.Errorf("alive check: %+v", r)
	}
}

// wantClose reads up to a Close message, checks its error is want (and that it
// does not invite a reconnect), and checks the connection then ends.
func (c *client) wantClose(t *testing.T, want string) {
	t.Helper()
	c.wantCloseMatching(t, fmt.Sprintf("%q", want), func(got string) bool { return got == want })
}

// wantClosePrefix is wantClose for errors whose tail comes from a library.
func (c *client) wantClosePrefix(t *testing.T, prefix, contains string) {
	t.Helper()
	c.wantCloseMatching(t, fmt.Sprintf("%q...%q", prefix, contains), func(got string) bool {
		return strings.HasPrefix(got, prefix) && strings.Contains(got, contains)
	})
}

func (c *client) wantCloseMatching(t *testing.T, want string, ok func(string) bool) {
	t.Helper()
	for {
		r := c.next(t)
		if r.Type != 7 {
			continue
		}
		if !ok(r.errText()) || r.AllowReconnect {
			t.Errorf("Close error %q (allowReconnect %v), want %s", r.errText(), r.AllowReconnect, want)
		}
		break
	}
	c.wantEnd(t)
}

// wantEnd checks the server ends the connection.
func (c *client) wantEnd(t *testing.T) {
	t.Helper()
	err := c.readUntilError(t)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("connection still open: %v", err)
	}
}

// readUntilError reads until the connection fails and returns why.
func (c *client) readUntilError(t *testing.T) error {
	t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(hostileWaitFor))
	for {
		if _, _, err := c.ws.ReadMessage(); err != nil {
			return err
		}
	}
}

// ---- records ----

type record struct {
	Type           int               `json:"type"`
	InvocationID   string            `json:"invocationId"`
	Target         string            `json:"target"`
	Arguments      []json.RawMessage `json:"arguments"`
	Item           json.RawMessage   `json:"item"`
	Result         json.RawMessage   `json:"result"`
	Error          *string           `json:"error"`
	AllowReconnect bool              `json:"allowReconnect"`
}

func (r record) errText() string {
	if r.Error == nil {
		return ""
	}
	return *r.Error
}

// parseRecords splits a unit into its records, dropping pings.
func parseRecords(t *testing.T, unit string) []record {
	t.Helper()
	if unit != "" && !strings.HasSuffix(unit, rs) {
		t.Fatalf("unit does not end with RS: %.200q", unit)
	}
	var out []record
	for _, rec := range strings.Split(strings.TrimSuffix(unit, rs), rs) {
		if rec == "" {
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(rec), &r); err != nil {
			t.Fatalf("record %.200q: %v", rec, err)
		}
		if r.Type != 6 {
			out = append(out, r)
		}
	}
	return out
}

// ---- assertions and small helpers ----

// wantHTTP checks a plain HTTP answer: status, and body equal to reason (http.Error
// adds a newline).
func wantHTTP(t *testing.T, status int, body string, wantStatus int, reason string) {
	t.Helper()
	if status != wantStatus || strings.TrimSuffix(body, "\n") != reason {
		t.Errorf("got %d %q, want %d %q", status, body, wantStatus, reason)
	}
}

// wantRefused checks a WebSocket upgrade was refused with a plain HTTP answer.
func wantRefused(t *testing.T, resp *http.Response, err error, status int, reason string) {
	t.Helper()
	if err == nil {
		t.Errorf("upgrade succeeded, want %d %q", status, reason)
		return
	}
	if resp == nil {
		t.Errorf("no HTTP answer (%v), want %d %q", err, status, reason)
		return
	}
	b, _ := io.ReadAll(resp.Body)
	wantHTTP(t, resp.StatusCode, string(b), status, reason)
}

type negotiated struct {
	negotiation
	NegotiateVersion int `json:"negotiateVersion"`
}

func wantNegotiated(t *testing.T, status int, body string) negotiated {
	t.Helper()
	var n negotiated
	if status != 200 {
		t.Fatalf("negotiate: %d %q", status, body)
	}
	if err := json.Unmarshal([]byte(body), &n); err != nil || n.ConnectionID == "" {
		t.Fatalf("negotiate reply %q: %v", body, err)
	}
	return n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hostileWaitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", hostileWaitFor, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- JWT ----

var jwtSecret = []byte("hostile-test-secret")

func withJWT(o *hub.Options) {
	o.Authenticate = jwtauth.Authenticate(jwtauth.Options{Secret: jwtSecret})
}

func signJWT(t testing.TB, method jwt.SigningMethod, key any, user string, ttl time.Duration) string {
	s, err := jwt.NewWithClaims(method, jwt.MapClaims{"sub": user, "exp": time.Now().Add(ttl).Unix()}).SignedString(key)
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Fatal(err)
	}
	return s
}

// bearer returns an Authorization header with a valid token for user.
func bearer(user string) http.Header {
	return http.Header{"Authorization": {"Bearer " + signJWT(nil, jwt.SigningMethodHS256, jwtSecret, user, time.Hour)}}
}

// logBuffer collects a hub's logs for the cases that check what is logged.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
