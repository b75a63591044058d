package admin_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/admin"
	redisbackplane "github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

const password = "correct horse"

func closeHub(h *hub.Hub) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.Close(ctx)
}

// node is one server: a chat hub at /hubs/chat (user from ?user=, a Join
// method) and the dashboard at /admin, on a shared backplane.
type node struct {
	d   *admin.Dashboard
	hub *hub.Hub
	srv *httptest.Server
}

func startNode(t *testing.T, name string, bp hub.Backplane) *node {
	t.Helper()
	d, err := admin.New(admin.Options{Password: password, Node: name, Backplane: bp, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := hub.New(hub.Options{
		Name: "chat", Backplane: bp, Observer: d,
		UserID: func(r *http.Request) string { return r.URL.Query().Get("user") },
	})
	h.On("Join", func(c *hub.Context, group string) error { return c.Groups().Add(c, c.ConnectionID(), group) })
	h.ClientMethod("message", "")
	d.Watch(h)
	d.Start()
	mux := http.NewServeMux()
	mux.Handle("/admin", d)
	mux.Handle("/admin/", d)
	mux.Handle("/hubs/chat", h)
	mux.Handle("/hubs/chat/", h)
	n := &node{d: d, hub: h, srv: httptest.NewServer(mux)}
	t.Cleanup(func() {
		n.srv.Close()
		d.Close()
		closeHub(h)
		closeHub(d.Hub())
	})
	return n
}

// login posts the password and returns the cookie the server set.
func login(t *testing.T, base, pw string) (*http.Response, *http.Cookie) {
	t.Helper()
	res, err := http.PostForm(base+"/admin/login", url.Values{"password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == "hubbub_admin" {
			return res, c
		}
	}
	return res, nil
}

func dial(t *testing.T, rawURL string, kind transports.Kind, header http.Header) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, rawURL, client.Options{Transports: kind, Header: header})
	if err != nil {
		t.Fatalf("dial %s: %v", rawURL, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// adminClient signs in and connects to the admin hub; snapshots arrive on the channel.
func adminClient(t *testing.T, base string) (*client.Conn, <-chan admin.NodeSnapshot) {
	t.Helper()
	_, cookie := login(t, base, password)
	if cookie == nil {
		t.Fatal("login set no cookie")
	}
	snaps := make(chan admin.NodeSnapshot, 1000)
	c, err := client.New(base+"/admin/hub", client.Options{Header: http.Header{"Cookie": {cookie.String()}}})
	if err != nil {
		t.Fatal(err)
	}
	c.On("snapshot", func(args []protocol.RawValue) {
		var s admin.NodeSnapshot
		if err := c.DecodeArgs(args, &s); err == nil {
			select {
			case snaps <- s:
			default:
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, snaps
}

// waitSnapshot reads snapshots until ok accepts one (or 20 s pass: a failure,
// not a speed check).
func waitSnapshot(t *testing.T, snaps <-chan admin.NodeSnapshot, what string, ok func(admin.NodeSnapshot) bool) admin.NodeSnapshot {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-snaps:
			if ok(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("no snapshot with %s", what)
		}
	}
}

func chatOf(s admin.NodeSnapshot) admin.HubSnapshot {
	for _, h := range s.Hubs {
		if h.Name == "chat" {
			return h
		}
	}
	return admin.HubSnapshot{}
}

// The admin hub refuses negotiate without the login cookie (401), and accepts
// it with one; logins are checked, rate-limited, and set a strict cookie.
func TestAuth(t *testing.T) {
	n := startNode(t, "n1", hub.NewMemoryBackplane())
	base := n.srv.URL

	negotiate := func(cookie *http.Cookie) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/admin/hub/negotiate?negotiateVersion=1", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	session := func(cookie *http.Cookie) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/admin/session", nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}

	if got := negotiate(nil); got != http.StatusUnauthorized {
		t.Errorf("negotiate without a cookie: %d, want 401", got)
	}
	if got := session(nil); got != http.StatusUnauthorized {
		t.Errorf("session without a cookie: %d, want 401", got)
	}
	if res, c := login(t, base, "wrong"); res.StatusCode != http.StatusUnauthorized || c != nil {
		t.Errorf("wrong password: %d, cookie %v; want 401 and none", res.StatusCode, c)
	}
	res, cookie := login(t, base, password)
	if res.StatusCode != http.StatusNoContent || cookie == nil {
		t.Fatalf("right password: %d, cookie %v; want 204 and a cookie", res.StatusCode, cookie)
	}
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/admin" {
		t.Errorf("cookie %s: want HttpOnly, SameSite=Strict, Path=/admin", cookie)
	}
	if got := negotiate(cookie); got != http.StatusOK {
		t.Errorf("negotiate with the cookie: %d, want 200", got)
	}
	if got := session(cookie); got != http.StatusNoContent {
		t.Errorf("session with the cookie: %d, want 204", got)
	}
	forged := *cookie
	forged.Value = cookie.Value[:len(cookie.Value)-1] + map[bool]string{true: "0", false: "1"}[strings.HasSuffix(cookie.Value, "1")]
	if got := negotiate(&forged); got != http.StatusUnauthorized {
		t.Errorf("negotiate with a forged cookie: %d, want 401", got)
	}
	later := *cookie // a longer life, with the old signature
	exp, sig, _ := strings.Cut(cookie.Value, ".")
	later.Value = exp + "9." + sig
	if got := negotiate(&later); got != http.StatusUnauthorized {
		t.Errorf("negotiate with an extended cookie: %d, want 401", got)
	}

	// Page and client script are public; the page is served at /admin/.
	for path, want := range map[string]int{"/admin/": 200, "/admin/hub/hubbub.js": 200, "/admin/nothing": 404} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}

	// One failure was counted above; four more are allowed, then 429, even
	// with the right password.
	for i := range 4 {
		if res, _ := login(t, base, "wrong"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+2, res.StatusCode)
		}
	}
	if res, _ := login(t, base, password); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after 5 failures: %d, want 429", res.StatusCode)
	}
}

// The page disconnects one connection, or every connection of a user, and the
// client reads the reason in the Close message.
func TestDisconnect(t *testing.T) {
	n := startNode(t, "n1", hub.NewMemoryBackplane())
	adm, snaps := adminClient(t, n.srv.URL)

	alice := dial(t, n.srv.URL+"/hubs/chat?user=alice", transports.WebSockets, nil)
	bob1 := dial(t, n.srv.URL+"/hubs/chat?user=bob", transports.ServerSentEvents, nil)
	bob2 := dial(t, n.srv.URL+"/hubs/chat?user=bob", transports.LongPolling, nil)
	waitSnapshot(t, snaps, "three connections", func(s admin.NodeSnapshot) bool { return chatOf(s).Connections == 3 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := adm.Invoke(ctx, "Disconnect", "chat", alice.ConnectionID(), "bye alice"); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, alice, "bye alice")
	if _, err := adm.Invoke(ctx, "DisconnectUser", "chat", "bob", "bye bob"); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, bob1, "bye bob")
	wantClosed(t, bob2, "bye bob")
	carol := dial(t, n.srv.URL+"/hubs/chat?user=carol", transports.WebSockets, nil)
	carol.Close()
	s := waitSnapshot(t, snaps, "the four gone", func(s admin.NodeSnapshot) bool {
		return chatOf(s).Connections == 0 && len(chatOf(s).Recent) == 4
	})
	if got := chatOf(s).Totals.Disconnects; got != 4 {
		t.Errorf("disconnects: %d, want 4", got)
	}
	// The recent disconnects say who closed, in the access log's words.
	want := []string{"LongPolling: server closed", "ServerSentEvents: server closed", "WebSockets: server closed", "WebSockets: client closed"}
	var reasons []string
	for _, r := range chatOf(s).Recent {
		reasons = append(reasons, r.Transport+": "+r.Reason)
	}
	if len(reasons) == len(want) {
		sort.Strings(reasons[:3]) // alice's and bob's ends, bob's two in either order
	}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Errorf("recent reasons = %q, want %q", reasons, want)
	}
}

func wantClosed(t *testing.T, c *client.Conn, reason string) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("%s not closed", c.ConnectionID())
	}
	var ce *client.CloseError
	if err := c.Err(); !errors.As(err, &ce) || ce.Message != reason || ce.AllowReconnect {
		t.Fatalf("closed with %v, want a Close message %q without reconnect", err, reason)
	}
}

// Two nodes on one backplane: the page on node a sees node b's connections and
// groups, and disconnects a connection held by node b.
func TestClusterWide(t *testing.T) { onTwoBackplanes(t, clusterWide) }

// onTwoBackplanes runs test with two nodes' backplanes: one memory backplane
// for both, then two Redis backplanes sharing a fresh prefix.
func onTwoBackplanes(t *testing.T, test func(t *testing.T, bpA, bpB hub.Backplane)) {
	t.Run("memory", func(t *testing.T) {
		bp := hub.NewMemoryBackplane()
		test(t, bp, bp)
	})
	t.Run("redis", func(t *testing.T) {
		url := redisURL(t)
		var b [6]byte
		rand.Read(b[:])
		prefix := "hubbub-admin-test-" + hex.EncodeToString(b[:])
		var bps []hub.Backplane
		for range 2 {
			bp, err := redisbackplane.New(redisbackplane.Options{URL: url, Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { bp.Close() })
			bps = append(bps, bp)
		}
		test(t, bps[0], bps[1])
	})
}

// redisURL returns the shared Redis's URL, or skips the test when it is not
// reachable (fails instead when HUBBUB_REQUIRE_REDIS=1).
func redisURL(t *testing.T) string {
	const shared = "127.0.0.1:6379"
	conn, err := net.DialTimeout("tcp", shared, time.Second)
	if err != nil {
		if os.Getenv("HUBBUB_REQUIRE_REDIS") == "1" {
			t.Fatalf("Redis at %s is required (HUBBUB_REQUIRE_REDIS=1) but unreachable: %v", shared, err)
		}
		t.Skipf("Redis at %s is unreachable (%v): skipping; set HUBBUB_REQUIRE_REDIS=1 to fail instead", shared, err)
	}
	conn.Close()
	return "redis://" + shared + "/0"
}

func clusterWide(t *testing.T, bpA, bpB hub.Backplane) {
	a, b := startNode(t, "a", bpA), startNode(t, "b", bpB)
	adm, snaps := adminClient(t, a.srv.URL)

	onA := dial(t, a.srv.URL+"/hubs/chat?user=u1", transports.WebSockets, nil)
	onB := dial(t, b.srv.URL+"/hubs/chat?user=u2", transports.LongPolling, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []*client.Conn{onA, onB} {
		if _, err := c.Invoke(ctx, "Join", "room"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := onB.Invoke(ctx, "Join", "only-b"); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	seen := map[string]admin.HubSnapshot{}
	waitSnapshot(t, snaps, "both nodes' connections and groups", func(s admin.NodeSnapshot) bool {
		mu.Lock()
		defer mu.Unlock()
		seen[s.Node] = chatOf(s)
		sa, sb := seen["a"], seen["b"]
		return sa.Transports["WebSockets"] == 1 && sb.Transports["LongPolling"] == 1 &&
			len(sa.Groups) == 1 && len(sb.Groups) == 2
	})
	if g := seen["b"].Groups; g[0] != (admin.Group{Name: "only-b", Members: 1}) && g[1] != (admin.Group{Name: "only-b", Members: 1}) {
		t.Errorf("node b's groups: %+v", g)
	}
	if m, cm := seen["b"].Methods, seen["b"].ClientMethods; len(m) != 1 || m[0] != "Join(string)" || len(cm) != 1 || cm[0] != "message(string)" {
		t.Errorf("node b's methods %q and client methods %q, want Join(string) and message(string) (hub.Describe)", m, cm)
	}
	if c := seen["b"].Conns; len(c) != 1 || c[0].ID != onB.ConnectionID() || c[0].User != "u2" {
		t.Errorf("node b's connections: %+v, want %s of u2", c, onB.ConnectionID())
	}

	if _, err := adm.Invoke(ctx, "Disconnect", "chat", onB.ConnectionID(), "moved along"); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, onB, "moved along")
	select {
	case <-onA.Done():
		t.Fatal("the connection on node a was closed too")
	default:
	}
}

// With no page open, a node keeps sampling (the sparklines start with the
// last ten minutes) and a page that opens gets those samples at once.
func TestHistoryWhileNobodyWatches(t *testing.T) {
	n := startNode(t, "n1", hub.NewMemoryBackplane())
	c := dial(t, n.srv.URL+"/hubs/chat?user=x", transports.WebSockets, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Invoke(ctx, "Join", "g"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(n.d.History("chat")) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no samples while nobody watches")
		}
		time.Sleep(10 * time.Millisecond)
	}

	_, cookie := login(t, n.srv.URL, password)
	hist := make(chan admin.History, 10)
	adm, err := client.New(n.srv.URL+"/admin/hub", client.Options{Header: http.Header{"Cookie": {cookie.String()}}})
	if err != nil {
		t.Fatal(err)
	}
	adm.On("history", func(args []protocol.RawValue) {
		var h admin.History
		if adm.DecodeArgs(args, &h) == nil {
			hist <- h
		}
	})
	if err := adm.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	select {
	case h := <-hist:
		var in int64
		for _, s := range h.Samples {
			in += s.In
		}
		if h.Node != "n1" || h.Hub != "chat" || len(h.Samples) < 3 || in < 2 {
			t.Errorf("history: node %q hub %q, %d samples, %d units in; want n1, chat, 3 or more, the handshake and Join", h.Node, h.Hub, len(h.Samples), in)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no history")
	}
}

// TestLoginLimits: Options.MaxFailedLogins and FailedLoginRefill set how many
// wrong passwords an address may try before 429, and how soon it may try again.
func TestLoginLimits(t *testing.T) {
	d, err := admin.New(admin.Options{Password: password, MaxFailedLogins: 2, FailedLoginRefill: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); closeHub(d.Hub()) })
	srv := httptest.NewServer(d)
	t.Cleanup(srv.Close)
	for i := range 2 {
		if res, _ := login(t, srv.URL, "wrong"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, res.StatusCode)
		}
	}
	if res, _ := login(t, srv.URL, password); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 2 failures: %d, want 429", res.StatusCode)
	}
	time.Sleep(250 * time.Millisecond) // one refill
	if res, c := login(t, srv.URL, password); res.StatusCode != http.StatusNoContent || c == nil {
		t.Errorf("after a refill: %d (cookie %v), want 204 with a cookie", res.StatusCode, c != nil)
	}
}
