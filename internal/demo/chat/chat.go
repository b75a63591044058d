// Package chat is the chat demo of cmd/hubbub: nicknames and passwords, rooms,
// presence, direct messages, on one hub built with nothing but the public hub API.
//
// # Signing in
//
// The flow is socketio-auth's (authenticate, postAuthenticate, disconnect, timeout)
// done with the hub's hooks, since the login happens inside the connection rather
// than at negotiate:
//
//  1. The connection opens anonymously. OnConnected starts a timer
//     (Options.AuthTimeout, default 10 s).
//  2. The client invokes Authenticate(nick, password). Bad credentials complete with
//     an error ("Invalid nickname or password.") and the connection stays open
//     until the timer fires, so a client may retry (the demo page hangs up instead).
//  3. Good credentials mark the connection (its Items hold the nickname), stop the
//     timer, put it in the group "user:<nick>" (so a direct message reaches every tab
//     of that user) and in room "general", and return a Welcome: the
//     postAuthenticate step, as the invocation's result.
//  4. A connection still anonymous when the timer fires is closed with a Close
//     message that says why and forbids reconnecting.
//
// Every other method is registered with hub.Authorize(signedIn), so an anonymous
// caller gets "Failed to invoke 'X' because user is unauthorized".
//
// The user store (Users) keeps salted PBKDF2-HMAC-SHA256 hashes; a fresh server has
// DemoUsers: alice/alice123, bob/bob123, carol/carol123.
//
// # Methods (client → server)
//
//	Authenticate(nick, password) Welcome
//	Join(room) Room            creates the room if needed; names are 1-32 of a-z 0-9 _ -
//	Leave(room)                everyone stays in "general"
//	Rooms() []Room
//	Who(room) []string         the nicknames in a room (from Groups().Members)
//	Send(room, text)           to the members of a room the caller is in
//	Direct(nick, text)         to every tab of nick, and the sender's own tabs
//	SendImage(room, contentType, data)  an image ([]byte: bin under MessagePack,
//	                           base64 under JSON) to the members of a room; PNG, JPEG,
//	                           GIF or WebP, at most Options.MaxImageSize bytes
//
// # Events (server → client)
//
//	message(Message)   a room message
//	image(Image)       an image sent to a room
//	direct(Message)    a direct message (To is set)
//	notice(Notice)     "alice joined", "alice left" in a room
//	rooms([]Room)      every room with its members, after any change
//	users([]string)    who is online, after any change
//
// Texts are sent as they were typed (trimmed, control characters removed); clients
// must render them as text, never as HTML. The demo page uses textContent.
//
// Presence counts a user in a room while any of their tabs is in it: a user's
// second tab joining says nothing, the last one leaving (or disconnecting) says
// "left".
package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hubbub-go/hubbub/hub"
)

// Defaults for Options.
const (
	DefaultAuthTimeout      = 10 * time.Second
	DefaultMaxMessageLength = 500
	DefaultMaxRooms         = 50
	// General is the room everyone is in.
	General = "general"
)

// Options configure the chat. The zero value of every field means its default.
type Options struct {
	// Hub are the options of the chat's hub. Name defaults to "chat".
	Hub hub.Options
	// Users is the user store. Default: DemoUsers.
	Users *Users
	// AuthTimeout closes connections that have not authenticated this long after
	// connecting. Default 10 s.
	AuthTimeout time.Duration
	// MaxMessageLength caps a message, in characters. Default 500.
	MaxMessageLength int
	// MaxRooms caps the rooms that exist at once. Default 50.
	MaxRooms int
	// MaxImageSize caps an image sent with SendImage, in bytes. Default 256 KiB.
	// The chat's hub takes messages large enough for such an image in base64
	// (Hub.TransportOptions.MaxReceiveSize is raised to fit if it is smaller).
	MaxImageSize int
}

// Welcome is Authenticate's result: who you are and the state of the chat.
type Welcome struct {
	Nick             string   `json:"nick"`
	Rooms            []Room   `json:"rooms"`
	Joined           []string `json:"joined"`
	Online           []string `json:"online"`
	MaxMessageLength int      `json:"maxMessageLength"`
	MaxImageSize     int      `json:"maxImageSize"`
}

// Room is a room and the nicknames in it.
type Room struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// Message is a room message (Room set) or a direct message (To set).
type Message struct {
	ID   int64  `json:"id"`
	Room string `json:"room,omitempty"`
	From string `json:"from"`
	To   string `json:"to,omitempty"`
	Text string `json:"text"`
	At   int64  `json:"at"` // unix milliseconds
}

// Notice is a line about a room: someone joined or left.
type Notice struct {
	Room string `json:"room"`
	Text string `json:"text"`
	At   int64  `json:"at"`
}

// Chat is the chat hub and its state.
type Chat struct {
	hub   *hub.Hub
	users *Users
	opts  Options
	seq   atomic.Int64

	// mu serializes sign-ins, joins, leaves and disconnects, and the notices they
	// send, so everybody sees them in one order. Sending never blocks (the hub
	// queues), so holding it while sending is fine.
	mu    sync.Mutex
	nicks map[string]string         // connection ID → nickname, signed-in connections
	tabs  map[string]int            // nickname → signed-in connections
	rooms map[string]map[string]int // room → nickname → connections of that user in the room
	in    map[string][]string       // connection ID → rooms it is in
}

// session is what a connection's Items hold under sessionKey. Its fields are
// guarded by Chat.mu.
type session struct {
	nick  string
	gone  bool // disconnected: sign-ins and joins racing the end must not stick
	timer *time.Timer
}

type sessionKey struct{}

// Group names: rooms, users and "everyone signed in" live in one namespace, and
// room names cannot contain ':'.
const onlineGroup = "online"

func roomGroup(room string) string { return "room:" + room }
func userGroup(nick string) string { return "user:" + nick }

// New returns the chat with its hub; serve Hub() at /hubs/chat.
func New(opts Options) (*Chat, error) {
	if opts.Hub.Name == "" {
		opts.Hub.Name = "chat"
	}
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = DefaultAuthTimeout
	}
	if opts.MaxMessageLength <= 0 {
		opts.MaxMessageLength = DefaultMaxMessageLength
	}
	if opts.MaxRooms <= 0 {
		opts.MaxRooms = DefaultMaxRooms
	}
	if opts.MaxImageSize <= 0 {
		opts.MaxImageSize = DefaultMaxImageSize
	}
	opts.Hub = withImageRoom(opts.Hub, opts.MaxImageSize)
	users := opts.Users
	if users == nil {
		var err error
		if users, err = NewUsers(DemoUsers); err != nil {
			return nil, err
		}
	}
	c := &Chat{
		hub:   hub.New(opts.Hub),
		users: users,
		opts:  opts,
		nicks: map[string]string{},
		tabs:  map[string]int{},
		rooms: map[string]map[string]int{General: {}},
		in:    map[string][]string{},
	}
	h := c.hub
	h.OnConnected(c.connected)
	h.OnDisconnected(c.disconnected)
	h.On("Authenticate", c.authenticate)
	signedIn := hub.Authorize(func(ctx *hub.Context) error {
		if c.nickOf(ctx) == "" {
			return errors.New("chat: not authenticated")
		}
		return nil
	})
	h.On("Join", c.join, signedIn)
	h.On("Leave", c.leave, signedIn)
	h.On("Rooms", c.roomList, signedIn)
	h.On("Who", c.who, signedIn)
	h.On("Send", c.send, signedIn)
	h.On("Direct", c.direct, signedIn)
	h.On("SendImage", c.sendImage, signedIn)
	// What the chat sends its clients, for hub.Describe and the typed clients
	// generated from it (internal/demo/types).
	h.ClientMethod("message", Message{})
	h.ClientMethod("image", Image{})
	h.ClientMethod("direct", Message{})
	h.ClientMethod("notice", Notice{})
	h.ClientMethod("rooms", []Room{})
	h.ClientMethod("users", []string{})
	return c, nil
}

// Hub is the chat's hub.
func (c *Chat) Hub() *hub.Hub { return c.hub }

func sessionOf(ctx *hub.Context) *session {
	s, _ := ctx.Items().Load(sessionKey{})
	ss, _ := s.(*session)
	return ss
}

// nickOf is the caller's nickname, "" before Authenticate.
func (c *Chat) nickOf(ctx *hub.Context) string {
	s := sessionOf(ctx)
	if s == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.nick
}

func (c *Chat) connected(ctx *hub.Context) error {
	s := &session{}
	ctx.Items().Store(sessionKey{}, s)
	conn := ctx.Conn()
	timeout := c.opts.AuthTimeout
	c.mu.Lock()
	defer c.mu.Unlock()
	s.timer = time.AfterFunc(timeout, func() {
		c.mu.Lock()
		anonymous := s.nick == "" && !s.gone
		c.mu.Unlock()
		if anonymous {
			conn.Close(fmt.Sprintf("Not authenticated within %s: call Authenticate(nick, password) first.", timeout), false)
		}
	})
	return nil
}

func (c *Chat) disconnected(ctx *hub.Context, _ error) {
	s := sessionOf(ctx)
	if s == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s.gone = true
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.nick == "" {
		return
	}
	id := ctx.ConnectionID()
	// The hub has already taken the connection out of its groups.
	for _, room := range c.in[id] {
		c.leftLocked(ctx, s.nick, room)
	}
	delete(c.in, id)
	delete(c.nicks, id)
	if c.tabs[s.nick]--; c.tabs[s.nick] <= 0 {
		delete(c.tabs, s.nick)
		c.broadcastUsersLocked(ctx)
	}
	c.broadcastRoomsLocked(ctx)
}

// errBadLogin is the one answer to every failed login: which half was wrong is
// not told.
var errBadLogin = hub.NewError("Invalid nickname or password.")

func (c *Chat) authenticate(ctx *hub.Context, nick, password string) (*Welcome, error) {
	if len(nick) > 64 || len(password) > 256 {
		return nil, errBadLogin
	}
	s := sessionOf(ctx)
	if s == nil {
		return nil, errors.New("chat: connection without a session")
	}
	c.mu.Lock()
	already := s.nick
	c.mu.Unlock()
	if already != "" {
		return nil, hub.NewError("Already signed in as %s.", already)
	}
	nick, ok := c.users.Check(nick, password) // slow on purpose: outside the lock
	if !ok {
		return nil, errBadLogin
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case s.gone:
		return nil, hub.ErrConnectionClosed
	case s.nick != "":
		return nil, hub.NewError("Already signed in as %s.", s.nick)
	}
	id := ctx.ConnectionID()
	if err := ctx.Groups().Add(ctx, id, userGroup(nick)); err != nil {
		return nil, err
	}
	if err := ctx.Groups().Add(ctx, id, onlineGroup); err != nil {
		return nil, err
	}
	s.nick = nick
	s.timer.Stop()
	c.nicks[id] = nick
	c.tabs[nick]++
	if err := c.joinLocked(ctx, nick, General); err != nil {
		return nil, err
	}
	if c.tabs[nick] == 1 {
		c.broadcastUsersLocked(ctx)
	}
	c.broadcastRoomsLocked(ctx)
	return &Welcome{
		Nick:             nick,
		Rooms:            c.roomsLocked(ctx),
		Joined:           slices.Clone(c.in[id]),
		Online:           c.onlineLocked(),
		MaxMessageLength: c.opts.MaxMessageLength,
		MaxImageSize:     c.opts.MaxImageSize,
	}, nil
}

// RoomName checks a room name and returns it in canonical (lower-case) form.
func RoomName(name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), "#")))
	if name == "" {
		return "", hub.NewError("Room names cannot be empty.")
	}
	if len(name) > 32 {
		return "", hub.NewError("Room names are at most 32 characters.")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", hub.NewError("Room names may use letters, digits, '-' and '_' only.")
		}
	}
	return name, nil
}

// ValidNick checks a nickname: 1-32 of a-z, 0-9, '-', '_'.
func ValidNick(nick string) error {
	if nick == "" || len(nick) > 32 {
		return errors.New("nicknames are 1-32 characters")
	}
	for _, r := range nick {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return errors.New("nicknames may use a-z, 0-9, '-' and '_' only")
		}
	}
	return nil
}

func (c *Chat) join(ctx *hub.Context, name string) (*Room, error) {
	room, err := RoomName(name)
	if err != nil {
		return nil, err
	}
	s := sessionOf(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.gone {
		return nil, hub.ErrConnectionClosed
	}
	if _, exists := c.rooms[room]; !exists && len(c.rooms) >= c.opts.MaxRooms {
		return nil, hub.NewError("There are %d rooms already; join one of them.", len(c.rooms))
	}
	if err := c.joinLocked(ctx, s.nick, room); err != nil {
		return nil, err
	}
	c.broadcastRoomsLocked(ctx)
	return &Room{Name: room, Members: c.membersLocked(ctx, room)}, nil
}

// joinLocked puts the caller in room, telling the room when the user is new there.
func (c *Chat) joinLocked(ctx *hub.Context, nick, room string) error {
	id := ctx.ConnectionID()
	if slices.Contains(c.in[id], room) {
		return nil
	}
	if err := ctx.Groups().Add(ctx, id, roomGroup(room)); err != nil {
		return err
	}
	c.in[id] = append(c.in[id], room)
	if c.rooms[room] == nil {
		c.rooms[room] = map[string]int{}
	}
	if c.rooms[room][nick]++; c.rooms[room][nick] == 1 {
		c.noticeLocked(ctx, room, nick+" joined #"+room)
	}
	return nil
}

func (c *Chat) leave(ctx *hub.Context, name string) error {
	room, err := RoomName(name)
	if err != nil {
		return err
	}
	if room == General {
		return hub.NewError("Everyone stays in #general.")
	}
	s := sessionOf(ctx)
	id := ctx.ConnectionID()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.in[id], room) {
		return hub.NewError("You are not in #%s.", room)
	}
	if err := ctx.Groups().Remove(ctx, id, roomGroup(room)); err != nil {
		return err
	}
	c.in[id] = slices.DeleteFunc(c.in[id], func(r string) bool { return r == room })
	c.leftLocked(ctx, s.nick, room)
	c.broadcastRoomsLocked(ctx)
	return nil
}

// leftLocked accounts for one connection of nick having left room (the hub
// group is already left), telling the room when it was the user's last.
func (c *Chat) leftLocked(ctx context.Context, nick, room string) {
	members := c.rooms[room]
	if members[nick]--; members[nick] > 0 {
		return
	}
	delete(members, nick)
	c.noticeLocked(ctx, room, nick+" left #"+room)
	if len(members) == 0 && room != General {
		delete(c.rooms, room)
	}
}

func (c *Chat) noticeLocked(ctx context.Context, room, text string) {
	n := Notice{Room: room, Text: text, At: time.Now().UnixMilli()}
	// A notice that cannot be sent is not worth failing the call for (and the
	// in-memory backplane never fails).
	_ = c.hub.Clients().Group(roomGroup(room)).Send(ctx, "notice", n)
}

func (c *Chat) broadcastRoomsLocked(ctx context.Context) {
	_ = c.hub.Clients().Group(onlineGroup).Send(ctx, "rooms", c.roomsLocked(ctx))
}

func (c *Chat) broadcastUsersLocked(ctx context.Context) {
	_ = c.hub.Clients().Group(onlineGroup).Send(ctx, "users", c.onlineLocked())
}

func (c *Chat) onlineLocked() []string {
	out := make([]string, 0, len(c.tabs))
	for nick := range c.tabs {
		out = append(out, nick)
	}
	slices.Sort(out)
	return out
}

// roomsLocked lists the rooms, general first, then by name.
func (c *Chat) roomsLocked(ctx context.Context) []Room {
	names := make([]string, 0, len(c.rooms))
	for name := range c.rooms {
		if name != General {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	names = append([]string{General}, names...)
	out := make([]Room, len(names))
	for i, name := range names {
		out[i] = Room{Name: name, Members: c.membersLocked(ctx, name)}
	}
	return out
}

// membersLocked is the sorted nicknames in a room: the hub's group members mapped
// to nicknames, each user once however many tabs they have there.
func (c *Chat) membersLocked(ctx context.Context, room string) []string {
	ids, err := c.hub.Groups().Members(ctx, roomGroup(room))
	if err != nil {
		return []string{}
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if nick := c.nicks[id]; nick != "" {
			out = append(out, nick)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (c *Chat) roomList(ctx *hub.Context) []Room {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.roomsLocked(ctx)
}

func (c *Chat) who(ctx *hub.Context, name string) ([]string, error) {
	room, err := RoomName(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.rooms[room]; !ok {
		return nil, hub.NewError("There is no room #%s.", room)
	}
	return c.membersLocked(ctx, room), nil
}

// cleanText trims a message, drops control characters other than newlines and
// tabs, and checks its length.
func (c *Chat) cleanText(text string) (string, error) {
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	text = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, text))
	if text == "" {
		return "", hub.NewError("Empty message.")
	}
	if n := utf8.RuneCountInString(text); n > c.opts.MaxMessageLength {
		return "", hub.NewError("Message too long: %d characters, at most %d.", n, c.opts.MaxMessageLength)
	}
	return text, nil
}

func (c *Chat) send(ctx *hub.Context, name, text string) error {
	room, err := RoomName(name)
	if err != nil {
		return err
	}
	if text, err = c.cleanText(text); err != nil {
		return err
	}
	c.mu.Lock()
	nick := sessionOf(ctx).nick
	member := slices.Contains(c.in[ctx.ConnectionID()], room)
	c.mu.Unlock()
	if !member {
		return hub.NewError("Join #%s first.", room)
	}
	m := Message{ID: c.seq.Add(1), Room: room, From: nick, Text: text, At: time.Now().UnixMilli()}
	return ctx.Clients().Group(roomGroup(room)).Send(ctx, "message", m)
}

func (c *Chat) direct(ctx *hub.Context, to, text string) error {
	to = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(to), "@")))
	text, err := c.cleanText(text)
	if err != nil {
		return err
	}
	c.mu.Lock()
	nick := sessionOf(ctx).nick
	online := c.tabs[to] > 0
	c.mu.Unlock()
	switch {
	case to == nick:
		return hub.NewError("That is you.")
	case !c.users.Known(to):
		return hub.NewError("There is no user %q.", to)
	case !online:
		return hub.NewError("%s is not online.", to)
	}
	m := Message{ID: c.seq.Add(1), From: nick, To: to, Text: text, At: time.Now().UnixMilli()}
	// Every tab of the receiver, and the sender's own tabs (each connection once).
	return ctx.Clients().Groups(userGroup(to), userGroup(nick)).Send(ctx, "direct", m)
}
