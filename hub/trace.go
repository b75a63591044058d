package hub

// Tracing: the hooks a tracer (package otelhub, for OpenTelemetry) hangs spans on.
// The hub knows nothing of any tracing library: it tells a Tracer when things start
// and end, and carries the context.Context the Tracer returns to whatever runs
// inside them.

import (
	"context"
	"net/http"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// Tracer is told when a negotiate, a connection, an invocation and a backplane
// publish start, and returns what to call when each ends (package otelhub makes
// OpenTelemetry spans of them). Set it in [Options.Tracer]; nil, the default,
// costs a nil check and nothing else. Its methods are called from many goroutines
// at once; the end funcs they return are each called at most once.
//
// Each Start method but StartNegotiate returns a context derived from the one it
// is given (it must keep its deadline, cancellation and values): the hub runs what
// follows in it, so a span the Tracer puts there is the parent of what the
// application starts inside, down to a handler's own spans ([Context] is the
// invocation's context).
type Tracer interface {
	// StartNegotiate: r is a negotiate request. end is called once it is answered,
	// with the connection ID it gave ("" when refused) and the HTTP status.
	StartNegotiate(r *http.Request, hub string) (end func(connectionID string, status int))
	// StartConnection: r is the request that opened the connection's transport (the
	// WebSocket upgrade, the SSE stream, the first poll); ctx is the connection's
	// own context, which lives until the connection ends, unlike r's. end is called
	// when the connection has ended, after OnDisconnected and before Conn.Done is
	// closed, with why (as Observer.Disconnected is told); for a connection whose
	// transport failed to open (a refused WebSocket upgrade, say), once that is
	// answered, with why it failed.
	StartConnection(ctx context.Context, r *http.Request, conn ConnectionInfo) (context.Context, func(reason error))
	// StartInvocation: a client's invocation arrived; ctx is the connection's (see
	// StartConnection), made an invocation's. end is called once it is over, before
	// its Completion is sent, with the error it is answered with (a handler's, a
	// refusal, an unknown method or a binding failure), or nil. An invocation still
	// queued when its connection ends is never run: end is called with
	// ErrConnectionClosed.
	StartInvocation(ctx context.Context, inv InvocationInfo) (context.Context, func(err error))
	// StartPublish: a message goes to the backplane ([Target.Send] but for
	// receivers all known to be on this node); ctx is Send's, which in a handler is
	// the invocation's. end is called with Publish's error.
	StartPublish(ctx context.Context, pub PublishInfo) (context.Context, func(err error))
}

// ClientInvocationTracer is an optional interface of a [Tracer]: it is told when
// the server calls a client method and waits for its result ([Conn.Invoke]).
// ctx is Invoke's (in a handler, the invocation's), with its deadline; the hub
// waits in the context it returns. end is called with Invoke's error once it
// returns: a *[ClientError], the context's error, [ErrConnectionClosed]… or nil.
type ClientInvocationTracer interface {
	StartClientInvocation(ctx context.Context, inv ClientInvocationInfo) (context.Context, func(err error))
}

// ClientInvocationInfo describes a call of a client method to a
// [ClientInvocationTracer].
type ClientInvocationInfo struct {
	Hub          string
	ConnectionID string
	Method       string // the client method, as the server named it
	InvocationID string // the ID the client answers to
}

// ConnectionInfo describes a connection to a [Tracer].
type ConnectionInfo struct {
	Hub          string
	ConnectionID string
	Transport    transports.Kind
}

// InvocationKind tells the three ways a client invokes a hub method.
type InvocationKind int

const (
	// InvocationCall: the client waits for a Completion (Invocation with an ID).
	InvocationCall InvocationKind = iota
	// InvocationStream: a StreamInvocation, answered with stream items then a Completion.
	InvocationStream
	// InvocationNonBlocking: an Invocation with no ID, never answered (SignalR's "send").
	InvocationNonBlocking
)

// String is the kind's name: "call", "stream" or "non-blocking".
func (k InvocationKind) String() string {
	switch k {
	case InvocationStream:
		return "stream"
	case InvocationNonBlocking:
		return "non-blocking"
	}
	return "call"
}

// InvocationInfo describes an invocation to a [Tracer].
type InvocationInfo struct {
	Hub          string
	ConnectionID string
	// Method is the hub method's name: as registered when the hub has it (Known;
	// clients may send it in any case), else as the client sent it (a tracer
	// should not name spans after unknown ones: any client may send any name).
	Method       string
	Known        bool
	InvocationID string // "" for InvocationNonBlocking
	Kind         InvocationKind
	// Uploads is the number of streams the client sends to the method.
	Uploads int
}

// PublishInfo describes a backplane publish to a [Tracer].
type PublishInfo struct {
	Hub string
	// Method is the client method invoked on the receivers.
	Method   string
	Selector Selector
}

// traceNegotiate answers a negotiate request under Tracer.StartNegotiate.
func traceNegotiate(tr Tracer, h *Hub, w http.ResponseWriter, r *http.Request, user Identity) {
	end := tr.StartNegotiate(r, h.opts.Name)
	rec := &statusRecorder{ResponseWriter: w}
	id := h.negotiateSession(rec, r, user)
	status := rec.status
	if status == 0 {
		status = http.StatusOK // written without WriteHeader
	}
	end(id, status)
}

// endTrace ends the call's span, once: before its Completion is queued, so that
// a client that has its answer finds the span ended, as it finds the invocation
// in Observer's counts. Only the goroutine running the call calls it.
func (cl *call) endTrace(err error) {
	if cl.traced != nil {
		cl.traced(err)
		cl.traced = nil
	}
}

// invocationInfo describes an invocation that has just arrived.
func (c *Conn) invocationInfo(m *protocol.Message) InvocationInfo {
	inv := InvocationInfo{Hub: c.hub.opts.Name, ConnectionID: c.id, Method: m.Target, InvocationID: m.InvocationID, Uploads: len(m.StreamIDs)}
	// Method names match in any case: a known one is named as registered, so
	// "add" and "ADD" are one name to a tracer, not one per spelling.
	if meth := c.hub.method(m.Target); meth != nil {
		inv.Method, inv.Known = meth.name, true
	}
	switch {
	case m.Type == protocol.StreamInvocationType:
		inv.Kind = InvocationStream
	case m.InvocationID == "":
		inv.Kind = InvocationNonBlocking
	}
	return inv
}

// publish hands env to the backplane, under Tracer.StartPublish.
func (t Target) publish(ctx context.Context, env *Envelope) error {
	tr := t.hub.opts.Tracer
	if tr == nil {
		return t.hub.backplane.Publish(ctx, env)
	}
	ctx, end := tr.StartPublish(ctx, PublishInfo{Hub: env.Hub, Method: env.Method, Selector: env.Selector})
	err := t.hub.backplane.Publish(ctx, env)
	end(err)
	return err
}
