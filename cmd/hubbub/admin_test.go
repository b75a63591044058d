package main

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// --admin-password (or HUBBUB_ADMIN_PASSWORD) turns the dashboard on at /admin;
// without it (nor --admin-jwt-secret) /admin is 404.
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

// --admin-jwt-secret alone turns the dashboard on too: admin tokens open it.
func TestAdminDashboardJWT(t *testing.T) {
	_, base, _ := startServer(t, "--admin-jwt-secret", "k3y")
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ops", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("k3y"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer " + token, http.StatusOK}, {"Bearer x" + token, http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodPost, base+"/admin/hub/negotiate?negotiateVersion=1", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("negotiate with %.20q: %d, want %d", tc.auth, res.StatusCode, tc.want)
		}
	}
	res, err := http.PostForm(base+"/admin/login", url.Values{"password": {token}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent || len(res.Cookies()) != 1 {
		t.Errorf("login with the token: %d, cookies %v", res.StatusCode, res.Cookies())
	}
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
		{nil, map[string]string{"HUBBUB_ADMIN_JWT_SECRET": "j"}, "jwt:j"},
		{[]string{"--admin-jwt-secret", "k"}, nil, "jwt:k"},
	} {
		cfg, err := parseConfig(tc.args, func(k string) string { return tc.env[k] })
		got := cfg.adminPassword
		if cfg.adminJWTSecret != "" {
			got = "jwt:" + cfg.adminJWTSecret
		}
		if err != nil || got != tc.want {
			t.Errorf("parseConfig(%q, %v): %q, %v; want %q", tc.args, tc.env, got, err, tc.want)
		}
	}
}
