package hub

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/transports"
)

// Hub is a set of methods clients invoke, the connections currently open to it, and
// their groups. It is an [http.Handler]: mount it on a path (and that path plus "/")
// and it serves negotiate and the three transports there.
type Hub struct {
	opts      Options
	origins   originPolicy
	proxies   trustedProxies
	clientLog logSamplers // lines a client can cause at will: at most one a second each (logSampled)
	// offer is every negotiate answer's availableTransports, made once: read
	// only, shared by the answers (about 400 bytes of garbage per negotiation,
	// which fragments the heap that the connections being opened keep).
	offer []transports.AvailableTransport

	methodsMu      sync.RWMutex
	methods        map[string]*method // by lower-case name: method names match case-insensitively
	onConnected    atomic.Pointer[func(*Context) error]
	onDisconnected atomic.Pointer[func(*Context, error)]

	// clientMethods: declared with ClientMethod, by lower-case name, under
	// methodsMu (describe.go).
	clientMethods map[string]MethodDescription

	mu     sync.RWMutex
	conns  map[string]*Conn
	groups map[string]map[string]*Conn // group -> connection ID -> conn, this node only
	users  map[string]map[string]*Conn

	ended endedSessions // why stateful connections ended while away, for their 404

	sessionsMu sync.Mutex
	sessions   map[string]*session // by connection token
	pending    int                 // sessions not yet claimed by a transport
	// pendingPerIP: pending sessions by remote IP, for MaxPendingNegotiationsPerIP.
	pendingPerIP map[string]int
	perUser      map[string]int           // sessions by user, for MaxConnectionsPerUser
	perIP        map[string]int           // sessions by remote IP, for MaxConnectionsPerIP
	closed       bool                     // Close was called: no new connections (drain.go)
	closeDone    chan struct{}            // closed when the first Close returns
	relays       map[*relayFront]struct{} // links this node relays to others (relay.go)
	// relaysClosed: Close has ended the relayed links; no new one is relayed.
	relaysClosed bool

	// draining is set while Close waits for the work under way to finish; then
	// drainWake (capacity 1) is signalled whenever a connection may have become
	// idle or ended.
	draining  atomic.Bool
	drainWake chan struct{}

	backplane Backplane
	detach    func()
	outage    backplaneOutage // sends the backplane failed, logged once per outage
}

// New returns a hub with no methods yet.
func New(opts Options) *Hub {
	h := &Hub{
		origins:  newOriginPolicy(opts.AllowedOrigins),
		methods:  map[string]*method{},
		conns:    map[string]*Conn{},
		groups:   map[string]map[string]*Conn{},
		users:    map[string]map[string]*Conn{},
		sessions: map[string]*session{},
		perUser:  map[string]int{},
		perIP:    map[string]int{},

		pendingPerIP: map[string]int{},

		drainWake: make(chan struct{}, 1),
	}
	if opts.TransportOptions.CheckOrigin == nil {
		opts.TransportOptions.CheckOrigin = h.allowsOrigin
	}
	h.opts = opts.withDefaults()
	h.offer = transports.Offer(h.opts.Transports)
	proxies, err := ParseTrustedProxies(h.opts.TrustedProxies)
	if err != nil {
		h.opts.Logger.Error("hub: some trusted proxies are left out", "hub", h.opts.Name, "err", err)
	}
	h.proxies = proxies
	h.backplane = h.opts.Backplane
	if h.backplane == nil {
		h.backplane = NewMemoryBackplane()
	}
	detach, err := h.backplane.Attach(h.opts.Name, h.deliver)
	if err != nil {
		h.opts.Logger.Error("hub: backplane attach failed; this node delivers locally only", "hub", h.opts.Name, "err", err)
		detach = func() {}
	}
	h.detach = h.joinCluster(detach)
	return h
}

// Name is the hub's name ([Options.Name]).
func (h *Hub) Name() string { return h.opts.Name }

// On registers handler as the method name. Names match case-insensitively, as in
// ASP.NET Core SignalR. handler is a func whose parameters are an optional leading
// *[Context] (or context.Context, which is given the *Context), then the
// invocation's arguments in order (any types JSON can decode into; a <-chan T
// parameter receives a client-to-server stream), and which returns
// nothing, an error, a value, or a value and an error. A value that is a channel, an
// iter.Seq[T] or an iter.Seq2[T, error] makes a server-to-client stream: it must stop
// producing when the Context ends.
//
// A <-chan T parameter is closed when the client completes its stream, and also
// whenever the call ends first, for any reason: the client cancels it, ends the
// stream with an error or leaves, the stream overruns its buffer
// ([Options.MaxStreamBacklogBytes]), the hub closes. So a handler may range over it
// and will return; the Context has ended in every case but the first, so check
// ctx.Err() after the loop to tell a whole stream from a cut one (the client is
// answered with the reason either way, not with a result made of part of a stream).
//
// Names beginning with "hubbub:" are reserved for the hub's own targets
// ([FallbackTarget]).
//
// On panics if handler does not fit or name is reserved, as [http.HandleFunc] does for a bad pattern:
// registration happens at start-up and a bad signature is a programming error.
func (h *Hub) On(name string, handler any, opts ...MethodOption) {
	if err := checkMethodName(name); err != nil {
		panic(err)
	}
	m, err := newMethod(name, handler)
	if err != nil {
		panic(err)
	}
	for _, opt := range opts {
		opt(m)
	}
	h.methodsMu.Lock()
	defer h.methodsMu.Unlock()
	h.methods[strings.ToLower(name)] = m
}

// OnConnected runs f once a connection has completed its handshake, before any of
// its invocations. An error closes the connection (the client is told not to
// reconnect). It may be called at any time, also while the hub serves: connections
// that complete their handshake afterwards run the new f; nil removes it.
func (h *Hub) OnConnected(f func(ctx *Context) error) { h.onConnected.Store(&f) }

// OnDisconnected runs f once a connection has ended; err says why (nil or
// [transports.ErrClosed] for a normal close). The connection has already left its
// groups; sending to it fails. The connection's own context has ended (its
// invocations are cancelled, though one that ignores its context may still be
// running when f runs), but ctx is not cancelled: it keeps the connection's values
// (user, request), so that f can still call a database or the backplane. Like
// OnConnected, it may be called at any time; nil removes f.
func (h *Hub) OnDisconnected(f func(ctx *Context, err error)) { h.onDisconnected.Store(&f) }

// Clients selects receivers from anywhere in the program.
func (h *Hub) Clients() Clients { return Clients{hub: h} }

// Groups manages group membership from anywhere in the program.
func (h *Hub) Groups() Groups { return Groups{hub: h} }

// Conn returns a connection of this node by ID.
func (h *Hub) Conn(connectionID string) (*Conn, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	c, ok := h.conns[connectionID]
	return c, ok
}

// ConnectionCount is the number of connections open on this node.
func (h *Hub) ConnectionCount() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns)
}

func (h *Hub) method(name string) *method {
	h.methodsMu.RLock()
	defer h.methodsMu.RUnlock()
	return h.methods[strings.ToLower(name)]
}

// addConn makes a connection reachable, once its handshake is done. With an
// InterestRouter backplane it returns once messages other nodes send to the
// connection or its user reach this node (within Options.HandshakeTimeout).
func (h *Hub) addConn(c *Conn) {
	h.mu.Lock()
	h.conns[c.id] = c
	if c.session.identity.UserID != "" {
		index(h.users, c.session.identity.UserID, c)
	}
	h.mu.Unlock()
	if _, ok := h.backplane.(InterestRouter); !ok {
		// Nothing to wait for; and a context derived from the connection's would
		// leave it a Done channel and a children map, 0.4 KiB per idle connection.
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, h.opts.HandshakeTimeout)
	defer cancel()
	if err := h.addInterest(ctx, connInterest(c)...); err != nil {
		h.opts.Observer.BackplaneError(h.opts.Name, err)
		h.opts.Logger.Warn("hub: the backplane could not confirm it routes this connection's messages here", "hub", h.opts.Name, "connection", c.id, "err", err)
	}
}

// removeConn forgets a connection, its groups and its session.
func (h *Hub) removeConn(c *Conn) {
	h.mu.Lock()
	groups := c.groups
	c.groups = nil
	added := h.conns[c.id] == c // its handshake came: addConn told the backplane
	if added {
		delete(h.conns, c.id)
	}
	for g := range groups {
		unindex(h.groups, g, c)
	}
	if c.session.identity.UserID != "" {
		unindex(h.users, c.session.identity.UserID, c)
	}
	h.mu.Unlock()
	h.wakeDrain()
	var gone []interestKey
	if added {
		gone = connInterest(c)
	}
	for g := range groups {
		gone = append(gone, interestKey{SelectGroups, g})
	}
	h.removeInterest(gone...)
	for g := range groups {
		if err := h.backplane.RemoveFromGroup(context.Background(), h.opts.Name, g, c.id); err != nil {
			h.opts.Observer.BackplaneError(h.opts.Name, err)
			h.opts.Logger.Warn("hub: leaving group on disconnect", "hub", h.opts.Name, "connection", c.id, "group", g, "err", err)
		}
	}
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	s := h.sessions[c.session.token]
	if s == nil || s.conn != c {
		return
	}
	if s.poller == nil {
		h.dropSessionLocked(s)
		return
	}
	// A long-polling client learns that its connection ended from a 204 on its next
	// poll, so the session outlives the connection for a while.
	s.expiry = time.AfterFunc(h.opts.TransportOptions.DisconnectTimeout, func() { h.forget(s) })
}

func (h *Hub) connected(c *Conn) error {
	c.connected.Store(true)
	h.opts.Observer.Connected(h.opts.Name, c.kind)
	onConnected := h.onConnected.Load()
	if onConnected == nil || *onConnected == nil {
		return nil
	}
	ctx := &Context{Context: c.ctx, conn: c}
	var err error
	if perr := protect(func() { err = (*onConnected)(ctx) }); perr != nil {
		return perr
	}
	return err
}

func (h *Hub) disconnected(c *Conn, reason error) {
	onDisconnected := h.onDisconnected.Load()
	if onDisconnected == nil || *onDisconnected == nil {
		return
	}
	ctx := &Context{Context: context.WithoutCancel(c.ctx), conn: c}
	if err := protect(func() { (*onDisconnected)(ctx, reason) }); err != nil {
		h.logFailure(slog.LevelError, "hub: OnDisconnected panicked", err, "hub", h.opts.Name, "connection", c.id)
	}
}

// allLocal reports whether every connection ID lives on this node.
func (h *Hub) allLocal(ids []string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, id := range ids {
		if h.conns[id] == nil {
			return false
		}
	}
	return true
}

// deliver queues an envelope to the local connections it selects. The invocation is
// encoded at most once per protocol, when the first receiver speaking it comes up,
// and the same bytes are queued to every receiver of that protocol.
func (h *Hub) deliver(env *Envelope) {
	list := receiverLists.Get().(*connList)
	receivers := h.receivers(env.Selector, list.conns[:0])
	defer func() {
		clear(receivers)
		list.conns = receivers[:0]
		receiverLists.Put(list)
	}()
	var frames [len(protocols)][]byte
	var failed [len(protocols)]bool
	for _, c := range receivers {
		i := protocolIndex(c.proto)
		if frames[i] == nil && !failed[i] {
			frame, err := env.frame(c.proto)
			if err != nil {
				h.opts.Logger.Error("hub: encode message", "hub", h.opts.Name, "method", env.Method, "protocol", c.proto.Name(), "err", err)
				failed[i] = true
				continue
			}
			frames[i] = frame
		}
		if !failed[i] {
			c.enqueue(frames[i])
		}
	}
}

// connList holds a slice of receivers for reuse (receiverLists).
type connList struct{ conns []*Conn }

// receiverLists keeps the slices deliver gathers receivers in: without them, each
// broadcast to ten thousand connections would allocate 80 KB.
var receiverLists = sync.Pool{New: func() any { return new(connList) }}

// receivers appends to out the local connections a selector picks, each once.
func (h *Hub) receivers(sel Selector, out []*Conn) []*Conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	excluded := func(c *Conn) bool {
		if len(sel.Except) > 0 && slices.Contains(sel.Except, c.id) {
			return true
		}
		for _, g := range sel.ExceptGroups {
			if _, in := c.groups[g]; in {
				return true
			}
		}
		return false
	}
	add := func(c *Conn) {
		if c != nil && c.handshaken.Load() && !excluded(c) {
			out = append(out, c)
		}
	}
	switch sel.Kind {
	case SelectAll:
		out = slices.Grow(out, len(h.conns))
		for _, c := range h.conns {
			add(c)
		}
	case SelectConnections:
		for _, id := range sel.IDs {
			add(h.conns[id])
		}
	case SelectGroups, SelectUsers:
		m := h.groups
		if sel.Kind == SelectUsers {
			m = h.users
		}
		var seen map[string]bool
		if len(sel.IDs) > 1 {
			seen = map[string]bool{}
		}
		for _, key := range sel.IDs {
			for id, c := range m[key] {
				if seen != nil {
					if seen[id] {
						continue
					}
					seen[id] = true
				}
				add(c)
			}
		}
	}
	if sel.Kind == SelectConnections && len(sel.IDs) > 1 {
		// IDs may repeat anywhere in the list, not only next to each other.
		slices.SortFunc(out, func(a, b *Conn) int { return strings.Compare(a.id, b.id) })
		out = slices.CompactFunc(out, func(a, b *Conn) bool { return a == b })
	}
	return out
}
