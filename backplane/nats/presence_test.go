package nats_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
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
