package nats_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hubbub-go/hubbub/backplane/nats"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// quietLogger discards the logs of the backplanes tests make by hand.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// sharedNATS is the NATS every test but the fault test uses. It is shared: tests
// keep their subjects under a random prefix.
const sharedNATS = "127.0.0.1:4222"

// natsURL returns the shared NATS's URL, or skips the test when it is not
// reachable (fails instead when HUBBUB_REQUIRE_NATS=1).
func natsURL(t testing.TB) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", sharedNATS, time.Second)
	if err != nil {
		if os.Getenv("HUBBUB_REQUIRE_NATS") == "1" {
			t.Fatalf("NATS at %s is required (HUBBUB_REQUIRE_NATS=1) but unreachable: %v", sharedNATS, err)
		}
		t.Skipf("NATS at %s is unreachable (%v): skipping; set HUBBUB_REQUIRE_NATS=1 to fail instead", sharedNATS, err)
	}
	conn.Close()
	return "nats://" + sharedNATS
}

// testPrefix returns a random subject prefix: subjects need no deleting.
func testPrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "hubbub-test-" + hex.EncodeToString(b[:])
}

// fastBackplane shortens the heartbeat and the linger so that tests of presence
// and crashes do not wait for the production defaults.
func fastBackplane(o *nats.Options) {
	o.HeartbeatInterval = 100 * time.Millisecond
	o.NodeTTL = time.Second
	o.UnsubscribeLinger = 50 * time.Millisecond
}

type cluster = clustertest.Cluster[*nats.Backplane]

// startCluster starts a cluster of nodes on the NATS at url, each backplane's
// options through opts, and closes it when the test ends.
func startCluster(t testing.TB, url string, nodes int, opts ...func(*nats.Options)) *cluster {
	t.Helper()
	return startClusterWith(t, url, nodes, nil, opts...)
}

// startClusterWith is startCluster with the hubs' options through hubOpts.
func startClusterWith(t testing.TB, url string, nodes int, hubOpts func(*hub.Options), opts ...func(*nats.Options)) *cluster {
	t.Helper()
	prefix := testPrefix()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := clustertest.Start(ctx, clustertest.Config[*nats.Backplane]{
		Nodes: nodes,
		Hub:   hubOpts,
		NewBackplane: func(_ int, logger *slog.Logger) (*nats.Backplane, error) {
			o := nats.Options{URL: url, Prefix: prefix, Logger: logger}
			fastBackplane(&o)
			for _, f := range opts {
				f(&o)
			}
			return nats.New(o)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	})
	return c
}
