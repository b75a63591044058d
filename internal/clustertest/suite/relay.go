package suite

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/internal/clustertest"
	"github.com/hubbub-go/hubbub/transports"
)

// RelayedResume resumes a stateful connection that lives on node 0 (negotiated on
// node 1, which gave it up) with links
// that land on the other nodes, again and again: a WebSocket or an SSE stream
// (whose POSTs land on yet another node) served where it lands and relayed to node
// 0. The connection keeps its ID, its group and every message: those sent while the
// client was away and those sent over the relay arrive once each, in order.
func RelayedResume[B clustertest.Backplane](t *testing.T, c *clustertest.Cluster[B]) {
	for _, kind := range []transports.Kind{transports.WebSockets, transports.ServerSentEvents} {
		t.Run(kind.String(), func(t *testing.T) {
			sc := DialStatefulSplit(t, c.Nodes[1].URL, c.Nodes[0].URL, kind)
			WaitFor(t, "the connection to be indexed", func() bool { return c.Owner(sc.ID) == 0 })
			group := "relay-" + kind.String()
			sc.Call(t, "j", "JoinGroup", group)

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
					r := sc.Take(t)
					if r.Type != 1 || r.Target != "msg" || len(r.Arguments) != 1 || string(r.Arguments[0]) != strconv.Itoa(want) {
						t.Fatalf("got %+v, want msg %d", r, want)
					}
					want++
				}
			}
			send(0, 3)
			expect()

			for round, front := range []int{1, 2, 1, 0, 2} {
				sc.Ack(t)
				sc.Link.Cut()
				send((round+1)%3, 5) // while the client is away
				began := time.Now()
				if status := sc.Resume(t, c.Nodes[front].URL); status != 0 {
					t.Fatalf("round %d: resume on node %d: HTTP %d", round, front, status)
				}
				t.Logf("round %d: resumed on node %d in %v (to its Sequence)", round, front, time.Since(began).Round(10*time.Microsecond))
				if kind == transports.ServerSentEvents {
					sc.PostTo = c.Nodes[(front+1)%3].URL // neither the front nor, mostly, the owner
				}
				expect()
				send(round%3, 5) // over the relay
				expect()
				r := sc.Call(t, "e"+strconv.Itoa(round), "Echo", "round "+strconv.Itoa(round))
				if string(r.Result) != strconv.Quote("round "+strconv.Itoa(round)) {
					t.Fatalf("Echo over the relay: %s", r.Result)
				}
				var who struct{ ConnectionID, Transport string }
				json.Unmarshal(sc.Call(t, "w"+strconv.Itoa(round), "Whoami").Result, &who)
				if who.ConnectionID != sc.ID || who.Transport != kind.String() {
					t.Fatalf("round %d: Whoami = %+v, want %s on %s", round, who, sc.ID, kind)
				}
				if owner := c.Owner(sc.ID); owner != 0 {
					t.Fatalf("round %d: the connection lives on node %d, want 0", round, owner)
				}
				var members []string
				json.Unmarshal(sc.Call(t, "g"+strconv.Itoa(round), "GroupMembers", group).Result, &members)
				if !slices.Equal(members, []string{sc.ID}) {
					t.Fatalf("round %d: group members %v, want [%s]", round, members, sc.ID)
				}
			}
			t.Logf("%d messages, each once and in order, over 5 resumes", sent)
		})
	}
}

// RelayRefusals checks that a link landing away from its connection's node is
// refused as it would be there: 404 for a connection no node holds, 409 for one
// that cannot be resumed, 400 for another transport.
func RelayRefusals[B clustertest.Backplane](t *testing.T, c *clustertest.Cluster[B]) {
	stateless := DialSplit(t, c.Nodes[0].URL, c.Nodes[0].URL, transports.WebSockets) // negotiated without stateful reconnect
	WaitFor(t, "the connection to be indexed", func() bool { return c.Owner(stateless.ID) == 0 })
	stateful := DialStateful(t, c.Nodes[0].URL, transports.WebSockets)
	tests := []struct {
		name  string
		token string
		kind  transports.Kind
		want  int
	}{
		{"unknown connection", c.Nodes[0].Backplane.NodeID() + transports.NewToken(), transports.WebSockets, http.StatusNotFound},
		{"not stateful", stateless.Token, transports.WebSockets, http.StatusConflict},
		{"another transport", stateful.Token, transports.ServerSentEvents, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := OpenStatefulLink(t, c.Nodes[1].URL, tc.kind, tc.token)
			if l.Status != tc.want {
				t.Errorf("HTTP %d, want %d", l.Status, tc.want)
			}
		})
	}
	if _, err := stateless.Invoke("Add", 1, 2); err != nil {
		t.Errorf("the stateless connection after a refused link: %v", err)
	}
	stateful.Call(t, "a", "Add", 1, 2)
}
