package hub_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
)

// TestCORSWildcardRefusesCredentials: AllowedOrigins "*" lets any origin in
// without credentials (Access-Control-Allow-Origin: *, no
// Access-Control-Allow-Credentials), so that no site can make credentialed
// requests; origins listed explicitly, subdomain patterns included, are echoed
// with credentials. Preflights and actual requests alike; WebSocket upgrades
// from the origin are accepted either way.
func TestCORSWildcardRefusesCredentials(t *testing.T) {
	const origin = "https://app.example.com"
	tests := []struct {
		name        string
		allowed     []string
		wantOrigin  string
		credentials bool
	}{
		{"any origin", []string{"*"}, "*", false},
		{"any origin, listed beside an exact one", []string{"https://other.example.org", "*"}, "*", false},
		{"exact origin", []string{origin}, origin, true},
		{"subdomain pattern", []string{"https://*.example.com"}, origin, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := server(t, hub.Options{AllowedOrigins: tc.allowed})
			requests := []struct {
				name, method, path string
				hdr                http.Header
				status             int
			}{
				{"preflight", "OPTIONS", "/hub/negotiate?negotiateVersion=1",
					http.Header{"Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"x-requested-with"}}, 204},
				{"negotiate", "POST", "/hub/negotiate?negotiateVersion=1", nil, 200},
			}
			for _, req := range requests {
				hdr := http.Header{"Origin": {origin}}
				for k, v := range req.hdr {
					hdr[k] = v
				}
				st, body, h := doURL(t, req.method, srv.URL+req.path, hdr, "")
				if st != req.status {
					t.Errorf("%s: %d %q, want %d", req.name, st, body, req.status)
				}
				if got := h.Get("Access-Control-Allow-Origin"); got != tc.wantOrigin {
					t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", req.name, got, tc.wantOrigin)
				}
				got := h.Get("Access-Control-Allow-Credentials")
				if tc.credentials && got != "true" {
					t.Errorf("%s: Access-Control-Allow-Credentials %q, want true", req.name, got)
				}
				if !tc.credentials && got != "" {
					t.Errorf("%s: Access-Control-Allow-Credentials %q with a wildcard origin, want none", req.name, got)
				}
				if req.method == "OPTIONS" && !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
					t.Errorf("preflight: Access-Control-Allow-Methods %q", h.Get("Access-Control-Allow-Methods"))
				}
			}
			ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub", http.Header{"Origin": {origin}})
			if err != nil {
				t.Fatalf("WebSocket upgrade from %s: %v %v", origin, resp, err)
			}
			ws.Close()
		})
	}
}

// TestApprovedOrigin: a cross-origin request whose context says a middleware in
// front of the hub approved its Origin (WithApprovedOrigin, as ginhub does when
// the app's CORS middleware answered for it) is let in without AllowedOrigins:
// negotiate, preflight and the WebSocket upgrade. The hub then leaves the CORS
// headers to that middleware. An approval of another origin lets nothing in.
func TestApprovedOrigin(t *testing.T) {
	const origin = "https://app.example.com"
	tests := []struct {
		name     string
		approved string // the origin the middleware approved; "" for none
		wantOK   bool
	}{
		{"approved", origin, true},
		{"another origin approved", "https://evil.example.com", false},
		{"none approved", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := conformance.NewHub(hub.Options{})
			approve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.approved != "" {
					r = r.WithContext(hub.WithApprovedOrigin(r.Context(), tc.approved))
				}
				h.ServeHTTP(w, r)
			})
			srv := httptest.NewServer(approve)
			t.Cleanup(func() {
				ctx, cancel := contextWithTimeout(time.Second)
				defer cancel()
				h.Close(ctx)
				srv.Close()
			})
			hdr := http.Header{"Origin": {origin}}
			requests := []struct {
				name, method string
				okStatus     int
			}{
				{"preflight", "OPTIONS", http.StatusNoContent},
				{"negotiate", "POST", http.StatusOK},
			}
			for _, req := range requests {
				st, body, h := doURL(t, req.method, srv.URL+"/hub/negotiate?negotiateVersion=1", hdr, "")
				switch {
				case tc.wantOK && st != req.okStatus:
					t.Errorf("%s: %d %q, want %d", req.name, st, body, req.okStatus)
				case !tc.wantOK && (st != http.StatusForbidden || !strings.Contains(body, "Origin not allowed")):
					t.Errorf("%s: %d %q, want 403 Origin not allowed", req.name, st, body)
				case tc.wantOK && h.Get("Access-Control-Allow-Origin") != "":
					t.Errorf("%s: the hub set Access-Control-Allow-Origin %q: the middleware that approved the origin owns the CORS headers", req.name, h.Get("Access-Control-Allow-Origin"))
				}
			}
			ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hub", hdr)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("WebSocket upgrade: %v %v", resp, err)
				}
				ws.Close()
				return
			}
			if err == nil {
				ws.Close()
				t.Fatal("WebSocket upgrade accepted, want 403")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("WebSocket upgrade: %v %v, want 403", resp, err)
			}
		})
	}
}

// TestAllowCORS: what AllowCORS puts on a response that a middleware in front of
// the hub answers in its place (a 401, say): the hub's CORS headers for an
// allowed cross-origin request, nothing for any other.
func TestAllowCORS(t *testing.T) {
	const listed = "https://app.example.com"
	tests := []struct {
		name, origin, approved string
		allowed                []string
		wantOrigin             string // "": AllowCORS sets nothing and reports false
		wantCredentials        bool
	}{
		{"listed origin", listed, "", []string{listed}, listed, true},
		{"any origin", "https://other.example.org", "", []string{"*"}, "*", false},
		{"origin not allowed", "https://other.example.org", "", []string{listed}, "", false},
		{"no Origin", "", "", []string{listed}, "", false},
		{"same origin", "http://hub.example.net", "", []string{listed}, "", false},
		{"approved by a middleware", listed, listed, nil, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := conformance.NewHub(hub.Options{AllowedOrigins: tc.allowed})
			t.Cleanup(func() {
				ctx, cancel := contextWithTimeout(time.Second)
				defer cancel()
				h.Close(ctx)
			})
			r := httptest.NewRequest("POST", "http://hub.example.net/hub/negotiate?negotiateVersion=1", nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.approved != "" {
				r = r.WithContext(hub.WithApprovedOrigin(r.Context(), tc.approved))
			}
			w := httptest.NewRecorder()
			if got := h.AllowCORS(w, r); got != (tc.wantOrigin != "") {
				t.Errorf("AllowCORS = %v, want %v", got, tc.wantOrigin != "")
			}
			hdr := w.Header()
			if got := hdr.Get("Access-Control-Allow-Origin"); got != tc.wantOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.wantOrigin)
			}
			if got := hdr.Get("Access-Control-Allow-Credentials") == "true"; got != tc.wantCredentials {
				t.Errorf("Access-Control-Allow-Credentials %q, want it %v", hdr.Get("Access-Control-Allow-Credentials"), tc.wantCredentials)
			}
			if wantVary := tc.wantOrigin != ""; (hdr.Get("Vary") == "Origin") != wantVary {
				t.Errorf("Vary %q, want Origin: %v", hdr.Values("Vary"), wantVary)
			}
		})
	}
}
