package ginhub_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/ginhub"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/transports"
)

// requireToken is an app's auth middleware: a known bearer token (header, or the
// access_token query parameter where a client cannot send a header) sets the user,
// anything else is refused with 401.
func requireToken(c *gin.Context) {
	user, ok := map[string]string{"alice-token": "alice"}[ginhub.BearerToken(c)]
	if !ok {
		c.AbortWithStatus(http.StatusUnauthorized)
		return
	}
	c.Set("user", user)
}

// TestMountPublicPartsSkipMiddleware: with the app's auth middleware passed to
// Mount, the client script and CORS preflights answer without it (a browser sends
// neither with credentials), while negotiate and every transport go through it:
// 401 without a token, and with one each transport connects as the user.
func TestMountPublicPartsSkipMiddleware(t *testing.T) {
	gin.SetMode(gin.TestMode)
	const origin = "https://app.example.com"
	h := conformance.NewHub(hub.Options{AllowedOrigins: []string{origin}})
	r := gin.New()
	ginhub.Mount(r, "/hubs/chat", h, ginhub.Options{}, requireToken)
	base := serve(t, r, h) + "/hubs/chat"

	public := []struct {
		name, method, url string
		hdr               http.Header
		want              int
		allowOrigin       string // the Access-Control-Allow-Origin answered
	}{
		{"script", "GET", base + "/hubbub.js", nil, http.StatusOK, "*"},
		{"script HEAD", "HEAD", base + "/hubbub.mjs", nil, http.StatusOK, "*"},
		{"negotiate preflight", "OPTIONS", base + "/negotiate?negotiateVersion=1",
			http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization"}}, http.StatusNoContent, origin},
		{"transport preflight", "OPTIONS", base + "?id=x",
			http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization"}}, http.StatusNoContent, origin},
		{"negotiate without a token", "POST", base + "/negotiate?negotiateVersion=1", nil, http.StatusUnauthorized, ""},
		{"poll without a token", "GET", base + "?id=x", nil, http.StatusUnauthorized, ""},
		{"WebSocket upgrade without a token", "GET", base + "?id=x", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, http.StatusUnauthorized, ""},
		{"negotiate with a token in the query", "POST", base + "/negotiate?negotiateVersion=1&access_token=alice-token", nil, http.StatusOK, ""},
		{"negotiate with a token", "POST", base + "/negotiate?negotiateVersion=1", http.Header{"Authorization": {"Bearer alice-token"}}, http.StatusOK, ""},
		// The middleware's 401 carries the hub's CORS headers, or the browser
		// would hide it from the page (and its client could not tell it from
		// the server being down, nor refresh its token).
		{"cross-origin negotiate without a token", "POST", base + "/negotiate?negotiateVersion=1", http.Header{"Origin": {origin}}, http.StatusUnauthorized, origin},
		{"cross-origin poll without a token", "GET", base + "?id=x", http.Header{"Origin": {origin}}, http.StatusUnauthorized, origin},
		{"cross-origin negotiate with a token", "POST", base + "/negotiate?negotiateVersion=1", http.Header{"Origin": {origin}, "Authorization": {"Bearer alice-token"}}, http.StatusOK, origin},
		{"negotiate without a token from an origin not allowed", "POST", base + "/negotiate?negotiateVersion=1", http.Header{"Origin": {"https://elsewhere.example"}}, http.StatusUnauthorized, ""},
	}
	for _, tc := range public {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, tc.url, nil)
			for k, v := range tc.hdr {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s: %d, want %d", tc.method, tc.url, resp.StatusCode, tc.want)
			}
			if got := resp.Header.Values("Access-Control-Allow-Origin"); strings.Join(got, ", ") != tc.allowOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.allowOrigin)
			}
			if got := resp.Header.Values("Vary"); tc.allowOrigin != "" && tc.allowOrigin != "*" && len(got) != 1 {
				t.Errorf("Vary %q, want Origin once", got)
			}
		})
	}

	// The Go client sends the token as a header, and on the SSE stream in the
	// access_token query parameter, as browsers must.
	for _, kind := range []transports.Kind{transports.WebSockets, transports.ServerSentEvents, transports.LongPolling} {
		t.Run(kind.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := client.Dial(ctx, base, client.Options{
				Transports:  kind,
				AccessToken: func(context.Context) (string, error) { return "alice-token", nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			res, err := conn.Invoke(ctx, "Whoami")
			if err != nil {
				t.Fatal(err)
			}
			var who struct{ UserID string }
			if err := res.Decode(&who); err != nil || who.UserID != "alice" {
				t.Errorf("Whoami over %s: %+v %v, want alice", kind, who, err)
			}
		})
	}

	// A browser's WebSocket cannot send headers: the token is in the query.
	t.Run("browser WebSocket with access_token", func(t *testing.T) {
		resp, err := http.Post(base+"/negotiate?negotiateVersion=1&access_token=alice-token", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		n := decodeNegotiation(t, resp)
		ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"?access_token=alice-token&id="+n, nil)
		if err != nil {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
		ws.Close()
	})
}

// TestBearerToken: the Authorization header's bearer token (the scheme in any
// case), else the access_token query parameter, else nothing.
func TestBearerToken(t *testing.T) {
	tests := []struct {
		name, authorization, query, want string
	}{
		{"header", "Bearer abc", "", "abc"},
		{"header, scheme in lower case", "bearer abc", "", "abc"},
		{"header wins over the query", "Bearer abc", "access_token=xyz", "abc"},
		{"query", "", "access_token=xyz", "xyz"},
		{"another scheme, then the query", "Basic dXNlcjpwdw==", "access_token=xyz", "xyz"},
		{"another scheme", "Basic dXNlcjpwdw==", "", ""},
		{"none", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest("GET", "/hubs/chat?"+tc.query, nil)
			if tc.authorization != "" {
				c.Request.Header.Set("Authorization", tc.authorization)
			}
			if got := ginhub.BearerToken(c); got != tc.want {
				t.Errorf("BearerToken: %q, want %q", got, tc.want)
			}
		})
	}
}
