package hub

import (
	"sync"
	"testing"

	"github.com/hubbub-go/hubbub/hub/protocol"
)

// CountEncodes counts, until the test ends, the frames envelopes are encoded
// into, by protocol name. Tests that use it must not run in parallel.
func CountEncodes(t *testing.T) (counts func() map[string]int) {
	var mu sync.Mutex
	n := map[string]int{}
	hook := func(p protocol.Protocol) {
		mu.Lock()
		n[p.Name()]++
		mu.Unlock()
	}
	encodeHook.Store(&hook)
	t.Cleanup(func() { encodeHook.Store(nil) })
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]int{}
		for k, v := range n {
			out[k] = v
		}
		return out
	}
}

// Deliver hands h an envelope as a backplane does.
func Deliver(h *Hub, env *Envelope) { h.deliver(env) }
