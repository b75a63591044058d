package client

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// Options configure a connection. The zero value of every field means its default,
// written beside it, so Options{} is a connection that behaves like the official
// JavaScript client with its defaults.
type Options struct {
	// Transports is the set of transports the client may use, e.g.
	// transports.WebSockets|transports.LongPolling. Default all three. They are
	// tried in the order the server lists them in its negotiate response (WebSockets,
	// ServerSentEvents, LongPolling); when one fails to connect, the client
	// negotiates again and tries the next, as the official client does.
	Transports transports.Kind

	// Protocol is the hub protocol: protocol.JSON (the default) or
	// protocol.MessagePack. It encodes every message and value of the connection:
	// arguments, results and stream items are RawValues in this protocol, decoded
	// with Conn.Decode, Conn.DecodeArgs, Result.Decode or Items. A binary protocol
	// (MessagePack) needs a transport with the Binary transfer format: WebSockets
	// (binary frames) or long polling (binary bodies), never Server-Sent Events,
	// which the client then skips.
	Protocol protocol.Protocol

	// SkipNegotiation connects a WebSocket directly to the hub URL, without a
	// negotiate request; Transports must then be exactly transports.WebSockets.
	// ConnectionID stays empty. Default false.
	SkipNegotiation bool

	// Header holds extra headers for every HTTP request (negotiate, SSE stream,
	// polls, POSTs, DELETE) and the WebSocket upgrade. Default none. A User-Agent set
	// here replaces the client's own.
	Header http.Header

	// AccessToken returns the bearer token. It is called for every negotiate and
	// WebSocket connect, and once more when a request is answered 401. The token is
	// sent as "Authorization: Bearer <token>" on HTTP requests and the WebSocket
	// upgrade, and as the access_token query parameter on the SSE stream (as the
	// official client does). Default: no token.
	AccessToken func(ctx context.Context) (string, error)

	// HTTPClient sends the HTTP requests. Its Jar, and when its Transport is an
	// *http.Transport its Proxy, DialContext and TLSClientConfig, are used for the
	// WebSocket too. Default: a client of the connection's own (a clone of
	// http.DefaultTransport) whose idle connections are closed by Close.
	HTTPClient *http.Client

	// HandshakeTimeout bounds the wait for the server's handshake reply once the
	// transport is connected. Default 15 s.
	HandshakeTimeout time.Duration

	// KeepAliveInterval: a Ping is sent when nothing was sent for this long, so the
	// server does not time the client out. WebSockets and SSE only: long polling
	// needs none. Default 15 s; negative disables pings.
	KeepAliveInterval time.Duration

	// ServerTimeout closes the connection with an error wrapping ErrTimeout when
	// nothing at all arrived from the server for this long. WebSockets and SSE
	// only: a long poll is its own keep-alive. Keep it at least twice the server's
	// keep-alive interval. Default 30 s; negative disables it.
	ServerTimeout time.Duration

	// RequestTimeout bounds each negotiate, POST and DELETE request and each
	// WebSocket write. Default 100 s, the official client's HTTP timeout. A long
	// poll is bounded separately at 100 s, and an expired poll is simply renewed.
	RequestTimeout time.Duration

	// MaxReceiveSize caps one unit from the server: a WebSocket message, an SSE
	// event or a poll response. A larger one closes the connection with an error.
	// Default 16 MiB. Servers pack at most about 64 KiB of queued messages into
	// one unit (Hubbub, and ASP.NET Core through its pipes), so this is in effect
	// the largest message the client takes.
	MaxReceiveSize int64

	// MaxQueueLength bounds the messages waiting to be sent, and the server
	// invocations waiting for their handler. A full send queue makes Invoke, Send
	// and stream items wait (or fail when their context ends); a full handler queue
	// makes the connection stop reading until the handlers catch up. Default 1024.
	MaxQueueLength int

	// StreamBufferCapacity is how many items of one server-to-client stream are
	// buffered ahead of Stream.Next. When a stream's buffer is full the connection
	// stops reading until the items are taken or the stream is cancelled. Default 64.
	StreamBufferCapacity int

	// DisableStatefulReconnect stops the client from asking for stateful reconnect
	// (docs/reconnect.md). By default it asks (useStatefulReconnect=true at
	// negotiate) and, when the server agrees, sends the handshake version 2 on
	// every transport, numbers and acknowledges messages both ways, and resumes the
	// connection (same ID, groups, pending invocations and streams, no message lost
	// or duplicated) over a new link when one is cut. Default false.
	DisableStatefulReconnect bool

	// ReconnectWindow is how long the client keeps trying to resume a link after a
	// cut, counted from the cut; it matches the server's Options.ReconnectWindow,
	// how long the server keeps a detached connection. Past it, the connection ends
	// with an error wrapping ErrConnectionLost. It also bounds the retries of long
	// polls answered 502, 503 or 504 (or cut) without stateful reconnect. Each
	// attempt is bounded by HandshakeTimeout too. Default 30 s.
	ReconnectWindow time.Duration

	// StatefulReconnectBufferSize bounds, in bytes, the messages sent and not yet
	// acknowledged by the server (kept to be sent again after a cut), counting those
	// still queued. Past it, Invoke, Send, Stream and upload stream items wait for
	// the server's acks (or for their context to end). A single message larger than
	// the whole buffer is let through when the buffer is empty. Default 100,000, as
	// ASP.NET Core's.
	StatefulReconnectBufferSize int

	// OnReconnecting is called when a link is cut and the client starts to resume
	// it (or, without stateful reconnect, to retry long polls), with the cut's
	// cause. It runs on the connection's reader goroutine: it must return quickly
	// and must not wait for a call on the connection. Default none.
	OnReconnecting func(err error)

	// OnReconnected is called once the link is back. resumed is true after a
	// stateful resume: the connection (ID, groups, streams, messages in flight) was
	// kept and nothing was lost. It is false after long polls were retried without
	// stateful reconnect: same connection, but messages in flight at the cut may be
	// lost. Same rules as OnReconnecting. Default none.
	OnReconnected func(resumed bool)

	// Logger receives the client's logs: connection lifecycle at Debug, problems
	// (an invocation without a handler, a failed DELETE) at Warn. Default
	// slog.Default().
	Logger *slog.Logger
}

// Defaults for [Options].
const (
	DefaultHandshakeTimeout     = 15 * time.Second
	DefaultKeepAliveInterval    = 15 * time.Second
	DefaultServerTimeout        = 30 * time.Second
	DefaultRequestTimeout       = 100 * time.Second
	DefaultMaxReceiveSize       = 16 << 20
	DefaultMaxQueueLength       = 1024
	DefaultStreamBufferCapacity = 64
	// DefaultReconnectWindow matches the server's default Options.ReconnectWindow.
	DefaultReconnectWindow = 30 * time.Second
	// DefaultStatefulReconnectBufferSize is ASP.NET Core's default.
	DefaultStatefulReconnectBufferSize = 100_000
)

// pollTimeout bounds one long poll, as the official client's fixed 100 s; a poll
// that times out is renewed silently. Servers hold polls for less.
const pollTimeout = 100 * time.Second

func (o Options) withDefaults() Options {
	if o.Transports&transports.AllKinds == 0 {
		o.Transports = transports.AllKinds
	}
	o.Transports &= transports.AllKinds
	if o.Protocol == nil {
		o.Protocol = protocol.JSON
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.KeepAliveInterval == 0 {
		o.KeepAliveInterval = DefaultKeepAliveInterval
	}
	if o.ServerTimeout == 0 {
		o.ServerTimeout = DefaultServerTimeout
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.MaxReceiveSize <= 0 {
		o.MaxReceiveSize = DefaultMaxReceiveSize
	}
	if o.MaxQueueLength <= 0 {
		o.MaxQueueLength = DefaultMaxQueueLength
	}
	if o.StreamBufferCapacity <= 0 {
		o.StreamBufferCapacity = DefaultStreamBufferCapacity
	}
	if o.ReconnectWindow <= 0 {
		o.ReconnectWindow = DefaultReconnectWindow
	}
	if o.StatefulReconnectBufferSize <= 0 {
		o.StatefulReconnectBufferSize = DefaultStatefulReconnectBufferSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
