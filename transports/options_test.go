package transports

import "testing"

// TestTransportMessageLimitDefaultsAboveTheMessageLimit: a unit must hold a
// message of the largest size with what a client packs beside it.
func TestTransportMessageLimitDefaultsAboveTheMessageLimit(t *testing.T) {
	for _, tc := range []struct {
		set, want Options
	}{
		{Options{}, Options{MaxReceiveSize: 32 << 10, MaxTransportMessageSize: 1 << 20}},
		{Options{MaxReceiveSize: 1 << 20}, Options{MaxReceiveSize: 1 << 20, MaxTransportMessageSize: 2 << 20}},
		{Options{MaxTransportMessageSize: 64 << 10}, Options{MaxReceiveSize: 32 << 10, MaxTransportMessageSize: 64 << 10}},
		{Options{MaxReceiveSize: 4 << 10, MaxTransportMessageSize: 1 << 10}, Options{MaxReceiveSize: 4 << 10, MaxTransportMessageSize: 1 << 10}}, // as set
	} {
		got := tc.set.WithDefaults()
		if got.MaxReceiveSize != tc.want.MaxReceiveSize || got.MaxTransportMessageSize != tc.want.MaxTransportMessageSize {
			t.Errorf("WithDefaults of %d, %d: MaxReceiveSize %d, MaxTransportMessageSize %d; want %d, %d",
				tc.set.MaxReceiveSize, tc.set.MaxTransportMessageSize, got.MaxReceiveSize, got.MaxTransportMessageSize, tc.want.MaxReceiveSize, tc.want.MaxTransportMessageSize)
		}
	}
}
