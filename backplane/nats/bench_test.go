package nats_test

import (
	"testing"

	"github.com/hubbub-go/hubbub/backplane/nats"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
)

// BenchmarkBroadcast measures a broadcast crossing nodes through NATS (the
// sender's node has no receivers; 8 live on two other nodes), as the Redis
// backplane's BenchmarkBroadcast does, with Publish waiting for NATS to confirm
// (the default) and without (AsyncPublish).
//
//	go test -run '^$' -bench Broadcast ./backplane/nats/
func BenchmarkBroadcast(b *testing.B) {
	const receivers = 8
	for _, tc := range []struct {
		name  string
		async bool
	}{{"cross-node", false}, {"cross-node-async", true}} {
		b.Run(tc.name, func(b *testing.B) {
			c := startCluster(b, natsURL(b), 3, func(o *nats.Options) { o.AsyncPublish = tc.async })
			var bases []string
			for i := range receivers {
				bases = append(bases, c.Nodes[1+i%2].URL+"/hubs/conformance")
			}
			suite.BenchBroadcast(b, c.Nodes[0].Conformance, bases)
		})
	}
}
