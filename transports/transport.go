// Package transports names the three SignalR transports and holds what users
// set and see of them: Kind (WebSockets, ServerSentEvents, LongPolling, and sets
// of them), Options (limits, timeouts, and the switches of the idle-connection
// tricks), the errors a connection's end wraps (ErrClosed, ErrTooLarge,
// ErrEndedByClient), the negotiate payloads (NegotiateResponse, Offer) and
// connection tokens (NewToken). The hub and the Go client both use it.
//
// The server side of the transports, which turns HTTP exchanges into a duplex
// stream of units per connection, is internal to this module
// (internal/transport): only the hub package serves connections.
//
// Idle connections cost little. A WebSocket has one reading goroutine, which waits
// with the smallest stack (see Options.DisableIdleReadHandoff). An SSE stream and a
// long poll held for a while are taken over from net/http (hijacked, on HTTP/1.x;
// see Options.DisableTakeover): no goroutine and no buffers per connection, and on
// Linux one goroutine in all watches for clients leaving (see
// Options.DisableCloseWatcher). Each of these options says what its trick saves
// and costs.
package transports

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Kind names a transport. The values are the bit flags the official client uses for
// its transport mask, so a set of transports is a Kind too.
type Kind int

// The transports.
const (
	WebSockets       Kind = 1
	ServerSentEvents Kind = 2
	LongPolling      Kind = 4

	// AllKinds is every transport, in preference order when listed.
	AllKinds = WebSockets | ServerSentEvents | LongPolling
)

// Kinds lists single transports in the order negotiate offers them.
var Kinds = []Kind{WebSockets, ServerSentEvents, LongPolling}

// String returns the wire name: "WebSockets", "ServerSentEvents" or "LongPolling".
func (k Kind) String() string {
	switch k {
	case WebSockets:
		return "WebSockets"
	case ServerSentEvents:
		return "ServerSentEvents"
	case LongPolling:
		return "LongPolling"
	}
	var names []string
	for _, one := range Kinds {
		if k&one != 0 {
			names = append(names, one.String())
		}
	}
	if len(names) == 0 {
		return "None"
	}
	return strings.Join(names, "|")
}

// ParseKind reads a transport name. It accepts the wire names and the short forms
// used on command lines ("websockets", "sse", "longpolling", "lp"), in any case.
func ParseKind(name string) (Kind, bool) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "websockets", "websocket", "ws":
		return WebSockets, true
	case "serversentevents", "sse":
		return ServerSentEvents, true
	case "longpolling", "lp", "long-polling":
		return LongPolling, true
	}
	return 0, false
}

// Errors callers tell apart.
var (
	// ErrClosed means the transport has ended.
	ErrClosed = errors.New("transport closed")
	// ErrTooLarge means a unit from the client exceeded
	// Options.MaxTransportMessageSize, or (as the hub reports it) one message in a
	// unit exceeded Options.MaxReceiveSize.
	ErrTooLarge = errors.New("message too large")
	// ErrEndedByClient means the client ended the connection on purpose (a long
	// polling DELETE, a WebSocket close frame 1000, 1001 or without a status), as
	// opposed to a link that was lost. It wraps ErrClosed.
	ErrEndedByClient = fmt.Errorf("ended by the client: %w", ErrClosed)
)

// Options tune the transports. The zero value of each field means its default.
type Options struct {
	// MaxReceiveSize caps one message from the client: each protocol record a unit
	// holds (a JSON record with its separator), as ASP.NET Core SignalR's
	// MaximumReceiveMessageSize. Default 32 KiB, as ASP.NET Core. The transports
	// never look inside units: the hub applies it, and closes a connection whose
	// client sends a larger message with the protocol's Close message and a reason.
	MaxReceiveSize int64
	// MaxTransportMessageSize caps one unit from the client: a WebSocket message or
	// a POST body. Clients pack what they queue while a send is in flight into one
	// unit (400 small invocations from the official client make one 45 KB
	// WebSocket message), so it is far above MaxReceiveSize. Default 1 MiB, or
	// twice MaxReceiveSize when that is more (room for a message of the largest
	// size and what a client packs with it). Over it, WebSockets close with
	// status 1009 and POST answers 413.
	MaxTransportMessageSize int64
	// BodyReadTimeout bounds the time a client takes to send a request's body,
	// from the handler's start: a POST carrying a unit (the hub applies it to
	// every request it serves, net/http reading to its end the body of a handler
	// that did not). A POST whose body has not arrived in time
	// is answered 408 and its connection closed; other requests are answered and
	// their connections closed. Either way the goroutine and buffers the request
	// held are freed. Requests without a body (WebSocket upgrades, SSE streams,
	// polls) are not bounded: the streams they turn into last. Default 10 s.
	BodyReadTimeout time.Duration
	// WriteTimeout bounds one write to the client. Default 10 s. A client that
	// cannot take a unit in that time has its transport ended.
	WriteTimeout time.Duration
	// PollTimeout is how long a long poll is held when there is nothing to send.
	// Default 25 s: below the 30 s and 60 s idle limits common in proxies and load
	// balancers, and far below the official client's fixed 100 s poll timeout.
	PollTimeout time.Duration
	// IdlePollTakeover is how long a long poll with nothing to send is held by its
	// net/http handler before the transport takes its connection over (hijacks it)
	// to hold it for the rest of PollTimeout at a fraction of the memory: no
	// goroutine and no buffers, a few hundred bytes besides the socket. The answer
	// to a taken-over poll closes its connection, so the client's next poll opens a
	// new one; waiting first keeps clients that get messages more than twice a
	// second on their keep-alive connections and makes only quieter ones pay that.
	// A longer wait costs memory besides: the handlers held meanwhile leave the
	// heap fragmented (at 10k idle connections, 2 s costs about 2.5 KiB more per
	// connection than 500 ms). Default 500 ms; negative: never. HTTP/2 polls and
	// ResponseWriters that cannot hijack are always held by their handler.
	IdlePollTakeover time.Duration
	// DisableTakeover keeps every SSE stream and long poll in its net/http handler
	// instead of taking its connection over (see IdlePollTakeover). By default an SSE
	// stream on HTTP/1.x is taken over as it opens: it then costs no goroutine (on
	// Linux; elsewhere one with a small stack; see DisableCloseWatcher) and no buffers
	// (at 10k idle streams, 33.9 KiB per connection became 7.7 when it came;
	// BENCHMARKS.md). The price: middleware that must see each response end (an access
	// log, Gin's Logger) sees a taken-over one end at takeover, with no status; and
	// each taken-over poll's answer closes its connection.
	DisableTakeover bool
	// DisableCloseWatcher stops watching taken-over connections (see DisableTakeover)
	// for their clients leaving through one epoll instance and one goroutine for all
	// of them, on Linux. A taken-over SSE stream then reads its connection from a
	// goroutine of its own, with a small stack (the watcher took 10k idle streams from
	// 6.9 KiB per connection to 4.4), and a taken-over long poll whose client left is
	// let go only when it is answered (at the latest after PollTimeout), rather than
	// at once: as on other platforms, where there is no watcher. The watcher costs an
	// epoll instance and an eventfd per process, and its goroutine while something is
	// watched.
	DisableCloseWatcher bool
	// DisableIdleReadHandoff makes each WebSocket's reading goroutine wait for the
	// next message inside gorilla/websocket's reader, as a plain gorilla server does,
	// for the connection's life. By default it waits in the network poller a few
	// frames deep (peeking at the socket), and after a second with no message hands
	// that wait to a fresh goroutine, whose stack starts small: an idle WebSocket then
	// holds 2 KiB of stack instead of 4 (12.9 KiB per connection became 10.4 at 10k
	// idle WebSockets when it came). The price: one more system call for each message
	// that finds the read buffer empty, a goroutine started for each connection that
	// goes idle, and a smaller initial stack for every goroutine of the process (the
	// runtime sizes it by the average), which made echo about 8-10% slower when
	// measured. Over TLS, with a ReadBufferSize of 256 bytes or less, and on platforms
	// without MSG_PEEK (Windows), readers always wait in gorilla/websocket.
	DisableIdleReadHandoff bool
	// DisconnectTimeout ends a long-polling transport when no poll has been open for
	// this long. Default 15 s, as ASP.NET Core.
	DisconnectTimeout time.Duration
	// CheckOrigin decides whether a WebSocket upgrade from r's Origin is allowed.
	// Default: same origin only (no Origin header, or Origin's host equals r.Host).
	CheckOrigin func(r *http.Request) bool
	// ReadBufferSize and WriteBufferSize size the WebSocket I/O buffers. Defaults
	// 1 KiB and 4 KiB; write buffers are pooled across connections.
	ReadBufferSize, WriteBufferSize int
}

// Defaults for Options.
const (
	DefaultMaxReceiveSize    = 32 << 10
	DefaultWriteTimeout      = 10 * time.Second
	DefaultBodyReadTimeout   = 10 * time.Second
	DefaultPollTimeout       = 25 * time.Second
	DefaultDisconnectTimeout = 15 * time.Second
	DefaultIdlePollTakeover  = 500 * time.Millisecond
	DefaultReadBufferSize    = 1 << 10
	DefaultWriteBufferSize   = 4 << 10
)

// DefaultMaxTransportMessageSize is Options.MaxTransportMessageSize's default
// (unless twice MaxReceiveSize is more).
const DefaultMaxTransportMessageSize = 1 << 20

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	if o.MaxReceiveSize <= 0 {
		o.MaxReceiveSize = DefaultMaxReceiveSize
	}
	if o.MaxTransportMessageSize <= 0 {
		o.MaxTransportMessageSize = max(DefaultMaxTransportMessageSize, 2*o.MaxReceiveSize)
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.BodyReadTimeout <= 0 {
		o.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = DefaultPollTimeout
	}
	if o.IdlePollTakeover == 0 {
		o.IdlePollTakeover = DefaultIdlePollTakeover
	}
	if o.DisconnectTimeout <= 0 {
		o.DisconnectTimeout = DefaultDisconnectTimeout
	}
	if o.CheckOrigin == nil {
		o.CheckOrigin = SameOrigin
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = DefaultReadBufferSize
	}
	if o.WriteBufferSize <= 0 {
		o.WriteBufferSize = DefaultWriteBufferSize
	}
	return o
}

// SameOrigin allows requests without an Origin header and those whose Origin host
// equals the request's Host (see SameOriginAs; the scheme is not compared, since
// behind a TLS-terminating proxy the request itself cannot tell it).
func SameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin == "" || SameOriginAs(origin, "", r.Host)
}

// SameOriginAs reports whether origin ("scheme://host[:port]", as browsers send it)
// names host, compared case-insensitively and with a default port (:80 for http,
// :443 for https) left out on either side. When scheme is not empty the schemes
// must match too.
func SameOriginAs(origin, scheme, host string) bool {
	originScheme, originHost, ok := strings.Cut(origin, "://")
	if !ok || host == "" {
		return false
	}
	if scheme != "" && !strings.EqualFold(originScheme, scheme) {
		return false
	}
	return strings.EqualFold(withoutDefaultPort(originHost, originScheme), withoutDefaultPort(host, originScheme))
}

// withoutDefaultPort drops scheme's default port from host.
func withoutDefaultPort(host, scheme string) string {
	switch {
	case strings.EqualFold(scheme, "http"):
		return strings.TrimSuffix(host, ":80")
	case strings.EqualFold(scheme, "https"):
		return strings.TrimSuffix(host, ":443")
	}
	return host
}
