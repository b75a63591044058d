// Package transport is the server side of the three SignalR transports: it turns
// HTTP exchanges into a duplex stream of units per connection, for WebSockets
// (AcceptWebSocket), Server-Sent Events plus POST for client-to-server data
// (NewServerSentEvents) and long polling: GET polls, POST to send, DELETE to close
// (NewLongPolling). A unit is what one delivery carries: one WebSocket message, one
// SSE event, one POST body, one poll response. Units hold complete protocol
// records; this package never looks inside them. It knows nothing of hubs, methods
// or the hub protocol: the hub package composes it, and is its only user. What
// users configure and name (transports.Kind, transports.Options, the errors and
// the negotiate payloads) lives in the public package transports.
//
// WebSockets use gorilla/websocket. The SSE framing is written here instead of with
// an SSE server library: it is a few lines, and the library at hand (r3labs/sse)
// leaks a goroutine per server-side close, lets one slow reader block the others,
// lets raw newlines in data forge fields and costs kilobytes more per connection.
//
// Idle connections cost little. A WebSocket has one reading goroutine, which waits
// with the smallest stack. An SSE stream and a long poll held for a while are taken
// over from net/http (hijacked, on HTTP/1.x): no goroutine and no buffers per
// connection, and on Linux one goroutine in all watches for clients leaving. The
// tricks behind this, what each saves and costs and how to switch it off, are in
// internal/idleconn.
package transport

import (
	"context"
	"errors"

	"github.com/hubbub-go/hubbub/transports"
)

// Transport is the server side of one connection's transport.
//
// Concurrency: Send is called by one goroutine at a time (the connection's writer).
// Close and Done may be called from any goroutine.
type Transport interface {
	// Kind tells which transport this is.
	Kind() transports.Kind
	// Send delivers one unit to the client. WebSockets write it as one message
	// (text or binary, as chosen at accept time or by BinarySetter); SSE writes it
	// as one event and flushes; long polling waits until a poll is open and answers
	// it with the unit. It returns an error wrapping ErrClosed once the transport has
	// ended, and ctx.Err() when ctx ends first. A write that does not finish within
	// Options.WriteTimeout fails with an error wrapping os.ErrDeadlineExceeded or a
	// net.Error whose Timeout is true, and ends the transport.
	Send(ctx context.Context, unit []byte) error
	// Close ends the transport: a WebSocket close frame with status 1000, the end of
	// the SSE response, 204 to the pending and every later poll. Idempotent.
	Close() error
	// Done is closed once the transport has ended, for any reason: Close, the
	// client going away, a write failure, or (long polling) no poll for too long.
	Done() <-chan struct{}
	// Err tells why the transport ended (nil while it runs, ErrClosed after Close).
	Err() error
	// OnEnd registers f to run once, on a goroutine of its own, when the transport
	// ends (at once if it already has), with the reason Err gives. It lets the owner
	// of an idle connection keep no goroutine waiting on Done. Call it at most once.
	OnEnd(f func(err error))
}

// Poller is implemented by transports whose client asks for each unit (long
// polling). A writer that gathers what to send only once a poll is open answers it
// with everything queued by then, rather than with what was queued when the
// previous answer left; and a writer that runs in the poll's own goroutine
// (OnPoll) answers it without waking another goroutine.
type Poller interface {
	// Polled reports whether a poll is open to take a unit now: Send then
	// answers it at once, unless it goes away meanwhile.
	Polled() bool
	// OnPoll registers f to run in the goroutine of each poll that opens to wait
	// for a unit, before it waits. Call it at most once, before the first poll.
	OnPoll(f func())
}

// BinarySetter is implemented by transports whose messages are typed text or
// binary (WebSockets). Units are opaque to the transports: whoever knows what
// they hold (the hub, once the handshake named a binary protocol) says so.
type BinarySetter interface {
	// SetBinary makes the units sent from now on binary (true) or text (false).
	SetBinary(binary bool)
}

// Receiver handles one unit from the client. A transport calls it from one goroutine
// at a time, in arrival order, and must not call it after Done is closed. The slice
// is only valid during the call.
type Receiver func(unit []byte)

// ErrOriginNotAllowed means Options.CheckOrigin refused a WebSocket upgrade
// (AcceptWebSocket has answered 403).
var ErrOriginNotAllowed = errors.New("origin not allowed")

// The transports and what each implements.
var (
	_ Transport    = (*WebSocket)(nil)
	_ BinarySetter = (*WebSocket)(nil)
	_ Transport    = (*SSE)(nil)
	_ Transport    = (*LongPoll)(nil)
	_ Poller       = (*LongPoll)(nil)
)
