package hub_test

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// fallbackRecorder records the fallbacks and invocations it is told of; the hub
// calls it from its connections' goroutines.
type fallbackRecorder struct {
	hub.NopObserver
	mu        sync.Mutex
	fallbacks []string
	invoked   []string
}

func (r *fallbackRecorder) Fallback(h string, left transports.Kind, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fallbacks = append(r.fallbacks, h+" "+left.String()+" "+reason)
}

func (r *fallbackRecorder) Invoked(_, method string, _ time.Duration, _ error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invoked = append(r.invoked, method)
}

func (r *fallbackRecorder) got() ([]string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.fallbacks), slices.Clone(r.invoked)
}

// fallbackReport is a report as the bundled client sends it: a non-blocking
// invocation of hub.FallbackTarget, here with any arguments.
func fallbackReport(args ...string) string {
	return `{"type":1,"target":"` + hub.FallbackTarget + `","arguments":[` + strings.Join(args, ",") + `]}` + rs
}

// left is a report's argument: the transports left, each with why.
func left(transportReason ...string) string {
	var b strings.Builder
	for i := 0; i < len(transportReason); i += 2 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"` + transportReason[i] + `":"` + transportReason[i+1] + `"`)
	}
	return "{" + b.String() + "}"
}

// TestFallbackReport: a client's fallback report reaches the Observer's
// FallbackObserver with stable reasons, once per connection, and never a hub
// method; bad reports are dropped (all or in part) without harm to the
// connection, and what they carry stays out of the logs.
func TestFallbackReport(t *testing.T) {
	huge := strings.Repeat("x", 10000)
	tests := []struct {
		name  string
		units []string // sent in order, each its own WebSocket message
		want  []string
	}{
		{
			name:  "one transport left",
			units: []string{fallbackReport(left("WebSockets", "upgrade-refused"))},
			want:  []string{"chat WebSockets upgrade-refused"},
		},
		{
			name:  "every reason, told in the transports' order",
			units: []string{fallbackReport(left("LongPolling", "requests-cut", "ServerSentEvents", "stream-buffered", "WebSockets", "frames-dropped"))},
			want:  []string{"chat WebSockets frames-dropped", "chat ServerSentEvents stream-buffered", "chat LongPolling requests-cut"},
		},
		{
			name:  "failed is a reason too",
			units: []string{fallbackReport(left("WebSockets", "failed"))},
			want:  []string{"chat WebSockets failed"},
		},
		{
			name:  "an unknown reason counts as failed",
			units: []string{fallbackReport(left("WebSockets", "proxy ate it", "ServerSentEvents", strings.Repeat("y", 150)))},
			want:  []string{"chat WebSockets failed", "chat ServerSentEvents failed"},
		},
		{
			name:  "the target in another case is still the report",
			units: []string{strings.Replace(fallbackReport(left("WebSockets", "upgrade-refused")), hub.FallbackTarget, strings.ToUpper(hub.FallbackTarget), 1)},
			want:  []string{"chat WebSockets upgrade-refused"},
		},
		{
			name:  "keys that are not a transport's wire name are skipped",
			units: []string{fallbackReport(left("Carrier pigeon", "failed", "websockets", "failed", "LongPolling", "requests-cut"))},
			want:  []string{"chat LongPolling requests-cut"},
		},
		{name: "not an object: dropped", units: []string{fallbackReport(`"WebSockets"`)}},
		{name: "an array: dropped", units: []string{fallbackReport(`["WebSockets","upgrade-refused"]`)}},
		{name: "null: nothing to count", units: []string{fallbackReport(`null`)}},
		{name: "a reason that is not a string: dropped whole", units: []string{fallbackReport(`{"WebSockets":"upgrade-refused","LongPolling":1}`)}},
		{name: "a nested object: dropped whole", units: []string{fallbackReport(`{"WebSockets":{"reason":"upgrade-refused"}}`)}},
		{
			name:  "more entries than transports: dropped whole",
			units: []string{fallbackReport(left("WebSockets", "upgrade-refused", "ServerSentEvents", "stream-buffered", "LongPolling", "requests-cut", "Carrier pigeon", "failed"))},
		},
		{
			name:  "over its size: dropped whole, and nothing of it logged",
			units: []string{fallbackReport(left("WebSockets", "upgrade-refused", huge, huge))},
		},
		{
			name:  "more than one argument: dropped",
			units: []string{fallbackReport(left("WebSockets", "upgrade-refused"), left("ServerSentEvents", "stream-buffered"))},
		},
		{name: "no arguments: nothing to count", units: []string{fallbackReport()}},
		{
			name:  "only the first report of a connection counts, even an empty one",
			units: []string{fallbackReport(left()), fallbackReport(left("WebSockets", "upgrade-refused"))},
		},
		{
			name: "repeated: the second report is ignored",
			units: []string{fallbackReport(left("WebSockets", "upgrade-refused")),
				fallbackReport(left("ServerSentEvents", "stream-buffered")), fallbackReport(left("LongPolling", "requests-cut"))},
			want: []string{"chat WebSockets upgrade-refused"},
		},
		{
			name:  "a report in one unit with other messages",
			units: []string{fallbackReport(left("WebSockets", "frames-dropped")) + `{"type":6}` + rs},
			want:  []string{"chat WebSockets frames-dropped"},
		},
		{
			// A client that waits for an answer gets the one any unknown method gets.
			name:  "a blocking invocation of the target is not a report",
			units: []string{`{"type":1,"invocationId":"x","target":"` + hub.FallbackTarget + `","arguments":[` + left("WebSockets", "failed") + `]}` + rs},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fallbackRecorder{}
			logs := &logBuffer{}
			srv, _ := server(t, hub.Options{Name: "chat", Observer: rec,
				Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			ws := dialWS(t, srv)
			for _, u := range tc.units {
				write(t, ws, u)
			}
			// Messages of a connection are taken in order: once Echo answers,
			// every report before it has been handled.
			write(t, ws, `{"type":1,"invocationId":"e","target":"Echo","arguments":["still here"]}`+rs)
		records:
			for {
				for _, got := range strings.SplitAfter(read(t, ws), rs) {
					switch {
					case got == "":
					case strings.Contains(got, `"invocationId":"x"`):
						if !strings.Contains(got, `"error":"Unknown hub method`) {
							t.Errorf("blocking invocation of the target answered %q, want an unknown method's error", got)
						}
					case got == `{"type":3,"invocationId":"e","result":"still here"}`+rs:
						break records
					default:
						t.Fatalf("after the report, got %q, want Echo's answer", got)
					}
				}
			}
			fallbacks, invoked := rec.got()
			if !slices.Equal(fallbacks, tc.want) {
				t.Errorf("observer told %q, want %q", fallbacks, tc.want)
			}
			for _, m := range invoked {
				if strings.EqualFold(m, hub.FallbackTarget) {
					t.Errorf("the report ran as a hub method: invoked %q", invoked)
				}
			}
			if strings.Contains(logs.String(), "xxxxxxxxxx") {
				t.Errorf("the report's content reached the log: %.300s…", logs.String())
			}
		})
	}
}

// TestFallbackReportWithoutFallbackObserver: an Observer that does not count
// fallbacks (the default one among them) takes reports without trouble.
func TestFallbackReportWithoutFallbackObserver(t *testing.T) {
	for name, obs := range map[string]hub.Observer{"default": nil, "plain": hub.NopObserver{}} {
		t.Run(name, func(t *testing.T) {
			srv, _ := server(t, hub.Options{Observer: obs})
			ws := dialWS(t, srv)
			write(t, ws, fallbackReport(left("WebSockets", "upgrade-refused")))
			write(t, ws, `{"type":1,"invocationId":"e","target":"Echo","arguments":[1]}`+rs)
			if got, want := read(t, ws), `{"type":3,"invocationId":"e","result":1}`+rs; got != want {
				t.Fatalf("Echo answered %q, want %q", got, want)
			}
		})
	}
}

// TestFallbackReportThroughObservers: hub.Observers hands reports on to each
// observer that counts fallbacks.
func TestFallbackReportThroughObservers(t *testing.T) {
	a, b := &fallbackRecorder{}, &fallbackRecorder{}
	srv, _ := server(t, hub.Options{Name: "news", Observer: hub.Observers(a, hub.NopObserver{}, b)})
	ws := dialWS(t, srv)
	write(t, ws, fallbackReport(left("ServerSentEvents", "stream-buffered")))
	write(t, ws, `{"type":1,"invocationId":"e","target":"Echo","arguments":[1]}`+rs)
	read(t, ws)
	for name, r := range map[string]*fallbackRecorder{"first": a, "last": b} {
		if got, _ := r.got(); !slices.Equal(got, []string{"news ServerSentEvents stream-buffered"}) {
			t.Errorf("%s observer told %q", name, got)
		}
	}
}

// TestFallbackTargetIsReserved: no hub method can take the report's name, in any case.
func TestFallbackTargetIsReserved(t *testing.T) {
	for _, name := range []string{hub.FallbackTarget, strings.ToUpper(hub.FallbackTarget), "hubbub:anything"} {
		t.Run(name, func(t *testing.T) {
			h := hub.New(hub.Options{})
			defer func() {
				ctx, cancel := contextWithTimeout(time.Second)
				defer cancel()
				h.Close(ctx)
			}()
			defer func() {
				r := recover()
				if r == nil {
					t.Fatalf("On(%q) did not panic", name)
				}
				if !strings.Contains(fmtAny(r), "reserved") {
					t.Errorf("On(%q) panicked with %v, want it to say the name is reserved", name, r)
				}
			}()
			h.On(name, func() {})
		})
	}
}

func fmtAny(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestFallbackReportMessagePack: the report in MessagePack (a map), over long polling, as the bundled client sends it with hubbub-msgpack.
func TestFallbackReportMessagePack(t *testing.T) {
	rec := &fallbackRecorder{}
	srv, _ := server(t, hub.Options{Name: "chat", Observer: rec})
	c := dialMsgPack(t, srv, transports.LongPolling, 1, false)
	c.invoke(t, "", hub.FallbackTarget, map[string]string{"WebSockets": "upgrade-refused", "ServerSentEvents": "not-a-reason"})
	c.invoke(t, "e", "Echo", 1)
	c.completion(t, "e", nil)
	if got, _ := rec.got(); !slices.Equal(got, []string{"chat WebSockets upgrade-refused", "chat ServerSentEvents failed"}) {
		t.Errorf("observer told %q", got)
	}
}
