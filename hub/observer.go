package hub

import (
	"time"

	"github.com/hubbub-go/hubbub/transports"
)

// Observer is told what happens in a hub, for metrics (package metrics has a
// Prometheus implementation). Methods are called on hot paths: they must be fast,
// must not block, and are called from many goroutines at once.
type Observer interface {
	// Negotiated: a negotiate request created a connection.
	Negotiated(hub string)
	// Refused: a request was refused by a limit, by authentication or by the origin
	// check; reason is short and stable: "unauthorized", "forbidden" (a connection
	// token used by another user than its own), "origin" (a CORS request
	// or WebSocket upgrade from an origin neither same nor allowed), "message too
	// large", "body read timeout" (a POST body slower than
	// TransportOptions.BodyReadTimeout), or the limit's text ("Too many pending connections", "Too many
	// pending connections from this address", "Too many connections for this
	// user", "Too many connections from this address", "Server is shutting down").
	Refused(hub, reason string)
	// Connected and Disconnected bracket a connection's life after its handshake.
	Connected(hub string, transport transports.Kind)
	Disconnected(hub string, transport transports.Kind, reason error)
	// Received: one unit (WebSocket message, POST body) came from a client.
	Received(hub string, transport transports.Kind, bytes int)
	// Sent: one unit holding records messages went to a client.
	Sent(hub string, transport transports.Kind, bytes, records int)
	// Invoked: a hub method ran for d and ended with err.
	Invoked(hub, method string, d time.Duration, err error)
	// Closed: the server closed a connection for reason (ErrSlowConsumer,
	// ErrClientTimeout, ErrRateLimited, ErrHandshakeTimeout…).
	Closed(hub string, reason error)
	// BackplaneError: publishing to or maintaining the backplane failed.
	BackplaneError(hub string, err error)
	// LinkLost: a stateful connection lost its link and waits for the client to
	// resume it (Options.ReconnectWindow); Resumed: a client did.
	LinkLost(hub string, transport transports.Kind)
	Resumed(hub string, transport transports.Kind)
}

// NopObserver observes nothing. Embed it to implement only some methods.
type NopObserver struct{}

func (NopObserver) Negotiated(string)                            {}
func (NopObserver) Refused(string, string)                       {}
func (NopObserver) Connected(string, transports.Kind)            {}
func (NopObserver) Disconnected(string, transports.Kind, error)  {}
func (NopObserver) Received(string, transports.Kind, int)        {}
func (NopObserver) Sent(string, transports.Kind, int, int)       {}
func (NopObserver) Invoked(string, string, time.Duration, error) {}
func (NopObserver) Closed(string, error)                         {}
func (NopObserver) BackplaneError(string, error)                 {}
func (NopObserver) LinkLost(string, transports.Kind)             {}
func (NopObserver) Resumed(string, transports.Kind)              {}

// FallbackObserver is an optional interface of an Observer: it is told why a
// client left a transport before settling on the one it connected with, as the
// client reports it after connecting (the bundled client does, unless told not
// to). reason is short and stable: "upgrade-refused" (the WebSocket upgrade
// failed or was refused), "frames-dropped" (the transport connected but its
// messages did not arrive), "stream-buffered" (a proxy held back the SSE stream),
// "requests-cut" (requests ended mid-response) or "failed" (anything else).
type FallbackObserver interface {
	Fallback(hub string, left transports.Kind, reason string)
}

// EndObserver is an optional interface of an Observer: just after Disconnected,
// it is told why the connection ended in the access log's few stable words:
// "client closed", "server closed" ([Conn.Close]), "hub closed" ([Hub.Close]),
// "timeout", "handshake timeout", "slow consumer", "rate limited", "message too
// large", "reconnect window passed", or the error's text. Disconnected's error
// alone cannot tell a close by the client from one by the server.
type EndObserver interface {
	Ended(hub string, transport transports.Kind, reason string)
}

// RateLimitObserver is an optional interface of an Observer: it is told of
// every strike of the inbound rate limit (Options.MaxMessagesPerSecond), a
// message refused; Closed(ErrRateLimited) follows once a connection has had
// Options.RateLimitStrikes of them.
type RateLimitObserver interface {
	RateLimitStrike(hub string)
}

// Observers returns an Observer that tells each of obs, in order, what happens,
// optional interfaces ([FallbackObserver], [RateLimitObserver], [EndObserver]) included: metrics and a dashboard, say,
// on one hub.
func Observers(obs ...Observer) Observer { return observers(obs) }

type observers []Observer

func (os observers) Negotiated(h string) {
	for _, o := range os {
		o.Negotiated(h)
	}
}
func (os observers) Refused(h, reason string) {
	for _, o := range os {
		o.Refused(h, reason)
	}
}
func (os observers) Connected(h string, t transports.Kind) {
	for _, o := range os {
		o.Connected(h, t)
	}
}
func (os observers) Disconnected(h string, t transports.Kind, reason error) {
	for _, o := range os {
		o.Disconnected(h, t, reason)
	}
}
func (os observers) Received(h string, t transports.Kind, bytes int) {
	for _, o := range os {
		o.Received(h, t, bytes)
	}
}
func (os observers) Sent(h string, t transports.Kind, bytes, records int) {
	for _, o := range os {
		o.Sent(h, t, bytes, records)
	}
}
func (os observers) Invoked(h, method string, d time.Duration, err error) {
	for _, o := range os {
		o.Invoked(h, method, d, err)
	}
}
func (os observers) Closed(h string, reason error) {
	for _, o := range os {
		o.Closed(h, reason)
	}
}
func (os observers) BackplaneError(h string, err error) {
	for _, o := range os {
		o.BackplaneError(h, err)
	}
}
func (os observers) LinkLost(h string, t transports.Kind) {
	for _, o := range os {
		o.LinkLost(h, t)
	}
}
func (os observers) Resumed(h string, t transports.Kind) {
	for _, o := range os {
		o.Resumed(h, t)
	}
}
func (os observers) Fallback(h string, left transports.Kind, reason string) {
	for _, o := range os {
		if f, ok := o.(FallbackObserver); ok {
			f.Fallback(h, left, reason)
		}
	}
}
func (os observers) RateLimitStrike(h string) {
	for _, o := range os {
		if r, ok := o.(RateLimitObserver); ok {
			r.RateLimitStrike(h)
		}
	}
}
func (os observers) Ended(h string, t transports.Kind, reason string) {
	for _, o := range os {
		if e, ok := o.(EndObserver); ok {
			e.Ended(h, t, reason)
		}
	}
}
