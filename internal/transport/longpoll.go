package transport

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hubbub-go/hubbub/internal/idleconn"
	"github.com/hubbub-go/hubbub/transports"
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
// No unit is dropped silently. Send writes its unit to the poll that is open, or
// waits for the next one. A poll whose client left before the unit was written passes it
// on to the next poll; a poll whose write fails makes Send return the error, and the
// transport ends. (A unit written to a poll the client abandons at that very moment
// is lost with the connection, as in any HTTP exchange; the official client treats
// a failed poll as the end of the connection.)
//
// A unit meets a poll without a hand-off between goroutines where it can: Send
// writes the held poll's response itself, from its caller's goroutine, while the
// poll's handler waits for it to finish; and a poll that opens runs the OnPoll hook
// in its own goroutine first, so that whoever has units waiting (the hub's writer)
// answers it there and then. Each hand-off otherwise waits for the scheduler to run
// the other goroutine, behind every other runnable one: under load, two such waits
// per poll were most of the time between a poll's arrival and its answer.
//
// The transport owns no goroutine. A held poll waits in its handler's goroutine for
// Options.IdlePollTakeover; then, on HTTP/1.x, the transport takes its connection
// over from net/http and the poll waits with no goroutine at all (see
// idleconn.TakeOver), to be answered by whoever decides its fate, and its
// connection closed after the answer. A client that leaves while its poll is taken
// over is noticed at once on Linux (idleconn.WatchClose: one goroutine for all
// connections; see Options.DisableCloseWatcher), elsewhere when the poll is
// answered (at the latest after PollTimeout), by its closed socket. The
// transport's one timer (the disconnect timer, or a taken-over poll's timeout) is
// a time.AfterFunc that only runs when it fires.
//
// It ends on Close, the client's DELETE, no poll for Options.DisconnectTimeout,
// or a failed write. Err then tells why: transports.ErrClosed after Close, an
// error wrapping transports.ErrEndedByClient after the DELETE, an error saying no
// poll came within DisconnectTimeout, or the write error.
//
// Concurrency: Send must be called by one goroutine at a time (Transport's rule);
// ServePoll, ServeSend, ServeDelete, Close, Done and Err may be called from any
// goroutine.
type LongPoll struct {
	opts transports.Options
	post sendChannel

	// endState's mu guards all that follows.
	endState
	polled  bool      // the first poll has been answered
	current *poll     // the held poll waiting for a unit, if any
	outbox  *delivery // a unit waiting for a poll, if any
	onPoll  func()    // OnPoll's hook, if any
	open    int       // polls being served, held or not
	// timer is the transport's one timer: the disconnect timer while no poll is
	// open, else the timeout of a taken-over poll (timerPoll). timerAt is when it
	// is due, zero when stopped: a run that finds it in the future is stale.
	timer     *time.Timer
	timerAt   time.Time
	timerPoll *poll
}

// poll is one held GET. Its fate is decided once, under LongPoll.mu, by whoever
// closes wake: a delivery (unit set), a newer poll (superseded), the end of the
// transport, or, if nothing else came first, the poll's own timeout; for a poll
// held by its handler, also its client leaving. A Send that claims a poll held by
// its handler (claimed set) writes the answer itself, then closes wake.
//
// A poll held by its handler answers once woken, unless claimed. A poll whose
// connection was taken over (taken.Conn set) has no goroutine waiting: whoever
// wakes it starts finishTaken.
type poll struct {
	wake chan struct{}
	unit *delivery
	// The held poll's response and request, for a Send that claims it; nil once
	// taken over.
	w          http.ResponseWriter
	r          *http.Request
	taken      idleconn.Taken // its Conn is nil unless taken over
	stopWatch  func()         // ends the watch for its client leaving, if any
	superseded bool
	claimed    bool
	clientGone bool // the watch saw its client leave
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
func NewLongPolling(opts transports.Options, receive Receiver) *LongPoll {
	lp := &LongPoll{opts: opts.WithDefaults()}
	lp.post = sendChannel{maxSize: lp.opts.MaxTransportMessageSize, bodyTimeout: lp.opts.BodyReadTimeout, receive: receive, ended: lp.ended}
	lp.mu.Lock()
	lp.timer = time.AfterFunc(time.Hour, lp.timerFired)
	lp.startIdleLocked()
	lp.mu.Unlock()
	return lp
}

// Kind returns LongPolling.
func (lp *LongPoll) Kind() transports.Kind { return transports.LongPolling }

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
	for k, v := range pollHeader {
		h[k] = v[:1:1] // shared: net/http copies them as it writes the head
	}

	lp.mu.Lock()
	if lp.err != nil {
		lp.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	lp.open++
	lp.stopIdleLocked()
	if !lp.polled {
		lp.polled = true
		lp.mu.Unlock()
		lp.pollDone()
		h["Content-Length"] = zeroLength[:1:1]
		w.WriteHeader(http.StatusOK)
		return
	}
	p := &poll{wake: make(chan struct{}), w: w, r: r}
	if old := lp.current; old != nil {
		old.superseded = true
		lp.wakeLocked(old)
	}
	lp.current = p
	onPoll := lp.onPoll
	if d := lp.outbox; d != nil {
		lp.outbox, onPoll = nil, nil
		lp.handLocked(p, d)
	}
	lp.mu.Unlock()
	if onPoll != nil {
		onPoll() // may answer p (Send) before it waits at all
	}
	select {
	case <-p.wake: // answered, or decided otherwise, at once
	default:
		if lp.hold(p, w, r) {
			return // taken over: finishTaken answers it and accounts for it
		}
	}
	if lp.claimedLocking(p) {
		<-p.wake // a Send is writing p's answer
	}

	clientGone := r.Context().Err() != nil
	d, status := lp.settle(p, clientGone)
	lp.pollDone()
	switch {
	case d != nil:
		d.result <- lp.deliver(w, d.unit)
	case status != 0:
		if status == http.StatusOK {
			h["Content-Length"] = zeroLength[:1:1]
		}
		w.WriteHeader(status)
	}
}

// claimedLocking reports whether a Send claimed p to write its answer.
func (lp *LongPoll) claimedLocking(p *poll) bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return p.claimed
}

// hold waits until p is woken, its client leaves or it times out, taking its
// connection over meanwhile if it waits long enough; it reports whether it did
// (finishTaken then answers p and accounts for it).
func (lp *LongPoll) hold(p *poll, w http.ResponseWriter, r *http.Request) bool {
	// One timer: first for the takeover, if there is to be one, then for the rest
	// of PollTimeout.
	takeover := !lp.opts.DisableTakeover && lp.opts.IdlePollTakeover >= 0 &&
		lp.opts.IdlePollTakeover < lp.opts.PollTimeout && r.ProtoMajor == 1
	wait := lp.opts.PollTimeout
	if takeover {
		wait = lp.opts.IdlePollTakeover
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for waiting := true; waiting; {
		select {
		case <-p.wake:
			waiting = false
		case <-r.Context().Done():
			waiting = false
		case <-timer.C:
			if !takeover {
				waiting = false
				break
			}
			takeover = false
			rest := lp.opts.PollTimeout - lp.opts.IdlePollTakeover
			if lp.takeOverPoll(p, w, r, rest) {
				return true
			}
			timer.Reset(rest)
		}
	}
	return false
}

// pollHeader holds the headers of every poll response. Each poll would otherwise
// allocate a slice per header, a fifth of its allocations; a handler that Sets or
// Adds a header replaces or copies the shared slice (its capacity is its length).
var (
	pollHeader = map[string][]string{
		"Content-Type":  {"application/octet-stream"},
		"Cache-Control": {"no-cache, no-store"},
		"Pragma":        {"no-cache"},
		"Expires":       {"0"},
	}
	zeroLength = []string{"0"}
)

// settle reads a woken (or timed out) poll's fate: the unit to write, or else the
// status to answer (0 when its client has left and nobody listens). A unit taken
// by a poll whose client has left goes to the next poll.
func (lp *LongPoll) settle(p *poll, clientGone bool) (*delivery, int) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.current == p {
		// Nothing decided this poll's fate: it timed out or its client left.
		lp.current = nil
	}
	if lp.timerPoll == p {
		lp.stopIdleLocked()
	}
	if p.claimed {
		return nil, 0 // answered by the Send that claimed it
	}
	d := p.unit
	if d != nil && clientGone {
		lp.requeueLocked(d)
		d = nil
	}
	switch {
	case d != nil:
		return d, http.StatusOK
	case p.superseded || lp.err != nil:
		return nil, http.StatusNoContent
	case clientGone:
		return nil, 0
	}
	return nil, http.StatusOK // "poll again"
}

// takeOverPoll takes the held poll's connection over from net/http (see
// idleconn.TakeOver) so that it waits for the rest of its timeout without a goroutine. It
// reports false, and the handler keeps holding the poll, when the poll has been
// woken meanwhile or its connection cannot be taken over. The hijack happens under
// lp.mu so that whoever wakes the poll finds it either held by its handler or
// taken over, never in between.
func (lp *LongPoll) takeOverPoll(p *poll, w http.ResponseWriter, r *http.Request, rest time.Duration) bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.current != p || r.Context().Err() != nil {
		return false
	}
	taken, ok := idleconn.TakeOver(w, r)
	if !ok {
		return false
	}
	p.taken = taken
	if !lp.opts.DisableCloseWatcher {
		p.stopWatch, _ = idleconn.WatchClose(p.taken.Conn, func() { lp.clientLeft(p) })
	}
	lp.armLocked(rest, p)
	// Nobody waits on wake any more, and only finishTaken answers it: let the
	// request's and response's state go (an idle poll's memory counts 10k times).
	p.wake, p.w, p.r = nil, nil, nil
	return true
}

// wakeLocked decides p's fate (the caller has recorded it on p): a poll held by its
// handler wakes up, a taken-over poll gets a goroutine to answer it.
func (lp *LongPoll) wakeLocked(p *poll) {
	if p.taken.Conn != nil {
		go lp.finishTaken(p)
		return
	}
	close(p.wake)
}

// clientLeft ends a taken-over poll whose client closed its connection, as the
// handler of a held one returns when its request's context ends: the transport's
// disconnect timer starts.
func (lp *LongPoll) clientLeft(p *poll) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.current != p {
		return // already decided
	}
	lp.current = nil
	p.clientGone = true
	lp.wakeLocked(p)
}

// finishTaken answers a taken-over poll once its fate is decided, as ServePoll
// answers a held one, and closes its connection. A client that has left is known
// from the watch (clientLeft) or seen here by its closed socket.
func (lp *LongPoll) finishTaken(p *poll) {
	t := &p.taken
	if p.stopWatch != nil {
		p.stopWatch()
	}
	d, status := lp.settle(p, p.clientGone || idleconn.PeerClosed(t.Conn))
	lp.pollDone()
	deadline := time.Now().Add(lp.opts.WriteTimeout)
	switch {
	case d != nil:
		err := t.Respond(http.StatusOK, d.unit, deadline)
		if err != nil {
			err = lp.failed(err)
		}
		d.result <- err
	case status != 0:
		t.Respond(status, nil, deadline)
	default:
		t.Conn.Close()
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
// Options.MaxTransportMessageSize bytes (else 413 "message too large"), goes to the Receiver
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
	lp.end(fmt.Errorf("transports: long polling closed by the client (DELETE): %w", transports.ErrEndedByClient))
	w.WriteHeader(http.StatusAccepted)
}

// Send hands unit to the held poll, or waits for the next poll, and returns once the
// poll's response has been written (so the caller may reuse unit). It answers one
// poll with the whole unit: the caller batches whatever it has queued into one unit.
//
// ctx bounds the wait for a poll; once a poll has taken the unit, Send waits for
// its write, which Options.WriteTimeout bounds (and, if that poll's client had
// left, for the next poll, which DisconnectTimeout bounds). A failed write is
// returned (and ends the transport). Send returns an error wrapping ErrClosed once
// the transport has ended.
func (lp *LongPoll) Send(ctx context.Context, unit []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lp.mu.Lock()
	if p := lp.current; lp.err == nil && p != nil && p.taken.Conn == nil {
		// Held by its handler: write its answer here rather than wake the handler
		// to write it and wait to be woken in turn.
		lp.current = nil
		if p.r.Context().Err() == nil {
			p.claimed = true
			lp.mu.Unlock()
			err := lp.deliver(p.w, unit)
			close(p.wake) // after the write: p's handler may return only then
			return err
		}
		// Its client has left: the handler finds out by itself (settle). The
		// unit waits for the next poll.
	}
	d := &delivery{unit: unit, result: make(chan error, 1)}
	switch {
	case lp.err != nil:
		lp.mu.Unlock()
		return fmt.Errorf("transports: long polling send: %w", transports.ErrClosed)
	case lp.current != nil:
		lp.handLocked(lp.current, d)
		lp.mu.Unlock()
		// The poll writes it under WriteTimeout. Waiting on ctx too would make its
		// Done channel, which a connection would then keep.
		return <-d.result
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

// Polled implements Poller: it reports whether a poll is held, waiting for a unit.
func (lp *LongPoll) Polled() bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.err == nil && lp.current != nil
}

// OnPoll implements Poller: f runs in the goroutine of each poll that opens and is
// to wait for a unit (not the first poll, nor one a waiting Send answers), before it
// waits. f may call Send, which then answers that poll at once. Call it at most
// once, before polls come.
func (lp *LongPoll) OnPoll(f func()) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	lp.onPoll = f
}

// handLocked gives d to p, the held poll, and wakes it.
func (lp *LongPoll) handLocked(p *poll, d *delivery) {
	p.unit = d
	lp.current = nil
	lp.wakeLocked(p)
}

// requeueLocked puts back a unit that a poll took but could not write because its
// client had left.
func (lp *LongPoll) requeueLocked(d *delivery) {
	switch {
	case lp.err != nil:
		d.result <- fmt.Errorf("transports: long polling send: %w", transports.ErrClosed)
	case lp.current != nil:
		lp.handLocked(lp.current, d)
	default:
		lp.outbox = d
	}
}

// Close ends the transport: the held poll and every later one get 204. It is
// idempotent, safe from any goroutine, and returns nil.
func (lp *LongPoll) Close() error {
	lp.end(transports.ErrClosed)
	return nil
}

// end ends the transport (endState.end), answers the held poll (204) and fails a
// unit still waiting for a poll. Only the first call counts; it reports whether it
// was that one.
func (lp *LongPoll) end(err error) bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.endLocked(err)
}

// endLocked is end, with mu held.
func (lp *LongPoll) endLocked(err error) bool {
	if !lp.endState.endLocked(err) {
		return false
	}
	lp.stopIdleLocked()
	if p := lp.current; p != nil {
		lp.current = nil
		lp.wakeLocked(p)
	}
	if d := lp.outbox; d != nil {
		lp.outbox = nil
		d.result <- fmt.Errorf("transports: long polling send: %w", transports.ErrClosed)
	}
	return true
}

// startIdleLocked starts the disconnect timer.
func (lp *LongPoll) startIdleLocked() { lp.armLocked(lp.opts.DisconnectTimeout, nil) }

// stopIdleLocked stops the timer, whichever poll or idle period it was for.
func (lp *LongPoll) stopIdleLocked() {
	lp.timerAt, lp.timerPoll = time.Time{}, nil
	lp.timer.Stop()
}

// armLocked sets the timer to fire in d: for the taken-over poll p, or, with p nil,
// as the disconnect timer.
func (lp *LongPoll) armLocked(d time.Duration, p *poll) {
	lp.timerAt, lp.timerPoll = time.Now().Add(d), p
	lp.timer.Reset(d)
}

// timerFired times out the taken-over poll the timer was set for, or ends the
// transport when no poll has been open for DisconnectTimeout.
func (lp *LongPoll) timerFired() {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.err != nil || lp.timerAt.IsZero() || time.Now().Before(lp.timerAt) {
		return // stopped or set again since
	}
	p := lp.timerPoll
	lp.timerAt, lp.timerPoll = time.Time{}, nil
	switch {
	case p != nil:
		if lp.current == p { // nothing woke it first
			lp.current = nil
			lp.wakeLocked(p)
		}
	case lp.open == 0:
		lp.endLocked(fmt.Errorf("transports: long polling client gone: no poll for %s", lp.opts.DisconnectTimeout))
	}
}
