package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubbub-go/hubbub/hub"
)

// cookieName holds the login token: "<expiry unix>.<session ID>.<hex HMAC>".
const cookieName = "hubbub_admin"

// Sentinel errors of the login.
var (
	ErrBadPassword  = errors.New("admin: wrong password or token")
	ErrNoSession    = errors.New("admin: not signed in")
	ErrTooManyTries = errors.New("admin: too many failed logins; try again later")
)

// cookieKey derives the cookies' HMAC key from the password (or the
// CookieSecret): every node with the same accepts the same cookies, and a new
// one voids them.
func cookieKey(secret []byte) []byte {
	m := hmac.New(sha256.New, []byte("hubbub admin cookie"))
	m.Write(secret)
	return m.Sum(nil)
}

func (d *Dashboard) token(expires time.Time, id string) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("admin:" + exp + "." + id))
	return exp + "." + id + "." + hex.EncodeToString(m.Sum(nil))
}

// newSessionID tells one login from another, even in the same second: a
// logout voids its own session only.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// session checks the request's cookie and returns its session's ID and when it
// expires.
func (d *Dashboard) session(r *http.Request) (string, time.Time, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return "", time.Time{}, ErrNoSession
	}
	exp, rest, ok := strings.Cut(c.Value, ".")
	id, _, ok2 := strings.Cut(rest, ".")
	unix, err := strconv.ParseInt(exp, 10, 64)
	if !ok || !ok2 || err != nil {
		return "", time.Time{}, ErrNoSession
	}
	expires := time.Unix(unix, 0)
	if !hmac.Equal([]byte(c.Value), []byte(d.token(expires, id))) || !time.Now().Before(expires) || d.revoked.has(id, expires) {
		return "", time.Time{}, ErrNoSession
	}
	return id, expires, nil
}

// sessionClaim names the session ID among the admin hub's identity claims: a
// logout closes the pages open with that session.
const sessionClaim = "session"

// authenticate is the admin hub's Authenticate: a 401 without a valid cookie
// (or a token Options.Authenticate accepts).
func (d *Dashboard) authenticate(r *http.Request) (hub.Identity, error) {
	id, expires, err := d.session(r)
	if err == nil {
		return hub.Identity{UserID: "admin", ExpiresAt: expires, Claims: map[string]any{sessionClaim: id}}, nil
	}
	if d.opts.Authenticate != nil {
		return d.opts.Authenticate(r)
	}
	return hub.Identity{}, err
}

// checkLogin accepts the password, or a token Options.Authenticate accepts,
// and says until when the session may last.
func (d *Dashboard) checkLogin(r *http.Request, given string) (time.Time, bool) {
	expires := time.Now().Add(d.opts.SessionTTL)
	if d.opts.Password != "" {
		// Compare hashes: constant time whatever the lengths.
		a, b := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(d.opts.Password))
		if subtle.ConstantTimeCompare(a[:], b[:]) == 1 {
			return expires, true
		}
	}
	if d.opts.Authenticate == nil || given == "" {
		return time.Time{}, false
	}
	tr, err := http.NewRequestWithContext(r.Context(), http.MethodPost, r.URL.String(), nil)
	if err != nil {
		return time.Time{}, false
	}
	tr.RemoteAddr = r.RemoteAddr
	tr.Header.Set("Authorization", "Bearer "+given)
	id, err := d.opts.Authenticate(tr)
	if err != nil {
		return time.Time{}, false
	}
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(expires) {
		expires = id.ExpiresAt // the session ends with the token
	}
	return expires, time.Now().Before(expires)
}

// serveLogin checks the password or token (form field "password") and sets the
// cookie.
func (d *Dashboard) serveLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	// Behind a trusted proxy, the client it forwards for: the proxy's own
	// address would lock every admin out at once.
	ip := loginKey(d.admin.ClientIP(r))
	if wait, ok := d.login.allowed(ip); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		http.Error(w, fmt.Sprintf("%s (in %d s)", ErrTooManyTries, secs), http.StatusTooManyRequests)
		return
	}
	// A body the server cannot read is no guess at the password: say what is
	// wrong with it, and count no failure.
	r.Body = http.MaxBytesReader(w, r.Body, int64(d.opts.MaxLoginBytes))
	err := r.ParseForm() // first: ParseMultipartForm hides its error behind ErrNotMultipart
	if err == nil {
		err = r.ParseMultipartForm(int64(d.opts.MaxLoginBytes))
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, fmt.Sprintf("admin: login body too large (over %d bytes)", tooBig.Limit), http.StatusRequestEntityTooLarge)
		return
	case err != nil && !errors.Is(err, http.ErrNotMultipart):
		http.Error(w, "admin: login: unreadable form: "+err.Error(), http.StatusBadRequest)
		return
	case !r.PostForm.Has("password"):
		http.Error(w, "admin: login: the form has no password field", http.StatusBadRequest)
		return
	}
	expires, ok := d.checkLogin(r, r.PostForm.Get("password"))
	if !ok {
		d.login.failed(ip)
		http.Error(w, ErrBadPassword.Error(), http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: d.token(expires, newSessionID()), Path: d.opts.Path, Expires: expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: d.admin.ClientSecure(r), // behind a TLS proxy too
	})
	w.WriteHeader(http.StatusNoContent)
}

func (d *Dashboard) serveLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: d.opts.Path, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	// The cookie is void on every node, not only gone from this browser: a copy
	// of it opens nothing, and the pages open with it close.
	if id, expires, err := d.session(r); err == nil {
		if err := d.act(r.Context(), action{Kind: actLogout, Target: id, Until: expires.Unix()}); err != nil {
			http.Error(w, "admin: logout not heard by every node; the session lasts until it expires: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// loginKey is what failed logins count against: an IPv4 address, or the /64
// of an IPv6 one (a subscriber's block: each of its addresses would otherwise
// get tries of its own).
func loginKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Unmap().Is6() {
		return ip
	}
	p, _ := a.Unmap().Prefix(64)
	return p.String()
}

// loginLimiter allows each address burst failed logins, then one more every
// refill (Options.MaxFailedLogins, FailedLoginRefill), remembering at most memory
// addresses (Options.MaxLoginAddresses): past it, the addresses it does not
// remember share one count (forgetting them all would give an attacker with
// many addresses fresh tries, and every address's count back to zero).
type loginLimiter struct {
	burst  float64
	refill time.Duration
	memory int

	mu    sync.Mutex
	tries map[string]loginTries
}

type loginTries struct {
	n    float64 // failures still counted
	last time.Time
}

func newLoginLimiter(opts Options) loginLimiter {
	return loginLimiter{burst: float64(opts.MaxFailedLogins), refill: opts.FailedLoginRefill, memory: opts.MaxLoginAddresses, tries: map[string]loginTries{}}
}

func (l *loginLimiter) current(ip string, now time.Time) loginTries {
	t := l.tries[ip]
	t.n -= float64(now.Sub(t.last)) / float64(l.refill)
	if t.n < 0 {
		t.n = 0
	}
	t.last = now
	return t
}

// sharedKey counts the addresses past the memory's bound (no address is empty).
const sharedKey = ""

// key is ip, or sharedKey when the memory is full without it (after it forgot
// the addresses whose failures are all forgiven).
func (l *loginLimiter) key(ip string, now time.Time) string {
	if _, ok := l.tries[ip]; ok || len(l.tries) < l.memory {
		return ip
	}
	for k := range l.tries {
		if k != sharedKey && l.current(k, now).n == 0 {
			delete(l.tries, k)
		}
	}
	if len(l.tries) < l.memory {
		return ip
	}
	return sharedKey
}

// allowed reports whether ip may try to log in, or else how long it must wait.
func (l *loginLimiter) allowed(ip string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	// Up to burst failures in a row; then one per refill.
	over := l.current(l.key(ip, now), now).n - (l.burst - 1)
	if over <= 0 {
		return 0, true
	}
	return time.Duration(over * float64(l.refill)), false
}

func (l *loginLimiter) failed(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	k := l.key(ip, now)
	t := l.current(k, now)
	t.n++
	l.tries[k] = t
}
