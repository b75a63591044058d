package hub_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// recordingObserver records every call it gets, by name.
type recordingObserver struct {
	hub.NopObserver
	calls []string
}

func (r *recordingObserver) Negotiated(string) { r.calls = append(r.calls, "Negotiated") }
func (r *recordingObserver) Invoked(string, string, time.Duration, error) {
	r.calls = append(r.calls, "Invoked")
}
func (r *recordingObserver) Fallback(_ string, left transports.Kind, reason string) {
	r.calls = append(r.calls, "Fallback "+left.String()+" "+reason)
}
func (r *recordingObserver) Ended(_ string, t transports.Kind, reason string) {
	r.calls = append(r.calls, "Ended "+t.String()+" "+reason)
}

// TestObservers: every observer hears every call, in order, and only those that
// implement FallbackObserver and EndObserver hear of fallbacks and ends.
func TestObservers(t *testing.T) {
	a, b := &recordingObserver{}, &recordingObserver{}
	plain := hub.NopObserver{}
	obs := hub.Observers(a, plain, b)
	obs.Negotiated("h")
	obs.Invoked("h", "m", time.Millisecond, errors.New("x"))
	obs.(hub.FallbackObserver).Fallback("h", transports.WebSockets, "upgrade-refused")
	obs.(hub.EndObserver).Ended("h", transports.LongPolling, "client closed")
	want := []string{"Negotiated", "Invoked", "Fallback WebSockets upgrade-refused", "Ended LongPolling client closed"}
	for name, r := range map[string]*recordingObserver{"first": a, "last": b} {
		if !slices.Equal(r.calls, want) {
			t.Errorf("%s observer got %v, want %v", name, r.calls, want)
		}
	}
}
