// Package admin is Hubbub's admin dashboard: one page, served by the server
// with no build step and no CDN, that shows each hub live (connections by
// transport and node, connect and disconnect rates, messages in and out per
// second over the last ten minutes, groups and their members, refusals, server
// closes, recent disconnect reasons, why clients fell back) and can disconnect a
// connection or every connection of a user.
//
// A [Dashboard] is a [hub.Observer] (and [hub.FallbackObserver],
// [hub.RateLimitObserver] and [hub.EndObserver]): give it to the hubs it shows (hub.Observers combines it with package metrics), then
// Watch them. The page itself is a client of the dashboard's own hub, over the
// bundled JS client: every node pushes its snapshot each second to that hub's
// clients, which crosses nodes through the backplane, and the page merges the
// nodes. Actions go to every node through the same backplane; the node that
// holds the connection acts.
//
// The page is behind a password (or a token, see Options.Authenticate): a login
// answers with an HttpOnly, SameSite=Strict cookie holding an HMAC token, which
// the admin hub checks on negotiate and on every transport request. A logout
// voids its session on every node running (through the backplane) and closes
// the pages open with it; a node started later accepts a copy of that cookie
// until it expires.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/hub"
)

// Defaults of [Options].
const (
	DefaultPath         = "/admin"
	DefaultHubName      = "hubbub.admin"
	DefaultInterval     = time.Second
	DefaultSessionTTL   = 12 * time.Hour
	DefaultMaxGroups    = 500
	DefaultMaxConnsList = 200

	DefaultMaxFailedLogins   = 5
	DefaultFailedLoginRefill = 12 * time.Second
	DefaultMaxLoginAddresses = 10_000
	DefaultMaxLoginBytes     = 4096
	DefaultMaxReasonBytes    = 1024
)

// ErrNoPassword: the dashboard needs a password, or an Authenticate and a
// CookieSecret.
var ErrNoPassword = errors.New("admin: no password")

// Options configure a [Dashboard].
type Options struct {
	// Password opens the dashboard. Required unless Authenticate is set.
	Password string
	// Authenticate, when set, is another way in: the login form takes a token
	// as well as the password, and Authenticate checks it as the bearer token
	// of a request (jwtauth.Authenticate with a secret for admins only, say);
	// requests to the admin hub may also carry such a token instead of the
	// cookie.
	Authenticate func(r *http.Request) (hub.Identity, error)
	// CookieSecret keys the login cookies' HMAC; every node must have the
	// same. Default: derived from Password; required without one.
	CookieSecret []byte
	// Path is where the dashboard is mounted: the page at Path+"/", its hub at
	// Path+"/hub", the login at Path+"/login". Default "/admin"; "/" puts the
	// page at the root of a server of its own.
	Path string
	// Node names this node on the page. Default: host name and process ID.
	Node string
	// Backplane carries the snapshots and actions between nodes: give it the
	// backplane the hubs use. Default: in memory (this node only).
	Backplane hub.Backplane
	// HubName is the admin hub's name on the backplane. Default "hubbub.admin".
	HubName string
	// Interval between two snapshots. Default 1s (the sparklines count per
	// second whatever it is).
	Interval time.Duration
	// SessionTTL is how long a login lasts. Default 12h.
	SessionTTL time.Duration
	// MaxFailedLogins is how many wrong passwords (or tokens) one address may
	// try in a row before the login answers 429; then it may try once more
	// every FailedLoginRefill. Defaults 5 and 12 s (five a minute). Behind a
	// proxy listed in HubOptions.TrustedProxies, the address is the client's;
	// an IPv6 address counts as its /64.
	MaxFailedLogins   int
	FailedLoginRefill time.Duration
	// MaxLoginAddresses bounds the addresses whose failed logins are
	// remembered; past it, the others share one count (an address is forgotten
	// once its failures are forgiven). Default 10,000.
	MaxLoginAddresses int
	// MaxLoginBytes bounds a login's body (the form with the password or
	// token): past it, the login answers 413. Default 4096.
	MaxLoginBytes int
	// MaxReasonBytes bounds the close reason of a disconnect from the page
	// (the client reads it, the log keeps it): a longer one is refused with an
	// error. Default 1024.
	MaxReasonBytes int
	// MaxGroups is how many groups (the fullest) each node reports per hub.
	// Default 500.
	MaxGroups int
	// MaxConnections is how many connections each node lists per hub for the
	// disconnect buttons (counts are always whole). Default 200.
	MaxConnections int
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// HubOptions are the admin hub's other options (Transports, AllowedOrigins,
	// TrustedProxies…); its Name, Backplane and Authenticate are set here.
	HubOptions hub.Options
}

// Dashboard collects what the hubs it observes do, serves the page and its hub,
// and pushes snapshots to the page. Create one with [New].
type Dashboard struct {
	collector
	opts  Options
	key   []byte // HMAC key of the login cookies
	admin *hub.Hub
	login loginLimiter
	// revoked are the sessions logged out (on any node while this one ran).
	revoked revocations

	mu      sync.Mutex
	watched []*hub.Hub
	// The pushes' lifecycle, under mu: Start starts them once; Close ends them
	// for good.
	started, closed bool
	stop            context.CancelFunc
	done            chan struct{}

	detachActions func()
	// watchedUntil (Unix nanoseconds): until then some page is open on some
	// node, and this node pushes its snapshots; otherwise it only samples.
	watchedUntil atomic.Int64
}

// New returns a dashboard; Start begins its pushes.
func New(opts Options) (*Dashboard, error) {
	if opts.Password == "" && (opts.Authenticate == nil || len(opts.CookieSecret) == 0) {
		return nil, ErrNoPassword
	}
	if opts.Path == "" {
		opts.Path = DefaultPath
	}
	opts.Path = "/" + strings.Trim(opts.Path, "/")
	if opts.Node == "" {
		host, _ := os.Hostname()
		opts.Node = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if opts.Backplane == nil {
		opts.Backplane = hub.NewMemoryBackplane()
	}
	if opts.HubName == "" {
		opts.HubName = DefaultHubName
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.MaxGroups <= 0 {
		opts.MaxGroups = DefaultMaxGroups
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnsList
	}
	if opts.MaxFailedLogins <= 0 {
		opts.MaxFailedLogins = DefaultMaxFailedLogins
	}
	if opts.FailedLoginRefill <= 0 {
		opts.FailedLoginRefill = DefaultFailedLoginRefill
	}
	if opts.MaxLoginAddresses <= 0 {
		opts.MaxLoginAddresses = DefaultMaxLoginAddresses
	}
	if opts.MaxLoginBytes <= 0 {
		opts.MaxLoginBytes = DefaultMaxLoginBytes
	}
	if opts.MaxReasonBytes <= 0 {
		opts.MaxReasonBytes = DefaultMaxReasonBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	secret := opts.CookieSecret
	if len(secret) == 0 {
		secret = []byte(opts.Password)
	}
	d := &Dashboard{opts: opts, key: cookieKey(secret), login: newLoginLimiter(opts)}
	ho := opts.HubOptions
	ho.Name, ho.Backplane, ho.Authenticate = opts.HubName, opts.Backplane, d.authenticate
	if ho.Logger == nil {
		ho.Logger = opts.Logger
	}
	d.admin = hub.New(ho)
	d.admin.On("Disconnect", func(ctx *hub.Context, hubName, connectionID, reason string) error {
		return d.disconnect(ctx, action{Kind: actDisconnect, Hub: hubName, Target: connectionID, Reason: reason})
	})
	d.admin.On("DisconnectUser", func(ctx *hub.Context, hubName, userID, reason string) error {
		return d.disconnect(ctx, action{Kind: actDisconnectUser, Hub: hubName, Target: userID, Reason: reason})
	})
	d.admin.On("Watch", func(ctx *hub.Context) error {
		return d.act(ctx, action{Kind: actWatch})
	})
	d.admin.OnConnected(func(c *hub.Context) error {
		// Every node sends its ten minutes of samples to the new page.
		return d.act(c, action{Kind: actHistory, Target: c.ConnectionID()})
	})
	detach, err := opts.Backplane.Attach(opts.HubName+".actions", d.deliverAction)
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		d.admin.Close(ctx)
		return nil, fmt.Errorf("admin: attach actions: %w", err)
	}
	d.detachActions = detach
	return d, nil
}

// Hub is the dashboard's own hub, for hub.Serve and friends to drain.
func (d *Dashboard) Hub() *hub.Hub { return d.admin }

// Node is this node's name on the page.
func (d *Dashboard) Node() string { return d.opts.Node }

// Watch adds hubs to the page: their connections and groups, and the actions
// on them. Their Observer must include d. A hub already watched is not added
// again.
func (d *Dashboard) Watch(hubs ...*hub.Hub) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, h := range hubs {
		if !slices.Contains(d.watched, h) {
			d.watched = append(d.watched, h)
		}
		d.stats(h.Name())
	}
}

func (d *Dashboard) hubs() []*hub.Hub {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*hub.Hub(nil), d.watched...)
}

// Start pushes a snapshot every Interval until Close. Calls past the first,
// and after Close, do nothing.
func (d *Dashboard) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.closed {
		return
	}
	d.started = true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	d.stop, d.done = cancel, done
	go func() {
		defer close(done)
		t := time.NewTicker(d.opts.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				if now.UnixNano() > d.watchedUntil.Load() {
					d.sampleAll(now) // nobody looks: keep the sparklines, skip the rest
					continue
				}
				if err := d.push(ctx, now); err != nil && ctx.Err() == nil {
					d.opts.Logger.Debug("admin: push", "err", err)
				}
			}
		}
	}()
}

// Close stops the pushes and leaves the backplane. It does not close the admin
// hub ([Dashboard.Hub]): drain it with the others (hub.ServeListener) or close it.
// Calls past the first do nothing.
func (d *Dashboard) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	stop, done := d.stop, d.done
	d.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	d.detachActions()
}

// NodeSnapshot is what one node pushes each second (client method "snapshot").
type NodeSnapshot struct {
	Node string        `json:"node"`
	At   int64         `json:"at"` // Unix milliseconds
	Hubs []HubSnapshot `json:"hubs"`
}

// HubSnapshot is one hub on one node.
type HubSnapshot struct {
	Name          string           `json:"name"`
	Connections   int              `json:"connections"`
	Transports    map[string]int   `json:"transports"`
	Groups        []Group          `json:"groups"`
	GroupCount    int              `json:"groupCount"`
	Conns         []Conn           `json:"conns"`
	Sample        Sample           `json:"sample"`  // the second just ended
	Totals        Sample           `json:"totals"`  // since the node started (At is 0)
	Strikes       int64            `json:"strikes"` // rate-limit strikes since the node started
	Refusals      map[string]int64 `json:"refusals"`
	Closes        map[string]int64 `json:"closes"`
	Fallbacks     map[string]int64 `json:"fallbacks"`
	Recent        []Disconnect     `json:"recent"`
	Methods       []string         `json:"methods"`       // hub.Describe: what clients invoke
	ClientMethods []string         `json:"clientMethods"` // and what the hub sends them
}

// Group is a group and its members on one node.
type Group struct {
	Name    string `json:"name"`
	Members int    `json:"members"`
}

// Conn is a connection the page can disconnect.
type Conn struct {
	ID        string `json:"id"`
	User      string `json:"user"`
	Transport string `json:"transport"`
}

// History is one node's samples of one hub, oldest first (client method
// "history", sent once to each page that connects).
type History struct {
	Node    string   `json:"node"`
	Hub     string   `json:"hub"`
	Samples []Sample `json:"samples"`
}

// Snapshot samples the second ending at now and describes every watched hub.
func (d *Dashboard) Snapshot(now time.Time) NodeSnapshot {
	ns := NodeSnapshot{Node: d.opts.Node, At: now.UnixMilli()}
	for _, h := range d.hubs() {
		s := d.stats(h.Name())
		hs := h.Snapshot(d.opts.MaxConnections)
		out := HubSnapshot{
			Name:       h.Name(),
			Transports: map[string]int{},
			Groups:     topGroups(hs.Groups, d.opts.MaxGroups),
			GroupCount: len(hs.Groups),
			Sample:     s.sample(now),
			Totals:     Sample{In: s.in.Load(), Out: s.out.Load(), Connects: s.connects.Load(), Disconnects: s.disconnects.Load()},
			Strikes:    s.strikes.Load(),
		}
		for k, n := range hs.Transports {
			out.Transports[k.String()] = n
			out.Connections += n
		}
		for _, c := range hs.Connections {
			out.Conns = append(out.Conns, Conn{ID: c.ID, User: c.UserID, Transport: c.Transport.String()})
		}
		out.Refusals, out.Closes, out.Fallbacks, out.Recent = s.counts()
		out.Methods, out.ClientMethods = methodsOf(h)
		ns.Hubs = append(ns.Hubs, out)
	}
	sort.Slice(ns.Hubs, func(i, j int) bool { return ns.Hubs[i].Name < ns.Hubs[j].Name })
	return ns
}

// watchLease is how long a page's Watch (sent every 20 s) keeps the pushes on.
const watchLease = time.Minute

func (d *Dashboard) onWatch() { d.watchedUntil.Store(time.Now().Add(watchLease).UnixNano()) }

// sampleAll closes the second ending at now for every watched hub.
func (d *Dashboard) sampleAll(now time.Time) {
	for _, h := range d.hubs() {
		d.stats(h.Name()).sample(now)
	}
}

// methodsOf lists a hub's methods (hub.Describe) for the page, as Go-like
// signatures: those clients invoke, then those the hub declares it sends them.
func methodsOf(h *hub.Hub) (methods, clientMethods []string) {
	d := h.Describe()
	for _, m := range d.Methods {
		methods = append(methods, m.String())
	}
	for _, m := range d.ClientMethods {
		clientMethods = append(clientMethods, m.String())
	}
	return methods, clientMethods
}

func (d *Dashboard) push(ctx context.Context, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Interval)
	defer cancel()
	return d.admin.Clients().All().Send(ctx, "snapshot", d.Snapshot(now))
}

// sendHistory sends this node's samples of every hub to one page.
func (d *Dashboard) sendHistory(ctx context.Context, connectionID string) {
	for _, h := range d.hubs() {
		hist := History{Node: d.opts.Node, Hub: h.Name(), Samples: d.stats(h.Name()).history()}
		if err := d.admin.Clients().Client(connectionID).Send(ctx, "history", hist); err != nil {
			d.opts.Logger.Debug("admin: history", "err", err)
			return
		}
	}
}

// encodeJSON is json.Marshal for values that always encode.
func encodeJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// History returns this node's samples of a hub, oldest first.
func (d *Dashboard) History(hubName string) []Sample { return d.stats(hubName).history() }
