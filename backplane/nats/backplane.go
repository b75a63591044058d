package nats

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/hubbub-go/hubbub/backplane/internal/envelope"
	"github.com/hubbub-go/hubbub/hub"
)

// ErrUnavailable means NATS cannot be reached right now: the backplane delivers on
// this node only until it is back.
var ErrUnavailable = errors.New("nats backplane: NATS unavailable")

// nodeIDLen is the length of a node ID: 8 random bytes in unpadded base64url. A
// connection token is the node ID followed by a transports.NewToken.
const nodeIDLen = 11

// Backplane is a [hub.Backplane], [hub.InterestRouter], [hub.SessionForwarder] and
// [hub.LinkRelay] over NATS. See the package documentation for the design. One Backplane serves any
// number of hubs of one process; give each hub of a cluster the same name on
// every node.
//
// Concurrency: all methods are safe for concurrent use.
type Backplane struct {
	opts   Options
	nc     *natsgo.Conn
	nodeID string
	log    *slog.Logger

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// inbox receives the envelopes of every subscription, in the order NATS sent
	// them, for the one goroutine that hands them to the hubs.
	inbox chan *natsgo.Msg

	// mu guards hubs, interests and pending. Lock order: mu, then membersMu.
	mu        sync.Mutex
	hubs      map[string]*hubState
	interests map[string]*interest // by subject
	pending   *flushWait           // the flush the next subscription joins
	flushReq  chan struct{}        // wakes flushLoop (capacity 1)
	dropped   uint64               // envelopes dropped by subscriptions since gone

	connected atomic.Bool
	since     atomic.Int64 // UnixNano of the last (re)connection
	published atomic.Uint64
	received  atomic.Uint64
	failed    atomic.Uint64

	presence // presence.go
	forward  // forward.go
}

type hubState struct {
	deliver  func(*hub.Envelope)
	sessions hub.LocalSessions
	sub      *natsgo.Subscription // the hub's All subject
}

// interest is one subscription of an InterestRouter key and the local receivers
// under it.
type interest struct {
	count  int                  // local receivers; below zero while a remove overtook its add
	sub    *natsgo.Subscription // nil when not subscribed
	ready  *flushWait           // the flush that confirmed (or will confirm) sub
	linger *time.Timer          // unsubscribes after UnsubscribeLinger with no receiver
}

// flushWait is one flush of the connection, shared by the subscriptions made
// before it: after it, the server has them.
type flushWait struct {
	done chan struct{}
	err  error
}

func (w *flushWait) failed() bool {
	select {
	case <-w.done:
		return w.err != nil
	default:
		return false
	}
}

var (
	_ hub.Backplane        = (*Backplane)(nil)
	_ hub.InterestRouter   = (*Backplane)(nil)
	_ hub.SessionForwarder = (*Backplane)(nil)
	_ hub.BackplaneHealth  = (*Backplane)(nil)
)

// New returns a backplane for the NATS at opts.URL and starts its connection. It
// fails only on bad options: an unreachable NATS is an outage like any other, and
// the backplane keeps trying (see Healthy). Call Close when done, after the hubs.
func New(opts Options) (*Backplane, error) {
	opts = opts.withDefaults()
	if opts.URL == "" {
		return nil, errors.New("nats backplane: Options.URL is required")
	}
	if err := checkURL(opts.URL); err != nil {
		return nil, err
	}
	if opts.ReceiveBuffer > maxBound {
		return nil, fmt.Errorf("nats backplane: Options.ReceiveBuffer %d is over %d", opts.ReceiveBuffer, maxBound)
	}
	if opts.MaxForwardedRequests > maxBound {
		return nil, fmt.Errorf("nats backplane: Options.MaxForwardedRequests %d is over %d", opts.MaxForwardedRequests, maxBound)
	}
	if !validToken(opts.Prefix) || len(opts.Prefix) > maxPrefix {
		return nil, fmt.Errorf("nats backplane: Options.Prefix %.40q (%d bytes) must be one subject token of [A-Za-z0-9_-], at most %d bytes", opts.Prefix, len(opts.Prefix), maxPrefix)
	}
	var id [8]byte
	rand.Read(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	b := &Backplane{
		opts:      opts,
		nodeID:    base64.RawURLEncoding.EncodeToString(id[:]),
		log:       opts.Logger,
		ctx:       ctx,
		cancel:    cancel,
		inbox:     make(chan *natsgo.Msg, opts.ReceiveBuffer),
		hubs:      map[string]*hubState{},
		interests: map[string]*interest{},
		flushReq:  make(chan struct{}, 1),
	}
	b.presence.init()
	b.forward.init(opts)
	nc, err := natsgo.Connect(opts.URL,
		natsgo.Name("hubbub "+b.nodeID),
		// This node delivers its own envelopes before it publishes them, and never
		// asks itself anything.
		natsgo.NoEcho(),
		natsgo.MaxReconnects(-1),
		natsgo.RetryOnFailedConnect(true),
		natsgo.ReconnectWait(opts.ReconnectWait),
		// No buffering while disconnected: a publish then fails at once and the
		// sender is told (hub.ErrClusterDelivery) instead of a message going out
		// late or being dropped unseen when the buffer fills.
		natsgo.ReconnectBufSize(-1),
		natsgo.Timeout(opts.OpTimeout),
		natsgo.PingInterval(2*time.Second),
		natsgo.MaxPingsOutstanding(2),
		natsgo.ConnectHandler(func(*natsgo.Conn) { b.up("connected") }),
		natsgo.ReconnectHandler(func(*natsgo.Conn) { b.up("reconnected") }),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) { b.down(err) }),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, sub *natsgo.Subscription, err error) {
			if errors.Is(err, natsgo.ErrSlowConsumer) && sub != nil && sub.Subject == b.nodeSubject(b.nodeID) {
				// Units of relayed links may be lost: the clients resume.
				n := b.endRelays("", fmt.Errorf("nats backplane: relayed link: messages dropped: %w", ErrUnavailable))
				b.log.Warn("nats backplane: dropping requests and units of relayed links: this node does not keep up", "links_ended", n)
				return
			}
			if errors.Is(err, natsgo.ErrSlowConsumer) {
				b.log.Warn("nats backplane: dropping envelopes: this node's hubs do not keep up (ReceiveBuffer)")
				return
			}
			b.log.Warn("nats backplane: error", "err", err)
		}),
	)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("nats backplane: %w", err)
	}
	b.nc = nc
	if nc.IsConnected() {
		b.up("connected")
	}
	if err := b.serve(); err != nil {
		nc.Close()
		cancel()
		return nil, err
	}
	b.wg.Add(4)
	go b.receiveLoop()
	go b.flushLoop()
	go b.heartbeatLoop()
	go b.serveLoop()
	return b, nil
}

// up and down record the connection's state changes, logged once each.
func (b *Backplane) up(what string) {
	if b.connected.Swap(true) {
		return
	}
	b.since.Store(time.Now().UnixNano())
	b.log.Info("nats backplane: "+what, "node", b.nodeID)
	select {
	case b.beat <- struct{}{}:
	default:
	}
}

func (b *Backplane) down(err error) {
	if !b.connected.Swap(false) || b.ctx.Err() != nil {
		return
	}
	b.log.Warn("nats backplane: NATS unreachable; delivering on this node only until it is back", "node", b.nodeID, "err", err)
	// Their replies would come through NATS.
	b.forward.failAll(fmt.Errorf("nats backplane: lost NATS while waiting for another node: %w", ErrUnavailable))
	// Units sent meanwhile are lost: the clients resume.
	b.endRelays("", fmt.Errorf("nats backplane: relayed link: %w", ErrUnavailable))
}

// NodeID identifies this node in the cluster (and starts its connection tokens).
func (b *Backplane) NodeID() string { return b.nodeID }

// Healthy reports whether NATS is reachable, so that messages reach the other
// nodes. While it is false, every node still serves its own connections.
func (b *Backplane) Healthy() bool { return b.connected.Load() && b.nc != nil && b.nc.IsConnected() }

// Err tells why the backplane is not healthy: nil while it is.
func (b *Backplane) Err() error {
	if b.Healthy() {
		return nil
	}
	if err := b.nc.LastError(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return fmt.Errorf("%w: not connected", ErrUnavailable)
}

// Ready waits until the backplane is connected and has been for a
// HeartbeatInterval, so that it has heard every live node (presence queries wait
// for the nodes they know), or until ctx ends.
func (b *Backplane) Ready(ctx context.Context) error {
	for {
		if b.Healthy() && time.Since(time.Unix(0, b.since.Load())) >= b.opts.HeartbeatInterval {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nats backplane: not ready: %w (%v)", ctx.Err(), b.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Stats counts what the backplane could not carry.
type Stats struct {
	// Published counts the envelopes published to other nodes (a send to several
	// groups, users or connections publishes one per subject).
	Published uint64
	// Received counts the envelopes this node received from other nodes: only
	// those for All and for the groups, users and connections it has receivers in
	// (or had, within UnsubscribeLinger).
	Received uint64
	// Failed counts the sends (Publish calls) that reached this node only: each
	// returned an error wrapping hub.ErrClusterDelivery.
	Failed uint64
	// Dropped counts the envelopes from other nodes that NATS dropped because this
	// node's receive queue (Options.ReceiveBuffer) was full.
	Dropped uint64
}

// Stats returns the counters since [New].
func (b *Backplane) Stats() Stats {
	b.mu.Lock()
	dropped := b.dropped
	for _, st := range b.hubs {
		dropped += subDropped(st.sub)
	}
	for _, in := range b.interests {
		dropped += subDropped(in.sub)
	}
	b.mu.Unlock()
	return Stats{Published: b.published.Load(), Received: b.received.Load(), Failed: b.failed.Load(), Dropped: dropped}
}

func subDropped(sub *natsgo.Subscription) uint64 {
	if sub == nil {
		return 0
	}
	n, _ := sub.Dropped()
	return uint64(max(n, 0))
}

// Close leaves the cluster: it tells the other nodes, stops the backplane's
// goroutines and closes the connection. Close the hubs first.
func (b *Backplane) Close() error {
	if b.Healthy() {
		b.nc.Publish(b.subject("bye"), []byte(b.nodeID))
		b.nc.FlushTimeout(b.opts.OpTimeout)
	}
	b.cancel()
	b.forward.failAll(fmt.Errorf("nats backplane: closed: %w", ErrUnavailable))
	b.endRelays("", fmt.Errorf("nats backplane: closed: %w", ErrUnavailable))
	b.nc.Close()
	b.wg.Wait()
	return nil
}

// Attach implements [hub.Backplane]: deliver receives the hub's envelopes that
// other nodes publish for All and for the groups, users and connections this
// node has receivers in ([hub.InterestRouter]). It returns once the hub's All
// subject is live, or at once while NATS is down (nats.go subscribes again when
// it is back).
func (b *Backplane) Attach(hubName string, deliver func(*hub.Envelope)) (func(), error) {
	b.mu.Lock()
	if st, dup := b.hubs[hubName]; dup && st.sub != nil {
		b.mu.Unlock()
		return nil, fmt.Errorf("nats backplane: hub %q is already attached to this backplane", hubName)
	}
	sub, err := b.nc.ChanSubscribe(b.hubSubject(hubName, hub.SelectAll, ""), b.inbox)
	if err != nil {
		b.mu.Unlock()
		return nil, fmt.Errorf("nats backplane: attach hub %q: %w", hubName, err)
	}
	st := b.hubs[hubName]
	if st == nil {
		st = &hubState{}
		b.hubs[hubName] = st
	}
	st.deliver, st.sub = deliver, sub
	b.mu.Unlock()
	if b.Healthy() {
		b.nc.FlushTimeout(b.opts.OpTimeout)
	}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.hubs[hubName] == st {
			b.dropped += subDropped(st.sub)
			st.sub.Unsubscribe()
			delete(b.hubs, hubName)
		}
	}, nil
}

func (b *Backplane) hub(name string) *hubState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hubs[name]
}

// Publish implements [hub.Backplane]. It delivers to this node's connections first,
// whatever the state of NATS, then publishes env on the subject of its target:
// the hub's for All, else one per group, user or connection it names (see
// [hub.InterestRouter]). While NATS is down it does not try: it returns an error
// wrapping [hub.ErrClusterDelivery] (the local delivery has happened) and
// [ErrUnavailable]; a failed publish wraps hub.ErrClusterDelivery and its cause.
// Unless [Options.AsyncPublish], it returns once NATS confirms it has the
// envelopes (a flush shared with concurrent publishes and subscriptions),
// within ctx and OpTimeout; an unconfirmed publish counts as failed, though
// some nodes may have got it.
func (b *Backplane) Publish(ctx context.Context, env *hub.Envelope) error {
	if st := b.hub(env.Hub); st != nil && st.deliver != nil {
		st.deliver(env)
	}
	if !b.Healthy() {
		b.failed.Add(1)
		return fmt.Errorf("nats backplane: publish to hub %q: %w (%w)", env.Hub, hub.ErrClusterDelivery, ErrUnavailable)
	}
	var err error
	for key, part := range env.SplitByKey() {
		subject := b.hubSubject(env.Hub, part.Selector.Kind, key)
		data, err := envelope.Marshal(part)
		if err != nil {
			return fmt.Errorf("nats backplane: encode envelope: %w", err)
		}
		if err := b.nc.Publish(subject, data); err != nil {
			b.failed.Add(1)
			return fmt.Errorf("nats backplane: publish to hub %q: %w (%w)", env.Hub, hub.ErrClusterDelivery, err)
		}
		b.published.Add(1)
	}
	if b.opts.AsyncPublish {
		return nil
	}
	b.mu.Lock()
	w := b.flushLocked()
	b.mu.Unlock()
	select {
	case <-w.done:
		if w.err == nil {
			return nil
		}
		err = w.err
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.failed.Add(1)
	return fmt.Errorf("nats backplane: publish to hub %q: not confirmed: %w (%w)", env.Hub, hub.ErrClusterDelivery, err)
}

// receiveLoop hands the envelopes of other nodes to their hubs, in the order
// they arrived.
func (b *Backplane) receiveLoop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case m := <-b.inbox:
			b.receive(m)
		}
	}
}

func (b *Backplane) receive(m *natsgo.Msg) {
	b.received.Add(1)
	var env hub.Envelope
	if err := envelope.Unmarshal(m.Data, &env); err != nil {
		b.log.Warn("nats backplane: dropping an undecodable envelope", "subject", m.Subject, "err", err)
		return
	}
	if st := b.hub(env.Hub); st != nil && st.deliver != nil {
		st.deliver(&env)
	}
}

// AddInterest implements [hub.InterestRouter]: the first receiver of a key
// subscribes to its subject, and every caller returns once that subscription is
// live on the server (one flush of the connection confirms every subscription
// made since the last one), within ctx and OpTimeout. While NATS is down it
// returns nil at once: the subscription is made when NATS is back, before
// anything else, and meanwhile no message of another node reaches any node.
func (b *Backplane) AddInterest(ctx context.Context, hubName string, kind hub.SelectorKind, key string) error {
	subject := b.hubSubject(hubName, kind, key)
	b.mu.Lock()
	in := b.interests[subject]
	if in == nil {
		in = &interest{}
		b.interests[subject] = in
	}
	in.count++
	if in.count > 0 && in.linger != nil {
		in.linger.Stop()
		in.linger = nil
	}
	if in.count > 0 && in.sub == nil {
		sub, err := b.nc.ChanSubscribe(subject, b.inbox)
		if err != nil {
			in.count--
			b.mu.Unlock()
			return fmt.Errorf("nats backplane: subscribe: %w", err)
		}
		in.sub, in.ready = sub, nil
	}
	if in.sub != nil && (in.ready == nil || in.ready.failed()) {
		in.ready = b.flushLocked()
	}
	w := in.ready
	b.mu.Unlock()
	if w == nil {
		return nil // a remove overtook this add: nobody to receive
	}
	select {
	case <-w.done:
		if w.err != nil && b.Healthy() {
			return fmt.Errorf("nats backplane: subscription not confirmed: %w (%w)", ErrUnavailable, w.err)
		}
		// During an outage no node's messages reach any other: nats.go makes the
		// subscription first thing when NATS is back.
		return nil
	case <-ctx.Done():
		return fmt.Errorf("nats backplane: subscription not confirmed: %w", ctx.Err())
	}
}

// RemoveInterest implements [hub.InterestRouter]: after the last receiver of a key,
// its subscription lingers for UnsubscribeLinger, then goes.
func (b *Backplane) RemoveInterest(hubName string, kind hub.SelectorKind, key string) {
	subject := b.hubSubject(hubName, kind, key)
	b.mu.Lock()
	defer b.mu.Unlock()
	in := b.interests[subject]
	if in == nil {
		in = &interest{}
		b.interests[subject] = in
	}
	in.count--
	switch {
	case in.count > 0:
	case in.sub == nil:
		if in.count == 0 {
			delete(b.interests, subject)
		}
	case in.linger == nil:
		var t *time.Timer
		t = time.AfterFunc(b.opts.UnsubscribeLinger, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if in.linger != t || in.count > 0 {
				return
			}
			b.dropped += subDropped(in.sub)
			in.sub.Unsubscribe()
			in.sub, in.ready, in.linger = nil, nil, nil
			if in.count == 0 && b.interests[subject] == in {
				delete(b.interests, subject)
			}
		})
		in.linger = t
	}
}

// flushLocked returns the flush that will confirm a subscription or publish just
// made, waking the flush loop. b.mu is held.
func (b *Backplane) flushLocked() *flushWait {
	if b.pending == nil {
		b.pending = &flushWait{done: make(chan struct{})}
		select {
		case b.flushReq <- struct{}{}:
		default:
		}
	}
	return b.pending
}

// flushLoop flushes the connection for the subscriptions and publishes waiting
// to be confirmed: those made while one flush is under way share the next.
func (b *Backplane) flushLoop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			b.mu.Lock()
			w := b.pending
			b.pending = nil
			b.mu.Unlock()
			if w != nil {
				w.err = ErrUnavailable
				close(w.done)
			}
			return
		case <-b.flushReq:
		}
		b.mu.Lock()
		w := b.pending
		b.pending = nil
		b.mu.Unlock()
		if w == nil {
			continue
		}
		if b.Healthy() {
			w.err = b.nc.FlushTimeout(b.opts.OpTimeout)
		} else {
			w.err = ErrUnavailable
		}
		close(w.done)
	}
}

// Subjects: {prefix}.h.{hub}.all, .g.{group}, .u.{user}, .c.{connection}, with
// hub, group, user and connection ID each one token (see token).

func (b *Backplane) subject(parts ...string) string {
	return b.opts.Prefix + "." + strings.Join(parts, ".")
}

func (b *Backplane) hubSubject(hubName string, kind hub.SelectorKind, key string) string {
	switch kind {
	case hub.SelectGroups:
		return b.subject("h", token(hubName), "g", token(key))
	case hub.SelectUsers:
		return b.subject("h", token(hubName), "u", token(key))
	case hub.SelectConnections:
		return b.subject("h", token(hubName), "c", token(key))
	default:
		return b.subject("h", token(hubName), "all")
	}
}

// token turns free text (a hub or group name, a user ID, a connection token from
// a request) into one subject token: "_" and its unpadded base64url, which has
// no '.', '*', '>' or space, and is never empty. A text longer than
// maxPlainToken bytes becomes "-" and the base64url of its SHA-256 instead, so
// that no subject outgrows the server's protocol line (max_control_line, 4 KiB
// by default): the server refuses a longer SUB or PUB by closing the connection,
// and nats.go does not reconnect after that. Distinct texts keep distinct tokens
// (the two forms start differently); were two long ones to share a hash, a node
// would only receive an envelope its hub then filters by name.
func token(s string) string {
	if len(s) > maxPlainToken {
		sum := sha256.Sum256([]byte(s))
		return "-" + base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return "_" + base64.RawURLEncoding.EncodeToString([]byte(s))
}

// checkURL refuses a URL nats.go would take and then never connect with (a
// scheme it does not speak, a port no TCP connection has): an outage forever
// instead of an error from New. nats.go parses the rest.
func checkURL(urls string) error {
	for _, u := range strings.Split(urls, ",") {
		u = strings.TrimSpace(u)
		if !strings.Contains(u, "://") {
			u = "nats://" + u // as nats.go reads it
		}
		parsed, err := url.Parse(u)
		if err != nil {
			return fmt.Errorf("nats backplane: Options.URL: %w", err)
		}
		switch parsed.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("nats backplane: Options.URL %q: scheme %q is none of nats, tls, ws, wss", u, parsed.Scheme)
		}
		if p := parsed.Port(); p != "" {
			if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
				return fmt.Errorf("nats backplane: Options.URL %q: port %q is not a number from 1 to 65535", u, p)
			}
		}
	}
	return nil
}

// maxBound is the largest ReceiveBuffer and MaxForwardedRequests: each is the
// capacity of a queue made up front.
const maxBound = 1 << 24

// maxPrefix bounds Options.Prefix, which starts every subject: with names
// bounded by token, a subject then stays well under the server's protocol line.
const maxPrefix = 256

// maxPlainToken is the longest text token encodes as itself: 256 characters
// of base64url.
const maxPlainToken = 192

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
