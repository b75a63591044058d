package client_test

import (
	"testing"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
)

// TestServerRegistersBeforeHandshakeReply checks that a connection can be reached
// (hub.Conn, SendToConnection, SendToUser, Broadcast) as soon as its client has the
// handshake reply. The hub once sent the reply before hub.addConn, and a few percent
// of connections were unknown for a moment (more under -race -cpu 1): a message sent
// to a client right after it connected was lost.
func TestServerRegistersBeforeHandshakeReply(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			th := startHub(t, hub.Options{}, nil)
			unknown := 0
			const n = 100
			for range n {
				opts := client.Options{Transports: k.kind, Logger: quiet}
				c, err := client.Dial(testCtx(t), th.URL, opts)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := th.Hub.Conn(c.ConnectionID()); !ok {
					unknown++
				}
				c.Close()
			}
			if unknown > 0 {
				t.Errorf("%d of %d connections unknown to the hub right after their handshake reply", unknown, n)
			}
		})
	}
}
