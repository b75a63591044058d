package otelhub_test

import (
	"context"
	"errors"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/otelhub"
	"github.com/hubbub-go/hubbub/transports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quiet drops the hubs' logs (an access log line per connection).
var quiet = slog.New(slog.DiscardHandler)

// The trace a client's request belongs to, as its traceparent header tells it.
const (
	remoteTrace   = "4bf92f3577b34da6a3ce929d0e0e4736"
	remoteSpan    = "00f067aa0ba902b7"
	traceparent   = "00-" + remoteTrace + "-" + remoteSpan + "-01"
	spanTimeout   = 10 * time.Second
	testHubName   = "chat"
	userSpanName  = "compute"
	notifyMethod  = "Added"
	streamedItems = 3
)

// newHub serves a hub traced into a fresh in-memory exporter. Its Add handler
// starts a span of its own from its Context and sends to every client (a
// backplane publish); Fail returns a hub error; Count streams; Note returns
// nothing (clients send to it); Ask calls the caller's method and gives up
// after 200 ms.
func newHub(t *testing.T) (*httptest.Server, *tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	h := hub.New(hub.Options{Name: testHubName, Tracer: otelhub.New(tp), Logger: quiet})
	h.On("Add", func(ctx *hub.Context, a, b int) (int, error) {
		_, span := tp.Tracer("app").Start(ctx, userSpanName)
		span.End()
		return a + b, ctx.Clients().All().Send(ctx, notifyMethod, a+b)
	})
	h.On("Fail", func(why string) error { return hub.NewError("%s", why) })
	h.On("Note", func(string) {})
	h.On("Ask", func(ctx *hub.Context, method string) error {
		ask, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := ctx.Conn().Invoke(ask, method)
		return err
	})
	h.On("Count", func(n int) iter.Seq[int] {
		return func(yield func(int) bool) {
			for i := range n {
				if !yield(i) {
					return
				}
			}
		}
	})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
		tp.Shutdown(ctx)
	})
	return srv, exp, tp
}

// dial connects with a traceparent header on every request.
func dial(t *testing.T, url string, kind transports.Kind) *client.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, url, client.Options{
		Transports: kind,
		Header:     http.Header{"Traceparent": {traceparent}},
		Logger:     quiet, // Added has no handler here
	})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// spans waits until the exporter holds a span of each name, then returns the
// spans by name (the last of each).
func spans(t *testing.T, exp *tracetest.InMemoryExporter, names ...string) map[string]tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(spanTimeout)
	for {
		byName := map[string]tracetest.SpanStub{}
		for _, s := range exp.GetSpans() {
			byName[s.Name] = s
		}
		missing := ""
		for _, n := range names {
			if _, ok := byName[n]; !ok {
				missing = n
			}
		}
		if missing == "" {
			return byName
		}
		if time.Now().After(deadline) {
			var got []string
			for n := range byName {
				got = append(got, n)
			}
			t.Fatalf("no span %q among %q", missing, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// wantAttrs checks that s has each attribute of want, with its value.
func wantAttrs(t *testing.T, s tracetest.SpanStub, want map[string]any) {
	t.Helper()
	got := attrs(s)
	for k, v := range want {
		g, ok := got[attribute.Key(k)]
		if !ok {
			t.Errorf("span %q: no attribute %s (has %v)", s.Name, k, s.Attributes)
			continue
		}
		if g.AsInterface() != v {
			t.Errorf("span %q: %s = %v (%T), want %v (%T)", s.Name, k, g.AsInterface(), g.AsInterface(), v, v)
		}
	}
}

func wantParent(t *testing.T, child, parent tracetest.SpanStub) {
	t.Helper()
	if child.Parent.SpanID() != parent.SpanContext.SpanID() || child.SpanContext.TraceID() != parent.SpanContext.TraceID() {
		t.Errorf("span %q: parent %s, want %q (%s)", child.Name, child.Parent.SpanID(), parent.Name, parent.SpanContext.SpanID())
	}
}

func wantRemoteParent(t *testing.T, s tracetest.SpanStub) {
	t.Helper()
	if s.SpanContext.TraceID().String() != remoteTrace || s.Parent.SpanID().String() != remoteSpan || !s.Parent.IsRemote() {
		t.Errorf("span %q: trace %s parent %s (remote %v), want the traceparent header's %s %s", s.Name, s.SpanContext.TraceID(), s.Parent.SpanID(), s.Parent.IsRemote(), remoteTrace, remoteSpan)
	}
}

func wantStatus(t *testing.T, s tracetest.SpanStub, code codes.Code, descContains string) {
	t.Helper()
	if s.Status.Code != code || !strings.Contains(s.Status.Description, descContains) {
		t.Errorf("span %q: status %v %q, want %v containing %q", s.Name, s.Status.Code, s.Status.Description, code, descContains)
	}
}

func wantKind(t *testing.T, s tracetest.SpanStub, kind trace.SpanKind) {
	t.Helper()
	if s.SpanKind != kind {
		t.Errorf("span %q: kind %v, want %v", s.Name, s.SpanKind, kind)
	}
}

// TestSpans follows one WebSocket client through a negotiate, a call with a
// result (which starts a span of its own and publishes), a call that fails, a
// stream, an unknown method and a non-blocking send: each makes the spans, with the attributes,
// parents and statuses, that otelhub documents. The client's traceparent header
// is the negotiate's and the connection's parent.
func TestSpans(t *testing.T) {
	srv, exp, _ := newHub(t)
	conn := dial(t, srv.URL, transports.WebSockets)
	id := conn.ConnectionID()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := conn.Invoke(ctx, "Add", 2, 3); err != nil {
		t.Fatal(err)
	}
	var ie *client.InvocationError
	if _, err := conn.Invoke(ctx, "Fail", "out of coffee"); !errors.As(err, &ie) {
		t.Fatalf("Fail: %v, want an InvocationError", err)
	}
	if _, err := conn.Invoke(ctx, "Nope"); !errors.As(err, &ie) {
		t.Fatalf("Nope: %v, want an InvocationError", err)
	}
	// Calls run in order: Note's span ends before Count's Completion is sent.
	if err := conn.Send(ctx, "Note", "x"); err != nil {
		t.Fatal(err)
	}
	stream, err := conn.Stream(ctx, "Count", streamedItems)
	if err != nil {
		t.Fatal(err)
	}
	items := 0
	for {
		if _, err := stream.Next(ctx); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		items++
	}
	if items != streamedItems {
		t.Fatalf("%d items streamed, want %d", items, streamedItems)
	}
	conn.Close()

	got := spans(t, exp, "negotiate chat", "connection chat", "chat/Add", userSpanName, "publish chat", "chat/Fail", "chat/_OTHER", "chat/Count", "chat/Note")
	negotiate, connection := got["negotiate chat"], got["connection chat"]
	add, fail, unknown, count := got["chat/Add"], got["chat/Fail"], got["chat/_OTHER"], got["chat/Count"]

	wantKind(t, negotiate, trace.SpanKindServer)
	wantRemoteParent(t, negotiate)
	wantAttrs(t, negotiate, map[string]any{
		"signalr.hub": testHubName, "signalr.connection.id": id, "http.response.status_code": int64(http.StatusOK),
	})
	wantStatus(t, negotiate, codes.Unset, "")

	wantKind(t, connection, trace.SpanKindServer)
	wantRemoteParent(t, connection)
	wantAttrs(t, connection, map[string]any{
		"signalr.hub": testHubName, "signalr.connection.id": id, "signalr.transport": "web_sockets",
		"signalr.connection.status": "normal_closure",
	})
	wantStatus(t, connection, codes.Unset, "")

	for _, s := range []tracetest.SpanStub{add, fail, unknown, count} {
		wantKind(t, s, trace.SpanKindServer)
		wantParent(t, s, connection)
		wantAttrs(t, s, map[string]any{"rpc.system": "signalr", "rpc.service": testHubName, "signalr.connection.id": id})
		if attrs(s)["signalr.invocation.id"].AsString() == "" {
			t.Errorf("span %q: no signalr.invocation.id", s.Name)
		}
	}
	wantAttrs(t, add, map[string]any{"rpc.method": "Add", "signalr.invocation.kind": "call"})
	wantStatus(t, add, codes.Unset, "")
	wantParent(t, got[userSpanName], add)

	publish := got["publish chat"]
	wantKind(t, publish, trace.SpanKindProducer)
	wantParent(t, publish, add)
	wantAttrs(t, publish, map[string]any{
		"messaging.system": "signalr", "signalr.hub": testHubName, "signalr.client_method": notifyMethod,
		"signalr.target.kind": "all", "signalr.target.count": int64(0),
	})
	wantStatus(t, publish, codes.Unset, "")

	wantAttrs(t, fail, map[string]any{"rpc.method": "Fail", "signalr.invocation.kind": "call", "error.type": "*hub.Error"})
	wantStatus(t, fail, codes.Error, "out of coffee")
	if len(fail.Events) == 0 || fail.Events[0].Name != "exception" {
		t.Errorf("span %q: events %v, want the error recorded as an exception", fail.Name, fail.Events)
	}

	wantAttrs(t, unknown, map[string]any{"rpc.method": "_OTHER", "rpc.method_original": "Nope"})
	wantStatus(t, unknown, codes.Error, "Unknown hub method 'Nope'")

	wantAttrs(t, count, map[string]any{"rpc.method": "Count", "signalr.invocation.kind": "stream"})
	wantStatus(t, count, codes.Unset, "")

	note := got["chat/Note"]
	wantParent(t, note, connection)
	wantAttrs(t, note, map[string]any{"rpc.method": "Note", "signalr.invocation.kind": "non-blocking", "signalr.invocation.id": ""})
	wantStatus(t, note, codes.Unset, "")
}

// TestConnectionSpanOnEachTransport: the request that opens each transport (the
// SSE stream, the first poll) is the connection span's parent, through its
// traceparent header, and an invocation's span is the connection's child.
func TestConnectionSpanOnEachTransport(t *testing.T) {
	for _, tc := range []struct {
		kind transports.Kind
		name string
	}{
		{transports.ServerSentEvents, "server_sent_events"},
		{transports.LongPolling, "long_polling"},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			srv, exp, _ := newHub(t)
			conn := dial(t, srv.URL, tc.kind)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := conn.Invoke(ctx, "Add", 1, 2); err != nil {
				t.Fatal(err)
			}
			conn.Close()
			got := spans(t, exp, "connection chat", "chat/Add")
			wantRemoteParent(t, got["connection chat"])
			wantAttrs(t, got["connection chat"], map[string]any{"signalr.transport": tc.name, "signalr.connection.id": conn.ConnectionID()})
			wantParent(t, got["chat/Add"], got["connection chat"])
		})
	}
}

// TestRequestSpanIsTheParent: when middleware (otelhttp, say) has already put a
// span in the request's context, the negotiate and connection spans are its
// children, of kind internal, rather than the traceparent header's.
func TestRequestSpanIsTheParent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	h := hub.New(hub.Options{Name: testHubName, Tracer: otelhub.New(tp), Logger: quiet})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	}()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tp.Tracer("middleware").Start(r.Context(), "HTTP "+r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		h.ServeHTTP(w, r.WithContext(ctx))
	}))
	defer srv.Close()
	conn := dial(t, srv.URL, transports.WebSockets)
	conn.Close()
	got := spans(t, exp, "negotiate chat", "connection chat", "HTTP POST", "HTTP GET")
	wantParent(t, got["negotiate chat"], got["HTTP POST"])
	wantKind(t, got["negotiate chat"], trace.SpanKindInternal)
	wantParent(t, got["connection chat"], got["HTTP GET"])
	wantKind(t, got["connection chat"], trace.SpanKindInternal)
}

// TestHubDoesNotImportOpenTelemetry: tracing stays optional; the hub package
// knows only its Tracer interface.
func TestHubDoesNotImportOpenTelemetry(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/hubbub-go/hubbub/hub").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "go.opentelemetry.io/") {
			t.Errorf("package hub depends on %s", pkg)
		}
	}
}

// TestConnectionSpanOfATimedOutClient: a client that goes silent is closed by the
// server (ClientTimeout); its connection span says so, with status Error.
func TestConnectionSpanOfATimedOutClient(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	h := hub.New(hub.Options{Name: testHubName, Tracer: otelhub.New(tp), Logger: quiet,
		KeepAliveInterval: 20 * time.Millisecond, ClientTimeout: 100 * time.Millisecond})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	}()
	// A raw WebSocket client that completes its handshake and never sends again.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte("{\"protocol\":\"json\",\"version\":1}\x1e")); err != nil {
		t.Fatal(err)
	}
	connection := spans(t, exp, "connection chat")["connection chat"]
	wantAttrs(t, connection, map[string]any{
		"signalr.transport": "web_sockets", "signalr.connection.status": "timeout", "error.type": "client_timeout",
	})
	wantStatus(t, connection, codes.Error, hub.ErrClientTimeout.Error())
}

// TestClientResultSpans: a hub method that asks its caller for a result
// (Conn.Invoke) has a client span per ask, its child: one answered, one that
// the client fails, one the server stops waiting for.
func TestClientResultSpans(t *testing.T) {
	srv, exp, _ := newHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.New(srv.URL, client.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.OnInvoke("GetName", func(context.Context, []protocol.RawValue) (any, error) { return "Ada", nil })
	conn.OnInvoke("Refuse", func(context.Context, []protocol.RawValue) (any, error) { return nil, errors.New("not telling") })
	conn.OnInvoke("Hang", func(ctx context.Context, _ []protocol.RawValue) (any, error) { <-ctx.Done(); return nil, ctx.Err() })
	if err := conn.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"GetName", "Refuse", "Hang"} {
		conn.Invoke(ctx, "Ask", m) // Refuse and Hang fail: their spans say how
	}

	got := spans(t, exp, "chat/Ask", "chat/GetName", "chat/Refuse", "chat/Hang")
	for _, tc := range []struct {
		name, errorType, status string
	}{
		{"chat/GetName", "", ""},
		{"chat/Refuse", "*hub.ClientError", "not telling"},
		{"chat/Hang", "deadline_exceeded", "deadline exceeded"},
	} {
		s := got[tc.name]
		wantKind(t, s, trace.SpanKindClient)
		wantAttrs(t, s, map[string]any{
			"rpc.system": "signalr", "rpc.service": testHubName, "rpc.method": strings.TrimPrefix(tc.name, "chat/"),
			"signalr.connection.id": conn.ConnectionID(), "signalr.invocation.kind": "client_result",
		})
		if attrs(s)["signalr.invocation.id"].AsString() == "" {
			t.Errorf("span %q: no signalr.invocation.id", s.Name)
		}
		if tc.errorType == "" {
			wantStatus(t, s, codes.Unset, "")
		} else {
			wantAttrs(t, s, map[string]any{"error.type": tc.errorType})
			wantStatus(t, s, codes.Error, tc.status)
		}
	}
	// Each ask is its Ask's child; the last Ask is the Hang's parent.
	wantParent(t, got["chat/Hang"], got["chat/Ask"])
}

// TestInvocationSpanNamesAreBounded: whatever names a client sends, in any case
// and by any path (a call, a stream, a non-blocking send), invocation spans are
// named after the hub's methods as registered, or _OTHER: span names stay as few
// as the hub's methods.
func TestInvocationSpanNamesAreBounded(t *testing.T) {
	srv, exp, _ := newHub(t)
	conn := dial(t, srv.URL, transports.WebSockets)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent := 0
	for _, name := range []string{"add", "ADD", "aDd", "Add"} {
		if _, err := conn.Invoke(ctx, name, 1, 2); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sent++
	}
	for _, name := range []string{"note", "NOTE", "nope1", "nope2"} {
		if err := conn.Send(ctx, name, "x"); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	for _, name := range []string{"count", "COUNT", "nostream1", "nostream2"} {
		stream, err := conn.Stream(ctx, name, 1)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := stream.Next(ctx); err != nil {
				break // io.EOF, or the unknown method's error
			}
		}
		sent++
	}
	for i := range 20 {
		conn.Invoke(ctx, "Unknown"+strings.Repeat("x", i)) // answered with an error
		sent++
	}
	conn.Close()
	spans(t, exp, "connection chat")
	allowed := map[string]string{"chat/Add": "Add", "chat/Note": "Note", "chat/Count": "Count", "chat/_OTHER": "_OTHER"}
	invocations := 0
	for _, s := range exp.GetSpans() {
		if s.SpanKind != trace.SpanKindServer || !strings.HasPrefix(s.Name, testHubName+"/") {
			continue
		}
		invocations++
		method, ok := allowed[s.Name]
		if !ok {
			t.Errorf("span %q: want one of the hub's methods or _OTHER", s.Name)
			continue
		}
		wantAttrs(t, s, map[string]any{"rpc.method": method})
	}
	if invocations != sent {
		t.Errorf("%d invocation spans, want %d", invocations, sent)
	}
}

// openSpans is a span processor that counts the spans started and not yet
// ended, by name, as processors that track live spans (zpages) do.
type openSpans struct {
	mu   sync.Mutex
	open map[string]int
}

func (p *openSpans) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open[s.Name()]++
}

func (p *openSpans) OnEnd(s sdktrace.ReadOnlySpan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[s.Name()]--; p.open[s.Name()] == 0 {
		delete(p.open, s.Name())
	}
}

func (p *openSpans) count(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open[name]
}

func (p *openSpans) Shutdown(context.Context) error   { return nil }
func (p *openSpans) ForceFlush(context.Context) error { return nil }

// waitFor polls cond until it holds, or fails the test after spanTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(spanTimeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestQueuedInvocationSpansEndWithTheConnection: invocations still waiting for
// their turn when their connection ends are never run, and their spans end, with
// an error, rather than stay open in the span processors for good.
func TestQueuedInvocationSpansEndWithTheConnection(t *testing.T) {
	const queued = 3
	open := &openSpans{open: map[string]int{}}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(open), sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	h := hub.New(hub.Options{Name: testHubName, Tracer: otelhub.New(tp), Logger: quiet, MaxParallelInvocations: 1})
	blocked := make(chan struct{})
	h.On("Block", func(ctx *hub.Context) {
		close(blocked)
		<-ctx.Done() // until the connection ends
	})
	h.On("Note", func(string) {})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Close(ctx)
	}()
	conn := dial(t, srv.URL, transports.WebSockets)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Send(ctx, "Block"); err != nil {
		t.Fatal(err)
	}
	<-blocked
	for range queued {
		if err := conn.Send(ctx, "Note", "x"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the notes' spans to start", func() bool { return open.count("chat/Note") == queued })
	conn.Close()
	spans(t, exp, "connection chat")
	waitFor(t, "every span to end", func() bool { return open.count("chat/Note") == 0 && open.count("chat/Block") == 0 })
	for _, s := range exp.GetSpans() {
		if s.Name == "chat/Note" {
			wantStatus(t, s, codes.Error, hub.ErrConnectionClosed.Error())
		}
	}
}

// TestConnectionSpanOfAFailedUpgrade: a WebSocket upgrade the server refuses
// (a hostile or broken client's) ends the connection span it started, with
// status Error, rather than leave it open for good.
func TestConnectionSpanOfAFailedUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"no key", http.Header{"Sec-Websocket-Version": {"13"}}},
		{"bad version", http.Header{"Sec-Websocket-Version": {"7"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open := &openSpans{open: map[string]int{}}
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(open), sdktrace.WithSyncer(exp))
			defer tp.Shutdown(context.Background())
			h := hub.New(hub.Options{Name: testHubName, Tracer: otelhub.New(tp), Logger: quiet})
			srv := httptest.NewServer(h)
			defer srv.Close()
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				h.Close(ctx)
			}()
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header = tc.header
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Fatalf("upgrade answered %d, want a refusal", resp.StatusCode)
			}
			connection := spans(t, exp, "connection chat")["connection chat"]
			wantStatus(t, connection, codes.Error, "")
			if n := open.count("connection chat"); n != 0 {
				t.Errorf("%d connection spans still open", n)
			}
		})
	}
}
