package nats_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
	"github.com/hubbub-go/hubbub/transports"
)

// TestPresenceOfABigGroup: a node whose members of a group do not fit in one
// NATS message (max_payload, 1 MiB by default: ~30,000 connection IDs) still
// answers presence queries in full. Its one reply was refused by NATS, and the
// other nodes listed none of its members, after OpTimeout, with no error.
func TestPresenceOfABigGroup(t *testing.T) {
	c := startCluster(t, natsURL(t), 2)
	ctx := context.Background()
	a, b := c.Nodes[0], c.Nodes[1]
	// The backplane's record of 40,000 joins on node a, as its hub makes them.
	const members = 40_000
	for i := range members {
		if err := a.Backplane.AddToGroup(ctx, "conformance", "big", fmt.Sprintf("%033d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Node b has heard node a once it has heard a heartbeat; ask until then.
	var got []string
	suite.WaitFor(t, "node b to list node a's members", func() bool {
		ids, err := b.Conformance.Groups().Members(ctx, "big")
		if err != nil {
			t.Fatal(err)
		}
		got = ids
		return len(ids) > 0
	})
	if len(got) != members {
		t.Fatalf("node b lists %d members of the group, want %d", len(got), members)
	}
	for i, id := range got {
		if want := fmt.Sprintf("%033d", i); id != want {
			t.Fatalf("member %d is %q, want %q", i, id, want)
		}
	}
}

// TestBigMessageToForwardedLongPoll: a long poll forwarded to the node holding
// its connection gets its answer however big, up to what the hub queues for a
// connection (MaxQueueBytes, 1 MiB by default), though NATS carries at most
// max_payload (1 MiB) a message and the answer travels base64 in JSON. An
// 800 KB message was lost: the owner's reply was refused by NATS, and the poll
// waited for nothing.
func TestBigMessageToForwardedLongPoll(t *testing.T) {
	c := startCluster(t, natsURL(t), 2)
	ctx := context.Background()
	a, b := c.Nodes[0], c.Nodes[1]
	cl := suite.DialSplit(t, a.URL, b.URL, transports.LongPolling) // negotiated on a, polls through b
	suite.WaitFor(t, "the connection to be indexed", func() bool { return c.Owner(cl.ID) == 0 })
	for _, size := range []int{800_000, 1_000_000} {
		big := strings.Repeat("x", size)
		if err := a.Conformance.Clients().Client(cl.ID).Send(ctx, "big", big); err != nil {
			t.Fatal(err)
		}
		if err := a.Conformance.Clients().Client(cl.ID).Send(ctx, "after", size); err != nil {
			t.Fatal(err)
		}
		got, before := cl.Expect(t, "after")
		if want := []string{"big"}; !slices.Equal(before, want) || got != strconv.Itoa(size) {
			t.Fatalf("a %d-byte message: the client got %v then after(%s), want %v then after(%d)", size, before, got, want, size)
		}
	}
}

// TestBigRequestThroughAnotherNode: a request whose body another node cannot
// forward in one NATS message (max_payload; the body travels base64 in JSON)
// gets 413, as one over MaxForwardedBody does, not 503 "Cluster unavailable",
// which tells a client to try again the same request.
func TestBigRequestThroughAnotherNode(t *testing.T) {
	c := startClusterWith(t, natsURL(t), 2, func(o *hub.Options) { o.TransportOptions.MaxReceiveSize = 4 << 20 })
	cl := suite.DialSplit(t, c.Nodes[0].URL, c.Nodes[1].URL, transports.LongPolling)
	if _, err := cl.Invoke("Echo", strings.Repeat("y", 800_000)); err == nil || !strings.Contains(err.Error(), "413") {
		t.Fatalf("an 800 KB invocation posted through the other node: %v, want status 413", err)
	}
}

// TestBigUnitsOverARelayedLink: a relayed link (a stateful connection resumed on
// another node than its owner) carries units bigger than one NATS message can
// (max_payload, 1 MiB; a unit travels base64 in JSON), both ways. An 800 KB
// message to the client ended the link, and would again on each resume.
func TestBigUnitsOverARelayedLink(t *testing.T) {
	c := startClusterWith(t, natsURL(t), 2, func(o *hub.Options) { o.TransportOptions.MaxReceiveSize = 4 << 20 })
	sc := suite.DialStateful(t, c.Nodes[0].URL, transports.WebSockets)
	sc.Call(t, "1", "Add", 1, 1)
	sc.Link.Cut()
	if status := sc.Resume(t, c.Nodes[1].URL); status != 0 {
		t.Fatalf("resume on node 1: HTTP %d", status)
	}
	if n := c.Nodes[1].Backplane.RelayedLinks(); n != 1 {
		t.Fatalf("node 1 relays %d links, want 1", n)
	}
	big := strings.Repeat("x", 800_000)
	if err := c.Nodes[0].Conformance.Clients().Client(sc.ID).Send(context.Background(), "big", big); err != nil {
		t.Fatal(err)
	}
	if r := sc.Take(t); r.Target != "big" {
		t.Fatalf("got %+v, want the big message", r)
	}
	sc.Ack(t) // else the hub sends nothing more (StatefulReconnectBufferSize)
	if r := sc.Call(t, "2", "Echo", big); string(r.Result) != `"`+big+`"` {
		t.Fatalf("Echo of %d bytes over the relay: %d bytes back", len(big), len(r.Result))
	}
}
