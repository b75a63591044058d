package admin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/admin"
	"github.com/hubbub-go/hubbub/hub"
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

// loginsBehindProxy serves a dashboard with opts and returns a func that posts a
// login with pw as if a proxy on loopback forwarded it for client, and returns
// the status.
func loginsBehindProxy(t *testing.T, opts admin.Options) func(client, pw string) int {
	t.Helper()
	d, err := admin.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); closeHub(d.Hub()) })
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	return func(client, pw string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/admin/login", strings.NewReader(url.Values{"password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", client)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
}

// TestLoginLimitBehindProxy: behind a proxy listed in HubOptions.TrustedProxies,
// failed logins count against the client the proxy forwards for, not the proxy:
// one guesser does not lock every admin out; without the proxy listed, the
// forwarding header is not believed.
func TestLoginLimitBehindProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []string
		want    int // the second client's login with the right password
	}{
		{"trusted proxy", []string{"127.0.0.1"}, http.StatusNoContent},
		{"no proxy listed", nil, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			post := loginsBehindProxy(t, admin.Options{Password: password, MaxFailedLogins: 2, HubOptions: hub.Options{TrustedProxies: tc.proxies}})
			for range 2 {
				post("203.0.113.1", "wrong")
			}
			if got := post("203.0.113.1", password); got != http.StatusTooManyRequests {
				t.Errorf("the guesser after 2 failures: %d, want 429", got)
			}
			if got := post("203.0.113.2", password); got != tc.want {
				t.Errorf("another client with the right password: %d, want %d", got, tc.want)
			}
		})
	}
}

// TestSecureCookieBehindProxy: behind a TLS-terminating proxy listed in
// HubOptions.TrustedProxies that says the client came over https, the login
// cookie is Secure; the header from anyone else is not believed.
func TestSecureCookieBehindProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []string
		header  string
		secure  bool
	}{
		{"trusted, X-Forwarded-Proto", []string{"127.0.0.1"}, "X-Forwarded-Proto: https", true},
		{"trusted, Forwarded", []string{"127.0.0.1"}, "Forwarded: for=203.0.113.1;proto=https", true},
		{"trusted, http", []string{"127.0.0.1"}, "X-Forwarded-Proto: http", false},
		{"untrusted", nil, "X-Forwarded-Proto: https", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := admin.New(admin.Options{Password: password, HubOptions: hub.Options{TrustedProxies: tc.proxies}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close(); closeHub(d.Hub()) })
			srv := httptest.NewServer(d)
			t.Cleanup(srv.Close)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/admin/login", strings.NewReader(url.Values{"password": {password}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			k, v, _ := strings.Cut(tc.header, ": ")
			req.Header.Set(k, v)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if len(res.Cookies()) != 1 || res.Cookies()[0].Secure != tc.secure {
				t.Errorf("cookies %v, want one, Secure %v", res.Cookies(), tc.secure)
			}
		})
	}
}

// TestLoginRetryAfter: a login refused for too many failures says when to try
// again (Retry-After, whole seconds, at most one FailedLoginRefill away).
func TestLoginRetryAfter(t *testing.T) {
	d, err := admin.New(admin.Options{Password: password, MaxFailedLogins: 2, FailedLoginRefill: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); closeHub(d.Hub()) })
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	for range 2 {
		login(t, srv.URL, "wrong")
	}
	res, _ := login(t, srv.URL, password)
	secs, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if res.StatusCode != http.StatusTooManyRequests || err != nil || secs < 1 || secs > 60 {
		t.Errorf("after 2 failures: %d, Retry-After %q; want 429 and 1 to 60 seconds", res.StatusCode, res.Header.Get("Retry-After"))
	}
}

// TestLoginLimitIPv6: an IPv6 client is counted by its /64, the block one
// subscriber gets: new addresses from it do not give new tries.
func TestLoginLimitIPv6(t *testing.T) {
	post := loginsBehindProxy(t, admin.Options{Password: password, MaxFailedLogins: 2, HubOptions: hub.Options{TrustedProxies: []string{"127.0.0.1"}}})
	post("2001:db8:1:2::1", "wrong")
	post("2001:db8:1:2::2", "wrong")
	for _, tc := range []struct {
		client string
		want   int
	}{
		{"2001:db8:1:2:ffff::3", http.StatusTooManyRequests}, // same /64
		{"2001:db8:1:3::1", http.StatusNoContent},            // another /64
		{"203.0.113.9", http.StatusNoContent},
	} {
		if got := post(tc.client, password); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.client, got, tc.want)
		}
	}
}

// TestLoginLimitManyAddresses: past Options.MaxLoginAddresses, new addresses
// share one count instead of wiping every address's: an attacker with many
// addresses gets no more tries, and the addresses remembered keep theirs.
func TestLoginLimitManyAddresses(t *testing.T) {
	post := loginsBehindProxy(t, admin.Options{Password: password, MaxFailedLogins: 2, FailedLoginRefill: time.Hour, MaxLoginAddresses: 3,
		HubOptions: hub.Options{TrustedProxies: []string{"127.0.0.1"}}})
	for _, tc := range []struct {
		client, password string
		want             int
	}{
		{"203.0.113.1", "wrong", 401}, // remembered
		{"203.0.113.2", "wrong", 401},
		{"203.0.113.3", "wrong", 401},  // the memory is full
		{"198.51.100.1", "wrong", 401}, // new addresses share one count
		{"198.51.100.2", "wrong", 401},
		{"198.51.100.3", "wrong", 429},
		{"198.51.100.4", password, 429},
		{"203.0.113.1", "wrong", 401}, // its second failure: its own count
		{"203.0.113.1", password, 429},
		{"203.0.113.2", password, 204},
	} {
		if got := post(tc.client, tc.password); got != tc.want {
			t.Errorf("%s with %q: %d, want %d", tc.client, tc.password, got, tc.want)
		}
	}
}
