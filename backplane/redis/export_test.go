package redis

import "github.com/hubbub-go/hubbub/hub"

// Crash stops b as a killed process would stop it, for the tests of crashes: its
// subscription connection closes (so that nobody listens on its channel any
// more), its heartbeats stop, and nothing is cleaned up in Redis (no purge of its
// records, no deletion of its session records). Close may still be called after.
func (b *Backplane) Crash() {
	b.state.Store(stateDown) // so that Close, later, leaves Redis as a crash would
	b.cancel()
	b.closeSubscriptions()
	b.wg.Wait()
}

// PendingCalls returns how many requests this node has sent to other nodes and
// awaits the answer of.
func (b *Backplane) PendingCalls() int {
	b.callsMu.Lock()
	defer b.callsMu.Unlock()
	return len(b.calls)
}

// RelayedLinks returns how many links this node relays or has relayed to it.
func (b *Backplane) RelayedLinks() int {
	b.relaysMu.Lock()
	defer b.relaysMu.Unlock()
	return len(b.relays)
}

// EnvelopeChannel is the channel an envelope for key of kind goes on (for the
// tests that kill the Redis serving it).
func (b *Backplane) EnvelopeChannel(hubName string, kind hub.SelectorKind, key string) string {
	name, _ := b.envelopeChannel(hubName, kind, key)
	return name
}

// NodeChannel is the channel of this node's RPC.
func (b *Backplane) NodeChannel() string { return b.ownChannel }

// RegistryKey is the key of the set of nodes (on Redis Cluster, in the slot of
// every liveness key).
func (b *Backplane) RegistryKey() string { return b.nodesKey() }
