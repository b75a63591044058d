package nats_test

import (
	"testing"

	natsgo "github.com/nats-io/nats.go"

	"github.com/hubbub-go/hubbub/backplane/nats"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
)

// TestTargetsAcrossNodes runs the shared cross-node target suite (suite.Targets)
// on NATS: every target kind, on each transport, through a round-robin proxy in
// front of three nodes, then presence.
func TestTargetsAcrossNodes(t *testing.T) {
	suite.Targets(t, startCluster(t, natsURL(t), 3))
}

// TestNoStickySessions runs the shared routing rules (suite.NoStickySessions) on
// NATS.
func TestNoStickySessions(t *testing.T) {
	suite.NoStickySessions(t, startCluster(t, natsURL(t), 3))
}

// TestRelayedResume runs the shared suite.RelayedResume on NATS: a stateful
// connection resumed again and again on other nodes than its own, relayed there.
func TestRelayedResume(t *testing.T) {
	suite.RelayedResume(t, startCluster(t, natsURL(t), 3))
}

// TestRelayRefusals runs the shared suite.RelayRefusals on NATS.
func TestRelayRefusals(t *testing.T) {
	suite.RelayRefusals(t, startCluster(t, natsURL(t), 3))
}

// TestGoClientThroughCluster runs the shared suite.GoClientThroughCluster on NATS.
func TestGoClientThroughCluster(t *testing.T) {
	suite.GoClientThroughCluster(t, startCluster(t, natsURL(t), 3))
}

// TestBytesAcrossNodesToJSONAndMessagePack runs the shared suite.BytesAcrossNodes
// on NATS, watching the hub's All subject.
func TestBytesAcrossNodesToJSONAndMessagePack(t *testing.T) {
	url := natsURL(t)
	prefix := testPrefix()
	node := newNode(t, url, prefix)
	watcher, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	envelopes := make(chan []byte, 16)
	if _, err := watcher.Subscribe(prefix+".h.>", func(m *natsgo.Msg) { envelopes <- m.Data }); err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	suite.BytesAcrossNodes(t, node(), node(), envelopes)
}

// TestRelayedMessagePackResumeIsBinary runs the shared
// suite.RelayedMessagePackResumeIsBinary on NATS.
func TestRelayedMessagePackResumeIsBinary(t *testing.T) {
	suite.RelayedMessagePackResumeIsBinary(t, startCluster(t, natsURL(t), 3))
}

// newNode returns a maker of backplanes of one cluster, for the shared tests that
// start their nodes themselves.
func newNode(t *testing.T, url, prefix string) func() *nats.Backplane {
	return func() *nats.Backplane {
		bp, err := nats.New(nats.Options{URL: url, Prefix: prefix, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		return bp
	}
}

// TestConnectionTokenTiedToItsUserAcrossNodes runs the shared
// suite.TokenTiedToUser on NATS: another user's requests for a connection,
// forwarded or claimed, get 403.
func TestConnectionTokenTiedToItsUserAcrossNodes(t *testing.T) {
	node := newNode(t, natsURL(t), testPrefix())
	suite.TokenTiedToUser(t, node(), node())
}

// TestRelayedLinkSizeLimitsApplyPerMessage runs the shared
// suite.RelayedLinkSizeLimits on NATS.
func TestRelayedLinkSizeLimitsApplyPerMessage(t *testing.T) {
	suite.RelayedLinkSizeLimits(t, startCluster(t, natsURL(t), 3))
}
