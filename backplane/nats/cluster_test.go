package nats_test

import (
	"testing"

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
