// Command gin is a Gin app with a Hubbub hub, written as Gin apps are: Logger and
// Recovery, an auth middleware that takes a bearer token, CORS set once (with
// gin-contrib/cors), a page that loads the bundled client from the hub, a route of
// the app's own under the hub's path, a REST handler that pushes to a group, and a
// graceful shutdown that ends every client with a Close message.
//
//	go run ./gin                                      # then open http://127.0.0.1:8080
//	go run ./gin -allowed-origins http://localhost:5173
//
// Try it from a shell:
//
//	curl -H 'Authorization: Bearer bob-token' -d title='Q3 results' http://127.0.0.1:8080/api/news/acme
//	curl -H 'Authorization: Bearer bob-token' http://127.0.0.1:8080/hubs/news/history
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"github.com/hubbub-go/hubbub/clientjs"
	"github.com/hubbub-go/hubbub/ginhub"
	"github.com/hubbub-go/hubbub/hub"
)

//go:embed index.html
var indexHTML string

// page is index.html, with the long-cached URL of the bundled client in it.
var page = template.Must(template.New("index").Parse(indexHTML))

func main() {
	if os.Getenv("GIN_MODE") == "" {
		gin.SetMode(gin.ReleaseMode) // no debug banner listing every route
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gin:", err)
		os.Exit(1)
	}
}

// run serves the app until ctx ends, then shuts it down. Gin's Logger and the
// hub's log write to stdout.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("gin", flag.ContinueOnError)
	addr := flags.String("addr", "127.0.0.1:8080", "address to listen on")
	origins := flags.String("allowed-origins", "", "comma-separated origins of pages on other sites allowed to call the API and the hub (CORS), e.g. http://localhost:5173")
	if err := flags.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil // -h: the usage is printed
	} else if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}

	// The hub logs through slog: one Info line per connection when it ends (its
	// access log), refusals, and a panic in a method at Error with its stack.
	news := hub.New(hub.Options{Name: "news", Logger: slog.New(slog.NewTextHandler(stdout, nil))})
	news.On("Follow", func(ctx *hub.Context, company string) error {
		return ctx.Groups().Add(ctx, ctx.ConnectionID(), company)
	})
	news.On("Unfollow", func(ctx *hub.Context, company string) error {
		return ctx.Groups().Remove(ctx, ctx.ConnectionID(), company)
	})
	r := newRouter(news, splitList(*origins), stdout)

	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	// Not r.Run: ServeListener also drains the hub and sends every client a Close
	// message, which http.Server.Shutdown alone cannot do for the connections the
	// hub took over.
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	return hub.ServeListener(ctx, srv, ln, news)
}

// newRouter is the app: its middleware, the hub and the app's own routes.
func newRouter(news *hub.Hub, allowedOrigins []string, logOutput io.Writer) *gin.Engine {
	r := gin.New()
	r.Use(
		// SkipQueryString: browsers send the token in the query string where they
		// cannot send headers (WebSocket, EventSource); keep it out of the log.
		gin.LoggerWithConfig(gin.LoggerConfig{Output: logOutput, SkipQueryString: true}),
		gin.Recovery(),
	)
	if len(allowedOrigins) > 0 {
		// CORS in one place, for the API and the hub alike: the hub follows what
		// this middleware allows (hub.Options.AllowedOrigins stays empty), and an
		// origin it refuses gets 403 from it.
		r.Use(cors.New(cors.Config{
			AllowOrigins: allowedOrigins,
			AllowMethods: []string{"GET", "POST", "DELETE"},
			// X-Requested-With and X-SignalR-User-Agent: what the SignalR clients send.
			AllowHeaders: []string{"Authorization", "Content-Type", "X-Requested-With", "X-SignalR-User-Agent"},
			// No AllowCredentials: the token is a header, not a cookie.
			MaxAge: 10 * time.Minute,
		}))
	}

	// The hub at /hubs/news: requireUser runs before negotiate and the
	// transports; the client script (/hubs/news/hubbub.js) and CORS preflights
	// are public.
	ginhub.Mount(r, "/hubs/news", news, ginhub.Options{}, requireUser)

	history := &articles{}
	// An app route under the hub's path: Mount declares only the hub's own routes.
	r.GET("/hubs/news/history", requireUser, func(c *gin.Context) {
		c.JSON(http.StatusOK, history.last())
	})
	api := r.Group("/api", requireUser)
	// A REST handler pushing to the clients that follow a company.
	api.POST("/news/:company", func(c *gin.Context) {
		a := article{Company: c.Param("company"), Title: c.PostForm("title"), By: c.GetString("user"), At: time.Now().UTC()}
		if a.Title == "" {
			c.String(http.StatusBadRequest, "title required")
			return
		}
		if err := news.Clients().Group(a.Company).Send(c, "article", a); err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		history.add(a)
		c.Status(http.StatusAccepted)
	})
	r.GET("/", func(c *gin.Context) {
		c.Header("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(c.Writer, map[string]string{"Script": clientjs.URL("/hubs/news", "hubbub.js")}); err != nil {
			c.Error(err) // the client went away: Gin's Logger shows it
		}
	})
	return r
}

// tokens maps bearer tokens to users. A real app checks a session or a signed
// token (see package auth/jwtauth).
var tokens = map[string]string{"alice-token": "alice", "bob-token": "bob"}

// requireUser is the app's auth middleware: the bearer token from the
// Authorization header or the access_token query parameter (ginhub.BearerToken)
// must be known; the user it names becomes ctx.UserID() in the hub.
func requireUser(c *gin.Context) {
	user, ok := tokens[ginhub.BearerToken(c)]
	if !ok {
		c.Header("WWW-Authenticate", "Bearer")
		c.AbortWithStatus(http.StatusUnauthorized)
		return
	}
	c.Set("user", user)
}

// article is what the hub pushes and /hubs/news/history lists.
type article struct {
	Company string    `json:"company"`
	Title   string    `json:"title"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// historyLength is how many articles /hubs/news/history keeps.
const historyLength = 20

// articles are the last historyLength articles, oldest first.
type articles struct {
	mu   sync.Mutex
	list []article
}

func (h *articles) add(a article) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.list = append(h.list, a)
	if len(h.list) > historyLength {
		h.list = h.list[len(h.list)-historyLength:]
	}
}

func (h *articles) last() []article {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]article{}, h.list...)
}

// splitList splits a comma-separated flag value, dropping empty entries.
func splitList(s string) []string {
	var list []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			list = append(list, v)
		}
	}
	return list
}
