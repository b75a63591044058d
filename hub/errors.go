package hub

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors callers tell apart.
var (
	// ErrConnectionClosed is returned when sending through, or invoking, a connection
	// that has ended.
	ErrConnectionClosed = errors.New("hub: connection closed")
	// ErrConnectionNotFound means no connection with that ID lives on this node.
	ErrConnectionNotFound = errors.New("hub: connection not found")
	// ErrSlowConsumer is why a connection whose outbound queue filled up was closed.
	ErrSlowConsumer = errors.New("hub: outbound queue full (slow consumer)")
	// ErrClientTimeout is why a connection that went silent was closed.
	ErrClientTimeout = errors.New("hub: client timeout")
	// ErrHandshakeTimeout is why a connection that never completed its handshake was closed.
	ErrHandshakeTimeout = errors.New("hub: handshake timeout")
	// ErrRateLimited is why a connection that kept sending over its rate limit was closed.
	ErrRateLimited = errors.New("hub: inbound rate limit exceeded")
	// ErrTooManyGroups is returned by Groups.Add beyond Options.MaxGroupsPerConnection.
	// It is an *Error: a handler returning it shows the client its text.
	ErrTooManyGroups error = &Error{Message: "Too many groups for this connection."}
	// ErrClusterDelivery means a send reached this node's receivers but not the
	// other nodes': the backplane could not carry it (an outage). Target.Send
	// returns an error wrapping it and the backplane's cause. It is an *Error: a
	// handler returning it tells the client what happened.
	ErrClusterDelivery error = &Error{Message: "Delivered on this server only: the message could not reach the other servers of the cluster."}
)

// Error is an error whose message is meant for the client, like SignalR's
// HubException: a handler returning one (or an error wrapping one) sends its message
// in the Completion. Other errors are logged and replaced by a generic message,
// unless [Options.DetailedErrors] is set.
type Error struct {
	Message string
}

func (e *Error) Error() string { return e.Message }

// NewError returns an error whose message reaches the client.
func NewError(format string, args ...any) error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}

// ClientError is returned by [Conn.Invoke] when the client answered with an error.
type ClientError struct {
	Message string
}

func (e *ClientError) Error() string { return "hub: client error: " + e.Message }

// Identity is who a connection belongs to, as [Options.Authenticate] establishes it.
type Identity struct {
	// UserID is the user; "" means anonymous.
	UserID string
	// ExpiresAt, when not zero, is when the credentials stop being valid: the
	// connection is closed then, with a Close message that allows reconnecting.
	ExpiresAt time.Time
	// Claims are what the credentials say about the user (roles, scopes…), for
	// per-method authorization (Authorize, RequireClaim).
	Claims map[string]any
}

type userIDKey struct{}

// WithUserID returns a context carrying a user identity. Framework adapters (the Gin
// adapter, your own middleware) use it so that the default [Options.UserID] finds the
// identity on the request.
func WithUserID(ctx context.Context, userID string) context.Context {
	return context.WithValue(ctx, userIDKey{}, userID)
}

// UserIDFromContext returns the identity stored by [WithUserID], or "".
func UserIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(userIDKey{}).(string)
	return id
}
