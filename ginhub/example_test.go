package ginhub_test

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/hubbub-go/hubbub/ginhub"
	"github.com/hubbub-go/hubbub/hub"
)

// Identity set by Gin middleware reaches the hub, and a REST handler pushes to a
// group through the same hub.
func Example() {
	gin.SetMode(gin.ReleaseMode)
	news := hub.New(hub.Options{Name: "news"})
	news.On("Follow", func(ctx *hub.Context, company string) error {
		role, _ := ginhub.Value(ctx, "role") // any key set with c.Set
		_ = role
		return ctx.Groups().Add(ctx, ctx.ConnectionID(), company)
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
	api := r.Group("/", auth)
	ginhub.Mount(api, "/hubs/news", news, ginhub.Options{}) // reads c.Get("user")
	api.POST("/api/news/:company", func(c *gin.Context) {
		err := news.Clients().Group(c.Param("company")).Send(c, "article", c.PostForm("title"))
		if err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		c.Status(http.StatusAccepted)
	})
	fmt.Println(len(r.Routes()), "routes")
	// Output: 31 routes
}
