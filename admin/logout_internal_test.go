package admin

import (
	"strconv"
	"testing"
	"time"
)

// TestRevocationsBound: past maxRevoked logged-out sessions, every session open
// then is void and the list starts over; expired ones are forgotten first.
func TestRevocationsBound(t *testing.T) {
	var v revocations
	now := time.Now()
	v.add("old", now.Add(-time.Second), now) // already expired: forgotten on the next add
	for i := range maxRevoked {
		v.add(strconv.Itoa(i), now.Add(time.Hour), now)
	}
	if n := len(v.ids); n != maxRevoked {
		t.Fatalf("%d remembered, want %d", n, maxRevoked)
	}
	if v.has("open", now.Add(2*time.Hour)) {
		t.Error("a session never logged out is void before the bound")
	}
	v.add("last", now.Add(2*time.Hour), now)
	if n := len(v.ids); n != 0 {
		t.Errorf("%d remembered past the bound, want 0", n)
	}
	for _, tc := range []struct {
		id      string
		expires time.Time
		void    bool
	}{
		{"7", now.Add(time.Hour), true},
		{"last", now.Add(2 * time.Hour), true},
		{"open", now.Add(2 * time.Hour), true},   // open then: void too
		{"later", now.Add(3 * time.Hour), false}, // a login after it
	} {
		if got := v.has(tc.id, tc.expires); got != tc.void {
			t.Errorf("%s: void %v, want %v", tc.id, got, tc.void)
		}
	}
}
