// Package linkcut is a test proxy that cuts links the way real proxies, load
// balancers and NATs do, so tests can check that Hubbub and its clients survive them.
//
// A Proxy listens on loopback and forwards everything to one target server: plain
// HTTP requests, streaming responses (flushed after every write, so Server-Sent
// Events arrive event by event) and WebSocket upgrades. It keeps every client
// connection (a "link") it accepts, so it can cut them on demand ([Proxy.Cut]) or at
// random ([Options.Every]). The cuts mirror what breaks realtime connections in the
// field:
//
//   - [Reset]: the link dies abruptly, as when a proxy restarts or a load balancer
//     drops a node. The client sees a TCP reset (SO_LINGER 0); the server sees its
//     request cancelled and its connection closed.
//   - [BlackHole]: the link goes silent for [Options.BlackHoleFor], as when a NAT or
//     a stateful firewall forgets the connection: no bytes pass either way and new
//     requests are accepted but not served. Then the held links are reset. Only
//     keep-alives and timeouts can notice a black hole early.
//   - [GatewayTimeout]: a request whose response has not started is answered
//     "504 Gateway Timeout" by the proxy and cancelled upstream, as nginx does after
//     proxy_read_timeout. A long poll or an SSE GET waiting for its first byte longer
//     than [Options.HoldLimit] gets this; Cut(GatewayTimeout) does it at once.
//   - [MidResponse]: a response in progress (an SSE stream, a WebSocket) is reset
//     after a few more bytes, most often in the middle of a frame or an event.
//
// With [Options.RewriteHost] it also behaves as a reverse proxy in front of an app:
// the upstream sees its own host in Host and the client's view in X-Forwarded-* and
// Forwarded.
//
// Random cuts go on until [Proxy.Pause] or [Proxy.Close]: a proxy never stops by
// itself, so a test must Close it, and should run its clients for a bounded time
// or number of messages rather than until "no cut happened". Consecutive random
// cuts are at least Every/2 apart (plus BlackHoleFor after a black hole) and at most
// 3*Every/2, so connections always get time to recover between cuts. A random cut
// that finds nothing to cut (no live link, no request waiting) is skipped.
//
// The command linkcut (cmd/linkcut) runs a Proxy for tests in other languages and
// serves a small control API under /__linkcut/ (see [Options.ControlAPI]).
package linkcut

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kind is a way of cutting a link. Its value is the name the command's -kinds flag
// and control API use.
type Kind string

// The kinds of cut. See the package documentation for what each simulates.
const (
	Reset          Kind = "reset"
	BlackHole      Kind = "blackhole"
	GatewayTimeout Kind = "504"
	MidResponse    Kind = "midresponse"
)

// AllKinds lists every Kind, the default for [Options.Kinds].
var AllKinds = []Kind{Reset, BlackHole, GatewayTimeout, MidResponse}

// ErrUnknownKind is returned for a kind name that is not one of [AllKinds].
var ErrUnknownKind = errors.New("linkcut: unknown kind")

// ParseKinds parses a comma-separated list of kind names ("reset,504").
func ParseKinds(s string) ([]Kind, error) {
	var kinds []Kind
	for name := range strings.SplitSeq(s, ",") {
		k := Kind(strings.TrimSpace(name))
		if !slices.Contains(AllKinds, k) {
			return nil, fmt.Errorf("%w %q (want one of reset, blackhole, 504, midresponse)", ErrUnknownKind, name)
		}
		kinds = append(kinds, k)
	}
	return kinds, nil
}

// Defaults of Options.
const (
	DefaultListen       = "127.0.0.1:0"
	DefaultBlackHoleFor = 2 * time.Second
	// midResponseMaxBytes bounds how many more bytes a MidResponse cut lets through:
	// few enough to land inside the next frame or event.
	midResponseMaxBytes = 64
)

// Options configure a Proxy. The zero value of each field is a documented default;
// only Target is required.
type Options struct {
	// Target is the base URL of the server to forward to, e.g. "http://127.0.0.1:5000".
	Target string
	// Listen is the address to listen on, default "127.0.0.1:0". It must be a
	// loopback address: the proxy is for tests and never listens on a network.
	Listen string
	// Seed seeds the randomness (intervals between random cuts, kinds, which link,
	// how many bytes a MidResponse cut lets through). The same seed gives the same
	// choices; the zero value is a seed like any other.
	Seed uint64
	// Every is the mean interval between random cuts; 0 (default) cuts only on
	// demand. Each interval is drawn uniformly from [Every/2, 3*Every/2].
	Every time.Duration
	// Kinds are the kinds random cuts choose from, default AllKinds. A random Reset,
	// MidResponse or GatewayTimeout cuts one link or request chosen at random; a
	// random BlackHole holds every link.
	Kinds []Kind
	// BlackHoleFor is how long a BlackHole holds links before resetting them,
	// default 2s.
	BlackHoleFor time.Duration
	// HoldLimit answers 504 to a request whose response has not started after this
	// long and cancels it upstream, like nginx's proxy_read_timeout; 0 (default)
	// never does.
	HoldLimit time.Duration
	// RewriteHost forwards with Host set to the target's host:port and adds
	// X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-For and Forwarded, as a
	// reverse proxy in front of an app does. By default (false) the proxy is
	// transparent: Host and headers pass unchanged.
	RewriteHost bool
	// ControlAPI serves the control API under /__linkcut/ on the proxy's own port
	// instead of forwarding those paths (see control.go); default off.
	ControlAPI bool
	// Logf, if set, receives a line for each cut and each proxy error.
	Logf func(format string, args ...any)
}

// Stats counts what a Proxy did.
type Stats struct {
	// Cuts counts, per kind, the links cut (for GatewayTimeout: requests answered
	// 504, HoldLimit included). A BlackHole counts the links it held when it began;
	// a MidResponse counts when the cut fires, not when it is armed.
	Cuts map[Kind]int `json:"cuts"`
	// Requests counts the HTTP requests forwarded (WebSocket upgrades included).
	Requests int `json:"requests"`
	// Live is the number of client connections open now (control API ones aside).
	Live int `json:"live"`
	// Paused reports whether random cuts are paused.
	Paused bool `json:"paused"`
}

// Proxy is a link-cutting reverse proxy. Its methods are safe for concurrent use.
//
// Lock order: randomMu, then mu. mu guards all link, flight, hole and stats state; it
// is never held while doing I/O.
type Proxy struct {
	opts      Options
	target    *url.URL
	listener  net.Listener
	server    *http.Server
	forward   *httputil.ReverseProxy
	transport *http.Transport
	done      chan struct{} // closed by Close
	wg        sync.WaitGroup

	randomMu sync.Mutex // held while a random cut is made, so Pause waits for it
	mu       sync.Mutex
	closed   bool
	paused   bool
	rng      *rand.Rand
	nextID   uint64
	links    map[*link]struct{}
	hole     *hole // the black hole in progress, or nil
	stats    Stats
}

// hole is a black hole in progress.
type hole struct {
	done  chan struct{}      // closed when it ends, after its links are reset
	links map[*link]struct{} // the links it holds
}

// New starts a Proxy. Close it when done.
func New(opts Options) (*Proxy, error) {
	target, err := url.Parse(opts.Target)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("linkcut: target %q: want a base URL like http://127.0.0.1:5000", opts.Target)
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if err := checkLoopback(opts.Listen); err != nil {
		return nil, err
	}
	if opts.Every < 0 || opts.BlackHoleFor < 0 || opts.HoldLimit < 0 {
		return nil, errors.New("linkcut: Every, BlackHoleFor and HoldLimit must not be negative")
	}
	if len(opts.Kinds) == 0 {
		opts.Kinds = AllKinds
	}
	for _, k := range opts.Kinds {
		if !slices.Contains(AllKinds, k) {
			return nil, fmt.Errorf("%w %q", ErrUnknownKind, k)
		}
	}
	if opts.BlackHoleFor == 0 {
		opts.BlackHoleFor = DefaultBlackHoleFor
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("linkcut: listen: %w", err)
	}
	p := &Proxy{
		opts:      opts,
		target:    target,
		transport: &http.Transport{DialContext: (&net.Dialer{}).DialContext, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		done:      make(chan struct{}),
		rng:       rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		links:     make(map[*link]struct{}),
		stats:     Stats{Cuts: make(map[Kind]int)},
	}
	p.listener = &listener{Listener: ln, p: p}
	p.forward = &httputil.ReverseProxy{
		Rewrite:       p.rewrite,
		Transport:     roundTripper(p.roundTrip),
		FlushInterval: -1, // flush every write: SSE and long polls must not be buffered
		ErrorHandler:  p.proxyError,
		ErrorLog:      logfLogger(opts.Logf),
	}
	p.server = &http.Server{
		Handler:     p,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, linkKey{}, c) },
		ErrorLog:    logfLogger(opts.Logf),
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.server.Serve(p.listener)
	}()
	if opts.Every > 0 {
		p.wg.Add(1)
		go p.cutAtRandom()
	}
	return p, nil
}

// URL returns the proxy's base URL, "http://127.0.0.1:PORT".
func (p *Proxy) URL() string { return "http://" + p.listener.Addr().String() }

// Cut cuts now, with the given kind, every link it applies to, and returns how many:
// Reset and BlackHole cut every live link (a BlackHole returns at once and resets
// the links when it ends; 0 if one is already in progress); GatewayTimeout answers
// 504 to every request whose response has not started; MidResponse arms every link
// whose response has started (an SSE stream, a WebSocket) to be reset after 1 to 64
// more bytes, which may wait for an idle stream's next write. An unknown kind cuts
// nothing.
func (p *Proxy) Cut(kind Kind) int { return p.cut(kind, false) }

// Stats returns what the proxy did so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Cuts = make(map[Kind]int, len(AllKinds))
	for _, k := range AllKinds {
		s.Cuts[k] = p.stats.Cuts[k]
	}
	for l := range p.links {
		if !l.control {
			s.Live++
		}
	}
	s.Paused = p.paused
	return s
}

// Pause stops random cuts until Resume; a random cut under way when it is called is
// finished before it returns. Cuts already armed or in progress (a black hole) go on.
func (p *Proxy) Pause() { p.setPaused(true) }

// Resume restarts random cuts after Pause.
func (p *Proxy) Resume() { p.setPaused(false) }

func (p *Proxy) setPaused(paused bool) {
	p.randomMu.Lock()
	defer p.randomMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = paused
}

// Close stops the proxy: it stops listening, ends random cuts and black holes,
// closes every link and waits for its goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()

	err := p.server.Close() // the listener and the links still owned by the server
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.Close() // hijacked (WebSocket) links, control links
	}
	p.wg.Wait()
	p.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("linkcut: close: %w", err)
	}
	return nil
}

// cutAtRandom makes random cuts until Close.
func (p *Proxy) cutAtRandom() {
	defer p.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var wait time.Duration
	for {
		p.mu.Lock()
		wait += p.opts.Every/2 + time.Duration(p.rng.Int64N(int64(p.opts.Every)+1))
		p.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-p.done:
			return
		case <-timer.C:
		}
		wait = 0
		p.randomMu.Lock()
		p.mu.Lock()
		paused := p.paused
		kind := p.opts.Kinds[p.rng.IntN(len(p.opts.Kinds))]
		p.mu.Unlock()
		if !paused && p.cut(kind, true) > 0 && kind == BlackHole {
			wait = p.opts.BlackHoleFor
		}
		p.randomMu.Unlock()
	}
}

// cut cuts every link (or request) kind applies to, or one of them chosen at random.
func (p *Proxy) cut(kind Kind, one bool) int {
	var n int
	switch kind {
	case Reset:
		links := p.liveLinks(func(*link) bool { return true })
		links = pick(p, links, one)
		for _, l := range links {
			l.reset()
		}
		n = len(links)
	case BlackHole:
		n = p.startHole()
	case GatewayTimeout:
		p.mu.Lock()
		var waiting []*flight
		for _, l := range p.sortedLinks(func(l *link) bool { return true }) {
			for _, f := range l.flights {
				if f.upstream != nil {
					waiting = append(waiting, f)
				}
			}
		}
		p.mu.Unlock()
		for _, f := range pick(p, waiting, one) {
			if p.gatewayTimeout(f) {
				n++
			}
		}
	case MidResponse:
		p.mu.Lock()
		responding := p.sortedLinks(func(l *link) bool {
			return slices.ContainsFunc(l.flights, func(f *flight) bool { return f.started })
		})
		if one && len(responding) > 0 {
			responding = responding[p.rng.IntN(len(responding)):][:1]
		}
		for _, l := range responding {
			l.cutAfter = 1 + p.rng.IntN(midResponseMaxBytes)
		}
		p.mu.Unlock()
		n = len(responding)
	default:
		return 0
	}
	if n > 0 {
		p.opts.Logf("linkcut: %s: %d cut", kind, n)
	}
	if kind == Reset { // the others count themselves
		p.mu.Lock()
		p.stats.Cuts[Reset] += n
		p.mu.Unlock()
	}
	return n
}

// pick returns s, or one element of it chosen at random when one is set.
func pick[T any](p *Proxy, s []T, one bool) []T {
	if !one || len(s) == 0 {
		return s
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.rng.IntN(len(s))
	return s[i : i+1]
}

// startHole starts a black hole over every live link, unless one is in progress.
func (p *Proxy) startHole() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hole != nil || p.closed {
		return 0
	}
	h := &hole{done: make(chan struct{}), links: make(map[*link]struct{})}
	for l := range p.links {
		if !l.control {
			h.links[l] = struct{}{}
		}
	}
	p.hole = h
	p.stats.Cuts[BlackHole] += len(h.links)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		timer := time.NewTimer(p.opts.BlackHoleFor)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-p.done:
		}
		p.mu.Lock()
		p.hole = nil
		p.mu.Unlock()
		for l := range h.links { // h.links no longer changes: p.hole is nil
			l.reset()
		}
		close(h.done)
	}()
	return len(h.links)
}

// holdIfBlackHoled adds l to the black hole in progress, if any, and returns the
// channel closed when the hole ends (nil if none): a link that sends a request
// during a black hole is held like the others.
func (p *Proxy) holdIfBlackHoled(l *link) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hole == nil {
		return nil
	}
	p.hole.links[l] = struct{}{}
	return p.hole.done
}

// heldBy returns the done channel of the black hole holding l, or nil.
func (p *Proxy) heldBy(l *link) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hole == nil {
		return nil
	}
	if _, ok := p.hole.links[l]; !ok {
		return nil
	}
	return p.hole.done
}

// liveLinks returns the live links, control links aside, that match keep.
func (p *Proxy) liveLinks(keep func(*link) bool) []*link {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sortedLinks(keep)
}

// sortedLinks returns the live non-control links that match keep, oldest first (so
// that random choices depend on the seed only). p.mu must be held.
func (p *Proxy) sortedLinks(keep func(*link) bool) []*link {
	var links []*link
	for l := range p.links {
		if !l.control && keep(l) {
			links = append(links, l)
		}
	}
	slices.SortFunc(links, func(a, b *link) int { return cmp.Compare(a.id, b.id) })
	return links
}

// checkLoopback refuses listen addresses that are not on loopback.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("linkcut: listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("linkcut: listen address %q is not loopback (want e.g. 127.0.0.1:0)", addr)
	}
	return nil
}
