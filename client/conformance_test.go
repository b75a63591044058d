package client_test

// Integration tests against the conformance hub (internal/conformance), served by
// the hub package on httptest servers (loopback), once per transport.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/transports"
)

// kinds is the transport table every conformance scenario runs over.
var kinds = []struct {
	name string
	kind transports.Kind
}{
	{"WebSockets", transports.WebSockets},
	{"ServerSentEvents", transports.ServerSentEvents},
	{"LongPolling", transports.LongPolling},
}

// testHub is the conformance hub on a loopback httptest server.
type testHub struct {
	URL string
	Hub *hub.Hub

	mu       sync.Mutex
	requests []recorded
}

// recorded is a request the server saw.
type recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Upgrade                bool
}

func (th *testHub) seen() []recorded {
	th.mu.Lock()
	defer th.mu.Unlock()
	return slices.Clone(th.requests)
}

// startHub serves the conformance hub. The user ID is the X-User header unless
// opts says otherwise. refuse, when not nil, answers a request with its status
// instead of the hub (when it returns non-zero).
func startHub(t *testing.T, opts hub.Options, refuse func(r *http.Request) int) *testHub {
	t.Helper()
	if opts.UserID == nil && opts.Authenticate == nil {
		opts.UserID = func(r *http.Request) string { return r.Header.Get("X-User") }
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	th := &testHub{Hub: conformance.NewHub(opts)}
	mux := http.NewServeMux()
	mux.Handle("/hubs/conformance", th.Hub)
	mux.Handle("/hubs/conformance/", th.Hub)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		th.mu.Lock()
		th.requests = append(th.requests, recorded{
			Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Header: r.Header.Clone(), Upgrade: strings.EqualFold(r.Header.Get("Upgrade"), "websocket"),
		})
		th.mu.Unlock()
		if refuse != nil {
			if status := refuse(r); status != 0 {
				http.Error(w, "refused by the test", status)
				return
			}
		}
		mux.ServeHTTP(w, r)
	}))
	th.URL = srv.URL + "/hubs/conformance"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := th.Hub.Close(ctx); err != nil {
			t.Errorf("hub.Close: %v", err)
		}
		srv.Close()
	})
	return th
}

// dial connects a client over kind; the connection is closed when the test ends.
func dial(t *testing.T, url string, kind transports.Kind, opts client.Options) *client.Conn {
	t.Helper()
	opts.Transports = kind
	if opts.Protocol == nil && strings.Contains(t.Name(), "/messagepack/") {
		// TestConformance's MessagePack runs: every client of the scenario speaks it.
		opts.Protocol = protocol.MessagePack
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("Dial %s: %v", kind, err)
	}
	t.Cleanup(func() { c.Close() })
	if got := c.Transport(); got != kind {
		t.Fatalf("Transport() = %v, want %v", got, kind)
	}
	return c
}

func withUser(user string) client.Options {
	return client.Options{Header: http.Header{"X-User": {user}}}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// listen registers a handler for target that passes the first argument of every
// invocation to the returned channel.
func listen(c *client.Conn, target string) <-chan protocol.RawValue {
	ch := make(chan protocol.RawValue, 64)
	c.On(target, func(args []protocol.RawValue) {
		var v protocol.RawValue
		if len(args) > 0 {
			v = asJSON(c, args[0])
		}
		select {
		case ch <- v:
		default:
		}
	})
	return ch
}

// expectJSON waits for a value on ch equal (as JSON) to want.
func expectJSON(t *testing.T, ch <-chan protocol.RawValue, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if !jsonEqual(got, []byte(want)) {
			t.Fatalf("received %s, want %s", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("nothing received, want %s", want)
	}
}

// expectNone checks that nothing arrives on ch for a while.
func expectNone(t *testing.T, ch <-chan protocol.RawValue) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("received %s, want nothing", got)
	case <-time.After(150 * time.Millisecond):
	}
}

// asJSON turns raw, received on c, into JSON, so that the scenarios assert the
// same texts under every protocol. A value that does not decode is returned as is
// (and the assertion fails).
func asJSON(c interface{ Protocol() protocol.Protocol }, raw protocol.RawValue) protocol.RawValue {
	if raw == nil || c.Protocol() == protocol.JSON {
		return raw
	}
	var v any
	if err := c.Protocol().DecodeValue(raw, &v); err != nil {
		return raw
	}
	j, err := json.Marshal(v)
	if err != nil {
		return raw
	}
	return j
}

func jsonEqual(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

type whoami struct {
	ConnectionID string  `json:"connectionId"`
	UserID       *string `json:"userId"`
	Transport    string  `json:"transport"`
}

// scenario is one behaviour checked over every transport.
type scenario struct {
	name string
	run  func(t *testing.T, kind transports.Kind)
}

func TestConformance(t *testing.T) {
	scenarios := []scenario{
		{"Whoami", testWhoami},
		{"Echo", testEcho},
		{"Add", testAdd},
		{"Fail", testFail},
		{"UnknownMethod", testUnknownMethod},
		{"SendFireAndForget", testSend},
		{"Broadcast", testBroadcast},
		{"Groups", testGroups},
		{"SendToConnection", testSendToConnection},
		{"SendToUser", testSendToUser},
		{"SendToOthers", testSendToOthers},
		{"CaseInsensitiveHandlers", testCaseInsensitive},
		{"CounterStream", testCounter},
		{"CounterCancel", testCounterCancel},
		{"CounterContextCancel", testCounterContextCancel},
		{"SumUpload", testSum},
		{"SumUploadChannel", testSumChannel},
		{"SumUploadError", testSumUploadError},
		{"DisconnectAllowReconnect", func(t *testing.T, k transports.Kind) { testDisconnect(t, k, true) }},
		{"DisconnectNoReconnect", func(t *testing.T, k transports.Kind) { testDisconnect(t, k, false) }},
		{"KeepAlivePings", testKeepAlive},
		{"ClientTimeout", testClientTimeout},
		{"ServerClose", testServerClose},
		{"ClientClose", testClientClose},
		{"ClientResults", testClientResults},
		{"QueryPreserved", testQueryPreserved},
		{"AccessToken", testAccessToken},
		{"Concurrency", testConcurrency},
		{"TooLarge", testTooLarge},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					sc.run(t, k.kind)
				})
			}
		})
	}
	for _, k := range binaryKinds {
		t.Run("messagepack/"+k.name, func(t *testing.T) {
			t.Parallel()
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					sc.run(t, k.kind)
				})
			}
		})
	}
}

func testWhoami(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, withUser("alice"))
	w, err := client.InvokeAs[whoami](testCtx(t), c, "Whoami")
	if err != nil {
		t.Fatal(err)
	}
	if w.Transport != kind.String() {
		t.Errorf("transport = %q, want %q", w.Transport, kind)
	}
	if w.ConnectionID == "" || w.ConnectionID != c.ConnectionID() {
		t.Errorf("connectionId = %q, client says %q", w.ConnectionID, c.ConnectionID())
	}
	if w.UserID == nil || *w.UserID != "alice" {
		t.Errorf("userId = %v, want alice", w.UserID)
	}

	anon := dial(t, th.URL, kind, client.Options{})
	w, err = client.InvokeAs[whoami](testCtx(t), anon, "whoami") // methods match case-insensitively
	if err != nil {
		t.Fatal(err)
	}
	if w.UserID != nil {
		t.Errorf("anonymous userId = %q, want null", *w.UserID)
	}
	if w.ConnectionID == c.ConnectionID() {
		t.Error("two connections share a connection ID")
	}
}

func testEcho(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ctx := testCtx(t)
	tests := []struct {
		name     string
		arg      any
		want     string
		jsonOnly bool // a JSON text or json.Number, meaningful under JSON only
	}{
		{"string", "hello, world", `"hello, world"`, false},
		{"unicode and escapes", "é\u2028\"\\\n\x1e", `"é\u2028\"\\\n\u001e"`, false},
		{"object", map[string]any{"a": 1, "b": []any{true, nil, "x"}, "c": map[string]any{}}, `{"a":1,"b":[true,null,"x"],"c":{}}`, false},
		{"big integer", json.Number("9007199254740993"), `9007199254740993`, true},
		{"raw int64 max", protocol.RawValue(`9223372036854775807`), `9223372036854775807`, true},
		{"null", nil, `null`, false},
		{"array", []int{1, 2, 3}, `[1,2,3]`, false},
		{"large", strings.Repeat("x", 20<<10), `"` + strings.Repeat("x", 20<<10) + `"`, false},
	}
	isJSON := c.Protocol() == protocol.JSON
	for _, tc := range tests {
		if tc.jsonOnly && !isJSON {
			continue
		}
		res, err := c.Invoke(ctx, "Echo", tc.arg)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !jsonEqual(asJSON(c, res.Raw), []byte(tc.want)) {
			t.Errorf("%s: Echo = %s, want %s", tc.name, res.Raw, tc.want)
		}
	}
	// Big integers survive decoding into an interface (json.Number).
	res, err := c.Invoke(ctx, "Echo", json.Number("9007199254740993"))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := res.Decode(&v); err != nil || fmt.Sprint(v) != "9007199254740993" {
		t.Errorf("decoded %v (%v), want 9007199254740993", v, err)
	}
	n, err := client.InvokeAs[int64](ctx, c, "Echo", int64(1)<<62+1)
	if err != nil || n != 1<<62+1 {
		t.Errorf("InvokeAs[int64] = %d, %v", n, err)
	}
}

func testAdd(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ctx := testCtx(t)
	tests := []struct{ a, b, want int64 }{
		{2, 3, 5},
		{-7, 7, 0},
		{1 << 40, 1, 1<<40 + 1},
	}
	for _, tc := range tests {
		got, err := client.InvokeAs[int64](ctx, c, "Add", tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("Add(%d, %d) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
	// A wrong argument type is an invocation error, not a broken connection.
	if _, err := c.Invoke(ctx, "Add", "two", 3); !errorsAsInvocation(err) {
		t.Errorf("Add(\"two\", 3): %v, want an *InvocationError", err)
	}
	if got, err := client.InvokeAs[int64](ctx, c, "Add", 1, 1); err != nil || got != 2 {
		t.Errorf("after a bad call: Add(1, 1) = %d, %v", got, err)
	}
}

func errorsAsInvocation(err error) bool {
	var ie *client.InvocationError
	return errors.As(err, &ie)
}

func testFail(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ctx := testCtx(t)
	_, err := c.Invoke(ctx, "Fail", "boom: something broke")
	var ie *client.InvocationError
	if !errors.As(err, &ie) {
		t.Fatalf("Fail: %v (%T), want an *InvocationError", err, err)
	}
	if !strings.Contains(ie.Message, "boom: something broke") || !strings.Contains(err.Error(), "boom: something broke") {
		t.Errorf("Fail error = %q, want it to contain the message", ie.Message)
	}
	if ie.Method != "Fail" {
		t.Errorf("Method = %q", ie.Method)
	}
	if errors.Is(err, client.ErrClosed) {
		t.Error("an invocation error wraps ErrClosed")
	}
	// The connection is still fine.
	if s, err := client.InvokeAs[string](ctx, c, "Echo", "still here"); err != nil || s != "still here" {
		t.Errorf("Echo after Fail = %q, %v", s, err)
	}
}

func testUnknownMethod(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	_, err := c.Invoke(testCtx(t), "NoSuchMethod", 1)
	if !errorsAsInvocation(err) {
		t.Fatalf("unknown method: %v, want an *InvocationError", err)
	}
	if c.Err() != nil {
		t.Fatalf("connection ended: %v", c.Err())
	}
}

func testSend(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	got := listen(c, "sent")
	ctx := testCtx(t)
	if err := c.Send(ctx, "SendToCaller", "sent", "fire and forget"); err != nil {
		t.Fatal(err)
	}
	expectJSON(t, got, `"fire and forget"`)
	// Fire-and-forget gets no completion, not even for a failure.
	if err := c.Send(ctx, "Fail", "nobody hears this"); err != nil {
		t.Fatal(err)
	}
	if s, err := client.InvokeAs[string](ctx, c, "Echo", "after"); err != nil || s != "after" {
		t.Errorf("Echo = %q, %v", s, err)
	}
}

func testBroadcast(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	const n = 5
	var conns []*client.Conn
	var inboxes []<-chan protocol.RawValue
	for range n {
		c := dial(t, th.URL, kind, client.Options{})
		conns = append(conns, c)
		inboxes = append(inboxes, listen(c, "news"))
	}
	ctx := testCtx(t)
	if _, err := conns[2].Invoke(ctx, "Broadcast", "news", map[string]any{"headline": "hello", "n": 1}); err != nil {
		t.Fatal(err)
	}
	for i, in := range inboxes {
		t.Logf("connection %d", i)
		expectJSON(t, in, `{"headline":"hello","n":1}`)
	}
	// Mixed transports get it too (SSE clients speak JSON in the MessagePack runs:
	// mixed protocols, too).
	var others []<-chan protocol.RawValue
	for _, k := range kinds {
		if k.kind != kind {
			var opts client.Options
			if k.kind == transports.ServerSentEvents {
				opts.Protocol = protocol.JSON
			}
			others = append(others, listen(dial(t, th.URL, k.kind, opts), "news"))
		}
	}
	if _, err := conns[0].Invoke(ctx, "Broadcast", "news", "again"); err != nil {
		t.Fatal(err)
	}
	for _, in := range append(inboxes, others...) {
		expectJSON(t, in, `"again"`)
	}
}

func testGroups(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	a := dial(t, th.URL, kind, client.Options{})
	b := dial(t, th.URL, kind, client.Options{})
	outsider := dial(t, th.URL, kind, client.Options{})
	inA, inB, inOut := listen(a, "grp"), listen(b, "grp"), listen(outsider, "grp")
	ctx := testCtx(t)

	for _, c := range []*client.Conn{a, b} {
		if res, err := c.Invoke(ctx, "JoinGroup", "g1"); err != nil || !res.IsVoid() {
			t.Fatalf("JoinGroup: %s, %v", res.Raw, err)
		}
	}
	members, err := client.InvokeAs[[]string](ctx, outsider, "GroupMembers", "g1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{a.ConnectionID(), b.ConnectionID()}
	slices.Sort(want)
	if !slices.Equal(members, want) {
		t.Errorf("GroupMembers = %q, want %q", members, want)
	}

	if _, err := outsider.Invoke(ctx, "SendToGroup", "g1", "grp", "to g1"); err != nil {
		t.Fatal(err)
	}
	expectJSON(t, inA, `"to g1"`)
	expectJSON(t, inB, `"to g1"`)
	expectNone(t, inOut)

	if _, err := b.Invoke(ctx, "LeaveGroup", "g1"); err != nil {
		t.Fatal(err)
	}
	members, err = client.InvokeAs[[]string](ctx, outsider, "GroupMembers", "g1")
	if err != nil || !slices.Equal(members, []string{a.ConnectionID()}) {
		t.Errorf("GroupMembers after leave = %q, %v; want [%s]", members, err, a.ConnectionID())
	}
	if _, err := outsider.Invoke(ctx, "SendToGroup", "g1", "grp", "again"); err != nil {
		t.Fatal(err)
	}
	expectJSON(t, inA, `"again"`)
	expectNone(t, inB)
	expectNone(t, inOut)

	empty, err := client.InvokeAs[[]string](ctx, a, "GroupMembers", "nobody")
	if err != nil || len(empty) != 0 {
		t.Errorf("GroupMembers of an empty group = %q, %v", empty, err)
	}
}

func testSendToConnection(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	a := dial(t, th.URL, kind, client.Options{})
	b := dial(t, th.URL, kind, client.Options{})
	inA, inB := listen(a, "direct"), listen(b, "direct")
	if _, err := a.Invoke(testCtx(t), "SendToConnection", b.ConnectionID(), "direct", []int{4, 2}); err != nil {
		t.Fatal(err)
	}
	expectJSON(t, inB, `[4,2]`)
	expectNone(t, inA)
}

func testSendToUser(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	alice1 := dial(t, th.URL, kind, withUser("alice"))
	alice2 := dial(t, th.URL, kind, withUser("alice"))
	bob := dial(t, th.URL, kind, withUser("bob"))
	in1, in2, inBob := listen(alice1, "dm"), listen(alice2, "dm"), listen(bob, "dm")
	if _, err := bob.Invoke(testCtx(t), "SendToUser", "alice", "dm", "hi alice"); err != nil {
		t.Fatal(err)
	}
	expectJSON(t, in1, `"hi alice"`)
	expectJSON(t, in2, `"hi alice"`)
	expectNone(t, inBob)
}

func testSendToOthers(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	a := dial(t, th.URL, kind, client.Options{})
	b := dial(t, th.URL, kind, client.Options{})
	inA, inB := listen(a, "others"), listen(b, "others")
	if _, err := a.Invoke(testCtx(t), "SendToOthers", "others", true); err != nil {
		t.Fatal(err)
	}
	expectJSON(t, inB, `true`)
	expectNone(t, inA)
}

func testCaseInsensitive(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	lower := listen(c, "notify")
	var (
		mu    sync.Mutex
		calls []string
	)
	off := c.On("NOTIFY", func(args []protocol.RawValue) {
		mu.Lock()
		calls = append(calls, string(asJSON(c, args[0])))
		mu.Unlock()
	})
	ctx := testCtx(t)
	if _, err := c.Invoke(ctx, "SendToCaller", "Notify", 1); err != nil {
		t.Fatal(err)
	}
	expectJSON(t, lower, `1`)
	off()
	if _, err := c.Invoke(ctx, "SendToCaller", "nOtIfY", 2); err != nil {
		t.Fatal(err)
	}
	expectJSON(t, lower, `2`)
	mu.Lock()
	if !slices.Equal(calls, []string{"1"}) {
		t.Errorf("removed handler saw %q, want [1]", calls)
	}
	mu.Unlock()
	c.Off("Notify")
	if _, err := c.Invoke(ctx, "SendToCaller", "notify", 3); err != nil {
		t.Fatal(err)
	}
	expectNone(t, lower)
}

func testCounter(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ctx := testCtx(t)
	s, err := c.Stream(ctx, "Counter", 5, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for n, err := range client.Items[int](s) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("Counter(5) = %v", got)
	}
	if _, err := s.Next(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("Next after the end = %v, want io.EOF", err)
	}
	// Next, by hand, with an empty stream.
	s, err = c.Stream(ctx, "Counter", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if item, err := s.Next(ctx); !errors.Is(err, io.EOF) {
		t.Errorf("Counter(0): Next = %s, %v; want io.EOF", item, err)
	}
	// Streaming a method that fails.
	s, err = c.Stream(ctx, "Counter", "not a number", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(ctx); !errorsAsInvocation(err) {
		t.Errorf("Counter(bad): Next = %v, want an *InvocationError", err)
	}
}

// streamItems counts what the server sent after a cancellation: nothing more should
// arrive but, possibly, the completion.
func testCounterCancel(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ctx := testCtx(t)
	s, err := c.Stream(ctx, "Counter", 1000, 20)
	if err != nil {
		t.Fatal(err)
	}
	for want := range 3 {
		item, err := s.Next(ctx)
		if err != nil || string(asJSON(c, item)) != fmt.Sprint(want) {
			t.Fatalf("item %d = %s, %v", want, item, err)
		}
	}
	s.Cancel()
	if _, err := s.Next(ctx); !errors.Is(err, client.ErrCanceled) {
		t.Errorf("Next after Cancel = %v, want ErrCanceled", err)
	}
	assertServerStopped(t, c)

	// Leaving a range loop cancels too.
	s, err = c.Stream(ctx, "Counter", 1000, 20)
	if err != nil {
		t.Fatal(err)
	}
	for n, err := range client.Items[int](s) {
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			break
		}
	}
	assertServerStopped(t, c)
}

// assertServerStopped checks that, after a stream was cancelled, the server sends
// at most a trailing message or two, then nothing, and still answers.
func assertServerStopped(t *testing.T, c *client.Conn) {
	t.Helper()
	time.Sleep(100 * time.Millisecond) // items in flight
	before := c.Stats()
	time.Sleep(300 * time.Millisecond) // 15 more items, were the stream still running
	after := c.Stats()
	if extra := after.MessagesReceived - after.PingsReceived - (before.MessagesReceived - before.PingsReceived); extra > 0 {
		t.Errorf("%d messages arrived after the stream was cancelled", extra)
	}
	if s, err := client.InvokeAs[string](testCtx(t), c, "Echo", "after cancel"); err != nil || s != "after cancel" {
		t.Errorf("Echo after cancel = %q, %v", s, err)
	}
}

func testCounterContextCancel(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ctx, cancel := context.WithCancel(testCtx(t))
	s, err := c.Stream(ctx, "Counter", 1000, 20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := s.Next(context.Background()); !errors.Is(err, client.ErrCanceled) {
		t.Errorf("Next after the context ended = %v, want ErrCanceled", err)
	}
	assertServerStopped(t, c)
}

func testSum(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ctx := testCtx(t)
	up := client.NewUploadStream()
	go func() {
		defer up.Close()
		for _, n := range []float64{1, 2, 3.5, 100} {
			if err := up.Send(ctx, n); err != nil {
				t.Errorf("upload: %v", err)
				return
			}
		}
	}()
	sum, err := client.InvokeAs[float64](ctx, c, "Sum", up)
	if err != nil || sum != 106.5 {
		t.Fatalf("Sum = %v, %v; want 106.5", sum, err)
	}
	if err := up.Send(ctx, 1); err == nil {
		t.Error("Send after Close succeeded")
	}
	// Empty stream.
	empty := client.NewUploadStream()
	empty.Close()
	if sum, err := client.InvokeAs[float64](ctx, c, "Sum", empty); err != nil || sum != 0 {
		t.Errorf("Sum() = %v, %v", sum, err)
	}
	// An UploadStream serves one invocation only.
	if _, err := c.Invoke(ctx, "Sum", empty); err == nil {
		t.Error("reusing an UploadStream succeeded")
	}
}

func testSumChannel(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ch := make(chan int)
	go func() {
		defer close(ch)
		for i := 1; i <= 100; i++ {
			ch <- i
		}
	}()
	sum, err := client.InvokeAs[float64](testCtx(t), c, "Sum", (<-chan int)(ch))
	if err != nil || sum != 5050 {
		t.Fatalf("Sum(1..100) = %v, %v; want 5050", sum, err)
	}
}

func testSumUploadError(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ctx := testCtx(t)
	up := client.NewUploadStream()
	go func() {
		_ = up.Send(ctx, 1)
		up.CloseWithError(errors.New("the source broke"))
	}()
	res, err := c.Invoke(ctx, "Sum", up)
	switch {
	case errorsAsInvocation(err):
		// What ASP.NET Core does: reading the stream throws, the method fails.
	case err == nil:
		// The Completion with an error reached the server (wire-level tests in
		// client_test.go check that it is sent), which ended the channel as if the
		// stream had completed normally: the error is invisible to the handler.
		t.Logf("server: an upload stream that ended with an error gave Sum = %s, not an error", res.Raw)
	default:
		t.Fatalf("Sum with a failed upload: %v", err)
	}
	if s, err := client.InvokeAs[string](ctx, c, "Echo", "ok"); err != nil || s != "ok" {
		t.Errorf("Echo = %q, %v", s, err)
	}
}

func testDisconnect(t *testing.T, kind transports.Kind, allowReconnect bool) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	if _, err := c.Invoke(testCtx(t), "Disconnect", allowReconnect); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not end")
	}
	var ce *client.CloseError
	if !errors.As(c.Err(), &ce) {
		t.Fatalf("Err = %v (%T), want a *CloseError", c.Err(), c.Err())
	}
	if ce.AllowReconnect != allowReconnect {
		t.Errorf("AllowReconnect = %v, want %v", ce.AllowReconnect, allowReconnect)
	}
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Error("a CloseError does not wrap ErrClosed")
	}
	if _, err := c.Invoke(testCtx(t), "Echo", 1); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Invoke after the end = %v, want ErrClosed", err)
	}
}

func testKeepAlive(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{KeepAliveInterval: 50 * time.Millisecond}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	time.Sleep(400 * time.Millisecond)
	pings := c.Stats().PingsReceived
	for deadline := time.Now().Add(2 * time.Second); pings < 3 && kind != transports.LongPolling && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // a loaded machine
		pings = c.Stats().PingsReceived
	}
	if kind == transports.LongPolling {
		// Long polling needs no pings (the server sends none, like ASP.NET Core).
		t.Logf("pings over long polling: %d", pings)
	} else if pings < 3 {
		t.Errorf("%d pings with a 50 ms keep-alive, want several", pings)
	}
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
	if sent := c.Stats().PingsSent; kind != transports.LongPolling && sent != 1 {
		// One after the handshake, none since (KeepAliveInterval is 15 s).
		t.Errorf("client sent %d pings, want 1", sent)
	}
}

func testClientTimeout(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{KeepAliveInterval: 50 * time.Millisecond, ClientTimeout: 500 * time.Millisecond}, nil)
	silent := dial(t, th.URL, kind, client.Options{KeepAliveInterval: -1})
	chatty := dial(t, th.URL, kind, client.Options{KeepAliveInterval: 50 * time.Millisecond})
	if kind == transports.LongPolling {
		// Polls are the keep-alive: a polling client is never timed out.
		time.Sleep(time.Second)
		if silent.Err() != nil || chatty.Err() != nil {
			t.Fatalf("a polling client was timed out: %v / %v", silent.Err(), chatty.Err())
		}
		return
	}
	select {
	case <-silent.Done():
		t.Logf("silent client: %v", silent.Err())
		if !errors.Is(silent.Err(), client.ErrClosed) {
			t.Errorf("Err = %v, want ErrClosed", silent.Err())
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the server did not time out a client that sends nothing")
	}
	if err := chatty.Err(); err != nil {
		t.Fatalf("a client that pings was timed out: %v", err)
	}
	if s, err := client.InvokeAs[string](testCtx(t), chatty, "Echo", "alive"); err != nil || s != "alive" {
		t.Errorf("Echo = %q, %v", s, err)
	}
	if n := chatty.Stats().PingsSent; n < 2 {
		t.Errorf("the chatty client sent %d pings", n)
	}
}

func testServerClose(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := th.Hub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not end")
	}
	err := c.Err()
	t.Logf("Err = %v", err)
	if !errors.Is(err, client.ErrClosed) {
		t.Errorf("Err = %v, want ErrClosed", err)
	}
	var ce *client.CloseError
	if !errors.As(err, &ce) || !ce.AllowReconnect {
		t.Errorf("Err = %v, want a *CloseError allowing reconnection", err)
	}
	// A new connection is refused.
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	if c2, err := client.Dial(dctx, th.URL, client.Options{Transports: kind, Logger: quiet}); err == nil {
		c2.Close()
		t.Error("Dial after hub.Close succeeded")
	}
}

func testClientClose(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	if _, err := c.Invoke(testCtx(t), "Echo", 1); err != nil {
		t.Fatal(err)
	}
	if n := th.Hub.ConnectionCount(); n != 1 {
		t.Fatalf("ConnectionCount = %d", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Errorf("Err = %v", c.Err())
	}
	deadline := time.Now().Add(3 * time.Second)
	for th.Hub.ConnectionCount() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the server still has %d connections after Close", th.Hub.ConnectionCount())
		}
		time.Sleep(10 * time.Millisecond)
	}
	reqs := th.seen()
	var closeSeen bool
	for _, r := range reqs {
		if r.Method == http.MethodDelete {
			closeSeen = true
		}
	}
	if kind == transports.LongPolling && !closeSeen {
		t.Error("no DELETE after Close over long polling")
	}
	if kind != transports.LongPolling && closeSeen {
		t.Errorf("DELETE sent over %s", kind)
	}
	if _, err := c.Invoke(testCtx(t), "Echo", 1); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Invoke after Close = %v", err)
	}
	c.Close() // idempotent
}

func testClientResults(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	c.OnInvoke("GetAnswer", func(ctx context.Context, args []protocol.RawValue) (any, error) {
		var q int
		if err := c.DecodeArgs(args, &q); err != nil {
			return nil, err
		}
		if q < 0 {
			return nil, errors.New("negative questions are not allowed")
		}
		return map[string]int{"answer": q + 1}, nil
	})
	hc, ok := th.Hub.Conn(c.ConnectionID())
	if !ok {
		t.Fatal("the hub does not know the connection")
	}
	ctx := testCtx(t)
	res, err := hc.Invoke(ctx, "getanswer", 41)
	if err != nil || !jsonEqual(asJSON(hc, res), []byte(`{"answer":42}`)) {
		t.Errorf("client result = %s, %v", res, err)
	}
	if _, err := hc.Invoke(ctx, "GetAnswer", -1); err == nil || !strings.Contains(err.Error(), "negative questions") {
		t.Errorf("failing client result: %v", err)
	}
	if _, err := hc.Invoke(ctx, "NoHandler"); err == nil || !strings.Contains(err.Error(), "Client didn't provide a result.") {
		t.Errorf("client result without handler: %v", err)
	}
	// A result handler may call the hub itself.
	c.OnInvoke("Nested", func(ctx context.Context, args []protocol.RawValue) (any, error) {
		return client.InvokeAs[int](ctx, c, "Add", 20, 22)
	})
	if res, err := hc.Invoke(ctx, "Nested"); err != nil || string(asJSON(hc, res)) != "42" {
		t.Errorf("nested client result = %s, %v", res, err)
	}
}

func testQueryPreserved(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL+"?tenant=a%2Cb&x=1", kind, client.Options{Header: http.Header{"X-Custom": {"yes"}}})
	if _, err := c.Invoke(testCtx(t), "Echo", 1); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, r := range th.seen() {
		if !strings.HasPrefix(r.RawQuery, "tenant=a%2Cb&x=1") {
			t.Errorf("%s %s?%s lost the query", r.Method, r.Path, r.RawQuery)
		}
		if r.Header.Get("X-Custom") != "yes" {
			t.Errorf("%s %s?%s lost the header", r.Method, r.Path, r.RawQuery)
		}
		switch {
		case strings.HasSuffix(r.Path, "/negotiate"):
			if r.Method != http.MethodPost || !strings.Contains(r.RawQuery, "negotiateVersion=1") {
				t.Errorf("negotiate: %s ?%s", r.Method, r.RawQuery)
			}
		case r.Method == http.MethodGet && kind == transports.LongPolling:
			if !strings.Contains(r.RawQuery, "&_=") || !strings.Contains(r.RawQuery, "&id=") {
				t.Errorf("poll without id or _: ?%s", r.RawQuery)
			}
		}
	}
}

func testAccessToken(t *testing.T, kind transports.Kind) {
	var (
		mu     sync.Mutex
		tokens = map[string]int{} // how the token arrived
	)
	th := startHub(t, hub.Options{
		Authenticate: func(r *http.Request) (hub.Identity, error) {
			tok, how := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "header"
			if tok == "" {
				tok, how = r.URL.Query().Get("access_token"), "query"
			}
			mu.Lock()
			tokens[how]++
			mu.Unlock()
			user, ok := strings.CutPrefix(tok, "token-for-")
			if !ok {
				return hub.Identity{}, errors.New("bad token")
			}
			return hub.Identity{UserID: user}, nil
		},
	}, nil)
	calls := 0
	c := dial(t, th.URL, kind, client.Options{AccessToken: func(context.Context) (string, error) {
		calls++
		return "token-for-carol", nil
	}})
	w, err := client.InvokeAs[whoami](testCtx(t), c, "Whoami")
	if err != nil {
		t.Fatal(err)
	}
	if w.UserID == nil || *w.UserID != "carol" {
		t.Errorf("userId = %v, want carol", w.UserID)
	}
	mu.Lock()
	query := tokens["query"]
	mu.Unlock()
	if kind == transports.ServerSentEvents && query != 1 {
		t.Errorf("SSE: the token came %d times in the query, want once (the stream)", query)
	}
	if kind != transports.ServerSentEvents && query != 0 {
		t.Errorf("%s: the token came in the query", kind)
	}
	if calls < 1 {
		t.Error("the token function was not called")
	}

	// Without a token: negotiate is refused with 401 and the server's text.
	_, err = client.Dial(testCtx(t), th.URL, client.Options{Transports: kind, Logger: quiet})
	var he *client.HTTPError
	if !errors.Is(err, client.ErrNegotiate) || !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized || !strings.Contains(he.Body, "bad token") {
		t.Errorf("Dial without a token: %v", err)
	}
}

// testConcurrency runs many invocations at once from several goroutines: the
// writer serializes them (one POST at a time) and every result comes back to its
// caller.
func testConcurrency(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, kind, client.Options{})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				want := fmt.Sprintf("g%d-%d", g, i)
				got, err := client.InvokeAs[string](ctx, c, "Echo", want)
				if err != nil || got != want {
					t.Errorf("Echo(%s) = %q, %v", want, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if st := c.Stats(); st.UnitsSent >= st.MessagesSent {
		t.Logf("no batching happened: %+v", st)
	}
}

// TestFallback makes the preferred transports fail to connect: the client
// negotiates again and uses the next one, as the official client does.
func TestFallback(t *testing.T) {
	tests := []struct {
		name       string
		refuse     func(r *http.Request) int
		want       transports.Kind
		negotiates int
	}{
		{
			name: "WebSocket refused",
			refuse: func(r *http.Request) int {
				if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
					return http.StatusForbidden
				}
				return 0
			},
			want:       transports.ServerSentEvents,
			negotiates: 2,
		},
		{
			name: "WebSocket and SSE refused",
			refuse: func(r *http.Request) int {
				if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
					return http.StatusServiceUnavailable
				}
				return 0
			},
			want:       transports.LongPolling,
			negotiates: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			th := startHub(t, hub.Options{}, tc.refuse)
			c, err := client.Dial(testCtx(t), th.URL, client.Options{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Transport() != tc.want {
				t.Errorf("Transport = %v, want %v", c.Transport(), tc.want)
			}
			w, err := client.InvokeAs[whoami](testCtx(t), c, "Whoami")
			if err != nil || w.Transport != tc.want.String() || w.ConnectionID != c.ConnectionID() {
				t.Errorf("Whoami = %+v, %v", w, err)
			}
			n := 0
			for _, r := range th.seen() {
				if strings.HasSuffix(r.Path, "/negotiate") {
					n++
				}
			}
			if n != tc.negotiates {
				t.Errorf("%d negotiates, want %d", n, tc.negotiates)
			}
		})
	}

	t.Run("all refused", func(t *testing.T) {
		t.Parallel()
		th := startHub(t, hub.Options{}, func(r *http.Request) int {
			if strings.HasSuffix(r.URL.Path, "/negotiate") {
				return 0
			}
			return http.StatusTeapot
		})
		_, err := client.Dial(testCtx(t), th.URL, client.Options{Logger: quiet})
		if !errors.Is(err, client.ErrNoTransport) {
			t.Fatalf("err = %v, want ErrNoTransport", err)
		}
		var he *client.HTTPError
		if !errors.As(err, &he) || he.StatusCode != http.StatusTeapot {
			t.Errorf("err = %v, want an *HTTPError 418 inside", err)
		}
		for _, k := range kinds {
			if !strings.Contains(err.Error(), k.name) {
				t.Errorf("err does not mention %s: %v", k.name, err)
			}
		}
	})

	t.Run("transport not offered", func(t *testing.T) {
		t.Parallel()
		th := startHub(t, hub.Options{Transports: transports.LongPolling}, nil)
		_, err := client.Dial(testCtx(t), th.URL, client.Options{Transports: transports.WebSockets, Logger: quiet})
		if !errors.Is(err, client.ErrNoTransport) {
			t.Fatalf("err = %v, want ErrNoTransport", err)
		}
	})
}

// TestSkipNegotiation connects a WebSocket without negotiate.
func TestSkipNegotiation(t *testing.T) {
	th := startHub(t, hub.Options{}, nil)
	c := dial(t, th.URL, transports.WebSockets, client.Options{SkipNegotiation: true})
	if c.ConnectionID() != "" {
		t.Errorf("ConnectionID = %q, want empty", c.ConnectionID())
	}
	w, err := client.InvokeAs[whoami](testCtx(t), c, "Whoami")
	if err != nil || w.Transport != "WebSockets" || w.ConnectionID == "" {
		t.Errorf("Whoami = %+v, %v", w, err)
	}
	for _, r := range th.seen() {
		if strings.HasSuffix(r.Path, "/negotiate") {
			t.Error("negotiate was sent")
		}
	}
}

// testTooLarge sends a message over the server's limits. Over the 32 KiB limit
// of one message the server closes the connection with a reason, as ASP.NET Core
// does. Over the 1 MiB limit of a unit, a POST is refused with 413 and only that
// call fails; a WebSocket is closed with status 1009.
func testTooLarge(t *testing.T, kind transports.Kind) {
	th := startHub(t, hub.Options{}, nil)
	ctx := testCtx(t)

	c := dial(t, th.URL, kind, client.Options{})
	if _, err := c.Invoke(ctx, "Echo", strings.Repeat("x", 40<<10)); err == nil {
		t.Fatal("a 40 KiB message was accepted")
	}
	<-c.Done()
	if want := "The maximum message size of 32768B was exceeded"; !strings.Contains(fmt.Sprint(c.Err()), want) {
		t.Errorf("Err = %v, want it to say %q", c.Err(), want)
	}

	c = dial(t, th.URL, kind, client.Options{})
	_, err := c.Invoke(ctx, "Echo", strings.Repeat("x", transports.DefaultMaxTransportMessageSize))
	if err == nil {
		t.Fatal("a 1 MiB message was accepted")
	}
	t.Logf("1 MiB: %v", err)
	if kind == transports.WebSockets {
		<-c.Done()
		if !strings.Contains(c.Err().Error(), "1009") {
			t.Errorf("Err = %v, want a close with status 1009", c.Err())
		}
		return
	}
	var he *client.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("err = %v, want an *HTTPError 413", err)
	}
	if s, err := client.InvokeAs[string](ctx, c, "Echo", "small"); err != nil || s != "small" {
		t.Errorf("Echo after a refused POST = %q, %v", s, err)
	}
}
