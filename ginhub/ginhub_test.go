package ginhub_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/hubbub-go/hubbub/ginhub"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const rs = "\x1e"

// TestIdentityFromGinMiddleware: a user set with c.Set reaches the hub's Context,
// over negotiate and the WebSocket upgrade, and a Gin REST handler pushes to the
// connection through the hub.
func TestIdentityFromGinMiddleware(t *testing.T) {
	gin.SetMode(gin.TestMode)
	h := conformance.NewHub(hub.Options{UserID: func(r *http.Request) string { return hub.UserIDFromContext(r.Context()) }})
	h.On("Role", func(ctx *hub.Context) string {
		v, _ := ginhub.Value(ctx, "role")
		s, _ := v.(string)
		return s
	})
	r := gin.New()
	api := r.Group("/", func(c *gin.Context) {
		c.Set("user", c.Query("as"))
		c.Set("role", "editor")
	})
	ginhub.Mount(api, "/hubs/conformance", h, ginhub.Options{})
	api.POST("/api/notify/:user", func(c *gin.Context) {
		if err := h.Clients().User(c.Param("user")).Send(c, "notice", "hello"); err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		c.Status(http.StatusAccepted)
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	defer func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		h.Close(ctx)
	}()

	resp, err := http.Post(srv.URL+"/hubs/conformance/negotiate?negotiateVersion=1&as=alice", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var n struct{ ConnectionToken string }
	json.NewDecoder(resp.Body).Decode(&n)
	resp.Body.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/hubs/conformance?as=alice&id="+n.ConnectionToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	send := func(s string) { ws.WriteMessage(websocket.TextMessage, []byte(s)) }
	recv := func() string {
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	send(`{"protocol":"json","version":1}` + rs)
	if got := recv(); got != "{}"+rs {
		t.Fatalf("handshake: %q", got)
	}
	send(`{"type":1,"invocationId":"1","target":"Whoami","arguments":[]}` + rs)
	if got := recv(); !strings.Contains(got, `"userId":"alice"`) {
		t.Errorf("Whoami: %q, want userId alice", got)
	}
	send(`{"type":1,"invocationId":"2","target":"Role","arguments":[]}` + rs)
	if got := recv(); got != `{"type":3,"invocationId":"2","result":"editor"}`+rs {
		t.Errorf("Role: %q", got)
	}
	post, err := http.Post(srv.URL+"/api/notify/alice", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusAccepted {
		t.Fatalf("REST push: %d", post.StatusCode)
	}
	if got := recv(); got != `{"type":1,"target":"notice","arguments":["hello"]}`+rs {
		t.Errorf("pushed message: %q", got)
	}
}
