package main

import (
	"net/http"
	"net/url"
	"testing"
)

// --admin-password (or HUBBUB_ADMIN_PASSWORD) turns the dashboard on at /admin;
// without it /admin is 404.
func TestAdminDashboardFlag(t *testing.T) {
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status := func(method, u string, cookie *http.Cookie) (int, *http.Response) {
		t.Helper()
		req, _ := http.NewRequest(method, u, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res
	}

	t.Run("off", func(t *testing.T) {
		_, base, _ := startServer(t)
		for _, p := range []string{"/admin", "/admin/", "/admin/hub/negotiate"} {
			if got, _ := status(http.MethodGet, base+p, nil); got != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", p, got)
			}
		}
	})
	t.Run("on", func(t *testing.T) {
		_, base, _ := startServer(t, "--admin-password", "s3cret")
		if got, res := status(http.MethodGet, base+"/admin", nil); got != http.StatusFound || res.Header.Get("Location") != "/admin/" {
			t.Errorf("GET /admin: %d to %q, want 302 to /admin/", got, res.Header.Get("Location"))
		}
		if got, _ := status(http.MethodGet, base+"/admin/", nil); got != http.StatusOK {
			t.Errorf("GET /admin/: %d, want 200", got)
		}
		if got, _ := status(http.MethodPost, base+"/admin/hub/negotiate?negotiateVersion=1", nil); got != http.StatusUnauthorized {
			t.Errorf("negotiate without signing in: %d, want 401", got)
		}
		res, err := http.PostForm(base+"/admin/login", url.Values{"password": {"s3cret"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if len(res.Cookies()) != 1 {
			t.Fatalf("login: %d, cookies %v", res.StatusCode, res.Cookies())
		}
		if got, _ := status(http.MethodPost, base+"/admin/hub/negotiate?negotiateVersion=1", res.Cookies()[0]); got != http.StatusOK {
			t.Errorf("negotiate signed in: %d, want 200", got)
		}
	})
}

func TestParseAdminPassword(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, nil, ""},
		{nil, map[string]string{"HUBBUB_ADMIN_PASSWORD": "e"}, "e"},
		{[]string{"--admin-password", "f"}, map[string]string{"HUBBUB_ADMIN_PASSWORD": "e"}, "f"},
	} {
		cfg, err := parseConfig(tc.args, func(k string) string { return tc.env[k] })
		if err != nil || cfg.adminPassword != tc.want {
			t.Errorf("parseConfig(%q, %v): %q, %v; want %q", tc.args, tc.env, cfg.adminPassword, err, tc.want)
		}
	}
}
