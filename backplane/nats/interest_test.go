package nats_test

import (
	"context"
	"testing"

	natsgo "github.com/nats-io/nats.go"

	"github.com/hubbub-go/hubbub/backplane/nats"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
)

// TestJoinThenSendFromAnotherNode runs suite.JoinThenSendFromAnotherNode on NATS.
func TestJoinThenSendFromAnotherNode(t *testing.T) {
	suite.JoinThenSendFromAnotherNode(t, startCluster(t, natsURL(t), 2))
}

// TestInterestRouting runs suite.InterestRouting on NATS.
func TestInterestRouting(t *testing.T) {
	suite.InterestRouting(t, startCluster(t, natsURL(t), 3), func(b *nats.Backplane) uint64 { return b.Stats().Received })
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

// TestHostileNames runs suite.HostileNames on NATS: names that are NATS
// wildcards, separators or too long for one protocol line stay one subject
// token each.
func TestHostileNames(t *testing.T) {
	suite.HostileNames(t, startCluster(t, natsURL(t), 2))
}
