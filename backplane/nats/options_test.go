package nats_test

import (
	"math"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/backplane/nats"
)

// TestPrefixRefused: New refuses a Prefix that is not one short subject token
// with a clear error, instead of a backplane whose subscriptions NATS refuses (a
// wildcard, a separator) or whose protocol lines it refuses by closing the
// connection for good (too long).
func TestPrefixRefused(t *testing.T) {
	for _, prefix := range []string{".", "a.b", "a*", ">", "a b", "ü", strings.Repeat("p", 4000)} {
		t.Run(prefix[:min(len(prefix), 10)], func(t *testing.T) {
			b, err := nats.New(nats.Options{URL: natsURL(t), Prefix: prefix, Logger: quietLogger})
			if err == nil {
				b.Close()
				t.Fatalf("New with Prefix %.20q… (%d bytes) = nil error, want it refused", prefix, len(prefix))
			}
			if !strings.Contains(err.Error(), "Prefix") {
				t.Errorf("New: %v, want an error naming Options.Prefix", err)
			}
		})
	}
}

// TestURLRefused: New refuses a URL no connection can come of (a scheme NATS
// does not speak, a port no TCP connection has) with a clear error, instead of
// reporting an outage forever.
func TestURLRefused(t *testing.T) {
	for _, url := range []string{
		"foo://127.0.0.1:4222",
		"http://127.0.0.1:4222",
		"nats://127.0.0.1:99999",
		"nats://127.0.0.1:0",
		"nats://127.0.0.1:4222,nats://127.0.0.1:70000",
	} {
		t.Run(url, func(t *testing.T) {
			b, err := nats.New(nats.Options{URL: url, Logger: quietLogger})
			if err == nil {
				b.Close()
				t.Fatalf("New(%q) = nil error, want it refused", url)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestOptionsOutOfRange: New refuses a bound too large to honour with an error
// naming the option. MaxInt, as one may write for "no limit", made New panic
// (makechan: size out of range).
func TestOptionsOutOfRange(t *testing.T) {
	tests := []struct {
		option string
		opts   nats.Options
	}{
		{"ReceiveBuffer", nats.Options{ReceiveBuffer: math.MaxInt}},
		{"MaxForwardedRequests", nats.Options{MaxForwardedRequests: math.MaxInt}},
	}
	for _, tc := range tests {
		t.Run(tc.option, func(t *testing.T) {
			tc.opts.URL, tc.opts.Logger = natsURL(t), quietLogger
			var b *nats.Backplane
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("New panicked: %v", r)
					}
				}()
				b, err = nats.New(tc.opts)
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
