package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/hubbub-go/hubbub/internal/transport"
	"github.com/hubbub-go/hubbub/transports"
)

// Links relayed between nodes (docs/reconnect.md, "Across nodes").
//
// A stateful connection lives on its owner node. When its client resumes with a
// WebSocket or an SSE stream that lands on another node (the front), that node
// cannot take the connection over: its running invocations and streams cannot
// move between processes. So the front serves the link itself and relays it:
//
//	client ⇄ front: transport (WebSocket, or SSE stream + POSTs forwarded to the owner)
//	front ⇄ owner:  the backplane's LinkRelay, units in order each way
//	owner:          a relayedLink, attached to the Conn like any transport
//
// Either side's end ends the other; the owner's Conn then detaches and waits for
// the next resume, as with any lost link. What each side holds between the
// backplane and its end of the link is bounded by Options.RelayBufferSize: a side
// that cannot keep up ends the link, and the client resumes.

// LinkRelay is an optional interface of a [SessionForwarder] backplane that carries
// one streaming link between the node where the client's request landed (the
// front) and the node that holds its connection (the owner). When the hub's
// [Backplane] implements it, a WebSocket or a Server-Sent Events GET that resumes a
// stateful connection living on another node is served on the front and relayed,
// instead of being refused 409.
//
// Implementations must be safe for concurrent use.
type LinkRelay interface {
	// OpenRelay opens a relayed link to the owner of the connection of token and
	// has it attached there (the owner's LocalSessions.AttachRelay). front takes
	// what the owner sends, in order, and the end of the link; it may be called
	// before OpenRelay returns. OpenRelay returns the owner's side, or an error
	// wrapping ErrSessionNotFound (no node holds the connection, or its node is
	// gone), ErrSessionActive, ErrSessionForbidden or ErrTransportChange as
	// AttachRelay gave them; any other error means the cluster is unavailable.
	OpenRelay(ctx context.Context, hubName, token string, req RelayRequest, front RelayEndpoint) (RelayPeer, error)
}

// RelayRequest is what the front tells the owner of a link it relays.
type RelayRequest struct {
	Kind   transports.Kind `json:"k"`           // WebSockets or ServerSentEvents
	UserID string          `json:"u,omitempty"` // the identity of the request, for the owner's check
}

// RelayPeer is the other side of a relayed link, as the backplane reaches it.
type RelayPeer interface {
	// Send passes one unit to the other side, after every unit sent before it.
	// One goroutine at a time calls it. It may wait for the backplane (ctx bounds
	// it); an error means the link is broken: the caller ends it.
	Send(ctx context.Context, unit []byte) error
	// Close ends the link on the other side too; reason tells why (nil: closed,
	// an error wrapping transports.ErrTooLarge: the client broke the size limit).
	// Idempotent; it does not wait for the other side.
	Close(reason error)
}

// BinaryLink tells whether the connection a relayed link carries speaks a binary
// hub protocol (MessagePack). The [RelayEndpoint] AttachRelay returns implements it;
// a [LinkRelay]'s [RelayPeer] should, so that the front writes binary WebSocket
// messages (without it, the front writes text).
type BinaryLink interface {
	Binary() bool
}

// RelayEndpoint is this node's side of a relayed link, which the backplane hands
// what comes from the other side.
type RelayEndpoint interface {
	// Receive takes one unit from the other side. It never blocks (a side that
	// cannot keep up ends the link) and does not keep unit after it returns.
	Receive(unit []byte)
	// Ended tells that the other side has ended the link, or is gone; reason
	// tells why, as RelayPeer.Close got it (nil: closed).
	Ended(reason error)
}

// errRelayOverrun ends a relayed link one of whose sides could not keep up.
var errRelayOverrun = errors.New("hub: relayed link ended: more than Options.RelayBufferSize bytes waited")

// canRelay reports whether the backplane relays links.
func (h *Hub) canRelay() bool {
	_, ok := h.backplane.(LinkRelay)
	return ok
}

// relayLink serves, on this node, a link that resumes a connection living on
// another node, and relays it there (the front's side).
func (h *Hub) relayLink(w http.ResponseWriter, r *http.Request, token string, kind transports.Kind, user Identity) {
	f := &relayFront{h: h, limit: h.opts.RelayBufferSize}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	h.sessionsMu.Lock()
	if h.relaysClosed {
		// Close has ended the links relayed here; the client resumes on another node.
		h.sessionsMu.Unlock()
		f.cancel()
		refuseShuttingDown(w)
		return
	}
	if h.relays == nil {
		h.relays = map[*relayFront]struct{}{}
	}
	h.relays[f] = struct{}{}
	h.sessionsMu.Unlock()

	peer, err := h.backplane.(LinkRelay).OpenRelay(r.Context(), h.opts.Name, token, RelayRequest{Kind: kind, UserID: user.UserID}, f)
	if err != nil {
		f.end(nil, false)
		h.opts.Logger.Debug("hub: link not relayed", "hub", h.opts.Name, "transport", kind, "err", err)
		switch {
		case errors.Is(err, ErrSessionNotFound):
			http.Error(w, "No Connection with that ID", http.StatusNotFound)
		case errors.Is(err, ErrSessionActive):
			http.Error(w, "Another request is already active for this connection", http.StatusConflict)
		case errors.Is(err, ErrSessionForbidden):
			h.userMismatch(w, "relayed", true)
		case errors.Is(err, ErrTransportChange):
			http.Error(w, "Cannot change transports mid-connection", http.StatusBadRequest)
		default:
			h.opts.Logger.Warn("hub: relaying a link to another node", "hub", h.opts.Name, "err", err)
			http.Error(w, "Cluster unavailable", http.StatusServiceUnavailable)
		}
		return
	}
	if !f.setPeer(peer) {
		http.Error(w, "The relayed link ended before it opened; try again", http.StatusServiceUnavailable)
		return
	}
	h.opts.Logger.Debug("hub: link relayed to the node holding its connection", "hub", h.opts.Name, "transport", kind)
	switch kind {
	case transports.WebSockets:
		bl, ok := peer.(BinaryLink)
		t, err := transport.AcceptWebSocket(w, r, h.opts.TransportOptions, ok && bl.Binary(), f.forward)
		if err != nil {
			h.opts.Logger.Debug("hub: websocket upgrade to relay failed", "hub", h.opts.Name, "err", err)
			f.end(err, true)
			return
		}
		f.start(t)
	case transports.ServerSentEvents:
		// The client's POSTs are forwarded to the owner (SessionForwarder), where
		// they reach the relayed link's receiver; none comes here.
		t := transport.NewServerSentEvents(h.opts.TransportOptions, func([]byte) {})
		f.start(t)
		t.ServeStream(w, r)
	}
}

// closeRelays ends the links this node relays, as Close ends: their clients
// resume on another node. Links opened during the drain are relayed until then,
// like the resumes of this node's own connections.
func (h *Hub) closeRelays() {
	h.sessionsMu.Lock()
	h.relaysClosed = true
	fronts := make([]*relayFront, 0, len(h.relays))
	for f := range h.relays {
		fronts = append(fronts, f)
	}
	h.sessionsMu.Unlock()
	for _, f := range fronts {
		f.end(nil, true)
	}
}

// relayFront is the front's side of a relayed link: the client's transport, whose
// units go to the owner (forward), and the units from the owner, queued for the
// transport and written by one goroutine that exists only while some wait.
type relayFront struct {
	h           *Hub
	limit       int
	ctx         context.Context // ends with the link
	cancel      context.CancelFunc
	forwardOnce sync.Once

	mu      sync.Mutex
	peer    RelayPeer
	t       transport.Transport // nil until start
	queue   [][]byte
	queued  int // bytes in queue
	sending bool
	closing bool // the owner ended the link: end it once the queue is written
	ended   bool
}

// setPeer records the owner's side; false if the link has ended meanwhile.
func (f *relayFront) setPeer(peer RelayPeer) bool {
	f.mu.Lock()
	f.peer = peer
	ended := f.ended
	f.mu.Unlock()
	if ended {
		peer.Close(nil)
	}
	return !ended
}

// start hands the link the client's transport.
func (f *relayFront) start(t transport.Transport) {
	f.mu.Lock()
	f.t = t
	ended := f.ended
	f.startLocked()
	f.mu.Unlock()
	if ended {
		t.Close()
		return
	}
	t.OnEnd(func(err error) { f.end(err, true) })
}

// forward sends a unit of the client's to the owner; the transport calls it in
// order, from one goroutine.
func (f *relayFront) forward(unit []byte) {
	if err := f.peer.Send(f.ctx, unit); err != nil {
		f.end(err, true)
	}
}

// Receive implements RelayEndpoint: a unit from the owner, for the client.
func (f *relayFront) Receive(unit []byte) {
	f.mu.Lock()
	if f.ended {
		f.mu.Unlock()
		return
	}
	if f.queued+len(unit) > f.limit {
		f.mu.Unlock()
		f.h.opts.Logger.Info("hub: relayed link ended: the client does not keep up", "hub", f.h.opts.Name, "limit", f.limit)
		f.end(errRelayOverrun, true)
		return
	}
	f.queue = append(f.queue, bytes.Clone(unit))
	f.queued += len(unit)
	f.startLocked()
	f.mu.Unlock()
}

// Ended implements RelayEndpoint: the owner ended the link. What it sent before
// (a Close message, typically) is written to the client first.
func (f *relayFront) Ended(error) {
	f.mu.Lock()
	f.closing = true
	f.startLocked()
	now := !f.sending
	f.mu.Unlock()
	if now {
		f.end(nil, false)
	}
}

func (f *relayFront) startLocked() {
	if !f.sending && !f.ended && f.t != nil && len(f.queue) > 0 {
		f.sending = true
		go f.send()
	}
}

// send writes the queued units to the client, in order, until none is left.
func (f *relayFront) send() {
	for {
		f.mu.Lock()
		if f.ended || len(f.queue) == 0 {
			f.sending = false
			closing := f.closing
			f.mu.Unlock()
			if closing {
				f.end(nil, false)
			}
			return
		}
		unit := f.queue[0]
		f.queue[0] = nil
		f.queue = f.queue[1:]
		f.queued -= len(unit)
		t := f.t
		f.mu.Unlock()
		if err := t.Send(f.ctx, unit); err != nil {
			f.mu.Lock()
			f.sending = false
			f.mu.Unlock()
			f.end(err, true)
			return
		}
	}
}

// end ends the link once: the client's transport, and with tellPeer the owner's
// side, which reason is passed to.
func (f *relayFront) end(reason error, tellPeer bool) {
	f.mu.Lock()
	if f.ended {
		f.mu.Unlock()
		return
	}
	f.ended = true
	t, peer := f.t, f.peer
	f.queue, f.queued = nil, 0
	f.mu.Unlock()
	f.cancel()
	if t != nil {
		t.Close()
	}
	if tellPeer && peer != nil {
		peer.Close(reason)
	}
	f.h.sessionsMu.Lock()
	delete(f.h.relays, f)
	f.h.sessionsMu.Unlock()
}

// AttachRelay implements LocalSessions: the owner's side of a relayed link.
func (n clusterNode) AttachRelay(token string, req RelayRequest, front RelayPeer) (RelayEndpoint, error) {
	h := n.h
	s := h.session(token)
	if s == nil {
		return nil, ErrSessionNotFound
	}
	if s.identity.UserID != req.UserID {
		h.logSampled(slog.LevelWarn, "hub: connection token used by another user", "hub", h.opts.Name, "connection", s.id, "relayed", true)
		return nil, ErrSessionForbidden
	}
	h.sessionsMu.Lock()
	c, kind := s.conn, s.kind
	h.sessionsMu.Unlock()
	switch {
	case c == nil || !c.resumable():
		return nil, ErrSessionActive
	case kind != req.Kind:
		return nil, ErrTransportChange
	}
	l := &relayedLink{
		kind: kind, peer: front, done: make(chan struct{}),
		maxUnit: h.opts.TransportOptions.MaxTransportMessageSize, limit: h.opts.RelayBufferSize,
		binary: c.binary(),
	}
	l.receive = c.newLink()
	if kind == transports.ServerSentEvents {
		// The client's POSTs, forwarded here, go to the relayed link.
		post := transport.NewPostReceiver(h.opts.TransportOptions, l.receive, l.isEnded)
		h.sessionsMu.Lock()
		if h.sessions[token] == s {
			s.sender = post
		}
		h.sessionsMu.Unlock()
	}
	c.attach(l)
	return l, nil
}

// relayedLink is the owner's side of a relayed link: a transport.Transport whose
// Send goes to the front node, and a RelayEndpoint whose units go to the Conn, in
// order, from one goroutine that exists only while some wait.
type relayedLink struct {
	kind    transports.Kind
	binary  bool // the connection speaks a binary protocol (BinaryLink)
	peer    RelayPeer
	receive transport.Receiver
	maxUnit int64
	limit   int

	mu       sync.Mutex
	err      error
	done     chan struct{}
	onEnd    func(error)
	queue    [][]byte
	queued   int
	draining bool
}

var _ transport.Transport = (*relayedLink)(nil)

func (l *relayedLink) Kind() transports.Kind { return l.kind }

// Binary implements BinaryLink.
func (l *relayedLink) Binary() bool { return l.binary }

// Send passes unit to the front node, which writes it to the client.
func (l *relayedLink) Send(ctx context.Context, unit []byte) error {
	if l.isEnded() {
		return fmt.Errorf("hub: relayed link: %w", transports.ErrClosed)
	}
	if err := l.peer.Send(ctx, unit); err != nil {
		err = fmt.Errorf("hub: relayed link: %w", err)
		l.endAndTell(err)
		return err
	}
	return nil
}

func (l *relayedLink) Close() error {
	l.endAndTell(nil)
	return nil
}

func (l *relayedLink) Done() <-chan struct{} { return l.done }

func (l *relayedLink) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *relayedLink) OnEnd(f func(err error)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		go f(l.err)
		return
	}
	l.onEnd = f
}

// Receive implements RelayEndpoint: a unit from the client, through the front.
func (l *relayedLink) Receive(unit []byte) {
	if int64(len(unit)) > l.maxUnit {
		// The front's transport enforces the same limit; this one guards against
		// a front with other options.
		l.endAndTell(fmt.Errorf("hub: relayed message over %d bytes: %w", l.maxUnit, transports.ErrTooLarge))
		return
	}
	l.mu.Lock()
	if l.err != nil {
		l.mu.Unlock()
		return
	}
	if l.queued+len(unit) > l.limit {
		l.mu.Unlock()
		l.endAndTell(errRelayOverrun)
		return
	}
	l.queue = append(l.queue, bytes.Clone(unit))
	l.queued += len(unit)
	if !l.draining {
		l.draining = true
		go l.drain()
	}
	l.mu.Unlock()
}

// drain hands the queued units to the Conn, in order, until none is left.
func (l *relayedLink) drain() {
	for {
		l.mu.Lock()
		if l.err != nil || len(l.queue) == 0 {
			l.draining = false
			l.mu.Unlock()
			return
		}
		unit := l.queue[0]
		l.queue[0] = nil
		l.queue = l.queue[1:]
		l.queued -= len(unit)
		l.mu.Unlock()
		l.receive(unit)
	}
}

// Ended implements RelayEndpoint: the front ended the link, or is gone.
func (l *relayedLink) Ended(reason error) {
	if reason == nil {
		reason = fmt.Errorf("hub: relayed link closed by the node it was relayed from: %w", transports.ErrClosed)
	}
	l.end(reason)
}

// endAndTell ends the link and tells the front.
func (l *relayedLink) endAndTell(reason error) {
	if reason == nil {
		reason = transports.ErrClosed
	}
	if l.end(reason) {
		if reason == transports.ErrClosed {
			reason = nil
		}
		l.peer.Close(reason)
	}
}

// end records why the link ended, once; it reports whether this call did.
func (l *relayedLink) end(reason error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return false
	}
	l.err = reason
	l.queue, l.queued = nil, 0
	close(l.done)
	if l.onEnd != nil {
		go l.onEnd(reason)
	}
	return true
}

func (l *relayedLink) isEnded() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}
