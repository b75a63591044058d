// Chat is a chat server on net/http alone, in the spirit of gorilla/websocket's
// examples/chat: one hub, one page, nicknames and rooms.
//
//	go run ./chat      # from examples/; then open http://127.0.0.1:8080 in two windows
//
// The page (index.html and chat.js, embedded) loads the JavaScript client from the
// hub itself, /hubs/chat/hubbub.js, which every hub serves by default: no CDN, no
// build step. It calls the hub's methods Nick(name), Join(room) and Say(room,
// text); the hub calls "message"(room, nick, text) and "notice"(room, text) on the
// members of a room, which is a hub group. Closing the page leaves its rooms.
package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hubbub-go/hubbub/hub"
)

// Limits on what a client may send; longer input is refused with a message the
// page shows.
const (
	maxNickLen = 24  // characters in a nickname
	maxRoomLen = 32  // characters in a room name
	maxTextLen = 500 // characters in a message
)

//go:embed index.html chat.js
var page embed.FS

// member is what the hub knows of one connection, kept in its Items. Its mutex
// matters because OnDisconnected may run while an invocation still does.
type member struct {
	mu    sync.Mutex
	nick  string
	rooms map[string]bool
}

// get returns the connection's member, made on first use.
func get(ctx *hub.Context) *member {
	m, _ := ctx.Items().LoadOrStore("member", &member{nick: "anonymous", rooms: map[string]bool{}})
	return m.(*member)
}

// check refuses empty or overlong input, with the error the client sees.
func check(what, s string, max int) error {
	if strings.TrimSpace(s) == "" || utf8.RuneCountInString(s) > max {
		return hub.NewError("%s must have 1 to %d characters", what, max)
	}
	return nil
}

func newChat() *hub.Hub {
	chat := hub.New(hub.Options{Name: "chat"})
	chat.On("Nick", func(ctx *hub.Context, nick string) error {
		if err := check("a nickname", nick, maxNickLen); err != nil {
			return err
		}
		m := get(ctx)
		m.mu.Lock()
		defer m.mu.Unlock()
		m.nick = nick
		return nil
	})
	chat.On("Join", func(ctx *hub.Context, room string) error {
		if err := check("a room name", room, maxRoomLen); err != nil {
			return err
		}
		m := get(ctx)
		m.mu.Lock()
		defer m.mu.Unlock()
		if err := ctx.Groups().Add(ctx, ctx.ConnectionID(), room); err != nil {
			return err // too many rooms (hub.Options.MaxGroupsPerConnection): the client is told
		}
		m.rooms[room] = true
		return ctx.Clients().Group(room).Send(ctx, "notice", room, m.nick+" joined")
	})
	chat.On("Say", func(ctx *hub.Context, room, text string) error {
		if err := check("a message", text, maxTextLen); err != nil {
			return err
		}
		m := get(ctx)
		m.mu.Lock()
		nick, in := m.nick, m.rooms[room]
		m.mu.Unlock()
		if !in {
			return hub.NewError("join %s before talking there", room)
		}
		return ctx.Clients().Group(room).Send(ctx, "message", room, nick, text)
	})
	chat.OnDisconnected(func(ctx *hub.Context, _ error) {
		// The connection has left its groups already; tell the rooms it was in, with
		// a context that outlives the connection's.
		send := context.WithoutCancel(ctx)
		m := get(ctx)
		m.mu.Lock()
		defer m.mu.Unlock()
		for room := range m.rooms {
			ctx.Clients().Group(room).Send(send, "notice", room, m.nick+" left")
		}
	})
	return chat
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string) error {
	chat := newChat()
	mux := http.NewServeMux()
	mux.Handle("/hubs/chat", chat)           // negotiate and every transport...
	mux.Handle("/hubs/chat/", chat)          // ...and the client script, /hubs/chat/hubbub.js
	mux.Handle("/", http.FileServerFS(page)) // index.html and chat.js

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	// Serve until SIGINT or SIGTERM, then drain the hub and send every client a
	// Close message before the server shuts down (http.Server.Shutdown alone would
	// leave the hub's WebSockets and event streams open).
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return hub.ServeListener(ctx, srv, ln, chat)
}
