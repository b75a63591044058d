package ginhub_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/clientjs"
	"github.com/hubbub-go/hubbub/ginhub"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
)

// TestRouteUnderMountedHub: an app route under the hub's path
// (GET /hubs/chat/history) can be added after Mount without a wildcard-conflict
// panic and answers, while the hub keeps serving negotiate, every transport and
// its client script.
func TestRouteUnderMountedHub(t *testing.T) {
	gin.SetMode(gin.TestMode)
	h := conformance.NewHub(hub.Options{Assets: clientjs.Handler()})
	r := gin.New()
	ginhub.Mount(r, "/hubs/chat", h, ginhub.Options{})
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("adding GET /hubs/chat/history after Mount: panic: %v", p)
			}
		}()
		r.GET("/hubs/chat/history", func(c *gin.Context) { c.String(http.StatusOK, "history") })
	}()
	srv := httptest.NewServer(r)
	defer srv.Close()
	defer func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		h.Close(ctx)
	}()
	base := srv.URL + "/hubs/chat"
	do := func(method, url, accept, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	read := func(method, url, body string) (int, string) {
		t.Helper()
		resp := do(method, url, "", body)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	negotiate := func() string {
		t.Helper()
		st, body := read("POST", base+"/negotiate?negotiateVersion=1", "")
		var n struct{ ConnectionToken string }
		if st != http.StatusOK || json.Unmarshal([]byte(body), &n) != nil || n.ConnectionToken == "" {
			t.Fatalf("negotiate: %d %q", st, body)
		}
		return n.ConnectionToken
	}
	const handshake = `{"protocol":"json","version":1}` + rs

	t.Run("app route", func(t *testing.T) {
		if st, body := read("GET", base+"/history", ""); st != http.StatusOK || body != "history" {
			t.Errorf("GET /hubs/chat/history: %d %q, want 200 \"history\"", st, body)
		}
	})
	t.Run("client script", func(t *testing.T) {
		for _, name := range clientjs.Names() {
			for _, method := range []string{"GET", "HEAD"} {
				resp := do(method, base+"/"+name, "", "")
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
					t.Errorf("%s %s: %d, ETag %q; want 200 with an ETag", method, name, resp.StatusCode, resp.Header.Get("ETag"))
				}
			}
		}
	})
	// A hub URL with a trailing slash (the official client keeps it: it connects
	// to /hubs/chat/?id=…) reaches the hub, not Gin's trailing-slash redirect,
	// which a WebSocket upgrade cannot follow.
	t.Run("websocket on the hub URL with a trailing slash", func(t *testing.T) {
		ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/?id="+negotiate(), nil)
		if err != nil {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Fatalf("dial %s/?id=…: %v (HTTP %d)", base, err, status)
		}
		ws.Close()
	})
	t.Run("websockets", func(t *testing.T) {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"?id="+negotiate(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		ws.WriteMessage(websocket.TextMessage, []byte(handshake))
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, b, err := ws.ReadMessage(); err != nil || string(b) != "{}"+rs {
			t.Fatalf("handshake reply: %q, %v", b, err)
		}
	})
	t.Run("server-sent events", func(t *testing.T) {
		token := negotiate()
		stream := do("GET", base+"?id="+token, "text/event-stream", "")
		defer stream.Body.Close()
		if stream.StatusCode != http.StatusOK {
			t.Fatalf("SSE GET: %d", stream.StatusCode)
		}
		if st, body := read("POST", base+"?id="+token, handshake); st != http.StatusOK {
			t.Fatalf("SSE POST: %d %q", st, body)
		}
		lines := bufio.NewScanner(stream.Body)
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), "data:") {
				if got := strings.TrimSpace(strings.TrimPrefix(lines.Text(), "data:")); got != "{}"+rs {
					t.Fatalf("SSE handshake reply: %q", got)
				}
				return
			}
		}
		t.Fatalf("SSE stream ended before the handshake reply: %v", lines.Err())
	})
	t.Run("long polling", func(t *testing.T) {
		token := negotiate()
		if st, body := read("GET", base+"?id="+token, ""); st != http.StatusOK {
			t.Fatalf("first poll: %d %q", st, body)
		}
		if st, body := read("POST", base+"?id="+token, handshake); st != http.StatusOK {
			t.Fatalf("handshake: %d %q", st, body)
		}
		if st, body := read("GET", base+"?id="+token, ""); st != http.StatusOK || body != "{}"+rs {
			t.Fatalf("handshake poll: %d %q", st, body)
		}
		if st, body := read("DELETE", base+"?id="+token, ""); st != http.StatusAccepted && st != http.StatusOK {
			t.Fatalf("DELETE: %d %q", st, body)
		}
	})
}
