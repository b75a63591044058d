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

// TestRelayNodeCrash crashes one side of a relayed link and checks that the other
// side lets go of it within two heartbeats: when the owner dies, the client's link
// on the front ends and its resume gets 404; when the front dies, the owner's
// connection waits for a resume, which succeeds on the owner.
func TestRelayNodeCrash(t *testing.T) {
	for _, kind := range []transports.Kind{transports.WebSockets, transports.ServerSentEvents} {
		t.Run("owner/"+kind.String(), func(t *testing.T) {
			c := startCrashCluster(t)
			sc := relayedOn(t, c, kind)
			crashed := time.Now()
			c.Nodes[0].Backplane.Crash()
			select {
			case <-sc.Link.Ended():
			case <-time.After(waitTimeout):
				t.Fatalf("the relayed link outlived its owner by %v", waitTimeout)
			}
			took := time.Since(crashed)
			t.Logf("relayed link ended %v after the owner's crash", took.Round(time.Millisecond))
			if took > crashBound {
				t.Errorf("relayed link ended %v after the crash, want within %v", took, crashBound)
			}
			if status := sc.Resume(t, c.Nodes[1].URL); status != http.StatusNotFound {
				t.Errorf("resume after the owner's crash: HTTP %d, want 404", status)
			}
		})
		t.Run("front/"+kind.String(), func(t *testing.T) {
			c := startCrashCluster(t)
			sc := relayedOn(t, c, kind)
			crashed := time.Now()
			c.Nodes[1].Backplane.Crash()
			waitFor(t, "the owner to let go of the relayed link", func() bool { return c.Nodes[0].Backplane.RelayedLinks() == 0 })
			took := time.Since(crashed)
			t.Logf("owner let go of the relayed link %v after the front's crash", took.Round(time.Millisecond))
			if took > crashBound {
				t.Errorf("owner let go %v after the crash, want within %v", took, crashBound)
			}
			sc.Link.Cut()
			if status := sc.Resume(t, c.Nodes[0].URL); status != 0 {
				t.Fatalf("resume on the owner: HTTP %d", status)
			}
			if r := sc.Call(t, "a", "Add", 2, 3); string(r.Result) != "5" {
				t.Errorf("Add = %s", r.Result)
			}
		})
	}
}

// relayedOn opens a stateful connection on node 0 and resumes it on node 1.
func relayedOn(t *testing.T, c *clustertest.Cluster, kind transports.Kind) *statefulClient {
	t.Helper()
	sc := dialStateful(t, c.Nodes[0].URL, kind)
	sc.Call(t, "1", "Add", 1, 1)
	sc.Link.Cut()
	if status := sc.Resume(t, c.Nodes[1].URL); status != 0 {
		t.Fatalf("resume on node 1: HTTP %d", status)
	}
	if r := sc.Call(t, "2", "Echo", "relayed"); string(r.Result) != `"relayed"` {
		t.Fatalf("Echo over the relay: %s", r.Result)
	}
	if n := c.Nodes[1].Backplane.RelayedLinks(); n != 1 {
		t.Fatalf("node 1 relays %d links, want 1", n)
	}
	return sc
}
