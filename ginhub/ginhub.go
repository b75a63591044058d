// Package ginhub mounts Hubbub hubs on a Gin router, so that identity set by Gin
// middleware (c.Set("user", …), or any key you choose) reaches the hub's
// Context, and ordinary Gin handlers can push to clients through the same hub.
//
//	r := gin.New()
//	r.Use(gin.Logger(), gin.Recovery())
//	ginhub.Mount(r, "/hubs/chat", chat, ginhub.Options{}, requireUser) // requireUser sets c.Set("user", "alice")
//	api := r.Group("/api", requireUser)
//	api.POST("/rooms/:room/announce", func(c *gin.Context) {
//		chat.Clients().Group(c.Param("room")).Send(c, "announce", c.PostForm("text"))
//	})
//
// Values set with c.Set never reach a plain [http.Handler], so the adapter copies the
// identity into the request context ([hub.WithUserID]) and the Gin keys alongside it
// (read them in handlers with [Value]).
//
// # Routes, and what runs the app's middleware
//
// [Mount] declares only the routes the hub serves, so the app's own routes can sit
// under the hub's path (r.GET("/hubs/chat/history", …)). Pass Mount the public
// router and the middleware that guards the hub (authentication): the bundled
// client script and CORS preflights skip that middleware, since the script is
// public code and browsers send preflights without credentials. For
// Mount(r, "/hubs/chat", h, opts, requireUser):
//
//	GET, POST, DELETE…  /hubs/chat            requireUser, then the transports: WebSocket
//	                                          upgrade, SSE stream and send, long-polling
//	                                          poll, send and DELETE (also /hubs/chat/)
//	GET, POST, DELETE…  /hubs/chat/negotiate  requireUser, then negotiate (POST; the hub
//	                                          answers 405 to other methods)
//	OPTIONS             both of the above     the hub's CORS preflight, without requireUser
//	GET, HEAD           /hubs/chat/hubbub.js  and each other name in Options.AssetNames
//	                                          (default clientjs.Names()), served by the
//	                                          hub's Options.Assets, without requireUser
//
// Middleware applied to routes itself (a group's, or r.Use's) runs on every one
// of these routes, as Gin does.
//
// Browsers cannot send headers on a WebSocket upgrade or an EventSource, so clients
// send the token there in the access_token query parameter (accessTokenFactory in
// the JavaScript clients); [BearerToken] reads it from either place. Gin's Logger
// writes query strings: use gin.LoggerWithConfig(gin.LoggerConfig{SkipQueryString:
// true}) to keep tokens out of the log.
//
// # CORS in one place
//
// Set it in one place, either:
//   - in the hub, with [hub.Options.AllowedOrigins]: the hub answers the preflights,
//     which Mount routes around the middleware, and Mount puts the hub's CORS
//     headers on before the middleware runs ([hub.Hub.AllowCORS]), so that a
//     page can read the middleware's 401 (a browser hides a cross-origin answer
//     without them, and its client could not refresh its token);
//   - in the app, with its CORS middleware on the router (r.Use(cors.New(…)) with
//     gin-contrib/cors): the middleware answers the preflights and refuses
//     origins it does not allow. When it has answered a request with an
//     Access-Control-Allow-Origin equal to the request's Origin, or "*" without
//     Access-Control-Allow-Credentials: true, [Handler] tells the hub so
//     ([hub.WithApprovedOrigin]), and the hub lets that origin in, WebSocket upgrades
//     included, and leaves the CORS headers to the middleware.
//
// # Logs, panics, proxies
//
// The hub takes a WebSocket, an SSE stream and a long poll held idle over from
// net/http, so its Gin handler returns long before the connection ends: Gin's
// Logger logs such requests when they are taken over (a WebSocket when it opens),
// not when they end. The hub's own access log ([hub.Options.Logger], at Info) has a
// line per connection with its true duration, bytes and close reason. A panic in a
// hub method is recovered by the hub, logged at Error with its stack, and answered
// to the client as an error completion; Gin's Recovery never sees it.
//
// Gin's SetTrustedProxies governs c.ClientIP (your handlers, Gin's Logger); the hub
// reads forwarding headers only from the proxies in [hub.Options.TrustedProxies] (for
// its same-origin check, per-address limits and logs), so list the same proxies in
// both.
package ginhub

import (
	"context"
	"maps"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hubbub-go/hubbub/clientjs"
	"github.com/hubbub-go/hubbub/hub"
)

// Options configure the adapter. The zero value is ready to use.
type Options struct {
	// UserKey is the Gin context key holding the user identity (a string, or a
	// fmt.Stringer). Default "user".
	UserKey string
	// UserID, when set, replaces UserKey: it derives the identity from the Gin context.
	UserID func(c *gin.Context) string
	// AssetNames are the file names under the hub's path that Mount routes (GET and
	// HEAD) to the hub, which serves them with its Options.Assets. Default
	// clientjs.Names(): hubbub.js, hubbub.mjs, hubbub.d.ts and the MessagePack
	// module's three files. Set it when Assets serves other files; an empty,
	// non-nil slice declares none.
	AssetNames []string
}

type keysKey struct{}

// Mount serves h on routes at relativePath and relativePath+"/" (the
// transports), relativePath+"/negotiate" and relativePath+"/"+name for each of
// opts.AssetNames, and on no other route, so that the app may declare its own
// routes under relativePath. The transports and negotiate run middleware (the
// app's authentication, say), then the hub; the client script and CORS
// preflights (OPTIONS) are public and skip it. See the package doc for the table.
func Mount(routes gin.IRoutes, relativePath string, h *hub.Hub, opts Options, middleware ...gin.HandlerFunc) {
	handler := Handler(h, opts)
	// The hub's CORS headers go on first, so that a refusal by the middleware
	// reaches the page (a browser hides a cross-origin answer without them).
	allowCORS := func(c *gin.Context) { h.AllowCORS(c.Writer, c.Request) }
	guarded := append(append([]gin.HandlerFunc{allowCORS}, middleware...), handler)
	for _, p := range []string{
		relativePath,
		relativePath + "/", // a hub URL with a trailing slash: no redirect an upgrade cannot follow
		relativePath + "/negotiate",
	} {
		routes.Match(hubMethods, p, guarded...)
		routes.OPTIONS(p, handler) // preflights carry no credentials: the hub answers them
	}
	names := opts.AssetNames
	if names == nil {
		names = clientjs.Names()
	}
	for _, name := range names {
		routes.Match([]string{http.MethodGet, http.MethodHead}, relativePath+"/"+name, handler) // public code
	}
}

// hubMethods are the methods Mount routes through the middleware to the hub: all
// of gin's Any but OPTIONS, so that the hub, not a 404, answers a wrong method.
var hubMethods = []string{
	http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodHead,
	http.MethodDelete, http.MethodConnect, http.MethodTrace,
}

// Handler adapts h to a gin.HandlerFunc for routes you declare yourself. It
// passes the user ([Options.UserKey] or UserID) and the Gin keys to the hub, and
// an Origin the app's CORS middleware approved (see the package doc).
func Handler(h *hub.Hub, opts Options) gin.HandlerFunc {
	if opts.UserKey == "" {
		opts.UserKey = "user"
	}
	userID := opts.UserID
	if userID == nil {
		userID = func(c *gin.Context) string {
			switch v := c.Value(opts.UserKey).(type) {
			case string:
				return v
			case interface{ String() string }:
				return v.String()
			}
			return ""
		}
	}
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		if id := userID(c); id != "" {
			ctx = hub.WithUserID(ctx, id)
		}
		if len(c.Keys) > 0 {
			ctx = context.WithValue(ctx, keysKey{}, maps.Clone(c.Keys))
		}
		if origin := c.Request.Header.Get("Origin"); origin != "" && corsApproved(c.Writer.Header(), origin) {
			ctx = hub.WithApprovedOrigin(ctx, origin)
		}
		h.ServeHTTP(c.Writer, c.Request.WithContext(ctx))
	}
}

// Value returns a key that Gin middleware set (c.Set) on the request that opened the
// connection of ctx.
func Value(ctx *hub.Context, key string) (any, bool) {
	keys, _ := ctx.Request().Context().Value(keysKey{}).(map[any]any)
	v, ok := keys[key]
	return v, ok
}

// corsApproved reports whether the app's CORS middleware, which ran before the
// hub, answered for origin: Access-Control-Allow-Origin is origin itself, or "*"
// without credentials (a "*" with credentials, which browsers refuse, approves
// nothing, as the hub's own "*" never grants credentials).
func corsApproved(response http.Header, origin string) bool {
	switch response.Get("Access-Control-Allow-Origin") {
	case origin:
		return true
	case "*":
		return response.Get("Access-Control-Allow-Credentials") != "true"
	}
	return false
}

// BearerToken returns the request's bearer token: the Authorization header's
// "Bearer <token>", else the access_token query parameter, where clients put it on
// the requests that cannot carry a header (a browser's WebSocket upgrade and
// EventSource; accessTokenFactory in the JavaScript clients). It returns "" when
// there is neither. For an auth middleware passed to [Mount]:
//
//	func requireUser(c *gin.Context) {
//		user, err := checkToken(ginhub.BearerToken(c))
//		if err != nil {
//			c.AbortWithStatus(http.StatusUnauthorized)
//			return
//		}
//		c.Set("user", user)
//	}
func BearerToken(c *gin.Context) string {
	if scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(token)
	}
	return c.Query("access_token")
}
