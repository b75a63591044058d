package redis_test

import (
	"math"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/backplane/redis"
)

// TestOptionsOutOfRange: New refuses a bound too large to honour with an error
// naming the option. MaxInt, as one may write for "no limit", made New panic
// (makechan: size out of range), and a huge ClusterPartitions made it allocate
// until the process died.
func TestOptionsOutOfRange(t *testing.T) {
	tests := []struct {
		name   string
		option string
		opts   redis.Options
	}{
		{"MaxPendingPublishes", "MaxPendingPublishes", redis.Options{URL: "redis://127.0.0.1:1/0", MaxPendingPublishes: math.MaxInt}},
		{"MaxForwardedRequests", "MaxForwardedRequests", redis.Options{URL: "redis://127.0.0.1:1/0", MaxForwardedRequests: math.MaxInt}},
		{"ClusterPartitions", "ClusterPartitions", redis.Options{URL: "redis+cluster://127.0.0.1:1", ClusterPartitions: 1 << 40}},
		{"ClusterPartitions over the slots", "ClusterPartitions", redis.Options{URL: "redis+cluster://127.0.0.1:1", ClusterPartitions: 16385}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b *redis.Backplane
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("New panicked: %v", r)
					}
				}()
				b, err = redis.New(tc.opts)
			}()
			if err == nil {
				b.Close()
				t.Fatalf("New = nil error, want %s refused", tc.option)
			}
			if !strings.Contains(err.Error(), tc.option) {
				t.Errorf("New: %v, want an error naming %s", err, tc.option)
			}
			t.Logf("refused: %v", err)
		})
	}
}
