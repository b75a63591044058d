package ginhub_test

import (
	"encoding/json"
	"io"
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

// TestConnectionTokenTiedToGinUser: a connection negotiated by the user Gin
// middleware set cannot be used by another user's requests (nor an anonymous
// one's), on any transport: 403. Its owner's requests work.
func TestConnectionTokenTiedToGinUser(t *testing.T) {
	gin.SetMode(gin.TestMode)
	h := conformance.NewHub(hub.Options{UserID: func(r *http.Request) string { return hub.UserIDFromContext(r.Context()) }})
	r := gin.New()
	api := r.Group("/", func(c *gin.Context) {
		if u := c.GetHeader("X-User"); u != "" {
			c.Set("user", u)
		}
	})
	ginhub.Mount(api, "/hubs/conformance", h, ginhub.Options{})
	srv := httptest.NewServer(r)
	defer srv.Close()
	defer func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		h.Close(ctx)
	}()
	base := srv.URL + "/hubs/conformance"
	as := func(user string) http.Header { return http.Header{"X-User": {user}} }
	do := func(method, url string, hdr http.Header, body string) (int, string) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header = hdr.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	negotiate := func(user string) string {
		st, body := do("POST", base+"/negotiate?negotiateVersion=1", as(user), "")
		var n struct{ ConnectionToken string }
		if st != 200 || json.Unmarshal([]byte(body), &n) != nil {
			t.Fatalf("negotiate as %q: %d %q", user, st, body)
		}
		return n.ConnectionToken
	}
	// openLP opens a long-polling connection as user and does the handshake.
	openLP := func(user string) string {
		token := negotiate(user)
		if st, body := do("GET", base+"?id="+token, as(user), ""); st != 200 {
			t.Fatalf("first poll: %d %q", st, body)
		}
		if st, body := do("POST", base+"?id="+token, as(user), `{"protocol":"json","version":1}`+rs); st != 200 {
			t.Fatalf("handshake: %d %q", st, body)
		}
		if st, body := do("GET", base+"?id="+token, as(user), ""); st != 200 || body != "{}"+rs {
			t.Fatalf("handshake poll: %d %q", st, body)
		}
		return token
	}
	const forbidden = "Forbidden: this connection belongs to another user\n"
	for _, intruder := range []string{"bob", ""} {
		name := intruder
		if name == "" {
			name = "anonymous"
		}
		t.Run("intruder "+name, func(t *testing.T) {
			token := negotiate("alice")
			ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"?id="+token, as(intruder))
			if err == nil {
				ws.Close()
			}
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("WebSocket on alice's token as %q: %v %v, want 403", intruder, resp, err)
			}
			lp := openLP("alice")
			for _, method := range []string{"GET", "POST", "DELETE"} {
				if st, body := do(method, base+"?id="+lp, as(intruder), `{"type":1,"invocationId":"x","target":"Whoami","arguments":[]}`+rs); st != 403 || body != forbidden {
					t.Errorf("%s on alice's long polling as %q: %d %q, want 403 %q", method, intruder, st, body, forbidden)
				}
			}
			// Alice's own requests work, and her connection is still hers.
			if st, body := do("POST", base+"?id="+lp, as("alice"), `{"type":1,"invocationId":"w","target":"Whoami","arguments":[]}`+rs); st != 200 {
				t.Fatalf("alice's POST: %d %q", st, body)
			}
			if st, body := do("GET", base+"?id="+lp, as("alice"), ""); st != 200 || !strings.Contains(body, `"userId":"alice"`) {
				t.Errorf("alice's poll: %d %q, want her Whoami", st, body)
			}
			do("DELETE", base+"?id="+lp, as("alice"), "")
		})
	}
}
