package hub

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hubbub-go/hubbub/clientjs"
	"github.com/hubbub-go/hubbub/transports"
)

// Options configure a [Hub]. The zero value of every field means its default, written
// beside it.
type Options struct {
	// Name identifies the hub on a backplane and in logs. Default "default". Hubs
	// sharing a backplane must have distinct names.
	Name string
	// Transports is the set of transports negotiate offers. Default all three.
	Transports transports.Kind
	// TransportOptions tune the transports: message size limits (MaxReceiveSize
	// per hub message, MaxTransportMessageSize per WebSocket message or POST),
	// write timeout, long poll hold time… See transports.Options for their defaults.
	TransportOptions transports.Options

	// KeepAliveInterval: a Ping is sent when nothing was sent for this long
	// (WebSockets and SSE; long polling needs none). Default 15 s.
	KeepAliveInterval time.Duration
	// ClientTimeout closes a connection that sent nothing for this long (WebSockets
	// and SSE; a long-polling client that stops polling is ended by
	// TransportOptions.DisconnectTimeout). Default 30 s.
	ClientTimeout time.Duration
	// HandshakeTimeout closes a connection whose handshake has not arrived this long
	// after its transport opened. Default 15 s.
	HandshakeTimeout time.Duration
	// DisableStatefulReconnect refuses stateful reconnect (docs/reconnect.md), which
	// the hub otherwise grants every client that asks for it at negotiate
	// (useStatefulReconnect=true) and shakes hands with protocol version 2: such a
	// connection outlives a lost link for ReconnectWindow, and the client resumes
	// it on the same token with nothing lost. Its price: the messages a client has
	// not acked stay in memory (StatefulReconnectBufferSize at most), and a client
	// that vanishes holds its connection, groups and queue for ReconnectWindow.
	DisableStatefulReconnect bool
	// ReconnectWindow is how long a stateful connection whose link was lost waits
	// for its client to resume it before it ends (OnDisconnected, groups left).
	// It holds no goroutine meanwhile. Default 30 s.
	ReconnectWindow time.Duration
	// StatefulReconnectBufferSize bounds, in bytes, the messages written to a
	// stateful connection and not acked by its client yet. When it is full the
	// hub writes nothing more to that connection until an Ack frees room; what is
	// sent meanwhile waits in its queue (MaxQueueLength). Default 100,000, as
	// ASP.NET Core.
	StatefulReconnectBufferSize int
	// RelayBufferSize bounds, in bytes, what one link relayed between nodes
	// (LinkRelay: a stateful connection resumed on a node other than its own)
	// holds on either side between the backplane and the link's end: on the node
	// the client is on, what waits to be written to it; on the node holding the
	// connection, what waits to be read by it. The backplane has no back pressure,
	// so a side past the bound ends the link and the client resumes. Default 1 MiB.
	RelayBufferSize int
	// NegotiateTimeout forgets a negotiated connection that no transport request
	// claimed within this time (clients that fall back leave such orphans). Default 15 s.
	NegotiateTimeout time.Duration
	// MaxPendingNegotiations caps negotiated connections not yet claimed by a
	// transport; negotiate answers 503 beyond it. Default 10,000.
	MaxPendingNegotiations int
	// MaxPendingNegotiationsPerIP caps the negotiated connections not yet claimed
	// by a transport from one remote address (counted as MaxConnectionsPerIP
	// counts): negotiate, and a WebSocket without negotiate, answer 429 beyond it.
	// Well below MaxPendingNegotiations, so that one address negotiating without
	// ever connecting cannot lock every other one out. Default 100.
	MaxPendingNegotiationsPerIP int

	// MaxConnectionsPerUser caps the connections (negotiated or open) of one user;
	// negotiate answers 429 beyond it. Default 100.
	MaxConnectionsPerUser int
	// MaxConnectionsPerIP caps the connections from one remote address: the TCP
	// peer, or behind a proxy listed in TrustedProxies the client it forwards for.
	// Default 10,000.
	MaxConnectionsPerIP int
	// MaxMessagesPerSecond and MessageBurst are one connection's inbound rate limit
	// (a token bucket). A message over the limit is refused (an invocation gets an
	// error Completion); RateLimitStrikes such refusals close the connection.
	// Defaults 200 per second, a burst of 500, 20 strikes.
	MaxMessagesPerSecond float64
	MessageBurst         int
	RateLimitStrikes     int
	// MaxGroupsPerConnection caps the groups one connection is in. Default 100.
	MaxGroupsPerConnection int

	// MaxQueueLength and MaxQueueBytes cap the messages waiting to be written to
	// one connection, in number and in encoded bytes. A connection whose queue is
	// over either is closed as a slow consumer rather than slowing its senders:
	// what is queued is dropped and the client gets a Close message at once
	// ("Connection closed: slow consumer: ..."), then the connection ends (a
	// stateful one too: it does not resume). The writer takes the whole queue at
	// each write (up to 1 MiB) and a long poll is answered with what is queued when
	// it arrives, so a client that keeps reading drains bursts. Defaults 16,384
	// messages and 1 MiB: a burst of 10,000 small messages (about 50 bytes each)
	// to a group fits. The bytes of a message sent to many connections are shared:
	// a full queue costs its connection 24 bytes per message plus the messages
	// queued to it alone. A single message larger than MaxQueueBytes is queued
	// when nothing else waits.
	MaxQueueLength int
	MaxQueueBytes  int
	// InvocationQueueLength is how many invocations of one connection may wait for
	// their turn; past it the connection stops reading until one starts (TCP
	// backpressure on WebSockets, a held POST on SSE and long polling). Default 16.
	InvocationQueueLength int
	// MaxParallelInvocations is how many invocations of one connection run at once.
	// Default 1, as ASP.NET Core SignalR: messages of one client are handled in order.
	MaxParallelInvocations int
	// MaxStreams caps the streams (either direction) open on one connection.
	// Default 32.
	MaxStreams int
	// StreamBufferCapacity is the capacity of each client-to-server stream's channel
	// (a handler's <-chan T parameter). Items that arrive while it is full wait in
	// the stream's backlog (MaxStreamBacklogBytes): the connection never stops
	// reading for a handler, so that a Completion answering Conn.Invoke, a
	// CancelInvocation or a Ping behind a stream's items is never stuck behind
	// them (ASP.NET Core stops reading instead). Default 10.
	StreamBufferCapacity int
	// MaxStreamBacklogBytes bounds, in encoded bytes, the client-to-server stream
	// items of one connection waiting beyond StreamBufferCapacity for handlers
	// that do not keep up. An item past it fails its stream's invocation: the
	// upload channel closes, the handler's context ends and the client gets an
	// error Completion "Stream 'id' overran its buffer: ...". Default 256 KiB.
	MaxStreamBacklogBytes int
	// InvokeClientTimeout bounds Conn.Invoke (client results) when the caller's
	// context has no deadline. Default 30 s.
	InvokeClientTimeout time.Duration
	// DrainTimeout bounds how long Hub.Close lets the work under way finish
	// (invocations, streams either way, invocations that arrive meanwhile) before
	// it tells every client to go. What is still running then is cancelled and
	// answered with an error Completion. Default 10 s; negative: cancel at once.
	DrainTimeout time.Duration

	// AllowedOrigins lists the origins allowed for CORS and for WebSocket upgrades:
	// exact origins ("https://app.example.com"), wildcard subdomains
	// ("https://*.example.com") or "*" for any. Listed origins get credentialed
	// CORS (the Origin echoed, Access-Control-Allow-Credentials: true); an origin
	// let in only by "*" gets Access-Control-Allow-Origin: * and no credentials,
	// so that no site can make requests with a user's cookies: its clients must
	// not ask for credentials (the official JavaScript client's withCredentials
	// defaults to true: set it false). Default empty: same origin only,
	// where same origin means the Origin's host (compared without a default port)
	// is the request's Host; the scheme is compared only when a trusted proxy
	// forwards it (see TrustedProxies). A refusal is answered 403 with a text that
	// names this option, logged at Info (at most one line a second per hub, with a
	// count of those left out) and counted as Observer.Refused(hub, "origin").
	// An app whose own CORS middleware answers for its origins need not repeat them
	// here: see WithApprovedOrigin (the Gin adapter uses it).
	AllowedOrigins []string
	// TrustedProxies lists the reverse proxies in front of the hub whose forwarding
	// headers are believed: CIDRs ("10.0.0.0/8") and single addresses
	// ("127.0.0.1"). Only for a request whose TCP peer is in the list:
	//   - the same-origin check (CORS and WebSocket upgrades) compares the Origin
	//     with the host and scheme the client asked for: RFC 7239 Forwarded's
	//     host= and proto= (first element), else X-Forwarded-Host and
	//     X-Forwarded-Proto (first values). A proxy that rewrites Host (nginx's
	//     "proxy_set_header Host $upstream") otherwise makes every browser
	//     cross-origin;
	//   - the client address (MaxConnectionsPerIP, logs) is the first address in
	//     X-Forwarded-For (else Forwarded's for= list), read from the right, that
	//     is not itself a trusted proxy.
	// From any other peer these headers are ignored: anyone can send them. Entries
	// that do not parse are logged at New and left out; check a configured list
	// with ParseTrustedProxies first. Default empty: no proxy is trusted.
	TrustedProxies []string
	// UserID returns the user identity of a request; empty means anonymous. It runs
	// at negotiate (and on a WebSocket connect that skipped negotiate) and again on
	// every transport request of the connection: a request whose user differs from
	// its negotiate's (anonymous versus a user included) gets 403, so it must find
	// the same user on each (browsers' WebSocket upgrades carry cookies and the
	// query string, not custom headers). Default: the user a framework adapter
	// stored with WithUserID, else anonymous.
	UserID func(r *http.Request) string
	// Authenticate, when set, runs on negotiate and again on every transport
	// request of the connection: it returns the caller's Identity, or an error that
	// refuses the request with 401 and the error's text. A transport request whose
	// user differs from its negotiate's gets 403. A connection is closed when its
	// Identity.ExpiresAt passes (the client may reconnect with a fresh token). It
	// replaces UserID. Default: none. See package auth/jwtauth for JWT bearer tokens.
	Authenticate func(r *http.Request) (Identity, error)
	// DetailedErrors sends the text of every handler error to the client; for a
	// panic, its value ("panic: …") after the generic message, never the stack (which
	// is only logged). Default false: only errors made with NewError (or wrapping
	// one) reach the client; others become a generic message and are logged.
	DetailedErrors bool

	// Assets serves GET and HEAD requests for files under the hub's path
	// ({base}/name.ext, with no connection id), so that a page loads the client from
	// the hub it talks to: <script src="/hubs/chat/hubbub.js">. They are answered
	// before CORS and Authenticate, since the client is public code. Default:
	// clientjs.Handler(), the bundled JS client (hubbub.js, hubbub.mjs, hubbub.d.ts
	// and the MessagePack module's three files) with an ETag, revalidated on each
	// use, or cached for a year under the versioned URL clientjs.URL gives. Set
	// your own handler to serve other files, or DisableAssets to serve none.
	Assets http.Handler
	// DisableAssets serves no files under the hub's path: a GET there without a
	// connection id gets 400, as before the bundled client was served by default.
	DisableAssets bool

	// Observer is told about connections, messages, invocations and closes, for
	// metrics. Default: NopObserver.
	Observer Observer
	// Tracer is told when negotiates, connections, invocations and backplane
	// publishes start and end, for tracing (package otelhub: OpenTelemetry).
	// Default nil: none.
	Tracer Tracer

	// Backplane routes messages between nodes. Default: in memory, this process only.
	Backplane Backplane
	// Logger receives the hub's logs. Default slog.Default().
	Logger *slog.Logger
	// DisableAccessLog stops the access log: one line at Info through Logger for
	// each connection when it ends, message "hub: connection", with its
	// transport, protocol, client address, user, whole life's duration, bytes and
	// messages each way, links and why it ended (see the package documentation,
	// "Access log"). Default false: logged. A net/http or Gin access log cannot
	// tell this: a streaming request is logged when its connection is taken over.
	DisableAccessLog bool
}

// Defaults for [Options].
const (
	DefaultKeepAliveInterval           = 15 * time.Second
	DefaultReconnectWindow             = 30 * time.Second
	DefaultStatefulBufferSize          = 100_000
	DefaultRelayBufferSize             = 1 << 20
	DefaultClientTimeout               = 30 * time.Second
	DefaultHandshakeTimeout            = 15 * time.Second
	DefaultNegotiateTimeout            = 15 * time.Second
	DefaultMaxPendingNegotiations      = 10_000
	DefaultMaxPendingNegotiationsPerIP = 100
	DefaultMaxQueueLength              = 16_384
	DefaultMaxQueueBytes               = 1 << 20
	DefaultMaxParallelInvocations      = 1
	DefaultInvocationQueueLength       = 16
	DefaultMaxStreams                  = 32
	DefaultStreamBufferCapacity        = 10
	DefaultMaxStreamBacklogBytes       = 256 << 10
	DefaultInvokeClientTimeout         = 30 * time.Second
	DefaultDrainTimeout                = 10 * time.Second
	DefaultMaxConnectionsPerUser       = 100
	DefaultMaxConnectionsPerIP         = 10_000
	DefaultMaxMessagesPerSecond        = 200
	DefaultMessageBurst                = 500
	DefaultRateLimitStrikes            = 20
	DefaultMaxGroupsPerConnection      = 100
)

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "default"
	}
	if o.Transports&transports.AllKinds == 0 {
		o.Transports = transports.AllKinds
	}
	o.Transports &= transports.AllKinds
	setDuration(&o.KeepAliveInterval, DefaultKeepAliveInterval)
	setDuration(&o.ClientTimeout, DefaultClientTimeout)
	setDuration(&o.HandshakeTimeout, DefaultHandshakeTimeout)
	setDuration(&o.ReconnectWindow, DefaultReconnectWindow)
	setInt(&o.StatefulReconnectBufferSize, DefaultStatefulBufferSize)
	setInt(&o.RelayBufferSize, DefaultRelayBufferSize)
	setDuration(&o.NegotiateTimeout, DefaultNegotiateTimeout)
	setDuration(&o.InvokeClientTimeout, DefaultInvokeClientTimeout)
	if o.DrainTimeout == 0 {
		o.DrainTimeout = DefaultDrainTimeout
	}
	setInt(&o.MaxPendingNegotiations, DefaultMaxPendingNegotiations)
	setInt(&o.MaxPendingNegotiationsPerIP, DefaultMaxPendingNegotiationsPerIP)
	setInt(&o.MaxQueueLength, DefaultMaxQueueLength)
	setInt(&o.MaxQueueBytes, DefaultMaxQueueBytes)
	setInt(&o.MaxParallelInvocations, DefaultMaxParallelInvocations)
	setInt(&o.InvocationQueueLength, DefaultInvocationQueueLength)
	setInt(&o.MaxStreams, DefaultMaxStreams)
	setInt(&o.StreamBufferCapacity, DefaultStreamBufferCapacity)
	setInt(&o.MaxStreamBacklogBytes, DefaultMaxStreamBacklogBytes)
	setInt(&o.MaxConnectionsPerUser, DefaultMaxConnectionsPerUser)
	setInt(&o.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	setInt(&o.MessageBurst, DefaultMessageBurst)
	setInt(&o.RateLimitStrikes, DefaultRateLimitStrikes)
	setInt(&o.MaxGroupsPerConnection, DefaultMaxGroupsPerConnection)
	if o.MaxMessagesPerSecond <= 0 {
		o.MaxMessagesPerSecond = DefaultMaxMessagesPerSecond
	}
	if o.UserID == nil {
		o.UserID = func(r *http.Request) string { return UserIDFromContext(r.Context()) }
	}
	if o.Observer == nil {
		o.Observer = NopObserver{}
	}
	if o.Assets == nil && !o.DisableAssets {
		o.Assets = clientjs.Handler()
	}
	if o.DisableAssets {
		o.Assets = nil
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.TransportOptions = o.TransportOptions.WithDefaults()
	return o
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

func setInt(n *int, def int) {
	if *n <= 0 {
		*n = def
	}
}

// originPolicy is the allow-list of cross-origin origins (Options.AllowedOrigins);
// same-origin requests are always allowed (see Hub.allowsOrigin).
type originPolicy struct {
	any      bool
	exact    map[string]bool
	suffixes []string // "https://*.example.com" becomes scheme "https://" + suffix ".example.com"
	schemes  []string
}

func newOriginPolicy(allowed []string) originPolicy {
	p := originPolicy{exact: map[string]bool{}}
	for _, o := range allowed {
		o = strings.TrimRight(strings.ToLower(strings.TrimSpace(o)), "/")
		switch {
		case o == "":
		case o == "*":
			p.any = true
		case strings.Contains(o, "://*."):
			scheme, rest, _ := strings.Cut(o, "://*")
			p.schemes = append(p.schemes, scheme+"://")
			p.suffixes = append(p.suffixes, rest)
		default:
			p.exact[o] = true
		}
	}
	return p
}

// allowsOrigin reports whether a cross-origin request from origin is allowed.
func (p originPolicy) allowsOrigin(origin string) bool {
	return p.any || p.listed(origin)
}

// listed reports whether origin is allowed by an explicit entry, exact or a
// subdomain pattern: only those get credentialed CORS ("*" does not).
func (p originPolicy) listed(origin string) bool {
	origin = strings.ToLower(origin)
	if p.exact[origin] {
		return true
	}
	for i, suffix := range p.suffixes {
		if strings.HasPrefix(origin, p.schemes[i]) && strings.HasSuffix(origin, suffix) &&
			len(origin) > len(p.schemes[i])+len(suffix) {
			return true
		}
	}
	return false
}
