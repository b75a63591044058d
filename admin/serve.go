package admin

import (
	_ "embed"
	"net/http"
	"strings"
)

//go:embed page.html
var page []byte

// ServeHTTP serves, under Options.Path: the page (/), the login (/login,
// POST password), the logout (/logout), a session check (/session: 204 or
// 401) and the admin hub with the bundled JS client (/hub).
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// At the root ("/"), the prefix is empty: the page is at "/", not "//".
	prefix := strings.TrimSuffix(d.opts.Path, "/")
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	switch {
	case !ok:
		http.NotFound(w, r)
	case rest == "":
		http.Redirect(w, r, prefix+"/", http.StatusFound)
	case rest == "/":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
		_, _ = w.Write(page)
	case rest == "/login":
		d.serveLogin(w, r)
	case rest == "/logout":
		d.serveLogout(w, r)
	case rest == "/session":
		if _, _, err := d.session(r); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case rest == "/hub" || strings.HasPrefix(rest, "/hub/"):
		d.admin.ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}
