package client

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Errors callers tell apart with errors.Is. Errors returned by this package wrap one
// of them and add context (the URL, the HTTP status, the server's text).
var (
	// ErrNegotiate means the negotiate request failed: a transport error, a status
	// other than 200, a body that is not a negotiate response, or a refusal
	// ({"error": "..."}) from the server. The official client never falls back after
	// a failed negotiate, and neither does Dial.
	ErrNegotiate = errors.New("client: negotiate failed")
	// ErrNoTransport means no transport could be used: none offered by the server is
	// allowed by Options.Transports, or every one that was tried failed to connect.
	// The error lists each attempt's cause.
	ErrNoTransport = errors.New("client: unable to connect with any of the available transports")
	// ErrHandshake means the hub handshake failed: the server answered with an error,
	// sent something that is not a handshake reply, or closed the transport first.
	ErrHandshake = errors.New("client: handshake failed")
	// ErrTimeout means the server stayed silent too long: no handshake reply within
	// Options.HandshakeTimeout, or nothing at all within Options.ServerTimeout.
	ErrTimeout = errors.New("client: timeout")
	// ErrClosed means the connection has ended. Every error returned by Conn.Err
	// wraps it, and so does every error of a call made on an ended connection.
	ErrClosed = errors.New("client: connection closed")
	// ErrConnectionLost means the server no longer knows the connection: a resume
	// was answered 404 (the server's reconnect window passed, or the connection was
	// closed), or the client's Options.ReconnectWindow passed without a link. State
	// kept on the server (groups, items, messages in flight) is gone; dial again
	// for a new connection. Conn.Err wraps it (and ErrClosed).
	ErrConnectionLost = errors.New("client: connection lost")
	// ErrCanceled is what Stream.Next returns after Stream.Cancel.
	ErrCanceled = errors.New("client: stream canceled")
	// ErrProtocol means the server sent something the hub protocol does not allow
	// (an incomplete record, a StreamItem for a plain invocation…). The connection
	// is closed with an error wrapping it.
	ErrProtocol = errors.New("client: protocol error")
)

// InvocationError is a hub method's failure as reported by the server: a Completion
// carrying an error. The connection stays open.
//
//	var ie *client.InvocationError
//	if errors.As(err, &ie) { log.Print(ie.Message) }
type InvocationError struct {
	// Method is the hub method that was invoked.
	Method string
	// Message is the server's error text, verbatim.
	Message string
}

func (e *InvocationError) Error() string {
	return fmt.Sprintf("client: %s failed: %s", e.Method, e.Message)
}

// CloseError is why the connection ended when the server said so with a Close
// message. It wraps [ErrClosed].
type CloseError struct {
	// Message is the server's error text; empty for a Close without an error.
	Message string
	// AllowReconnect is the server's permission to reconnect: the official client
	// reconnects (when configured to) only after a Close that allows it, or after
	// the transport was lost without a Close.
	AllowReconnect bool
}

func (e *CloseError) Error() string {
	var b strings.Builder
	b.WriteString("client: the server closed the connection")
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.AllowReconnect {
		b.WriteString(" (reconnect allowed)")
	}
	return b.String()
}

// Unwrap returns [ErrClosed].
func (e *CloseError) Unwrap() error { return ErrClosed }

// HTTPError is an HTTP exchange that got an unexpected status: a negotiate that did
// not answer 200, a WebSocket upgrade refused, a POST, poll or SSE request that
// failed. It is found with errors.As inside the errors of this package.
type HTTPError struct {
	// Method and URL of the request. The URL's secret query parameters (id,
	// access_token) are redacted.
	Method, URL string
	// StatusCode is the HTTP status, e.g. 404.
	StatusCode int
	// Body is the start of the response body (at most 512 bytes), trimmed: servers
	// put a short plain-text reason there.
	Body string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// redact hides the values of the query parameters that carry secrets, so errors and
// logs can show URLs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return raw
	}
	parts := strings.Split(u.RawQuery, "&")
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if strings.EqualFold(k, "id") || strings.EqualFold(k, "access_token") {
			parts[i] = k + "=REDACTED"
		}
	}
	u.RawQuery = strings.Join(parts, "&")
	return u.String()
}

// lostError is why a connection ended when the server no longer knows it. It wraps
// ErrConnectionLost, ErrClosed and the cause.
type lostError struct{ cause error }

func (e *lostError) Error() string {
	return "client: connection lost (the server no longer knows it): " + e.cause.Error()
}

func (e *lostError) Unwrap() []error { return []error{ErrConnectionLost, ErrClosed, e.cause} }
