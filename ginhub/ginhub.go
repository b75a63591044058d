// Package ginhub mounts Hubbub hubs on a Gin router, so that identity set by Gin
// middleware (c.Set("user", …), or any key you choose) reaches the hub's
// Context, and ordinary Gin handlers can push to clients through the same hub.
//
//	r := gin.New()
//	api := r.Group("/", authMiddleware) // sets c.Set("user", "alice")
//	ginhub.Mount(api, "/hubs/chat", chat, ginhub.Options{})
//	api.POST("/api/rooms/:room/announce", func(c *gin.Context) {
//		chat.Clients().Group(c.Param("room")).Send(c, "announce", c.PostForm("text"))
//	})
//
// Values set with c.Set never reach a plain http.Handler, so the adapter copies the
// identity into the request context (hub.WithUserID) and the Gin keys alongside it
// (read them in handlers with Value).
//
// Mount declares only the routes the hub serves, so the app's own routes can sit
// under the hub's path (api.GET("/hubs/chat/history", …)). For Mount(routes,
// "/hubs/chat", …) they are:
//
//	Any        /hubs/chat             the transports: WebSocket upgrade, SSE stream and
//	                                  send, long-polling poll, send and DELETE; CORS preflights
//	Any        /hubs/chat/negotiate   POST negotiate (the hub answers 405 to other methods)
//	GET, HEAD  /hubs/chat/hubbub.js   and each other name in Options.AssetNames (default
//	                                  clientjs.Names()), served by the hub's Options.Assets
package ginhub

import (
	"context"
	"maps"
	"net/http"

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

// Mount serves h on routes at relativePath and relativePath+"/" (the transports), relativePath+"/negotiate"
// and relativePath+"/"+name for each of opts.AssetNames, and on no other route, so
// that the app may declare its own routes under relativePath.
func Mount(routes gin.IRoutes, relativePath string, h *hub.Hub, opts Options) {
	handler := Handler(h, opts)
	routes.Any(relativePath, handler)
	routes.Any(relativePath+"/", handler) // a hub URL with a trailing slash: no redirect an upgrade cannot follow
	routes.Any(relativePath+"/negotiate", handler)
	names := opts.AssetNames
	if names == nil {
		names = clientjs.Names()
	}
	for _, name := range names {
		routes.Match([]string{http.MethodGet, http.MethodHead}, relativePath+"/"+name, handler)
	}
}

// Handler adapts h to a gin.HandlerFunc for routes you declare yourself.
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
