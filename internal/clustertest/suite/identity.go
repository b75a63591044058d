package suite

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest"
	"github.com/hubbub-go/hubbub/internal/conformance"
)

// startIdentityNode starts a node on bp whose hub finds the user only in the
// request's context, set by middleware from the X-User header (as the Gin adapter
// does): an identity that does not cross nodes with a forwarded request.
func startIdentityNode(t *testing.T, bp clustertest.Backplane) string {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := conformance.NewHub(hub.Options{Backplane: bp, Logger: quiet, UserID: func(r *http.Request) string { return hub.UserIDFromContext(r.Context()) }})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-User"); u != "" {
			r = r.WithContext(hub.WithUserID(r.Context(), u))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
		srv.CloseClientConnections()
		srv.Close()
		bp.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bp.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return srv.URL + "/hubs/conformance"
}

// TokenTiedToUser: a request for a connection that
// lands on another node than the connection's is checked against the user that
// node found, however it found it: another user's requests get 403, the owner's
// are served (forwarded long polls and POSTs, claimed streams).
// The two nodes run on backplanes bpA and bpB of one cluster.
func TokenTiedToUser(t *testing.T, bpA, bpB clustertest.Backplane) {
	a, b := startIdentityNode(t, bpA), startIdentityNode(t, bpB)
	do := func(method, u, user, body string, hdr ...string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, u, strings.NewReader(body))
		if user != "" {
			req.Header.Set("X-User", user)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == 200 && strings.Contains(resp.Header.Get("Content-Type"), "text/event-stream") {
			return 200, "(stream)"
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	negotiate := func(user string) string {
		t.Helper()
		st, body := do("POST", a+"/negotiate?negotiateVersion=1", user, "")
		var n struct{ ConnectionToken string }
		if st != 200 || json.Unmarshal([]byte(body), &n) != nil {
			t.Fatalf("negotiate: %d %q", st, body)
		}
		return n.ConnectionToken
	}
	const forbidden = "Forbidden: this connection belongs to another user\n"

	// Long polling opened on node a; its requests sent to node b are forwarded.
	lp := negotiate("alice")
	if st, body := do("GET", a+"?id="+lp, "alice", ""); st != 200 {
		t.Fatalf("first poll: %d %q", st, body)
	}
	for _, intruder := range []string{"bob", ""} {
		for _, method := range []string{"GET", "POST", "DELETE"} {
			if st, body := do(method, b+"?id="+lp, intruder, `{"protocol":"json","version":1}`+"\x1e"); st != 403 || body != forbidden {
				t.Errorf("%s forwarded as %q: %d %q, want 403", method, intruder, st, body)
			}
		}
	}
	if st, body := do("POST", b+"?id="+lp, "alice", `{"protocol":"json","version":1}`+"\x1e"); st != 200 {
		t.Errorf("alice's handshake POST forwarded: %d %q, want 200", st, body)
	}
	if st, body := do("GET", b+"?id="+lp, "alice", ""); st != 200 || body != "{}\x1e" {
		t.Errorf("alice's poll forwarded: %d %q, want the handshake reply", st, body)
	}

	// Streams negotiated on node a and claimed by node b.
	sse := negotiate("alice")
	if st, body := do("GET", b+"?id="+sse, "bob", "", "Accept", "text/event-stream"); st != 403 || body != forbidden {
		t.Errorf("bob's SSE stream on another node: %d %q, want 403", st, body)
	}
	ws := negotiate("alice")
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(b, "http")+"?id="+ws, http.Header{"X-User": {"bob"}})
	if err == nil {
		conn.Close()
	}
	if resp == nil || resp.StatusCode != 403 {
		t.Errorf("bob's WebSocket on another node: %v %v, want 403", resp, err)
	}
	// Bob's attempts did not move alice's connections to his node: she opens
	// them where they are, or anywhere else.
	conn, _, err = websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a, "http")+"?id="+ws, http.Header{"X-User": {"alice"}})
	if err != nil {
		t.Fatalf("alice's WebSocket on her node after bob's attempt: %v", err)
	}
	conn.Close()
	if st, body := do("GET", b+"?id="+sse, "alice", "", "Accept", "text/event-stream"); st != 200 {
		t.Errorf("alice's SSE stream on another node after bob's attempt: %d %q", st, body)
	}
}
