package suite

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest"
	"github.com/hubbub-go/hubbub/transports"
)

// JoinThenSendFromAnotherNode checks that nothing is lost between a join and its
// subscription on a backplane that routes by interest: once Groups.Add returns on
// one node (or a client is connected), a message another node sends at once to
// the group (the connection, the user) reaches it. Each round uses a fresh
// group, connection and user, so each needs a new subscription. The cluster needs
// two nodes at least.
func JoinThenSendFromAnotherNode[B clustertest.Backplane](t *testing.T, c *clustertest.Cluster[B]) {
	a, b := c.Nodes[0], c.Nodes[1]
	ctx := context.Background()
	const rounds = 30
	tests := []struct {
		name   string
		target func(cl *Client, user, group string) hub.Target
	}{
		{"group", func(_ *Client, _, group string) hub.Target { return b.Conformance.Clients().Group(group) }},
		{"connection", func(cl *Client, _, _ string) hub.Target { return b.Conformance.Clients().Client(cl.ID) }},
		{"user", func(_ *Client, user, _ string) hub.Target { return b.Conformance.Clients().User(user) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := range rounds {
				user, group := fmt.Sprintf("u-%s-%d", tc.name, i), fmt.Sprintf("g-%s-%d", tc.name, i)
				cl := Dial(t, a.URL+"/hubs/conformance", user, transports.WebSockets)
				if err := a.Conformance.Groups().Add(ctx, cl.ID, group); err != nil {
					t.Fatal(err)
				}
				if err := tc.target(cl, user, group).Send(ctx, "event", i); err != nil {
					t.Fatal(err)
				}
				if err := b.Conformance.Clients().All().Send(ctx, "sentinel", i); err != nil {
					t.Fatal(err)
				}
				if _, before := cl.Expect(t, "sentinel"); !slices.Equal(before, []string{"event"}) {
					t.Fatalf("round %d: before the sentinel the client got %v, want [event]", i, before)
				}
				cl.Close()
			}
		})
	}
}

// InterestRouting checks that a node receives only what its connections want:
// the envelopes of a group, user or connection it holds no receiver of never
// reach it, those for All do; and that a member of several groups sent to at
// once gets the message once. received reads a node's count of envelopes
// received from other nodes. The cluster needs three nodes.
func InterestRouting[B clustertest.Backplane](t *testing.T, c *clustertest.Cluster[B], received func(B) uint64) {
	ctx := context.Background()
	cl := Dial(t, c.Nodes[0].URL+"/hubs/conformance", "ada", transports.WebSockets)
	for _, g := range []string{"g1", "g2"} {
		if err := c.Nodes[0].Conformance.Groups().Add(ctx, cl.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	sender := c.Nodes[1].Conformance.Clients()
	idle := c.Nodes[2].Backplane
	before := received(idle)
	for _, target := range []hub.Target{sender.Group("g1"), sender.Groups("g1", "g2", "g1"), sender.User("ada"), sender.Client(cl.ID)} {
		if err := target.Send(ctx, "event"); err != nil {
			t.Fatal(err)
		}
	}
	if err := sender.All().Send(ctx, "sentinel"); err != nil {
		t.Fatal(err)
	}
	_, got := cl.Expect(t, "sentinel")
	if want := []string{"event", "event", "event", "event"}; !slices.Equal(got, want) {
		t.Errorf("the member got %v before the sentinel, want %v (Groups(g1, g2, g1) once)", got, want)
	}
	WaitFor(t, "the idle node to get the sentinel", func() bool { return received(idle) > before })
	if n := received(idle) - before; n != 1 {
		t.Errorf("a node without receivers got %d envelopes, want 1 (the sentinel for All)", n)
	}
}
