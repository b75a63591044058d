package chat_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/demo/chat"
	"github.com/hubbub-go/hubbub/transports"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = func() *slog.Logger {
	if os.Getenv("HUBBUB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}()

var kinds = []struct {
	name string
	kind transports.Kind
}{
	{"WebSockets", transports.WebSockets},
	{"ServerSentEvents", transports.ServerSentEvents},
	{"LongPolling", transports.LongPolling},
}

// server is the chat hub on a loopback httptest server.
type server struct {
	url  string
	chat *chat.Chat
	kind transports.Kind
}

func start(t *testing.T, kind transports.Kind, opts chat.Options) *server {
	t.Helper()
	opts.Hub.Logger = quiet
	c, err := chat.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hubs/chat", c.Hub())
	mux.Handle("/hubs/chat/", c.Hub())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Hub().Close(ctx); err != nil {
			t.Error(err)
		}
		srv.Close()
	})
	return &server{url: srv.URL + "/hubs/chat", chat: c, kind: kind}
}

// user is one client connection and everything the hub sent it.
type user struct {
	t    *testing.T
	conn *client.Conn

	mu       sync.Mutex
	messages []chat.Message
	directs  []chat.Message
	notices  []chat.Notice
	rooms    []chat.Room
	online   []string
}

// connect opens an anonymous connection with handlers for every chat event.
func (s *server) connect(t *testing.T) *user {
	t.Helper()
	conn, err := client.New(s.url, client.Options{Transports: s.kind, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	u := &user{t: t, conn: conn}
	record := func(event string, into func(raw protocol.RawValue) error) {
		conn.On(event, func(args []protocol.RawValue) {
			u.mu.Lock()
			defer u.mu.Unlock()
			if len(args) != 1 {
				t.Errorf("%s: %d arguments", event, len(args))
				return
			}
			if err := into(args[0]); err != nil {
				t.Errorf("%s: %v", event, err)
			}
		})
	}
	record("message", func(raw protocol.RawValue) error { return decode(raw, &u.messages) })
	record("direct", func(raw protocol.RawValue) error { return decode(raw, &u.directs) })
	record("notice", func(raw protocol.RawValue) error { return decode(raw, &u.notices) })
	record("rooms", func(raw protocol.RawValue) error {
		u.rooms = nil
		return client.DecodeArgs([]protocol.RawValue{raw}, &u.rooms)
	})
	record("users", func(raw protocol.RawValue) error {
		u.online = nil
		return client.DecodeArgs([]protocol.RawValue{raw}, &u.online)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return u
}

func decode[T any](raw protocol.RawValue, into *[]T) error {
	var v T
	if err := client.DecodeArgs([]protocol.RawValue{raw}, &v); err != nil {
		return err
	}
	*into = append(*into, v)
	return nil
}

// login connects and authenticates.
func (s *server) login(t *testing.T, nick string) (*user, chat.Welcome) {
	t.Helper()
	u := s.connect(t)
	w, err := u.authenticate(nick, chat.DemoUsers[nick])
	if err != nil {
		t.Fatalf("Authenticate(%s): %v", nick, err)
	}
	return u, w
}

func (u *user) authenticate(nick, password string) (chat.Welcome, error) {
	return client.InvokeAs[chat.Welcome](context.Background(), u.conn, "Authenticate", nick, password)
}

func (u *user) invoke(method string, args ...any) error {
	_, err := u.conn.Invoke(context.Background(), method, args...)
	return err
}

// snapshot returns a copy of what u received, under its lock.
func (u *user) snapshot() (messages, directs []chat.Message, notices []chat.Notice, rooms []chat.Room, online []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.messages), slices.Clone(u.directs), slices.Clone(u.notices), slices.Clone(u.rooms), slices.Clone(u.online)
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func serverError(t *testing.T, err error) string {
	t.Helper()
	var ie *client.InvocationError
	if !errors.As(err, &ie) {
		t.Fatalf("want an invocation error, got %v", err)
	}
	return ie.Message
}

func (u *user) hasNotice(room, text string) bool {
	_, _, notices, _, _ := u.snapshot()
	return slices.ContainsFunc(notices, func(n chat.Notice) bool { return n.Room == room && n.Text == text })
}

func (u *user) hasMessage(text string) bool {
	messages, _, _, _, _ := u.snapshot()
	return slices.ContainsFunc(messages, func(m chat.Message) bool { return m.Text == text })
}

func (u *user) hasDirect(text string) bool {
	_, directs, _, _, _ := u.snapshot()
	return slices.ContainsFunc(directs, func(m chat.Message) bool { return m.Text == text })
}

func roomMembers(rooms []chat.Room, name string) []string {
	for _, r := range rooms {
		if r.Name == name {
			return r.Members
		}
	}
	return nil
}

func TestChat(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Run("login", func(t *testing.T) { testLogin(t, k.kind) })
			t.Run("bad credentials", func(t *testing.T) { testBadCredentials(t, k.kind) })
			t.Run("auth timeout", func(t *testing.T) { testAuthTimeout(t, k.kind) })
			t.Run("rooms and presence", func(t *testing.T) { testRooms(t, k.kind) })
			t.Run("direct messages", func(t *testing.T) { testDirect(t, k.kind) })
		})
	}
}

func testLogin(t *testing.T, kind transports.Kind) {
	s := start(t, kind, chat.Options{})
	alice, w := s.login(t, "alice")
	if w.Nick != "alice" || !slices.Equal(w.Joined, []string{"general"}) || !slices.Contains(w.Online, "alice") {
		t.Errorf("welcome = %+v", w)
	}
	if got := roomMembers(w.Rooms, "general"); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("general = %v, want [alice]", got)
	}
	if w.MaxMessageLength != chat.DefaultMaxMessageLength {
		t.Errorf("maxMessageLength = %d", w.MaxMessageLength)
	}
	who, err := client.InvokeAs[[]string](context.Background(), alice.conn, "Who", "general")
	if err != nil || !slices.Equal(who, []string{"alice"}) {
		t.Errorf("Who(general) = %v, %v", who, err)
	}
	// Nicknames are case-insensitive; signing in twice on one connection is refused.
	bob := s.connect(t)
	if w, err := bob.authenticate("  BOB ", "bob123"); err != nil || w.Nick != "bob" {
		t.Errorf("Authenticate(BOB) = %+v, %v", w, err)
	}
	if _, err := bob.authenticate("bob", "bob123"); !strings.Contains(serverError(t, err), "Already signed in as bob") {
		t.Errorf("second Authenticate: %v", err)
	}
	eventually(t, "alice sees bob in general", func() bool {
		_, _, _, rooms, online := alice.snapshot()
		return slices.Equal(roomMembers(rooms, "general"), []string{"alice", "bob"}) && slices.Equal(online, []string{"alice", "bob"})
	})
	eventually(t, "alice is told bob joined", func() bool { return alice.hasNotice("general", "bob joined #general") })
}

func testBadCredentials(t *testing.T, kind transports.Kind) {
	s := start(t, kind, chat.Options{})
	u := s.connect(t)
	for _, tc := range []struct{ name, nick, password string }{
		{"wrong password", "alice", "bob123"},
		{"unknown user", "mallory", "alice123"},
		{"empty", "", ""},
		{"huge", strings.Repeat("a", 100), "x"},
	} {
		_, err := u.authenticate(tc.nick, tc.password)
		if got := serverError(t, err); got != "Invalid nickname or password." {
			t.Errorf("%s: %q", tc.name, got)
		}
	}
	// Every other method refuses an anonymous caller.
	for _, call := range [][]any{{"Send", "general", "hi"}, {"Join", "ops"}, {"Direct", "bob", "hi"}, {"Rooms"}, {"Who", "general"}} {
		err := u.invoke(call[0].(string), call[1:]...)
		if got := serverError(t, err); !strings.Contains(got, "unauthorized") {
			t.Errorf("%v: %q, want unauthorized", call[0], got)
		}
	}
	// The connection is still open: a good login works.
	if w, err := u.authenticate("alice", "alice123"); err != nil || w.Nick != "alice" {
		t.Fatalf("good login after bad ones: %+v, %v", w, err)
	}
	if err := u.invoke("Send", "general", "hi"); err != nil {
		t.Errorf("Send after login: %v", err)
	}
}

func testAuthTimeout(t *testing.T, kind transports.Kind) {
	s := start(t, kind, chat.Options{AuthTimeout: 500 * time.Millisecond})
	alice, _ := s.login(t, "alice")
	anon := s.connect(t)
	select {
	case <-anon.conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("an anonymous connection outlived the auth timeout")
	}
	var ce *client.CloseError
	if err := anon.conn.Err(); !errors.As(err, &ce) || !strings.Contains(ce.Message, "Not authenticated within 500ms") || ce.AllowReconnect {
		t.Errorf("anonymous connection ended with %v, want a Close without reconnect saying why", err)
	}
	time.Sleep(500 * time.Millisecond) // alice has been connected longer than the timeout
	select {
	case <-alice.conn.Done():
		t.Fatalf("the signed-in connection was closed: %v", alice.conn.Err())
	default:
	}
	if err := alice.invoke("Send", "general", "still here"); err != nil {
		t.Errorf("Send after the timeout: %v", err)
	}
}

func testRooms(t *testing.T, kind transports.Kind) {
	s := start(t, kind, chat.Options{MaxRooms: 3})
	alice, _ := s.login(t, "alice")
	bob, _ := s.login(t, "bob")
	carol, _ := s.login(t, "carol")

	room, err := client.InvokeAs[chat.Room](context.Background(), bob.conn, "Join", " #Ops ")
	if err != nil || room.Name != "ops" || !slices.Equal(room.Members, []string{"bob"}) {
		t.Fatalf("Join(#Ops) = %+v, %v", room, err)
	}
	eventually(t, "everyone sees #ops", func() bool {
		_, _, _, rooms, _ := carol.snapshot()
		return slices.Equal(roomMembers(rooms, "ops"), []string{"bob"})
	})
	if err := alice.invoke("Join", "ops"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob is told alice joined", func() bool { return bob.hasNotice("ops", "alice joined #ops") })
	who, err := client.InvokeAs[[]string](context.Background(), carol.conn, "Who", "ops")
	if err != nil || !slices.Equal(who, []string{"alice", "bob"}) {
		t.Errorf("Who(ops) = %v, %v", who, err)
	}

	// A room message reaches the room's members only.
	if err := alice.invoke("Send", "ops", "<b>deploy</b> at 5"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob gets the #ops message", func() bool { return bob.hasMessage("<b>deploy</b> at 5") })
	if err := bob.invoke("Send", "general", "marker"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "carol gets the marker", func() bool { return carol.hasMessage("marker") })
	if carol.hasMessage("<b>deploy</b> at 5") {
		t.Error("carol, not in #ops, got its message")
	}
	messages, _, _, _, _ := bob.snapshot()
	if m := messages[0]; m.Room != "ops" || m.From != "alice" || m.At == 0 || m.ID == 0 {
		t.Errorf("message = %+v", m)
	}
	// Carol cannot post in a room she is not in.
	if got := serverError(t, carol.invoke("Send", "ops", "hi")); got != "Join #ops first." {
		t.Errorf("Send to a room not joined: %q", got)
	}

	// Validation.
	for _, tc := range []struct {
		name string
		call []any
		want string
	}{
		{"bad room name", []any{"Join", "no spaces"}, "Room names may use letters, digits, '-' and '_' only."},
		{"long room name", []any{"Join", strings.Repeat("r", 33)}, "Room names are at most 32 characters."},
		{"empty room name", []any{"Join", "#"}, "Room names cannot be empty."},
		{"empty message", []any{"Send", "general", " \t\x01 "}, "Empty message."},
		{"long message", []any{"Send", "general", strings.Repeat("é", 501)}, "Message too long: 501 characters, at most 500."},
		{"leave general", []any{"Leave", "general"}, "Everyone stays in #general."},
		{"leave a room not in", []any{"Leave", "ops"}, "You are not in #ops."},
		{"no such room", []any{"Who", "nowhere"}, "There is no room #nowhere."},
	} {
		if got := serverError(t, carol.invoke(tc.call[0].(string), tc.call[1:]...)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// MaxRooms 3: general, ops, and one more.
	if err := carol.invoke("Join", "third"); err != nil {
		t.Fatal(err)
	}
	if got := serverError(t, carol.invoke("Join", "fourth")); got != "There are 3 rooms already; join one of them." {
		t.Errorf("room limit: %q", got)
	}
	// Control characters are removed, markup is kept as text for the page to show as text.
	if err := carol.invoke("Send", "general", "a\x00b\x1b<i>c</i>\nd"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the cleaned message", func() bool { return alice.hasMessage("ab<i>c</i>\nd") })

	// Leaving: the room is told, and an empty room goes away.
	if err := carol.invoke("Leave", "third"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "#third is gone", func() bool {
		_, _, _, rooms, _ := alice.snapshot()
		return !slices.ContainsFunc(rooms, func(r chat.Room) bool { return r.Name == "third" })
	})

	// Disconnecting: presence and notices follow.
	alice.conn.Close()
	eventually(t, "bob is told alice left #ops and #general", func() bool {
		return bob.hasNotice("ops", "alice left #ops") && bob.hasNotice("general", "alice left #general")
	})
	eventually(t, "alice is offline and out of the rooms", func() bool {
		_, _, _, rooms, online := bob.snapshot()
		return slices.Equal(online, []string{"bob", "carol"}) &&
			slices.Equal(roomMembers(rooms, "ops"), []string{"bob"}) &&
			slices.Equal(roomMembers(rooms, "general"), []string{"bob", "carol"})
	})
}

func testDirect(t *testing.T, kind transports.Kind) {
	s := start(t, kind, chat.Options{})
	alice1, _ := s.login(t, "alice")
	alice2, _ := s.login(t, "alice") // a second tab
	bob, _ := s.login(t, "bob")
	carol, _ := s.login(t, "carol")

	// A second tab of a user already there is no news.
	eventually(t, "bob sees everyone online", func() bool {
		_, _, _, _, online := bob.snapshot()
		return slices.Equal(online, []string{"alice", "bob", "carol"})
	})
	if n := strings.Count(noticesText(bob), "alice joined #general"); n != 0 {
		// bob signed in after both alice tabs: he must have seen no notice about alice at all.
		t.Errorf("bob saw %d 'alice joined' notices", n)
	}

	if err := bob.invoke("Direct", "@Alice", "psst <script>alert(1)</script>"); err != nil {
		t.Fatal(err)
	}
	for i, a := range []*user{alice1, alice2, bob} {
		eventually(t, "the DM reaches every tab of alice and bob's own", func() bool { return a.hasDirect("psst <script>alert(1)</script>") })
		_, directs, _, _, _ := a.snapshot()
		if d := directs[0]; d.From != "bob" || d.To != "alice" || d.Room != "" {
			t.Errorf("receiver %d: direct = %+v", i, d)
		}
	}
	if err := bob.invoke("Send", "general", "marker"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "carol gets the marker", func() bool { return carol.hasMessage("marker") })
	if _, directs, _, _, _ := carol.snapshot(); len(directs) != 0 {
		t.Errorf("carol got someone else's direct message: %+v", directs)
	}

	for _, tc := range []struct {
		to, want string
	}{
		{"bob", "That is you."},
		{"mallory", `There is no user "mallory".`},
	} {
		if got := serverError(t, bob.invoke("Direct", tc.to, "hi")); got != tc.want {
			t.Errorf("Direct(%s): %q, want %q", tc.to, got, tc.want)
		}
	}
	// One tab closing leaves alice online; the last one makes her offline.
	alice1.conn.Close()
	if err := bob.invoke("Direct", "alice", "still there?"); err != nil {
		t.Errorf("Direct to alice with one tab left: %v", err)
	}
	eventually(t, "the remaining tab gets it", func() bool { return alice2.hasDirect("still there?") })
	alice2.conn.Close()
	eventually(t, "alice is offline", func() bool {
		_, _, _, _, online := bob.snapshot()
		return slices.Equal(online, []string{"bob", "carol"})
	})
	if got := serverError(t, bob.invoke("Direct", "alice", "hello?")); got != "alice is not online." {
		t.Errorf("Direct to an offline user: %q", got)
	}
	if !bob.hasNotice("general", "alice left #general") {
		t.Error("no notice when alice's last tab left")
	}
}

func noticesText(u *user) string {
	_, _, notices, _, _ := u.snapshot()
	var b strings.Builder
	for _, n := range notices {
		b.WriteString(n.Text + "\n")
	}
	return b.String()
}

func TestUsers(t *testing.T) {
	u, err := chat.NewUsers(map[string]string{"Dave": "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if nick, ok := u.Check(" DAVE", "pw"); !ok || nick != "dave" {
		t.Errorf("Check(DAVE, pw) = %q, %v", nick, ok)
	}
	for _, tc := range [][2]string{{"dave", "PW"}, {"dave", ""}, {"eve", "pw"}} {
		if _, ok := u.Check(tc[0], tc[1]); ok {
			t.Errorf("Check(%q, %q) passed", tc[0], tc[1])
		}
	}
	if _, err := chat.NewUsers(map[string]string{"bad nick": "x"}); err == nil {
		t.Error("a nickname with a space was accepted")
	}
	if _, err := chat.NewUsers(map[string]string{"x": ""}); err == nil {
		t.Error("an empty password was accepted")
	}
}

func TestRoomName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{{"#General", "general"}, {" a-b_c9 ", "a-b_c9"}} {
		if got, err := chat.RoomName(tc.in); err != nil || got != tc.want {
			t.Errorf("RoomName(%q) = %q, %v", tc.in, got, err)
		}
	}
	for _, in := range []string{"", "a b", "a:b", "é", strings.Repeat("x", 33)} {
		if _, err := chat.RoomName(in); err == nil {
			t.Errorf("RoomName(%q) passed", in)
		} else if !errors.As(err, new(*hub.Error)) {
			t.Errorf("RoomName(%q): %v is not a *hub.Error", in, err)
		}
	}
}
