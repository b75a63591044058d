package ginhub_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/ginhub"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
)

// appCORS does what gin-contrib/cors v1.7 does (examples/gin tests the real one;
// the library's module does not require it): a request without an Origin, or
// whose Origin is http(s)://Host, passes untouched; one from an origin it does not
// allow gets 403; for one it allows it sets Access-Control-Allow-Origin (the
// origin, or "*" when it allows any) and Access-Control-Allow-Credentials when
// configured, and answers a preflight 204 itself.
func appCORS(allow string, credentials bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if origin == "" || origin == "http://"+c.Request.Host || origin == "https://"+c.Request.Host {
			return
		}
		if allow != "*" && origin != allow {
			c.AbortWithStatus(http.StatusForbidden)
			return
		}
		hdr := c.Writer.Header()
		if credentials {
			hdr.Set("Access-Control-Allow-Credentials", "true")
		}
		if allow == "*" {
			hdr.Set("Access-Control-Allow-Origin", "*")
		} else {
			hdr.Set("Vary", "Origin")
			hdr.Set("Access-Control-Allow-Origin", origin)
		}
		if c.Request.Method == http.MethodOptions {
			hdr.Set("Access-Control-Allow-Methods", "GET,POST,DELETE")
			hdr.Set("Access-Control-Allow-Headers", "Authorization")
			c.AbortWithStatus(http.StatusNoContent)
		}
	}
}

// TestCORSInOnePlace: CORS configured once, either in the hub
// (Options.AllowedOrigins, whose preflights Mount routes around the auth
// middleware) or in the app's CORS middleware (which the hub then follows), lets
// an allowed origin preflight, negotiate and open a WebSocket, with a single
// Access-Control-Allow-Origin; another origin is refused by whichever holds the
// setting. An app middleware's "*" with credentials approves nothing: the hub
// refuses it as it refuses credentials for its own "*".
func TestCORSInOnePlace(t *testing.T) {
	gin.SetMode(gin.TestMode)
	const allowed, other = "https://app.example.com", "https://evil.example.org"
	tests := []struct {
		name          string
		hubOrigins    []string        // hub.Options.AllowedOrigins
		cors          gin.HandlerFunc // the app's CORS middleware, r.Use'd; nil for none
		origin        string
		wantPreflight int
		wantNegotiate int
		wantOrigin    string // Access-Control-Allow-Origin of a negotiate answered 200
	}{
		{"hub, allowed origin", []string{allowed}, nil, allowed, 204, 200, allowed},
		{"hub, other origin", []string{allowed}, nil, other, 403, 403, ""},
		{"app, allowed origin", nil, appCORS(allowed, true), allowed, 204, 200, allowed},
		{"app, other origin", nil, appCORS(allowed, true), other, 403, 403, ""},
		{"app allows any origin", nil, appCORS("*", false), other, 204, 200, "*"},
		{"app allows any origin with credentials", nil, appCORS("*", true), other, 204, 403, ""},
		{"both, allowed origin", []string{allowed}, appCORS(allowed, true), allowed, 204, 200, allowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := conformance.NewHub(hub.Options{AllowedOrigins: tc.hubOrigins})
			r := gin.New()
			if tc.cors != nil {
				r.Use(tc.cors)
			}
			ginhub.Mount(r, "/hubs/chat", h, ginhub.Options{}, requireToken)
			base := serve(t, r, h) + "/hubs/chat"
			do := func(method string, hdr http.Header) *http.Response {
				req, _ := http.NewRequest(method, base+"/negotiate?negotiateVersion=1", nil)
				req.Header = hdr
				req.Header.Set("Origin", tc.origin)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}

			resp := do("OPTIONS", http.Header{"Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization"}})
			resp.Body.Close()
			if resp.StatusCode != tc.wantPreflight {
				t.Errorf("preflight: %d, want %d", resp.StatusCode, tc.wantPreflight)
			}

			resp = do("POST", http.Header{"Authorization": {"Bearer alice-token"}})
			if resp.StatusCode != tc.wantNegotiate {
				resp.Body.Close()
				t.Fatalf("negotiate: %d, want %d", resp.StatusCode, tc.wantNegotiate)
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
			} else {
				if got := resp.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != tc.wantOrigin {
					t.Errorf("negotiate: Access-Control-Allow-Origin %q, want exactly %q", got, tc.wantOrigin)
				}
				decodeNegotiation(t, resp)
			}

			// Browsers send an Origin with every WebSocket upgrade, and no CORS
			// applies to it: only the origin check stands in the way.
			ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"?access_token=alice-token",
				http.Header{"Origin": {tc.origin}})
			switch {
			case tc.wantNegotiate == http.StatusOK && err != nil:
				t.Errorf("WebSocket upgrade from %s: %v %v", tc.origin, resp, err)
			case tc.wantNegotiate != http.StatusOK && err == nil:
				t.Errorf("WebSocket upgrade from %s accepted, want 403", tc.origin)
			case tc.wantNegotiate != http.StatusOK && resp.StatusCode != http.StatusForbidden:
				t.Errorf("WebSocket upgrade from %s: %d, want 403", tc.origin, resp.StatusCode)
			}
			if ws != nil {
				ws.Close()
			}
		})
	}
}
