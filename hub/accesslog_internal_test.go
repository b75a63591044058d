package hub

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hubbub-go/hubbub/transports"
)

// TestEndReason: the access log's reason for each way a connection ends, in the
// few stable words other tools match on.
func TestEndReason(t *testing.T) {
	lost := errors.New("transports: websocket connection lost without a close frame")
	tests := []struct {
		name         string
		reason       error
		serverClosed bool
		hubClosed    bool
		want         string
	}{
		{"Close message from the client", transports.ErrClosed, false, false, "client closed"},
		{"WebSocket close frame", fmt.Errorf("transports: websocket closed by the client (1000): %w", transports.ErrEndedByClient), false, false, "client closed"},
		{"Conn.Close", transports.ErrClosed, true, false, "server closed"},
		{"Hub.Close", transports.ErrClosed, true, true, "hub closed"},
		{"Hub.Close gave up waiting", ErrConnectionClosed, false, true, "hub closed"},
		{"client closed during Hub.Close", transports.ErrEndedByClient, false, true, "client closed"},
		{"client timeout", ErrClientTimeout, false, false, "timeout"},
		{"handshake timeout", ErrHandshakeTimeout, false, true, "handshake timeout"},
		{"slow consumer", fmt.Errorf("%w: no write finished within 10s", ErrSlowConsumer), false, false, "slow consumer"},
		{"rate limited", ErrRateLimited, false, false, "rate limited"},
		{"message too large", fmt.Errorf("hub: a message over 32768 bytes: %w", transports.ErrTooLarge), false, false, "message too large"},
		{"reconnect window", ErrReconnectTimeout, false, false, "reconnect window passed"},
		{"link lost", lost, false, false, lost.Error()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Options{})
			if tc.hubClosed {
				if err := h.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if got := h.endReason(tc.reason, tc.serverClosed); got != tc.want {
				t.Errorf("endReason(%v, serverClosed %v) = %q, want %q", tc.reason, tc.serverClosed, got, tc.want)
			}
		})
	}
}
