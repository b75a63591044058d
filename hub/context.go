package hub

import (
	"context"
	"net/http"
	"sync"

	"github.com/hubbub-go/hubbub/transports"
)

// Context is what a handler or a lifecycle hook knows about its call: the calling
// connection, its user, and the ways to reach other clients. It is a
// [context.Context] that ends when the invocation is cancelled by the client or the
// connection ends, so pass it to anything that should stop then.
type Context struct {
	context.Context
	conn *Conn
}

// Conn is the calling connection.
func (c *Context) Conn() *Conn { return c.conn }

// ConnectionID is the calling connection's public ID.
func (c *Context) ConnectionID() string { return c.conn.id }

// UserID is the caller's identity, or "" when anonymous.
func (c *Context) UserID() string { return c.conn.session.identity.UserID }

// Identity is the caller's identity with its claims.
func (c *Context) Identity() Identity { return c.conn.session.identity }

// Transport tells which transport the caller uses.
func (c *Context) Transport() transports.Kind { return c.conn.kind }

// Request is the HTTP request that opened the caller's transport.
func (c *Context) Request() *http.Request { return c.conn.Request() }

// Items is the caller's per-connection store.
func (c *Context) Items() *sync.Map { return c.conn.Items() }

// Hub is the hub being called.
func (c *Context) Hub() *Hub { return c.conn.hub }

// Clients selects receivers, including Caller and Others relative to this caller.
// A [protocol.RawValue] argument is taken to be in the caller's protocol (as the
// handler got it), and converted for receivers speaking the other one.
func (c *Context) Clients() Clients {
	return Clients{hub: c.conn.hub, caller: c.conn.id, proto: c.conn.proto}
}

// Groups adds and removes connections to and from groups.
func (c *Context) Groups() Groups { return Groups{hub: c.conn.hub} }
