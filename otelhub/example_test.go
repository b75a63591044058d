package otelhub_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/otelhub"
)

// Trace a hub. A client connects, calls a method, and leaves; the spans show the
// call nested in its connection, and the span the handler started nested in the
// call. A real program exports with OTLP (go.opentelemetry.io/otel/exporters/otlp)
// rather than into memory, and wraps the hub in otelhttp's middleware or lets
// otelhub read the traceparent header.
func Example() {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer tp.Shutdown(context.Background())

	chat := hub.New(hub.Options{Name: "chat", Tracer: otelhub.New(tp), DisableAccessLog: true})
	chat.On("Echo", func(ctx *hub.Context, text string) string {
		// ctx holds the invocation's span: this one is its child.
		_, span := tp.Tracer("app").Start(ctx, "lookup")
		defer span.End()
		return text
	})
	srv := httptest.NewServer(chat)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.Dial(ctx, srv.URL, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := conn.Invoke(ctx, "Echo", "hello"); err != nil {
		log.Fatal(err)
	}
	server, _ := chat.Conn(conn.ConnectionID())
	conn.Close()
	<-server.Done() // the connection's span has ended
	srv.Close()     // and, every request answered, the negotiate's

	spans := exporter.GetSpans()
	names := map[[8]byte]string{}
	for _, s := range spans {
		names[s.SpanContext.SpanID()] = s.Name
	}
	for _, s := range spans {
		fmt.Printf("%s (%s) under %q\n", s.Name, s.SpanKind, names[s.Parent.SpanID()])
	}
	// Unordered output:
	// negotiate chat (server) under ""
	// connection chat (server) under ""
	// lookup (internal) under "chat/Echo"
	// chat/Echo (server) under "connection chat"
}
