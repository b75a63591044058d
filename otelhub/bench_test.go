package otelhub_test

import (
	"context"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/otelhub"
)

// BenchmarkInvoke is what tracing adds to a call's round trip over loopback
// (WebSocket, Go client): none (Options.Tracer nil) against a span per call,
// sampled and recorded by the SDK (no exporter: exporting is the SDK's cost).
func BenchmarkInvoke(b *testing.B) {
	for _, bc := range []struct {
		name   string
		tracer hub.Tracer
	}{
		{"tracer=none", nil},
		{"tracer=otel", otelhub.New(sdktrace.NewTracerProvider())},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := hub.New(hub.Options{Tracer: bc.tracer, Logger: quiet, MaxMessagesPerSecond: 1e9, MessageBurst: 1e9})
			h.On("Add", func(a, b int) int { return a + b })
			srv := httptest.NewServer(h)
			defer srv.Close()
			defer h.Close(context.Background())
			ctx := context.Background()
			conn, err := client.Dial(ctx, srv.URL, client.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := conn.Invoke(ctx, "Add", 1, 2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
