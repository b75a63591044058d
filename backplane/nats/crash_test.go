package nats_test

import (
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/backplane/nats"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
)

// The crash tests' heartbeat and NodeTTL: a request in flight to a crashed node
// must be answered within NodeTTL after its last heartbeat, checked every
// heartbeat; crashSlack is added for a loaded machine, far below what the request
// would wait otherwise (the hub's PollTimeout, 20 s here).
const (
	crashHeartbeat = 100 * time.Millisecond
	crashNodeTTL   = 500 * time.Millisecond
	crashSlack     = 2 * time.Second
	crashBound     = crashNodeTTL + crashHeartbeat + crashSlack
)

// startCrashCluster starts two nodes, node 0 to crash and node 1 to forward.
func startCrashCluster(t *testing.T) *clustertest.Cluster[*nats.Backplane] {
	t.Helper()
	return startClusterWith(t, natsURL(t), 2,
		func(o *hub.Options) { o.TransportOptions.PollTimeout = 20 * time.Second },
		func(o *nats.Options) { o.HeartbeatInterval, o.NodeTTL = crashHeartbeat, crashNodeTTL })
}

// TestOwnerCrash runs the shared suite.OwnerCrash on NATS: a request forwarded to
// a node that dies is answered 404 once the node misses its heartbeats (NodeTTL),
// and one sent after at once (NATS has no responder for it).
func TestOwnerCrash(t *testing.T) {
	suite.OwnerCrash(t, startCrashCluster, crashBound)
}

// TestRelayNodeCrash runs the shared suite.RelayNodeCrash on NATS: a relayed
// link's side lets go of it once the other's node misses its heartbeats.
func TestRelayNodeCrash(t *testing.T) {
	suite.RelayNodeCrash(t, startCrashCluster, crashBound)
}
