package hub_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/clientjs"
	"github.com/hubbub-go/hubbub/hub"
)

// TestHubServesTheClientScript: a hub with default options serves the bundled
// client under its path to anyone, whatever its CORS list and authentication
// say, as Socket.IO serves /socket.io/socket.io.js; the versioned URL is cached
// for a year; DisableAssets turns it off.
func TestHubServesTheClientScript(t *testing.T) {
	refuseAll := func(*http.Request) (hub.Identity, error) { return hub.Identity{}, errors.New("no token") }
	tests := []struct {
		name       string
		opts       hub.Options
		path       string
		hdr        http.Header
		status     int
		wantBody   string // a prefix of the body, when status is 200
		wantCache  string
		wantOrigin string
	}{
		{"default options", hub.Options{}, "/hub/hubbub.js", nil, 200, "", "no-cache", "*"},
		{"ES module", hub.Options{}, "/hub/hubbub.mjs", nil, 200, "", "no-cache", "*"},
		{"versioned URL", hub.Options{}, clientjs.URL("/hub", "hubbub.js"), nil, 200, "", "public, max-age=31536000, immutable", "*"},
		{"authentication refuses everything", hub.Options{Authenticate: refuseAll}, "/hub/hubbub.js", nil, 200, "", "no-cache", "*"},
		{"foreign origin, same-origin hub", hub.Options{}, "/hub/hubbub.mjs",
			http.Header{"Origin": {"https://elsewhere.example"}}, 200, "", "no-cache", "*"},
		{"unknown file", hub.Options{}, "/hub/nope.js", nil, 404, "", "", ""},
		{"DisableAssets", hub.Options{DisableAssets: true}, "/hub/hubbub.js", nil, 400, "Connection ID required", "", ""},
		{"negotiate still needs authentication", hub.Options{Authenticate: refuseAll}, "/hub/negotiate?negotiateVersion=1", nil, 401, "no token", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := server(t, tc.opts)
			method := "GET"
			if strings.Contains(tc.path, "negotiate") {
				method = "POST"
			}
			st, body, h := doURL(t, method, srv.URL+tc.path, tc.hdr, "")
			if st != tc.status {
				t.Fatalf("%s %s: %d %q, want %d", method, tc.path, st, body, tc.status)
			}
			if tc.wantBody != "" && !strings.Contains(body, tc.wantBody) {
				t.Errorf("body %q, want it to hold %q", body, tc.wantBody)
			}
			if st != 200 {
				return
			}
			if !strings.Contains(body, "Hubbub") && !strings.Contains(body, "export") {
				t.Errorf("body does not look like the client: %.80q", body)
			}
			if got := h.Get("Cache-Control"); got != tc.wantCache {
				t.Errorf("Cache-Control %q, want %q", got, tc.wantCache)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != tc.wantOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.wantOrigin)
			}
			if h.Get("ETag") == "" {
				t.Error("no ETag")
			}
		})
	}
}
