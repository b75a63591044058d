package ginhub_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/ginhub"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
)

// Identity set by Gin middleware reaches the hub, and a REST handler pushes to a
// group through the same hub: a Go client follows a company, then a POST to the
// REST API reaches it.
func Example() {
	gin.SetMode(gin.ReleaseMode)
	news := hub.New(hub.Options{Name: "news"})
	news.On("Follow", func(ctx *hub.Context, company string) (string, error) {
		role, _ := ginhub.Value(ctx, "role") // any key set with c.Set
		if err := ctx.Groups().Add(ctx, ctx.ConnectionID(), company); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s follows %s as %v", ctx.UserID(), company, role), nil
	})

	r := gin.New()
	auth := func(c *gin.Context) {
		user := c.GetHeader("X-User") // a real app checks a session or a token
		if user == "" {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		c.Set("user", user)
		c.Set("role", "reader")
	}
	ginhub.Mount(r, "/hubs/news", news, ginhub.Options{}, auth) // reads c.Get("user")
	api := r.Group("/api", auth)
	api.POST("/news/:company", func(c *gin.Context) {
		err := news.Clients().Group(c.Param("company")).Send(c, "article", c.PostForm("title"))
		if err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		c.Status(http.StatusAccepted)
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ada := http.Header{"X-User": {"ada"}}
	conn, err := client.New(srv.URL+"/hubs/news", client.Options{Header: ada})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	articles := make(chan string, 1)
	conn.On("article", func(args []protocol.RawValue) {
		var title string
		if err := conn.DecodeArgs(args, &title); err == nil {
			articles <- title
		}
	})
	if err := conn.Start(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(client.InvokeAs[string](ctx, conn, "Follow", "acme"))

	form := url.Values{"title": {"Acme ships rockets"}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/news/acme", strings.NewReader(form.Encode()))
	req.Header = ada.Clone()
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, <-articles)
	// Output:
	// ada follows acme as reader <nil>
	// 202 Accepted Acme ships rockets
}

// The README's Gin quick start, compiled and run here: an auth middleware that
// sets the user, a hub whose clients join a group per company, and a REST route
// that pushes to a group. The README's copy is this file's code in a main:
// newsApp's body, then serveNews's, which this example leaves out and tries the
// app on a test server instead.
func Example_quickStart() {
	gin.SetMode(gin.ReleaseMode)
	r, _ := newsApp()
	srv := httptest.NewServer(r)
	defer srv.Close()
	get := func(method, path, token string) {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
		fmt.Printf("%s %s with token %q: %d\n", method, path, token, resp.StatusCode)
	}
	get("GET", "/hubs/news/hubbub.js", "")
	get("POST", "/hubs/news/negotiate?negotiateVersion=1", "")
	get("POST", "/hubs/news/negotiate?negotiateVersion=1", "alice-token")
	get("POST", "/hubs/news/negotiate?negotiateVersion=1&access_token=alice-token", "")
	// Output:
	// GET /hubs/news/hubbub.js with token "": 200
	// POST /hubs/news/negotiate?negotiateVersion=1 with token "": 401
	// POST /hubs/news/negotiate?negotiateVersion=1 with token "alice-token": 200
	// POST /hubs/news/negotiate?negotiateVersion=1&access_token=alice-token with token "": 200
}

// tokens maps bearer tokens to users. A real app checks a session or a signed
// token (see package auth/jwtauth).
var tokens = map[string]string{"alice-token": "alice", "bob-token": "bob"}

// requireUser is the app's auth middleware: it refuses requests without a known
// token and sets the user, which becomes ctx.UserID() in the hub. BearerToken
// reads the Authorization header, else the access_token query parameter, which
// browsers use where they cannot send headers (WebSocket, EventSource).
func requireUser(c *gin.Context) {
	user, ok := tokens[ginhub.BearerToken(c)]
	if !ok {
		c.AbortWithStatus(http.StatusUnauthorized)
		return
	}
	c.Set("user", user)
}

func newsApp() (*gin.Engine, *hub.Hub) {
	r := gin.New()
	// SkipQueryString: no access_token in the log.
	r.Use(gin.LoggerWithConfig(gin.LoggerConfig{SkipQueryString: true}), gin.Recovery())

	news := hub.New(hub.Options{Name: "news"})
	news.On("Follow", func(ctx *hub.Context, company string) error {
		return ctx.Groups().Add(ctx, ctx.ConnectionID(), company)
	})
	// The hub, its negotiate and hubbub.js. Negotiate and the transports run
	// requireUser; hubbub.js and CORS preflights are public.
	ginhub.Mount(r, "/hubs/news", news, ginhub.Options{}, requireUser)
	api := r.Group("/api", requireUser)
	api.POST("/news/:company", func(c *gin.Context) {
		err := news.Clients().Group(c.Param("company")).Send(c, "article", c.PostForm("title"))
		if err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		c.Status(http.StatusAccepted)
	})
	return r, news
}

// serveNews ends the README's main.
func serveNews(r *gin.Engine, news *hub.Hub) {
	// Not r.Run: hub.Serve also drains and closes the hub on shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: r, ReadHeaderTimeout: 10 * time.Second}
	if err := hub.Serve(ctx, srv, news); err != nil {
		log.Fatal(err)
	}
}

var _ = serveNews // compiled, not run: it would listen on a fixed port
