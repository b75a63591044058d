package nats

// Crash stops b as a killed process would stop it, for the tests of crashes: its
// connection closes (nobody serves its subjects any more), its heartbeats stop,
// and it says no goodbye. Close may still be called after.
func (b *Backplane) Crash() {
	b.cancel()
	b.nc.Close()
	b.wg.Wait()
}

// PendingCalls returns how many requests this node has sent to other nodes and
// awaits the answer of.
func (b *Backplane) PendingCalls() int {
	b.forward.mu.Lock()
	defer b.forward.mu.Unlock()
	return len(b.forward.calls)
}

// RelayedLinks returns how many links this node relays or has relayed to it.
func (b *Backplane) RelayedLinks() int {
	b.forward.mu.Lock()
	defer b.forward.mu.Unlock()
	return len(b.forward.relays)
}
