package transport

import (
	"bytes"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout is a generous bound for things that should happen "soon": tests run on
// shared, noisy machines, so it is never used to measure anything.
const waitTimeout = 10 * time.Second

// units records what a Receiver is handed, copying each unit (it is only valid
// during the call).
type units struct {
	mu  sync.Mutex
	got [][]byte
	ch  chan []byte
}

func newUnits() *units { return &units{ch: make(chan []byte, 64)} }

func (u *units) receive(unit []byte) {
	c := bytes.Clone(unit)
	u.mu.Lock()
	u.got = append(u.got, c)
	u.mu.Unlock()
	u.ch <- c
}

// next waits for the next unit.
func (u *units) next(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-u.ch:
		return b
	case <-time.After(waitTimeout):
		t.Fatal("no unit received")
		return nil
	}
}

// waitClosed fails t unless ch is closed within waitTimeout.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("%s: not closed", what)
	}
}

// isClosed reports whether ch is closed now.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// readBody reads and closes resp.Body.
func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return b.String()
}
