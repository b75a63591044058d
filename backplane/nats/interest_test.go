package nats_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	natsgo "github.com/nats-io/nats.go"

	"github.com/hubbub-go/hubbub/backplane/nats"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
	"github.com/hubbub-go/hubbub/transports"
)

// TestJoinThenSendFromAnotherNode checks that nothing is lost between a join and
// its subscription: once Groups.Add returns on one node (or a client is
// connected), a message another node sends at once to the group (the
// connection, the user) reaches it. Each round uses a fresh group, connection
// and user, so each needs a new subscription.
func TestJoinThenSendFromAnotherNode(t *testing.T) {
	c := startCluster(t, natsURL(t), 2)
	a, b := c.Nodes[0], c.Nodes[1]
	ctx := context.Background()
	const rounds = 30
	tests := []struct {
		name   string
		target func(cl *suite.Client, user, group string) hub.Target
	}{
		{"group", func(_ *suite.Client, _, group string) hub.Target { return b.Conformance.Clients().Group(group) }},
		{"connection", func(cl *suite.Client, _, _ string) hub.Target { return b.Conformance.Clients().Client(cl.ID) }},
		{"user", func(_ *suite.Client, user, _ string) hub.Target { return b.Conformance.Clients().User(user) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := range rounds {
				user, group := fmt.Sprintf("u-%s-%d", tc.name, i), fmt.Sprintf("g-%s-%d", tc.name, i)
				cl := suite.Dial(t, a.URL+"/hubs/conformance", user, transports.WebSockets)
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

// TestInterestRouting checks that a node receives only what its connections
// want: the envelopes of a group, user or connection it holds no receiver of
// never reach it, those for All do; and that a member of several groups sent to
// at once gets the message once.
func TestInterestRouting(t *testing.T) {
	c := startCluster(t, natsURL(t), 3)
	ctx := context.Background()
	cl := suite.Dial(t, c.Nodes[0].URL+"/hubs/conformance", "ada", transports.WebSockets)
	for _, g := range []string{"g1", "g2"} {
		if err := c.Nodes[0].Conformance.Groups().Add(ctx, cl.ID, g); err != nil {
			t.Fatal(err)
		}
	}
	sender := c.Nodes[1].Conformance.Clients()
	idle := c.Nodes[2].Backplane
	before := idle.Stats().Received
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
	suite.WaitFor(t, "the idle node to get the sentinel", func() bool { return idle.Stats().Received > before })
	if n := idle.Stats().Received - before; n != 1 {
		t.Errorf("a node without receivers got %d envelopes, want 1 (the sentinel for All)", n)
	}
}

// TestSendReturnsOnceNATSHasIt: when Send returns, NATS has the envelope: a
// subscriber that then makes a round trip to the server has received it. So a
// client that gets a completion and then makes another node send sees the first
// message before the second (the official client's mixed-protocol tests rely on
// it), and a send that returned nil was not left in a buffer.
func TestSendReturnsOnceNATSHasIt(t *testing.T) {
	var prefix string
	c := startCluster(t, natsURL(t), 1, func(o *nats.Options) { prefix = o.Prefix })
	watcher, err := natsgo.Connect(natsURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	got := make(chan *natsgo.Msg, 100)
	if _, err := watcher.ChanSubscribe(prefix+".h.>", got); err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := c.Nodes[0].Conformance.Clients().All().Send(context.Background(), "event", i); err != nil {
			t.Fatal(err)
		}
		if err := watcher.Flush(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		default:
			t.Fatalf("send %d returned before NATS had it", i)
		}
	}
}
