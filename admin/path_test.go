package admin_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/hubbub-go/hubbub/admin"
)

// TestPath: Options.Path places the page, login, session and hub, at the root
// of a server of its own ("/" or "") as under a prefix; the cookie is scoped to
// it.
func TestPath(t *testing.T) {
	for _, tc := range []struct {
		path, base, cookiePath string
	}{
		{"", "/admin", "/admin"},
		{"ops/admin/", "/ops/admin", "/ops/admin"},
		{"/", "", "/"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			d, err := admin.New(admin.Options{Password: password, Path: tc.path})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close(); closeHub(d.Hub()) })
			srv := httptest.NewServer(d)
			t.Cleanup(srv.Close)
			res, err := http.PostForm(srv.URL+tc.base+"/login", url.Values{"password": {password}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNoContent || len(res.Cookies()) != 1 || res.Cookies()[0].Path != tc.cookiePath {
				t.Fatalf("login at %s/login: %d, cookies %v; want 204 and one with Path=%s", tc.base, res.StatusCode, res.Cookies(), tc.cookiePath)
			}
			cookie := res.Cookies()[0]
			for _, r := range []struct {
				method, path string
				want         int
			}{
				{"GET", tc.base + "/", 200},
				{"GET", tc.base + "/session", 204},
				{"GET", tc.base + "/hub/hubbub.js", 200},
				{"POST", tc.base + "/hub/negotiate?negotiateVersion=1", 200},
				{"GET", tc.base + "/nothing", 404},
			} {
				req, _ := http.NewRequest(r.method, srv.URL+r.path, nil)
				req.AddCookie(cookie)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != r.want {
					t.Errorf("%s %s: %d, want %d", r.method, r.path, res.StatusCode, r.want)
				}
			}
		})
	}
}
