package hub_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
)

// fromAddress makes a request look, to a hub that trusts 127.0.0.1 as a proxy,
// as if it came from addr.
func fromAddress(addr string) http.Header { return http.Header{"X-Forwarded-For": {addr}} }

// TestOneAddressCannotExhaustPendingNegotiations: one address negotiating as fast
// as it can, never connecting, is refused 429 at its own cap long before the
// hub-wide MaxPendingNegotiations; another address still negotiates and connects,
// with and without negotiate.
func TestOneAddressCannotExhaustPendingNegotiations(t *testing.T) {
	const hubWide = 1000
	refusals := &refusalCounter{}
	srv, _ := server(t, hub.Options{
		MaxPendingNegotiations: hubWide,
		TrustedProxies:         []string{"127.0.0.1"}, // so X-Forwarded-For can name a second address
		Observer:               refusals,
		Logger:                 slog.New(slog.DiscardHandler),
	})

	accepted := 0
	var status int
	var body string
	var hdr http.Header
	for range hubWide + 1 {
		status, body, hdr = doURL(t, "POST", srv.URL+"/hub/negotiate?negotiateVersion=1", nil, "")
		if status != http.StatusOK {
			break
		}
		accepted++
	}
	wantHTTP(t, status, body, http.StatusTooManyRequests, "Too many pending connections from this address")
	if accepted != hub.DefaultMaxPendingNegotiationsPerIP {
		t.Errorf("one address got %d pending negotiations, want %d", accepted, hub.DefaultMaxPendingNegotiationsPerIP)
	}
	if hdr.Get("Retry-After") == "" {
		t.Error("no Retry-After on the 429")
	}
	if n := refusals.count("Too many pending connections from this address"); n != 1 {
		t.Errorf("%d refusals counted, want 1", n)
	}
	// The address's WebSocket without negotiate is refused by the same cap.
	ws, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, ""), nil)
	if ws != nil {
		ws.Close()
	}
	wantRefused(t, resp, err, http.StatusTooManyRequests, "Too many pending connections from this address")

	// Another address negotiates and connects…
	other := fromAddress("203.0.113.7")
	st, b, _ := doURL(t, "POST", srv.URL+"/hub/negotiate?negotiateVersion=1", other, "")
	n := wantNegotiated(t, st, b)
	handshakeWS(t, wsURL(srv, n.ConnectionToken), other)
	// …and a third opens a WebSocket without negotiate.
	handshakeWS(t, wsURL(srv, ""), fromAddress("203.0.113.8"))
}

// TestPendingNegotiationsPerAddressReleased: a pending negotiation stops counting
// against its address's cap once a transport claims it or it expires.
func TestPendingNegotiationsPerAddressReleased(t *testing.T) {
	// Long enough for the steps before the expiry on a loaded machine.
	const perAddress, negotiateTimeout = 4, 2 * time.Second
	srv, _ := server(t, hub.Options{
		MaxPendingNegotiationsPerIP: perAddress,
		NegotiateTimeout:            negotiateTimeout,
		Logger:                      slog.New(slog.DiscardHandler),
	})
	negotiateUpTo := func(t *testing.T, want int) []negotiated {
		t.Helper()
		var got []negotiated
		for range want {
			st, body, _ := doURL(t, "POST", srv.URL+"/hub/negotiate?negotiateVersion=1", nil, "")
			got = append(got, wantNegotiated(t, st, body))
		}
		st, body, _ := doURL(t, "POST", srv.URL+"/hub/negotiate?negotiateVersion=1", nil, "")
		wantHTTP(t, st, body, http.StatusTooManyRequests, "Too many pending connections from this address")
		return got
	}

	pending := negotiateUpTo(t, perAddress)
	// Two are claimed by WebSockets: two more may be negotiated.
	for _, n := range pending[:2] {
		handshakeWS(t, wsURL(srv, n.ConnectionToken), nil)
	}
	negotiateUpTo(t, 2)
	// The four unclaimed expire: once one has, wait for the rest.
	eventually(t, "an unclaimed negotiation expires", func() bool {
		st, _, _ := doURL(t, "POST", srv.URL+"/hub/negotiate?negotiateVersion=1", nil, "")
		return st == http.StatusOK
	})
	time.Sleep(negotiateTimeout + negotiateTimeout/2) // the one just negotiated too
	// A WebSocket without negotiate passes through the count and leaves it as it was.
	handshakeWS(t, wsURL(srv, ""), nil)
	// Nothing left counting: the full cap is there again, with the two WebSockets open.
	negotiateUpTo(t, perAddress)
}

// TestRefusalsLogAtMostOncePerSecond: refusals a client can repeat at will are
// logged at most once a second per hub, each line counting the ones left out, so
// that a flood of them neither floods the log nor goes unseen.
func TestRefusalsLogAtMostOncePerSecond(t *testing.T) {
	const flood = 200
	tests := []struct {
		name    string
		opts    func(o *hub.Options)
		setup   func(t *testing.T, srv string) string // returns the path to flood
		method  string
		body    string
		hdr     http.Header
		status  int
		message string
	}{
		{
			name: "pending negotiations from one address",
			opts: func(o *hub.Options) { o.MaxPendingNegotiationsPerIP = 1 },
			setup: func(t *testing.T, srv string) string {
				st, body, _ := doURL(t, "POST", srv+"/hub/negotiate", nil, "")
				wantNegotiated(t, st, body)
				return "/hub/negotiate"
			},
			method: "POST", status: http.StatusTooManyRequests, message: "hub: connection refused by a limit",
		},
		{
			name: "pending negotiations hub-wide",
			opts: func(o *hub.Options) { o.MaxPendingNegotiations = 1 },
			setup: func(t *testing.T, srv string) string {
				st, body, _ := doURL(t, "POST", srv+"/hub/negotiate", nil, "")
				wantNegotiated(t, st, body)
				return "/hub/negotiate"
			},
			method: "POST", status: http.StatusServiceUnavailable, message: "hub: connection refused by a limit",
		},
		{
			name: "unauthorized",
			opts: withJWT,
			setup: func(t *testing.T, srv string) string {
				return "/hub/negotiate"
			},
			method: "POST", status: http.StatusUnauthorized, message: "hub: request refused",
		},
		{
			name: "POST over the size limit",
			opts: func(o *hub.Options) { o.TransportOptions.MaxTransportMessageSize = 10 },
			setup: func(t *testing.T, srv string) string {
				st, body, _ := doURL(t, "POST", srv+"/hub/negotiate?negotiateVersion=1", nil, "")
				n := wantNegotiated(t, st, body)
				if st, body, _ := doURL(t, "GET", srv+"/hub?id="+n.ConnectionToken, nil, ""); st != 200 {
					t.Fatalf("first poll: %d %q", st, body)
				}
				return "/hub?id=" + n.ConnectionToken
			},
			method: "POST", body: strings.Repeat("x", 100), status: http.StatusRequestEntityTooLarge,
			message: "hub: POST over the size limit refused",
		},
		{
			name: "another user's connection token",
			opts: withJWT,
			setup: func(t *testing.T, srv string) string {
				st, body, _ := doURL(t, "POST", srv+"/hub/negotiate?negotiateVersion=1", bearer("alice"), "")
				return "/hub?id=" + wantNegotiated(t, st, body).ConnectionToken
			},
			method: "POST", hdr: bearer("mallory"), status: http.StatusForbidden,
			message: "hub: connection token used by another user",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logBuffer{}
			o := hub.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))}
			tc.opts(&o)
			srv, _ := server(t, o)
			path := tc.setup(t, srv.URL)

			start := time.Now()
			for range flood {
				if st, body, _ := doURL(t, tc.method, srv.URL+path, tc.hdr, tc.body); st != tc.status {
					t.Fatalf("got %d %q, want %d", st, body, tc.status)
				}
			}
			elapsed := time.Since(start)
			// One more, past the interval: its line counts those left out before it.
			time.Sleep(1100 * time.Millisecond)
			if st, body, _ := doURL(t, tc.method, srv.URL+path, tc.hdr, tc.body); st != tc.status {
				t.Fatalf("got %d %q, want %d", st, body, tc.status)
			}

			wantSampled(t, logs, tc.message, flood+1, elapsed)
		})
	}
}

// TestClientFaultsLogAtMostOncePerSecond: what one connection's messages can make
// the hub log many times over is sampled as refusals are.
func TestClientFaultsLogAtMostOncePerSecond(t *testing.T) {
	const flood = 200
	logs := &logBuffer{}
	srv, _ := server(t, hub.Options{
		MaxGroupsPerConnection: 1,
		Logger:                 slog.New(slog.NewTextHandler(logs, nil)),
	})
	ws := dialWS(t, srv)
	join := func(i int) {
		write(t, ws, fmt.Sprintf(`{"type":1,"invocationId":"%d","target":"JoinGroup","arguments":["g%d"]}`, i, i)+rs)
		if got := read(t, ws); !strings.Contains(got, `"invocationId":"`+strconv.Itoa(i)+`"`) {
			t.Fatalf("JoinGroup %d: %q", i, got)
		}
	}
	join(0)
	start := time.Now()
	for i := 1; i <= flood; i++ {
		join(i)
	}
	elapsed := time.Since(start)
	time.Sleep(1100 * time.Millisecond)
	join(flood + 1)
	wantSampled(t, logs, "hub: group limit reached", flood+1, elapsed)
}

var suppressedCount = regexp.MustCompile(`suppressed=(\d+)`)

// wantSampled checks the lines logged as msg: at most one a second of the time
// the flood took, plus the one after it, and with their suppressed counts adding up
// to want.
func wantSampled(t *testing.T, logs *logBuffer, msg string, want int, elapsed time.Duration) {
	t.Helper()
	lines, counted := 0, 0
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if !strings.Contains(line, `msg="`+msg+`"`) {
			continue
		}
		lines++
		counted++
		if m := suppressedCount.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			counted += n
		}
	}
	if most := int(elapsed/time.Second) + 2; lines > most {
		t.Errorf("%d %q lines for %d in %v, want at most %d", lines, msg, want, elapsed, most)
	}
	if counted != want {
		t.Errorf("%q lines and their suppressed counts add up to %d, want %d", msg, counted, want)
	}
}

// wsURL is the hub's WebSocket URL on token ("" skips negotiate).
func wsURL(srv *httptest.Server, token string) string {
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/hub"
	if token != "" {
		u += "?id=" + token
	}
	return u
}

// handshakeWS opens a WebSocket at url with hdr and does the JSON handshake.
func handshakeWS(t *testing.T, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, hdr)
	if err != nil {
		t.Fatalf("dial: %v %v", resp, err)
	}
	t.Cleanup(func() { ws.Close() })
	write(t, ws, `{"protocol":"json","version":1}`+rs)
	if got := read(t, ws); got != "{}"+rs {
		t.Fatalf("handshake reply %q", got)
	}
	return ws
}
