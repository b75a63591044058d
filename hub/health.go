package hub

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// BackplaneHealth is an optional interface of a [Backplane] that knows whether it
// reaches the other nodes (the Redis backplane implements it). The hub's Health
// asks it; for a backplane without it, the hub judges by its last send.
type BackplaneHealth interface {
	// Err is nil while the backplane carries messages between nodes, else why it
	// cannot. It must be fast: health checks call it.
	Err() error
}

// ErrHubClosing is the Health of a hub that Close was called on.
var ErrHubClosing = errors.New("hub: closing")

// Health is nil while the hub serves and its backplane reaches the other nodes.
// Otherwise it is [ErrHubClosing] once Close was called (draining or closed), or
// the backplane's error: its [BackplaneHealth.Err], or for a backplane without it
// the failure of the last send when no send has worked since.
func (h *Hub) Health() error {
	if h.closing() {
		return ErrHubClosing
	}
	return h.backplaneHealth()
}

// closing reports whether Close was called.
func (h *Hub) closing() bool {
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	return h.closed
}

func (h *Hub) backplaneHealth() error {
	err := h.outage.current()
	if bh, ok := h.backplane.(BackplaneHealth); ok {
		err = bh.Err()
	}
	return err
}

// HealthHandler answers health checks (GET or HEAD) for hubs, for load balancers
// and orchestrators: 200 while every hub is healthy ([Hub.Health]), else 503. The
// body is JSON naming each hub's state ("ok", "closing" or "unavailable") and
// its backplane's ("ok" or the error: it may name the backplane's address):
//
//	{"status":"ok","hubs":{"chat":{"status":"ok","backplane":"ok"}}}
//	{"status":"unavailable","hubs":{"chat":{"status":"unavailable","backplane":"redis backplane: Redis unavailable: …"}}}
//
// A hub that is closing answers 503 so that new clients go to other nodes.
func HealthHandler(hubs ...*Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Method not allowed", http.StatusMethodNotAllowed)
			return
		}
		type hubHealth struct {
			Status    string `json:"status"`
			Backplane string `json:"backplane"`
		}
		report := struct {
			Status string               `json:"status"`
			Hubs   map[string]hubHealth `json:"hubs"`
		}{Status: "ok", Hubs: make(map[string]hubHealth, len(hubs))}
		for _, h := range hubs {
			hh := hubHealth{Status: "ok", Backplane: "ok"}
			if err := h.backplaneHealth(); err != nil {
				hh.Status, hh.Backplane = "unavailable", err.Error()
			}
			if h.closing() {
				hh.Status = "closing"
			}
			if hh.Status != "ok" {
				report.Status = "unavailable"
			}
			report.Hubs[h.opts.Name] = hh
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if report.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(report)
	})
}

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
