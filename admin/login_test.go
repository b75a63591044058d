package admin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/admin"
)

// TestLoginBadRequests: a login the server cannot read says so (413 for a body
// over Options.MaxLoginBytes, 400 for no password field), instead of "wrong
// password", and does not count as a failed login; a wrong method gets 405
// with an Allow header.
func TestLoginBadRequests(t *testing.T) {
	d, err := admin.New(admin.Options{Password: password, MaxFailedLogins: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); closeHub(d.Hub()) })
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	const form = "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		text, allow                     string
	}{
		{"too large", "POST", "/admin/login", form, "password=" + strings.Repeat("a", admin.DefaultMaxLoginBytes), 413, "too large", ""},
		{"no password field", "POST", "/admin/login", form, "pass=" + password, 400, "password", ""},
		{"JSON", "POST", "/admin/login", "application/json", `{"password":"` + password + `"}`, 400, "password", ""},
		{"bad escape", "POST", "/admin/login", form, "password=%zz", 400, "unreadable form", ""},
		{"password in the URL", "POST", "/admin/login?password=correct+horse", form, "", 400, "password", ""},
		{"GET login", "GET", "/admin/login", "", "", 405, "POST", "POST"},
		{"GET logout", "GET", "/admin/logout", "", "", 405, "POST", "POST"},
		{"PUT page", "PUT", "/admin/", "", "", 405, "GET", "GET, HEAD"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || !strings.Contains(string(b), tc.text) || res.Header.Get("Allow") != tc.allow {
			t.Errorf("%s: %d %q, Allow %q; want %d with %q, Allow %q", tc.name, res.StatusCode, strings.TrimSpace(string(b)), res.Header.Get("Allow"), tc.status, tc.text, tc.allow)
		}
	}
	// None of them was a wrong password: the one allowed failure is still there.
	if res, c := login(t, srv.URL, password); res.StatusCode != http.StatusNoContent || c == nil {
		t.Errorf("login after the bad requests: %d, want 204 with a cookie", res.StatusCode)
	}
}
