package admin_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/hubbub-go/hubbub/admin"
	"github.com/hubbub-go/hubbub/auth/jwtauth"
)

// With Authenticate (a JWT for admins) and no password, the login form takes a
// token and sets the cookie; the admin hub also takes the token as a bearer.
func TestJWTLogin(t *testing.T) {
	secret := []byte("admin jwt secret")
	d, err := admin.New(admin.Options{
		Authenticate: jwtauth.Authenticate(jwtauth.Options{Secret: secret}),
		CookieSecret: secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	defer closeHub(d.Hub())
	srv := httptest.NewServer(d)
	defer srv.Close()
	sign := func(key []byte) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ops", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	post := func(path string, form url.Values, header http.Header) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, nil)
		if form != nil {
			req, _ = http.NewRequest(http.MethodPost, srv.URL+path, stringsReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	const negotiate = "/admin/hub/negotiate?negotiateVersion=1"

	if res := post(negotiate, nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("negotiate with nothing: %d, want 401", res.StatusCode)
	}
	if res := post("/admin/login", url.Values{"password": {""}}, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with nothing: %d, want 401", res.StatusCode)
	}
	if res := post("/admin/login", url.Values{"password": {sign([]byte("another key"))}}, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with a token of another key: %d, want 401", res.StatusCode)
	}
	res := post("/admin/login", url.Values{"password": {sign(secret)}}, nil)
	if res.StatusCode != http.StatusNoContent || len(res.Cookies()) != 1 {
		t.Fatalf("login with a good token: %d, cookies %v; want 204 and one", res.StatusCode, res.Cookies())
	}
	if exp := res.Cookies()[0].Expires; exp.After(time.Now().Add(time.Hour + time.Minute)) {
		t.Errorf("cookie expires %v, after the token", exp)
	}
	if res := post(negotiate, nil, http.Header{"Cookie": {res.Cookies()[0].String()}}); res.StatusCode != http.StatusOK {
		t.Errorf("negotiate with the cookie: %d, want 200", res.StatusCode)
	}
	if res := post(negotiate, nil, http.Header{"Authorization": {"Bearer " + sign(secret)}}); res.StatusCode != http.StatusOK {
		t.Errorf("negotiate with the bearer token: %d, want 200", res.StatusCode)
	}
	if _, err := admin.New(admin.Options{Authenticate: jwtauth.Authenticate(jwtauth.Options{Secret: secret})}); err == nil {
		t.Error("New with Authenticate but no CookieSecret nor password: nil error")
	}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
