package hub

import (
	"sync"
	"sync/atomic"
	"time"
)

// backplaneOutage follows the sends the backplane failed, so that an outage is
// logged once when it starts and once when it ends, with the count of sends it
// failed, rather than once per send.
type backplaneOutage struct {
	on       atomic.Bool // fast path of worked
	mu       sync.Mutex
	since    time.Time
	failures int
	err      error // the last failure's
}

// failed records a send the backplane failed; the first of an outage is logged.
func (o *backplaneOutage) failed(h *Hub, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	o.err = err
	if o.on.Load() {
		return
	}
	o.on.Store(true)
	o.since = time.Now()
	h.opts.Logger.Warn("hub: backplane unavailable; sends reach this node's connections only until it is back", "hub", h.opts.Name, "err", err)
}

// worked records a send the backplane carried; the first after an outage logs
// its end.
func (o *backplaneOutage) worked(h *Hub) {
	if !o.on.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.on.Load() {
		return
	}
	h.opts.Logger.Info("hub: backplane available again", "hub", h.opts.Name, "failed_sends", o.failures, "outage", time.Since(o.since).Round(time.Millisecond))
	o.on.Store(false)
	o.failures, o.err = 0, nil
}

// current is the last failure of an outage under way, else nil.
func (o *backplaneOutage) current() error {
	if !o.on.Load() {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}
