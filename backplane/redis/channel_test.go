package redis_test

import (
	"testing"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/hub"
)

// TestEnvelopeChannelAllocs: naming the channel of a send, which every publish
// and every join does, costs one allocation (the name), on one Redis and on
// Redis Cluster (the partition's hash tag included).
func TestEnvelopeChannelAllocs(t *testing.T) {
	for _, url := range []string{"redis://127.0.0.1:1/0", "redis+cluster://127.0.0.1:1,127.0.0.1:2"} {
		b, err := redis.New(redis.Options{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		for _, kind := range []hub.SelectorKind{hub.SelectAll, hub.SelectGroups, hub.SelectUsers, hub.SelectConnections} {
			if n := testing.AllocsPerRun(100, func() { b.EnvelopeChannel("chat", kind, "room-42") }); n > 1 {
				t.Errorf("%s, kind %d: %.0f allocations per channel name, want at most 1", url, kind, n)
			}
		}
		b.Close()
	}
}
