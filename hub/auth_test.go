package hub_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
)

// tokenAuth authenticates "Bearer <user>[:<role>]" and gives the identity a short
// life when the user is "brief", so tests need no JWT machinery.
func tokenAuth(r *http.Request) (hub.Identity, error) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || raw == "" {
		return hub.Identity{}, hub.NewError("missing bearer token")
	}
	user, role, _ := strings.Cut(raw, ":")
	id := hub.Identity{UserID: user, Claims: map[string]any{"role": role}}
	if user == "brief" {
		id.ExpiresAt = time.Now().Add(300 * time.Millisecond)
	}
	return id, nil
}

// dialAs negotiates and connects over WebSockets with a bearer token.
func dialAs(t *testing.T, url, bearer string) *websocket.Conn {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/hub/negotiate?negotiateVersion=1", nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var n negotiation
	decodeJSON(t, resp, &n)
	header := http.Header{"Authorization": {"Bearer " + bearer}}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/hub?id="+n.ConnectionToken, header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	write(t, ws, `{"protocol":"json","version":1}`+rs)
	if got := read(t, ws); got != "{}"+rs {
		t.Fatalf("handshake: %q", got)
	}
	return ws
}

func TestRequireClaim(t *testing.T) {
	srv, h := server(t, hub.Options{Authenticate: tokenAuth})
	h.On("Purge", func() string { return "purged" }, hub.RequireClaim("role", "admin"))
	tests := []struct {
		name, bearer, want string
	}{
		{"admin may", "ann:admin", `{"type":3,"invocationId":"1","result":"purged"}` + rs},
		{"reader may not", "rob:reader", `{"type":3,"invocationId":"1","error":"Failed to invoke 'Purge' because user is unauthorized"}` + rs},
		{"no role may not", "nat", `{"type":3,"invocationId":"1","error":"Failed to invoke 'Purge' because user is unauthorized"}` + rs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := dialAs(t, srv.URL, tc.bearer)
			write(t, ws, `{"type":1,"invocationId":"1","target":"Purge","arguments":[]}`+rs)
			if got := read(t, ws); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestExpiredCredentialsCloseTheConnection(t *testing.T) {
	srv, _ := server(t, hub.Options{Authenticate: tokenAuth})
	ws := dialAs(t, srv.URL, "brief")
	got := read(t, ws)
	want := `{"type":7,"error":"Authentication expired: reconnect with fresh credentials.","allowReconnect":true}` + rs
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestMissingCredentialsAre401(t *testing.T) {
	srv, _ := server(t, hub.Options{Authenticate: tokenAuth})
	resp, err := http.Post(srv.URL+"/hub/negotiate?negotiateVersion=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || body != "Unauthorized: missing bearer token\n" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}
