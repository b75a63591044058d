// Package demo holds the two applications cmd/hubbub serves to show Hubbub off:
// a chat (package chat, hub /hubs/chat, page /chat) and live company news (package
// news, hub /hubs/news, page /news, REST /api/news), plus the landing page /.
//
// The pages are plain HTML, CSS and JavaScript embedded in the binary (web/), with
// no build step: each loads the bundled client from the hub it talks to
// (<script src="/hubs/chat/hubbub.js">) and uses the global Hubbub. Every page
// takes ?transport=websockets|sse|longpolling to force one transport, and shows the
// transport in use. User content is only ever put in the page with textContent.
//
// The package has no web framework in it: New returns the hubs to mount and plain
// http.Handlers with their routes, which cmd/hubbub mounts on Gin:
//
//	app, err := demo.New(demo.Options{Hub: hubOptions})
//	for _, m := range app.Hubs() {
//		ginhub.Mount(router, m.Path, m.Hub, ginhub.Options{})
//	}
//	for _, rt := range app.Routes() {
//		router.Match([]string{"GET", "HEAD"}, rt.Path, gin.WrapH(rt.Handler))
//	}
//	app.Start(ctx) // the news publisher
//	defer app.Stop()
package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/demo/chat"
	"github.com/hubbub-go/hubbub/internal/demo/news"
)

//go:embed web
var web embed.FS

// Options configure the demo. The zero value of every field means its default.
type Options struct {
	// Hub returns the hub options for a hub name ("chat", "news"); the demo sets
	// the rest. Default: zero options.
	Hub func(name string) hub.Options
	// ChatAuthTimeout is chat.Options.AuthTimeout (default 10 s).
	ChatAuthTimeout time.Duration
	// NewsInterval is news.Options.Interval (default 5 s).
	NewsInterval time.Duration
}

// Demo is the chat, the news and the pages.
type Demo struct {
	Chat *chat.Chat
	News *news.News

	pages http.Handler

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// MountedHub is a hub and the path to serve it at (and below).
type MountedHub struct {
	Path string
	Hub  *hub.Hub
}

// Route is a GET (and HEAD) route. Path uses the :name and *name wildcards of Gin
// and httprouter.
type Route struct {
	Path    string
	Handler http.Handler
}

// New builds the demo. Nothing runs until Start.
func New(opts Options) (*Demo, error) {
	hubOpts := opts.Hub
	if hubOpts == nil {
		hubOpts = func(string) hub.Options { return hub.Options{} }
	}
	chatHub := hubOpts("chat")
	chatHub.Name = "chat"
	c, err := chat.New(chat.Options{Hub: chatHub, AuthTimeout: opts.ChatAuthTimeout})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	newsHub := hubOpts("news")
	newsHub.Name = "news"
	n := news.New(news.Options{Hub: newsHub, Interval: opts.NewsInterval})
	pages, err := newPages()
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return &Demo{Chat: c, News: n, pages: pages}, nil
}

// Hubs are the demo's hubs and where they go.
func (d *Demo) Hubs() []MountedHub {
	return []MountedHub{{"/hubs/chat", d.Chat.Hub()}, {"/hubs/news", d.News.Hub()}}
}

// Routes are the pages, their static files and the news REST API.
func (d *Demo) Routes() []Route {
	api := d.News.API()
	return []Route{
		{"/", d.pages},
		{"/chat", d.pages},
		{"/news", d.pages},
		{"/static/*file", d.pages},
		{news.DefaultAPIPrefix, api},
		{news.DefaultAPIPrefix + "/:company", api},
	}
}

// Handler serves the pages and the REST API on a plain mux (without the hubs),
// for tests and servers without Gin.
func (d *Demo) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", d.pages)
	mux.Handle(news.DefaultAPIPrefix, d.News.API())
	mux.Handle(news.DefaultAPIPrefix+"/", d.News.API())
	return mux
}

// Start runs the news publisher until Stop or ctx ends.
func (d *Demo) Start(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil {
		return
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	go func() {
		defer close(d.done)
		d.News.Run(ctx)
	}()
}

// Stop stops the publisher and waits for it.
func (d *Demo) Stop() {
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// page is an embedded file with its ETag.
type page struct {
	body        []byte
	contentType string
	etag        string
}

// pages serves web/: "/" is index.html, "/chat" chat.html, "/news" news.html,
// "/static/x" is web/x. Answers carry a strong ETag and Cache-Control: no-cache.
type pages map[string]page

func newPages() (pages, error) {
	p := pages{}
	err := fs.WalkDir(web, "web", func(name string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		body, err := web.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		p[strings.TrimPrefix(name, "web/")] = page{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return p, err
}

func (p pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var name string
	switch r.URL.Path {
	case "/":
		name = "index.html"
	case "/chat":
		name = "chat.html"
	case "/news":
		name = "news.html"
	default:
		rest, ok := strings.CutPrefix(r.URL.Path, "/static/")
		if !ok || strings.HasSuffix(rest, ".html") {
			http.NotFound(w, r)
			return
		}
		name = rest
	}
	f, ok := p[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.HasSuffix(name, ".html") {
		// The pages load only their own scripts and styles; user content can never
		// become markup. Images sent in the chat are shown from blob: URLs.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "+
			"connect-src 'self' ws://"+r.Host+" wss://"+r.Host+"; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "same-origin")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
