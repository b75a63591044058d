package transport

import (
	"errors"
	"testing"
)

// TestEndState: only the first end counts; Done, made before or after the end,
// is closed by then; OnEnd's f runs once with the reason, registered before or
// after the end.
func TestEndState(t *testing.T) {
	first, second := errors.New("first"), errors.New("second")
	for _, tc := range []struct {
		name                    string
		doneBefore, onEndBefore bool
	}{
		{"Done and OnEnd before the end", true, true},
		{"Done and OnEnd after the end", false, false},
		{"Done before, OnEnd after", true, false},
		{"OnEnd before, Done after", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e endState
			got := make(chan error, 2)
			if tc.doneBefore && isClosed(e.Done()) {
				t.Fatal("Done closed before the end")
			}
			if tc.onEndBefore {
				e.OnEnd(func(err error) { got <- err })
			}
			if e.ended() || e.Err() != nil {
				t.Fatal("ended before the end")
			}
			if !e.end(first) {
				t.Error("the first end did not count")
			}
			if e.end(second) {
				t.Error("a second end counted")
			}
			if !tc.onEndBefore {
				e.OnEnd(func(err error) { got <- err })
			}
			waitClosed(t, e.Done(), "Done")
			if !e.ended() || e.Err() != first {
				t.Errorf("ended %v, Err %v; want true, %v", e.ended(), e.Err(), first)
			}
			if err := <-got; err != first {
				t.Errorf("OnEnd's f got %v, want %v", err, first)
			}
			if len(got) != 0 {
				t.Error("OnEnd's f ran twice")
			}
		})
	}
}
