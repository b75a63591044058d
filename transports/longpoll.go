package transports

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// LongPoll is the long-polling transport of one connection: the client's GETs (polls)
// carry the server-to-client units, its POSTs carry units to the server (ServeSend),
// and a DELETE ends the connection (ServeDelete).
//
// Polls are answered as ASP.NET Core answers them:
//
//   - The first poll gets 200 with an empty body at once: the official client waits
//     for it before sending its handshake, and ignores its body.
//   - A later poll is held until Send hands it a unit (200 with the unit), until
//     Options.PollTimeout passes (200 empty: "poll again"), or until the transport
//     ends (204: "closed"). A poll arriving after the end gets 204 at once.
//   - A poll arriving while another is held supersedes it: the held poll gets 204 and
//     the new one takes its place. This follows the transport spec (aspnetcore
//     src/SignalR/docs/specs/TransportProtocols.md: "the existing request is
//     immediately terminated with status code 204 No Content"). A client only polls
//     again when it has given up on the old poll (its own timeout, or a proxy's), so
//     the newest poll is the one that can still deliver; refusing it with 409 would
//     instead end a healthy connection behind a proxy that dropped the old one.
//   - When no poll has been open for Options.DisconnectTimeout, the client is taken
//     as gone and the transport ends.
//
// No unit is dropped silently. Send hands its unit to the poll that is open, or waits
// for the next one. A poll whose client left before the unit was written passes it
// on to the next poll; a poll whose write fails makes Send return the error, and the
// transport ends. (A unit written to a poll the client abandons at that very moment
// is lost with the connection, as in any HTTP exchange; the official client treats
// a failed poll as the end of the connection.)
//
// The transport owns no goroutine: a held poll waits in its handler's goroutine,
// and the disconnect timer is a time.AfterFunc that only runs when it fires.
//
// Concurrency: Send must be called by one goroutine at a time (Transport's rule);
// ServePoll, ServeSend, ServeDelete, Close, Done and Err may be called from any
// goroutine.
type LongPoll struct {
	opts Options
	post sendChannel
	done chan struct{}
	// onEnd runs when the transport ends; guarded by mu.
	onEnd func(error)

	mu      sync.Mutex
	err     error     // why the transport ended; nil while it runs
	polled  bool      // the first poll has been answered
	current *poll     // the held poll waiting for a unit, if any
	outbox  *delivery // a unit waiting for a poll, if any
	open    int       // polls being served, held or not
	idle    *time.Timer
	idleGen uint64 // tells a stale disconnect timer from the current one
}

// poll is one held GET. Its fate is decided once, under LongPoll.mu, by whoever
// closes wake: a delivery (unit set), a newer poll (superseded), or the end of the
// transport; or, if nothing else came first, by the poll itself (timeout, client gone).
type poll struct {
	wake       chan struct{}
	unit       *delivery
	superseded bool
}

// delivery is one Send's unit on its way to a poll. result gets exactly one value
// once a poll has written it (or failed to), or once the transport has ended
// while the unit was still waiting.
type delivery struct {
	unit   []byte
	result chan error
}

// NewLongPolling returns a long-polling transport that passes each POSTed body to
// receive. Its disconnect timer starts now: the first poll is expected soon.
func NewLongPolling(opts Options, receive Receiver) *LongPoll {
	lp := &LongPoll{opts: opts.WithDefaults(), done: make(chan struct{})}
	lp.post = sendChannel{maxSize: lp.opts.MaxReceiveSize, receive: receive, done: lp.done}
	lp.mu.Lock()
	lp.startIdleLocked()
	lp.mu.Unlock()
	return lp
}

// Kind returns LongPolling.
func (lp *LongPoll) Kind() Kind { return LongPolling }

// ServePoll serves one poll (a GET); see LongPoll for how it is answered. Every poll
// response carries Content-Type application/octet-stream and headers that forbid
// caching. Another method answers 405.
func (lp *LongPoll) ServePoll(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "0")

	lp.mu.Lock()
	if lp.err != nil {
		lp.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	lp.open++
	lp.stopIdleLocked()
	defer lp.pollDone()
	if !lp.polled {
		lp.polled = true
		lp.mu.Unlock()
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	p := &poll{wake: make(chan struct{})}
	if old := lp.current; old != nil {
		old.superseded = true
		close(old.wake)
	}
	lp.current = p
	if d := lp.outbox; d != nil {
		lp.outbox = nil
		lp.handLocked(p, d)
	}
	lp.mu.Unlock()

	timer := time.NewTimer(lp.opts.PollTimeout)
	defer timer.Stop()
	select {
	case <-p.wake:
	case <-timer.C:
	case <-r.Context().Done():
	}

	lp.mu.Lock()
	if lp.current == p {
		// Nothing decided this poll's fate: it timed out or its client left.
		lp.current = nil
	}
	d, superseded, ended := p.unit, p.superseded, lp.err != nil
	if d != nil && r.Context().Err() != nil {
		// The client left before the unit was written: it goes to the next poll.
		lp.requeueLocked(d)
		d = nil
	}
	lp.mu.Unlock()

	switch {
	case d != nil:
		d.result <- lp.deliver(w, d.unit)
	case superseded || ended:
		w.WriteHeader(http.StatusNoContent)
	case r.Context().Err() != nil:
		// Nobody is listening; let the handler return.
	default:
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	}
}

// deliver writes one unit as a poll response and flushes it under WriteTimeout, so
// that a failure is seen here rather than after the handler has returned. A failed
// write ends the transport.
func (lp *LongPoll) deliver(w http.ResponseWriter, unit []byte) error {
	rc := http.NewResponseController(w)
	// Polls share keep-alive connections: leave no deadline behind for the next
	// request (net/http resets it only when Server.WriteTimeout is set).
	defer rc.SetWriteDeadline(time.Time{})
	if err := rc.SetWriteDeadline(time.Now().Add(lp.opts.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return lp.failed(err)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(unit)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(unit); err != nil {
		return lp.failed(err)
	}
	if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return lp.failed(err)
	}
	return nil
}

func (lp *LongPoll) failed(err error) error {
	err = fmt.Errorf("transports: long polling write: %w", err)
	lp.end(err)
	return err
}

// pollDone accounts for a finished poll: with none left open, the disconnect timer
// starts.
func (lp *LongPoll) pollDone() {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	lp.open--
	if lp.open == 0 && lp.err == nil {
		lp.startIdleLocked()
	}
}

// ServeSend serves a POST carrying one unit from the client: the body, at most
// Options.MaxReceiveSize bytes (else 413 "message too large"), goes to the Receiver
// and the reply is 200 with an empty body. Another POST still in progress answers
// 409, a POST after the transport has ended 404 "connection closed" (the official
// client's last POST can arrive after its DELETE), another method 405. Any
// Content-Type is accepted.
func (lp *LongPoll) ServeSend(w http.ResponseWriter, r *http.Request) { lp.post.serve(w, r) }

// ServeDelete serves the client's DELETE: it ends the transport (a held poll gets
// 204) and answers 202. After the end it answers 404 "connection closed"; the
// official client ignores the reply either way. Another method answers 405.
func (lp *LongPoll) ServeDelete(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		w.Header().Set("Allow", http.MethodDelete)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// A DELETE after the end is answered 202 too: the official client sends its
	// Close message and then DELETE, and the Close may have ended the connection
	// first. Either way the client's wish is granted, and a 404 would only show up
	// as an error in the browser console.
	lp.end(fmt.Errorf("transports: long polling closed by the client (DELETE): %w", ErrClosed))
	w.WriteHeader(http.StatusAccepted)
}

// Send hands unit to the held poll, or waits for the next poll, and returns once the
// poll's response has been written (so the caller may reuse unit). It answers one
// poll with the whole unit: the caller batches whatever it has queued into one unit.
//
// ctx bounds the wait for a poll; once a poll has taken the unit, Send waits for
// its write, which Options.WriteTimeout bounds. A failed write is returned (and
// ends the transport). Send returns an error wrapping ErrClosed once the transport
// has ended.
func (lp *LongPoll) Send(ctx context.Context, unit []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := &delivery{unit: unit, result: make(chan error, 1)}
	lp.mu.Lock()
	switch {
	case lp.err != nil:
		lp.mu.Unlock()
		return fmt.Errorf("transports: long polling send: %w", ErrClosed)
	case lp.current != nil:
		lp.handLocked(lp.current, d)
	default:
		lp.outbox = d
	}
	lp.mu.Unlock()

	select {
	case err := <-d.result:
		return err
	case <-ctx.Done():
	}
	lp.mu.Lock()
	if lp.outbox == d {
		lp.outbox = nil
		lp.mu.Unlock()
		return ctx.Err()
	}
	lp.mu.Unlock()
	// A poll has the unit and is writing it.
	return <-d.result
}

// handLocked gives d to p, the held poll, and wakes it.
func (lp *LongPoll) handLocked(p *poll, d *delivery) {
	p.unit = d
	lp.current = nil
	close(p.wake)
}

// requeueLocked puts back a unit that a poll took but could not write because its
// client had left.
func (lp *LongPoll) requeueLocked(d *delivery) {
	switch {
	case lp.err != nil:
		d.result <- fmt.Errorf("transports: long polling send: %w", ErrClosed)
	case lp.current != nil:
		lp.handLocked(lp.current, d)
	default:
		lp.outbox = d
	}
}

// Close ends the transport: the held poll and every later one get 204. It is
// idempotent, safe from any goroutine, and returns nil.
func (lp *LongPoll) Close() error {
	lp.end(ErrClosed)
	return nil
}

// Done is closed once the transport has ended: Close, DELETE, no poll for
// Options.DisconnectTimeout, or a failed write.
func (lp *LongPoll) Done() <-chan struct{} { return lp.done }

// OnEnd implements Transport.
func (lp *LongPoll) OnEnd(f func(err error)) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.err != nil {
		go f(lp.err)
		return
	}
	lp.onEnd = f
}

// Err tells why the transport ended: nil while it runs, ErrClosed after Close, an
// error wrapping ErrClosed after the client's DELETE, an error saying no poll came
// within Options.DisconnectTimeout, or the write error that ended it.
func (lp *LongPoll) Err() error {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.err
}

// end records why the transport ended, closes Done, answers the held poll (204) and
// fails a unit still waiting for a poll. Only the first call counts; it reports
// whether it was that one.
func (lp *LongPoll) end(err error) bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.endLocked(err)
}

func (lp *LongPoll) endLocked(err error) bool {
	if lp.err != nil {
		return false
	}
	lp.err = err
	close(lp.done)
	if lp.onEnd != nil {
		go lp.onEnd(err)
	}
	lp.stopIdleLocked()
	if p := lp.current; p != nil {
		lp.current = nil
		close(p.wake)
	}
	if d := lp.outbox; d != nil {
		lp.outbox = nil
		d.result <- fmt.Errorf("transports: long polling send: %w", ErrClosed)
	}
	return true
}

// startIdleLocked starts the disconnect timer. A timer is created per idle period
// so that a stale one, firing as a poll arrives, can tell by its generation.
func (lp *LongPoll) startIdleLocked() {
	lp.stopIdleLocked()
	gen := lp.idleGen
	lp.idle = time.AfterFunc(lp.opts.DisconnectTimeout, func() { lp.disconnect(gen) })
}

func (lp *LongPoll) stopIdleLocked() {
	lp.idleGen++
	if lp.idle != nil {
		lp.idle.Stop()
		lp.idle = nil
	}
}

// disconnect ends the transport when the idle period gen is still current.
func (lp *LongPoll) disconnect(gen uint64) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if gen == lp.idleGen && lp.open == 0 {
		lp.endLocked(fmt.Errorf("transports: long polling client gone: no poll for %s", lp.opts.DisconnectTimeout))
	}
}
