package transport

import "sync"

// endState is the end of a transport, the same for the three: why it ended, the
// Done channel and the OnEnd callback. Its Err, Done and OnEnd are the
// transport's (Transport). The transport records its end with end, or endLocked
// under mu; only the first call counts. A transport whose end does more (answer a
// held poll, close a taken-over connection) wraps them with methods of its own
// of the same names.
//
// mu guards the end. The transport guards with it too whatever must change
// together with the end (the long-polling transport, all its state).
type endState struct {
	mu  sync.Mutex
	err error // why the transport ended; nil while it runs
	// done is closed when the transport ends. It is made by the first Done: a
	// channel is 112 bytes, which an idle connection would keep for nothing (the
	// hub asks Err and registers OnEnd instead).
	done  chan struct{}
	onEnd func(error) // OnEnd's f, if any
}

// Err tells why the transport ended: nil while it runs, transports.ErrClosed
// after Close; each transport's doc lists its other reasons.
func (e *endState) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// Done is closed once the transport has ended, for any reason.
func (e *endState) Done() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done == nil {
		e.done = make(chan struct{})
		if e.err != nil {
			close(e.done)
		}
	}
	return e.done
}

// OnEnd registers f to run once, on a goroutine of its own, when the transport
// ends (at once if it has), with the reason Err gives. Call it at most once.
func (e *endState) OnEnd(f func(err error)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		go f(e.err)
		return
	}
	e.onEnd = f
}

// ended reports whether the transport has ended.
func (e *endState) ended() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err != nil
}

// end records why the transport ended, closes Done and starts OnEnd's f. Only the
// first call counts; it reports whether it was that one.
func (e *endState) end(err error) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.endLocked(err)
}

// endLocked is end, with mu held.
func (e *endState) endLocked(err error) bool {
	if e.err != nil {
		return false
	}
	e.err = err
	if e.done != nil {
		close(e.done)
	}
	if e.onEnd != nil {
		go e.onEnd(err)
	}
	return true
}
