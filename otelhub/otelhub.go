// Package otelhub traces a hub with OpenTelemetry: a span for each negotiate, each
// connection, each invocation of a hub method, each call of a client method that
// waits for its result ([hub.Conn.Invoke]) and each backplane publish. It
// implements [hub.Tracer] and [hub.ClientInvocationTracer]:
//
//	tracer := otelhub.New(tracerProvider)
//	chat := hub.New(hub.Options{Name: "chat", Tracer: tracer})
//
// # Spans
//
//	name               kind      parent                          ends
//	negotiate {hub}    server    the request's trace             when answered
//	connection {hub}   server    the request opening the         when the connection ends
//	                             transport's trace
//	{hub}/{method}     server    the connection                  when the invocation is answered
//	publish {hub}      producer  Send's context (in a handler,   when the backplane took it
//	                             the invocation)
//	{hub}/{method}     client    Invoke's context (in a handler, when the client's result
//	                             the invocation)                 arrives or Invoke gives up
//
// The negotiate and connection spans take their parent from the request: a span
// already in its context (middleware such as otelhttp put it there; the hub's span
// is then of kind internal, under the middleware's server span), or else the trace
// context in its headers, read by the propagator ([WithPropagator]; default W3C
// Trace Context, the traceparent header). The connection's parent is the request
// that opened the transport (the WebSocket upgrade, the SSE stream, the first
// poll), not the negotiate: browsers and the SignalR clients send each as a
// request of its own, each with its own trace context when instrumented.
//
// An invocation's span is in the [hub.Context] its handler gets, so the spans the
// handler starts from it are its children, and so is the publish span of a
// [hub.Target.Send] given that Context. A span starts when the invocation arrives
// (time waiting for the connection's previous invocations included) and ends when
// it is answered: for a stream, after its last item.
//
// # Attributes
//
// Names follow the OpenTelemetry semantic conventions where they have one (rpc.*,
// as ASP.NET Core SignalR's own spans use them; signalr.transport and
// signalr.connection.status; error.type; messaging.system), and signalr.* otherwise:
//
//	signalr.hub                 every span but invocations' (those have rpc.service)
//	signalr.connection.id       the public connection ID (never the token)
//	signalr.transport           connection: web_sockets, server_sent_events, long_polling
//	signalr.connection.status   connection, at its end: normal_closure or timeout
//	http.response.status_code   negotiate
//	rpc.system                  invocation: "signalr"
//	rpc.service                 invocation: the hub's name
//	rpc.method                  invocation: the method as registered (clients may
//	                            send it in any case), or _OTHER for one the hub
//	                            has not (the span is then {hub}/_OTHER)
//	rpc.method_original         invocation of an unknown method: the name sent
//	signalr.invocation.id       invocation: the client's ID ("" for non-blocking)
//	signalr.invocation.kind     invocation: call, stream or non-blocking;
//	                            client_result for a call of a client method
//	signalr.upload.streams      invocation with client-to-server streams: how many
//	messaging.system            publish: "signalr"
//	signalr.client_method       publish: the client method invoked on receivers
//	signalr.target.kind         publish: all, connections, groups or users
//	signalr.target.count        publish: how many connections, groups or users named
//	error.type                  a failed span: client_timeout, handshake_timeout,
//	                            reconnect_timeout, slow_consumer, rate_limited,
//	                            message_too_large, cluster_delivery, canceled,
//	                            deadline_exceeded; else the error's Go type
//	                            (*hub.Error…) or _OTHER for a plain text; the
//	                            HTTP status of a failed negotiate
//
// # Errors
//
// An invocation answered with an error (a handler's, a refusal, an unknown method,
// arguments that do not bind), a publish the backplane failed, a connection ended
// for anything but a close by either side (a timeout, a slow consumer, a rate
// limit…) and a negotiate answered 5xx have status Error; the error is recorded
// as an exception event. Argument and result values are never recorded.
//
// Trace context is not carried across the backplane: a message another node
// delivers has no span there.
package otelhub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// ScopeName is the instrumentation scope of otelhub's spans.
const ScopeName = "github.com/hubbub-go/hubbub/otelhub"

// Attribute keys (see the package documentation).
const (
	HubKey              = attribute.Key("signalr.hub")
	ConnectionIDKey     = attribute.Key("signalr.connection.id")
	TransportKey        = attribute.Key("signalr.transport")
	ConnectionStatusKey = attribute.Key("signalr.connection.status")
	InvocationIDKey     = attribute.Key("signalr.invocation.id")
	InvocationKindKey   = attribute.Key("signalr.invocation.kind")
	UploadStreamsKey    = attribute.Key("signalr.upload.streams")
	ClientMethodKey     = attribute.Key("signalr.client_method")
	TargetKindKey       = attribute.Key("signalr.target.kind")
	TargetCountKey      = attribute.Key("signalr.target.count")

	rpcSystemKey         = attribute.Key("rpc.system")
	rpcServiceKey        = attribute.Key("rpc.service")
	rpcMethodKey         = attribute.Key("rpc.method")
	rpcMethodOriginalKey = attribute.Key("rpc.method_original")
	httpStatusKey        = attribute.Key("http.response.status_code")
	errorTypeKey         = attribute.Key("error.type")
	messagingSystemKey   = attribute.Key("messaging.system")
)

// unknownMethod names an invocation of a method the hub has not.
const unknownMethod = "_OTHER"

// Tracer is a [hub.Tracer] that makes OpenTelemetry spans. One value serves many
// hubs: every span carries its hub's name.
type Tracer struct {
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

var (
	_ hub.Tracer                 = (*Tracer)(nil)
	_ hub.ClientInvocationTracer = (*Tracer)(nil)
)

// Option configures a [Tracer].
type Option func(*Tracer)

// WithPropagator reads the trace context of requests whose context has no span
// with p. Default: propagation.TraceContext (the W3C traceparent and tracestate
// headers).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(t *Tracer) { t.propagator = p }
}

// New returns a Tracer whose spans tp makes; nil tp is the global provider
// (otel.GetTracerProvider).
func New(tp trace.TracerProvider, opts ...Option) *Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	t := &Tracer{tracer: tp.Tracer(ScopeName), propagator: propagation.TraceContext{}}
	for _, o := range opts {
		o(t)
	}
	return t
}

// parent puts the trace r belongs to into ctx, and tells the kind of the span to
// start under it: internal under a span of the same process (middleware's server
// span), server under a remote parent or none.
func (t *Tracer) parent(ctx context.Context, r *http.Request) (context.Context, trace.SpanKind) {
	if span := trace.SpanFromContext(r.Context()); span.SpanContext().IsValid() {
		return trace.ContextWithSpan(ctx, span), trace.SpanKindInternal
	}
	return t.propagator.Extract(ctx, propagation.HeaderCarrier(r.Header)), trace.SpanKindServer
}

// StartNegotiate implements [hub.Tracer].
func (t *Tracer) StartNegotiate(r *http.Request, hubName string) func(string, int) {
	ctx, kind := t.parent(r.Context(), r)
	_, span := t.tracer.Start(ctx, "negotiate "+hubName, trace.WithSpanKind(kind),
		trace.WithAttributes(HubKey.String(hubName)))
	return func(connectionID string, status int) {
		span.SetAttributes(httpStatusKey.Int(status))
		if connectionID != "" {
			span.SetAttributes(ConnectionIDKey.String(connectionID))
		}
		if status >= http.StatusInternalServerError {
			span.SetAttributes(errorTypeKey.String(strconv.Itoa(status)))
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}
}

// StartConnection implements [hub.Tracer].
func (t *Tracer) StartConnection(ctx context.Context, r *http.Request, c hub.ConnectionInfo) (context.Context, func(error)) {
	parent, kind := t.parent(ctx, r)
	_, span := t.tracer.Start(parent, "connection "+c.Hub, trace.WithSpanKind(kind),
		trace.WithAttributes(HubKey.String(c.Hub), ConnectionIDKey.String(c.ConnectionID), TransportKey.String(transportName(c.Transport))))
	// The connection's own context (its cancellation, its values), with the span.
	return trace.ContextWithSpan(ctx, span), func(reason error) {
		switch {
		case reason == nil || errors.Is(reason, transports.ErrClosed) || errors.Is(reason, hub.ErrConnectionClosed):
			span.SetAttributes(ConnectionStatusKey.String("normal_closure"))
		case errors.Is(reason, hub.ErrClientTimeout) || errors.Is(reason, hub.ErrHandshakeTimeout) || errors.Is(reason, hub.ErrReconnectTimeout):
			span.SetAttributes(ConnectionStatusKey.String("timeout"))
			fail(span, reason)
		default:
			fail(span, reason)
		}
		span.End()
	}
}

// StartInvocation implements [hub.Tracer].
func (t *Tracer) StartInvocation(ctx context.Context, inv hub.InvocationInfo) (context.Context, func(error)) {
	method := inv.Method
	attrs := make([]attribute.KeyValue, 0, 8)
	if !inv.Known {
		method = unknownMethod
		attrs = append(attrs, rpcMethodOriginalKey.String(inv.Method))
	}
	attrs = append(attrs, rpcSystemKey.String("signalr"), rpcServiceKey.String(inv.Hub), rpcMethodKey.String(method),
		ConnectionIDKey.String(inv.ConnectionID), InvocationIDKey.String(inv.InvocationID), InvocationKindKey.String(inv.Kind.String()))
	if inv.Uploads > 0 {
		attrs = append(attrs, UploadStreamsKey.Int(inv.Uploads))
	}
	ctx, span := t.tracer.Start(ctx, inv.Hub+"/"+method, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil {
			fail(span, err)
		}
		span.End()
	}
}

// StartClientInvocation implements [hub.ClientInvocationTracer].
func (t *Tracer) StartClientInvocation(ctx context.Context, inv hub.ClientInvocationInfo) (context.Context, func(error)) {
	ctx, span := t.tracer.Start(ctx, inv.Hub+"/"+inv.Method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(rpcSystemKey.String("signalr"), rpcServiceKey.String(inv.Hub), rpcMethodKey.String(inv.Method),
			ConnectionIDKey.String(inv.ConnectionID), InvocationIDKey.String(inv.InvocationID), InvocationKindKey.String("client_result")))
	return ctx, func(err error) {
		if err != nil {
			fail(span, err)
		}
		span.End()
	}
}

// StartPublish implements [hub.Tracer].
func (t *Tracer) StartPublish(ctx context.Context, p hub.PublishInfo) (context.Context, func(error)) {
	ctx, span := t.tracer.Start(ctx, "publish "+p.Hub, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(messagingSystemKey.String("signalr"), HubKey.String(p.Hub), ClientMethodKey.String(p.Method),
			TargetKindKey.String(targetKind(p.Selector.Kind)), TargetCountKey.Int(len(p.Selector.IDs))))
	return ctx, func(err error) {
		if err != nil {
			fail(span, err)
		}
		span.End()
	}
}

// fail marks span failed with err.
func fail(span trace.Span, err error) {
	span.SetAttributes(errorTypeKey.String(errorType(err)))
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

// errorTypes name the errors a hub ends connections and sends with, for
// error.type: their Go type would say only *errors.errorString.
var errorTypes = []struct {
	err  error
	name string
}{
	{hub.ErrClientTimeout, "client_timeout"},
	{hub.ErrHandshakeTimeout, "handshake_timeout"},
	{hub.ErrReconnectTimeout, "reconnect_timeout"},
	{hub.ErrSlowConsumer, "slow_consumer"},
	{hub.ErrRateLimited, "rate_limited"},
	{transports.ErrTooLarge, "message_too_large"},
	{hub.ErrClusterDelivery, "cluster_delivery"},
	{hub.ErrConnectionClosed, "connection_closed"},
	{context.Canceled, "canceled"},
	{context.DeadlineExceeded, "deadline_exceeded"},
}

// errorType is error.type's value for err: a name of errorTypes, else err's Go
// type unless it is a plain or wrapped text (then _OTHER, as the conventions ask).
func errorType(err error) string {
	for _, e := range errorTypes {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	switch t := fmt.Sprintf("%T", err); t {
	case "*errors.errorString", "*fmt.wrapError", "*fmt.wrapErrors", "*errors.joinError":
		return "_OTHER"
	default:
		return t
	}
}

// transportName is a transport's name in the semantic conventions.
func transportName(k transports.Kind) string {
	switch k {
	case transports.WebSockets:
		return "web_sockets"
	case transports.ServerSentEvents:
		return "server_sent_events"
	case transports.LongPolling:
		return "long_polling"
	}
	return k.String()
}

func targetKind(k hub.SelectorKind) string {
	switch k {
	case hub.SelectConnections:
		return "connections"
	case hub.SelectGroups:
		return "groups"
	case hub.SelectUsers:
		return "users"
	}
	return "all"
}
