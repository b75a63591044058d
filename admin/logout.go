package admin

import (
	"math"
	"sync"
	"time"
)

// maxRevoked bounds the sessions a node remembers as logged out: past it, every
// session open then is void (all admins sign in again) and the list starts over.
const maxRevoked = 10_000

// revocations are the sessions logged out, each until it would have expired.
// A node knows of the logouts made while it runs: one started later accepts
// a copy of a cookie logged out before, until it expires.
type revocations struct {
	mu  sync.Mutex
	ids map[string]time.Time // session ID -> its expiry
	// voidUntil: every session expiring at or before it is void (past maxRevoked).
	voidUntil time.Time
}

func (v *revocations) add(id string, expires, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ids == nil {
		v.ids = map[string]time.Time{}
	}
	if len(v.ids) >= maxRevoked {
		for k, e := range v.ids {
			if !now.Before(e) {
				delete(v.ids, k) // expired: its cookie is refused anyway
			}
		}
	}
	if len(v.ids) < maxRevoked {
		v.ids[id] = expires
		return
	}
	for _, e := range v.ids {
		if e.After(expires) {
			expires = e
		}
	}
	if expires.After(v.voidUntil) {
		v.voidUntil = expires
	}
	clear(v.ids)
}

func (v *revocations) has(id string, expires time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.ids[id]
	return ok || !expires.After(v.voidUntil)
}

// closeSession closes this node's pages open with a logged-out session.
func (d *Dashboard) closeSession(id string) {
	for _, ci := range d.admin.Snapshot(math.MaxInt).Connections {
		if c, ok := d.admin.Conn(ci.ID); ok && c.Identity().Claims[sessionClaim] == id {
			c.Close("Signed out.", false)
		}
	}
}
