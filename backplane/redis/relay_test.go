package redis_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/backplane/redis/internal/clustertest"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
	"github.com/hubbub-go/hubbub/transports"
)

// TestRelayedResume runs the shared suite.RelayedResume on Redis.
func TestRelayedResume(t *testing.T) {
	url := redisURL(t)
	suite.RelayedResume(t, startCluster(t, url, testPrefix(t, url)))
}

// TestRelayRefusals runs the shared suite.RelayRefusals on Redis.
func TestRelayRefusals(t *testing.T) {
	url := redisURL(t)
	suite.RelayRefusals(t, startCluster(t, url, testPrefix(t, url)))
}

// TestRelayRefusesAnotherUser resumes, on a node other than its own, a connection
// of the hub that authenticates every request: another user's credentials get 403,
// the owner's resume the link.
func TestRelayRefusesAnotherUser(t *testing.T) {
	url := redisURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const secret = "relay-secret"
	c, err := clustertest.Start(ctx, clustertest.Config{RedisURL: url, Prefix: testPrefix(t, url), Nodes: 2, JWTSecret: secret, Backplane: fastBackplane})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	bearer := func(user string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice, bob := bearer("alice"), bearer("bob")
	secure := func(node int) string { return c.Nodes[node].URL + "/hubs/secure" }
	req, _ := http.NewRequest(http.MethodPost, secure(0)+"/negotiate?negotiateVersion=1&useStatefulReconnect=true", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var n transports.NegotiateResponse
	json.NewDecoder(resp.Body).Decode(&n)
	resp.Body.Close()
	if !n.UseStatefulReconnect {
		t.Fatalf("negotiate: %+v", n)
	}
	link := openStatefulLinkAt(t, secure(0)+"?id="+n.ConnectionToken+"&access_token="+alice, transports.WebSockets)
	if link.Status != 0 {
		t.Fatalf("open: HTTP %d", link.Status)
	}
	if err := link.WS.WriteMessage(websocket.TextMessage, []byte(`{"protocol":"json","version":2}`+"\x1e")); err != nil {
		t.Fatal(err)
	}
	if r := link.Next(t); r.Type != 0 || r.Error != "" {
		t.Fatalf("handshake reply: %+v", r)
	}
	link.Cut()
	if l := openStatefulLinkAt(t, secure(1)+"?id="+n.ConnectionToken+"&access_token="+bob, transports.WebSockets); l.Status != http.StatusForbidden {
		t.Errorf("another user's resume on another node: HTTP %d, want 403", l.Status)
	}
	l := openStatefulLinkAt(t, secure(1)+"?id="+n.ConnectionToken+"&access_token="+alice, transports.WebSockets)
	if l.Status != 0 {
		t.Fatalf("the owner's resume on another node: HTTP %d", l.Status)
	}
	if r := l.Next(t); r.Type != 9 {
		t.Fatalf("first message on the relayed link: %+v, want a Sequence", r)
	}
}

// TestRelayNodeCrash runs the shared suite.RelayNodeCrash on Redis: a relayed
// link's side lets go of it within two heartbeats (plus slack) of the other's
// crash.
func TestRelayNodeCrash(t *testing.T) {
	suite.RelayNodeCrash(t, startCrashCluster, crashBound)
}

// TestRelayedLinkSizeLimitsApplyPerMessage runs the shared
// suite.RelayedLinkSizeLimits on Redis.
func TestRelayedLinkSizeLimitsApplyPerMessage(t *testing.T) {
	url := redisURL(t)
	suite.RelayedLinkSizeLimits(t, startCluster(t, url, testPrefix(t, url)))
}
