// Package suite holds the cluster tests every backplane runs (the Redis and the
// NATS ones alike), on a cluster of package clustertest, and the minimal SignalR
// client they use.
package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/internal/clustertest"
	"github.com/hubbub-go/hubbub/transports"
)

// Targets runs every target kind through a round-robin proxy in front
// of three nodes, on each transport and on a mix of them. Every HTTP request of a
// connection may land on any node. For each case it checks that exactly the
// expected connections received the event: the sender then broadcasts a sentinel,
// and since one node's messages arrive in order, a connection that reads the
// sentinel without the event before it did not get the event.
func Targets[B clustertest.Backplane](t *testing.T, c *clustertest.Cluster[B]) {
	base := c.URL + "/hubs/conformance"

	rows := []struct {
		name  string
		kinds []transports.Kind
	}{
		{"WebSockets", []transports.Kind{transports.WebSockets}},
		{"ServerSentEvents", []transports.Kind{transports.ServerSentEvents}},
		{"LongPolling", []transports.Kind{transports.LongPolling}},
		{"Mixed", []transports.Kind{transports.WebSockets, transports.ServerSentEvents, transports.LongPolling}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			users := []string{"alice-" + row.name, "bob-" + row.name, "carol-" + row.name}
			var conns []*Client
			for i := range 6 {
				// Other traffic between connections, so that the proxy's rotation does
				// not line up with each transport's fixed pattern of requests: it puts
				// the request that decides the owner (the negotiate for long polling,
				// the next one for streams) on node i%3.
				kind := row.kinds[i%len(row.kinds)]
				offset := 1
				if kind == transports.LongPolling {
					offset = 0
				}
				for (c.Requests.Load()+1+int64(offset))%3 != int64(i%3) {
					resp, err := http.Get(c.URL + "/healthz")
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
				}
				conns = append(conns, Dial(t, base, users[i%3], kind))
			}
			owners := map[int]int{}
			for _, cl := range conns {
				// The hub indexes a connection just after queuing its handshake reply.
				WaitFor(t, "the connection to be indexed", func() bool { return c.Owner(cl.ID) >= 0 })
				owners[c.Owner(cl.ID)]++
			}
			t.Logf("connections per node: %v", owners)
			if len(owners) < 2 { // other requests may interleave: ask for no exact spread
				t.Fatalf("connections per node %v: want them spread over several nodes", owners)
			}
			id := func(i int) string { return conns[i].ID }
			group := "g-" + row.name
			for _, i := range []int{0, 2, 4} {
				conns[i].MustInvoke(t, "JoinGroup", group)
			}

			cases := []struct {
				name   string
				sender int // the client that invokes, or -1: node 0's hub sends
				method string
				args   []any
				want   []int
			}{
				{"all", 0, "Broadcast", nil, []int{0, 1, 2, 3, 4, 5}},
				{"others", 1, "SendToOthers", nil, []int{0, 2, 3, 4, 5}},
				{"group", 5, "SendToGroup", []any{group}, []int{0, 2, 4}},
				{"connection", 0, "SendToConnection", []any{id(4)}, []int{4}},
				{"user", 2, "SendToUser", []any{users[0]}, []int{0, 3}},
				{"connections", -1, "", nil, []int{1, 5}},
				{"group-except", -1, "", nil, []int{0, 4}},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					event := fmt.Sprintf("ev-%s-%s", row.name, tc.name)
					sentinel := "end-" + event
					payload := map[string]string{"case": tc.name}
					if tc.sender >= 0 {
						args := append(append([]any{}, tc.args...), event, payload)
						conns[tc.sender].MustInvoke(t, tc.method, args...)
						conns[tc.sender].MustInvoke(t, "Broadcast", sentinel, nil)
					} else {
						clients := c.Nodes[0].Conformance.Clients()
						target := clients.Clients(id(1), id(5), id(1))
						if tc.name == "group-except" {
							target = clients.GroupExcept(group, id(2))
						}
						ctx := context.Background()
						if err := target.Send(ctx, event, payload); err != nil {
							t.Fatal(err)
						}
						if err := clients.All().Send(ctx, sentinel, nil); err != nil {
							t.Fatal(err)
						}
					}
					var got []int
					for i, cl := range conns {
						_, before := cl.Expect(t, sentinel)
						n := 0
						for _, target := range before {
							if target == event {
								n++
							}
						}
						if n > 1 {
							t.Errorf("connection %d got %q %d times", i, event, n)
						}
						if n > 0 {
							got = append(got, i)
						}
					}
					if !slices.Equal(got, tc.want) {
						t.Errorf("receivers %v, want %v (owners: %v)", got, tc.want, ownersOf(c, conns))
					}
				})
			}

			t.Run("presence", func(t *testing.T) {
				members := func(via int) []string {
					var ids []string
					if err := json.Unmarshal(conns[via].MustInvoke(t, "GroupMembers", group), &ids); err != nil {
						t.Fatal(err)
					}
					return ids
				}
				sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
				for via := range conns {
					if got, want := members(via), sorted(id(0), id(2), id(4)); !slices.Equal(got, want) {
						t.Fatalf("GroupMembers via %d = %v, want %v", via, got, want)
					}
				}
				conns[2].MustInvoke(t, "LeaveGroup", group)
				if got, want := members(1), sorted(id(0), id(4)); !slices.Equal(got, want) {
					t.Fatalf("after LeaveGroup: %v, want %v", got, want)
				}
				// A connection that ends leaves its groups on every node's view.
				conns[4].Close()
				want := sorted(id(0))
				WaitFor(t, "membership of the closed connection to go", func() bool {
					return slices.Equal(members(3), want)
				})
			})
		})
	}
}

func ownersOf[B clustertest.Backplane](c *clustertest.Cluster[B], conns []*Client) []int {
	var out []int
	for _, cl := range conns {
		out = append(out, c.Owner(cl.ID))
	}
	return out
}

// WaitFor polls cond until it holds, failing the test after WaitTimeout.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// NoStickySessions checks the routing rules on their own: transport-opening
// requests landing on another node than negotiate, and requests for unknown or
// finished connections.
func NoStickySessions[B clustertest.Backplane](t *testing.T, c *clustertest.Cluster[B]) {
	tests := []struct {
		name string
		kind transports.Kind
	}{
		{"WebSockets", transports.WebSockets},
		{"ServerSentEvents", transports.ServerSentEvents},
		{"LongPolling", transports.LongPolling},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Straight to the nodes, negotiate on node 0 and the rest on node 1: the
			// worst case a load balancer can produce.
			cl := DialSplit(t, c.Nodes[0].URL, c.Nodes[1].URL, tc.kind)
			if got := cl.MustInvoke(t, "Add", 2, 3); string(got) != "5" {
				t.Fatalf("Add = %s", got)
			}
			var who struct{ ConnectionID, Transport string }
			json.Unmarshal(cl.MustInvoke(t, "Whoami"), &who)
			if who.ConnectionID != cl.ID || who.Transport != tc.kind.String() {
				t.Fatalf("Whoami = %+v, want %s on %s", who, cl.ID, tc.kind)
			}
			want := 0 // long polling stays where it was negotiated; streams move to their node
			if tc.kind != transports.LongPolling {
				want = 1
			}
			WaitFor(t, "the connection to be indexed", func() bool { return c.Owner(cl.ID) >= 0 })
			if got := c.Owner(cl.ID); got != want {
				t.Fatalf("connection lives on node %d, want %d", got, want)
			}
		})
	}
	t.Run("unknown token", func(t *testing.T) {
		for _, tok := range []string{"nope", c.Nodes[2].Backplane.NodeID() + transports.NewToken(), "AAAAAAAAAAA" + transports.NewToken()} {
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
				req, _ := http.NewRequest(method, c.Nodes[0].URL+"/hubs/conformance?id="+tok, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 404 {
					t.Errorf("%s with token %q: %d, want 404", method, tok, resp.StatusCode)
				}
			}
		}
		http.DefaultClient.CloseIdleConnections()
	})
}
