package redis_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/backplane/redis/internal/clustertest"
	"github.com/hubbub-go/hubbub/transports"
)

// TestRelayedResume resumes a stateful connection that lives on node 0 with links
// that land on the other nodes, again and again: a WebSocket or an SSE stream
// (whose POSTs land on yet another node) served where it lands and relayed to node
// 0. The connection keeps its ID, its group and every message: those sent while the
// client was away and those sent over the relay arrive once each, in order.
func TestRelayedResume(t *testing.T) {
	url := redisURL(t)
	c := startCluster(t, url, testPrefix(t, url))
	for _, kind := range []transports.Kind{transports.WebSockets, transports.ServerSentEvents} {
		t.Run(kind.String(), func(t *testing.T) {
			sc := dialStateful(t, c.Nodes[0].URL, kind)
			waitFor(t, "the connection to be indexed", func() bool { return c.Owner(sc.id) == 0 })
			group := "relay-" + kind.String()
			sc.call(t, "j", "JoinGroup", group)

			sent, want := 0, 1
			send := func(from int, n int) { // n messages to the group, from node from's hub
				t.Helper()
				for range n {
					sent++
					if err := c.Nodes[from].Conformance.Clients().Group(group).Send(context.Background(), "msg", sent); err != nil {
						t.Fatal(err)
					}
				}
			}
			expect := func() { // every message sent so far, once each, in order
				t.Helper()
				for want <= sent {
					r := sc.take(t)
					if r.Type != 1 || r.Target != "msg" || len(r.Arguments) != 1 || string(r.Arguments[0]) != strconv.Itoa(want) {
						t.Fatalf("got %+v, want msg %d", r, want)
					}
					want++
				}
			}
			send(0, 3)
			expect()

			for round, front := range []int{1, 2, 1, 0, 2} {
				sc.ack(t)
				sc.link.cut()
				send((round+1)%3, 5) // while the client is away
				began := time.Now()
				if status := sc.resume(t, c.Nodes[front].URL); status != 0 {
					t.Fatalf("round %d: resume on node %d: HTTP %d", round, front, status)
				}
				t.Logf("round %d: resumed on node %d in %v (to its Sequence)", round, front, time.Since(began).Round(10*time.Microsecond))
				if kind == transports.ServerSentEvents {
					sc.postTo = c.Nodes[(front+1)%3].URL // neither the front nor, mostly, the owner
				}
				expect()
				send(round%3, 5) // over the relay
				expect()
				r := sc.call(t, "e"+strconv.Itoa(round), "Echo", "round "+strconv.Itoa(round))
				if string(r.Result) != strconv.Quote("round "+strconv.Itoa(round)) {
					t.Fatalf("Echo over the relay: %s", r.Result)
				}
				var who struct{ ConnectionID, Transport string }
				json.Unmarshal(sc.call(t, "w"+strconv.Itoa(round), "Whoami").Result, &who)
				if who.ConnectionID != sc.id || who.Transport != kind.String() {
					t.Fatalf("round %d: Whoami = %+v, want %s on %s", round, who, sc.id, kind)
				}
				if owner := c.Owner(sc.id); owner != 0 {
					t.Fatalf("round %d: the connection lives on node %d, want 0", round, owner)
				}
				var members []string
				json.Unmarshal(sc.call(t, "g"+strconv.Itoa(round), "GroupMembers", group).Result, &members)
				if !slices.Equal(members, []string{sc.id}) {
					t.Fatalf("round %d: group members %v, want [%s]", round, members, sc.id)
				}
			}
			t.Logf("%d messages, each once and in order, over 5 resumes", sent)
		})
	}
}

// TestRelayRefusals checks that a link landing away from its connection's node is
// refused as it would be there: 404 for a connection no node holds, 409 for one
// that cannot be resumed, 400 for another transport.
func TestRelayRefusals(t *testing.T) {
	url := redisURL(t)
	c := startCluster(t, url, testPrefix(t, url))
	stateless := dialSplit(t, c.Nodes[0].URL, c.Nodes[0].URL, transports.WebSockets) // negotiated without stateful reconnect
	waitFor(t, "the connection to be indexed", func() bool { return c.Owner(stateless.ID) == 0 })
	stateful := dialStateful(t, c.Nodes[0].URL, transports.WebSockets)
	tests := []struct {
		name  string
		token string
		kind  transports.Kind
		want  int
	}{
		{"unknown connection", c.Nodes[0].Backplane.NodeID() + transports.NewToken(), transports.WebSockets, http.StatusNotFound},
		{"not stateful", stateless.Token, transports.WebSockets, http.StatusConflict},
		{"another transport", stateful.token, transports.ServerSentEvents, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := openStatefulLink(t, c.Nodes[1].URL, tc.kind, tc.token)
			if l.status != tc.want {
				t.Errorf("HTTP %d, want %d", l.status, tc.want)
			}
		})
	}
	if _, err := stateless.Invoke("Add", 1, 2); err != nil {
		t.Errorf("the stateless connection after a refused link: %v", err)
	}
	stateful.call(t, "a", "Add", 1, 2)
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
	if link.status != 0 {
		t.Fatalf("open: HTTP %d", link.status)
	}
	if err := link.ws.WriteMessage(websocket.TextMessage, []byte(`{"protocol":"json","version":2}`+"\x1e")); err != nil {
		t.Fatal(err)
	}
	if r := link.next(t); r.Type != 0 || r.Error != "" {
		t.Fatalf("handshake reply: %+v", r)
	}
	link.cut()
	if l := openStatefulLinkAt(t, secure(1)+"?id="+n.ConnectionToken+"&access_token="+bob, transports.WebSockets); l.status != http.StatusForbidden {
		t.Errorf("another user's resume on another node: HTTP %d, want 403", l.status)
	}
	l := openStatefulLinkAt(t, secure(1)+"?id="+n.ConnectionToken+"&access_token="+alice, transports.WebSockets)
	if l.status != 0 {
		t.Fatalf("the owner's resume on another node: HTTP %d", l.status)
	}
	if r := l.next(t); r.Type != 9 {
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
			case <-sc.link.ended:
			case <-time.After(waitTimeout):
				t.Fatalf("the relayed link outlived its owner by %v", waitTimeout)
			}
			took := time.Since(crashed)
			t.Logf("relayed link ended %v after the owner's crash", took.Round(time.Millisecond))
			if took > crashBound {
				t.Errorf("relayed link ended %v after the crash, want within %v", took, crashBound)
			}
			if status := sc.resume(t, c.Nodes[1].URL); status != http.StatusNotFound {
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
			sc.link.cut()
			if status := sc.resume(t, c.Nodes[0].URL); status != 0 {
				t.Fatalf("resume on the owner: HTTP %d", status)
			}
			if r := sc.call(t, "a", "Add", 2, 3); string(r.Result) != "5" {
				t.Errorf("Add = %s", r.Result)
			}
		})
	}
}

// relayedOn opens a stateful connection on node 0 and resumes it on node 1.
func relayedOn(t *testing.T, c *clustertest.Cluster, kind transports.Kind) *statefulClient {
	t.Helper()
	sc := dialStateful(t, c.Nodes[0].URL, kind)
	sc.call(t, "1", "Add", 1, 1)
	sc.link.cut()
	if status := sc.resume(t, c.Nodes[1].URL); status != 0 {
		t.Fatalf("resume on node 1: HTTP %d", status)
	}
	if r := sc.call(t, "2", "Echo", "relayed"); string(r.Result) != `"relayed"` {
		t.Fatalf("Echo over the relay: %s", r.Result)
	}
	if n := c.Nodes[1].Backplane.RelayedLinks(); n != 1 {
		t.Fatalf("node 1 relays %d links, want 1", n)
	}
	return sc
}
