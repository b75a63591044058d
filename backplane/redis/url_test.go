package redis_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/backplane/redis"
)

// TestURLTopology checks that Options.URL picks the topology, and that a URL the
// backplane cannot use is refused by New with ErrBadURL and a reason, not taken
// for an outage.
func TestURLTopology(t *testing.T) {
	tests := []struct {
		url  string
		want redis.Topology
		bad  bool
	}{
		{url: "redis://127.0.0.1:6379/0", want: redis.Single},
		{url: "rediss://:secret@127.0.0.1:6380", want: redis.Single},
		{url: "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380,127.0.0.1:26381/mymaster", want: redis.Sentinel},
		{url: "redis+sentinel://u:p%40ss@127.0.0.1:26379/mymaster?db=2&sentinel_password=s", want: redis.Sentinel},
		{url: "redis+cluster://127.0.0.1:7000,127.0.0.1:7001", want: redis.Cluster},
		{url: "rediss+cluster://pw@127.0.0.1:7000", want: redis.Cluster},
		{url: "127.0.0.1:6379", bad: true},
		{url: "http://127.0.0.1:6379", bad: true},
		{url: "redis+sentinel://127.0.0.1:26379", bad: true},               // no master name
		{url: "redis+sentinel://127.0.0.1:26379/m?db=x", bad: true},        // db not a number
		{url: "redis+cluster://127.0.0.1:7000/0", bad: true},               // a cluster has no db
		{url: "redis+cluster://127.0.0.1", bad: true},                      // no port
		{url: "redis+cluster://127.0.0.1:7000?pool=3", bad: true},          // unknown parameter
		{url: "redis+cluster://127.0.0.1:7000,,127.0.0.1:7001", bad: true}, // empty address
		{url: "redis+sentinel://127.0.0.1:x/m", bad: true},                 // port not a number
		{url: "redis+cluster://127.0.0.1:99999", bad: true},                // port out of range
		{url: "redis+cluster://127.0.0.1:0", bad: true},                    // port 0
		{url: "redis+cluster://127.0.0.1:7000 ,127.0.0.1:7001", bad: true}, // a space in the port
		{url: "redis+cluster://127.0.0.1:7000#x", bad: true},               // a fragment
		{url: "redis://127.0.0.1:99999/0", bad: true},                      // port out of range
		{url: "redis+cluster://[::1]:7000", want: redis.Cluster},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			b, err := redis.New(redis.Options{URL: tc.url})
			if tc.bad {
				if !errors.Is(err, redis.ErrBadURL) {
					if b != nil {
						b.Close()
					}
					t.Fatalf("New(%q) = %v, want ErrBadURL", tc.url, err)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if got := b.Topology(); got != tc.want {
				t.Errorf("Topology() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestClusterPrefixWithEmptyHashTag: on Redis Cluster, New refuses a Prefix
// whose first '{' is closed at once ("x{}"): Redis then hashes every channel
// whole, the channels of a partition lie in many slots, and each subscription
// failed with CROSSSLOT, forever. Elsewhere the prefix is only text. Prefixes
// with other braces ("{app}", "a{b") keep working on a Redis Cluster
// (TestTopologies/Cluster/HostileNames).
func TestClusterPrefixWithEmptyHashTag(t *testing.T) {
	tests := []struct {
		url, prefix string
		bad         bool
	}{
		{"redis+cluster://127.0.0.1:7000", "x{}", true},
		{"redis+cluster://127.0.0.1:7000", "{}", true},
		{"redis+cluster://127.0.0.1:7000", "a}{}b", true},
		{"redis+cluster://127.0.0.1:7000", "{app}", false},
		{"redis+cluster://127.0.0.1:7000", "a{b", false},
		{"redis+cluster://127.0.0.1:7000", "a{b}{}", false},
		{"redis://127.0.0.1:6379/0", "x{}", false},
		{"redis+sentinel://127.0.0.1:26379/m", "x{}", false},
	}
	for _, tc := range tests {
		t.Run(tc.url+" "+tc.prefix, func(t *testing.T) {
			b, err := redis.New(redis.Options{URL: tc.url, Prefix: tc.prefix})
			if !tc.bad {
				if err != nil {
					t.Fatalf("New: %v, want no error", err)
				}
				b.Close()
				return
			}
			if err == nil {
				b.Close()
				t.Fatalf("New with Prefix %q on Redis Cluster = nil error, want it refused", tc.prefix)
			}
			if !strings.Contains(err.Error(), "Prefix") {
				t.Errorf("New: %v, want an error naming Options.Prefix", err)
			}
			t.Logf("refused: %v", err)
		})
	}
}
