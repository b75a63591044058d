package hub_test

import (
	"context"
	"fmt"
	"iter"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	hubclient "github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
)

type point struct{ X, Y int }

// Describe tells each method's arguments (after the *Context), its result or the
// items it streams, and the client-to-server streams it reads.
func TestDescribe(t *testing.T) {
	h := hub.New(hub.Options{Name: "shapes"})
	defer h.Close(context.Background())
	h.On("zeta", func() {})
	h.On("Add", func(a, b int) int { return a + b })
	h.On("Fail", func(ctx *hub.Context, msg string) error { return nil })
	h.On("Move", func(p point) (point, error) { return p, nil })
	h.On("Ticks", func(ctx *hub.Context, n int) <-chan int { return nil })
	h.On("Seq", func() iter.Seq[string] { return nil })
	h.On("Seq2", func() iter.Seq2[point, error] { return nil })
	h.On("Sum", func(ctx *hub.Context, label string, xs <-chan float64) (float64, error) { return 0, nil })
	h.On("Secret", func() {}, hub.Authorize(func(*hub.Context) error { return nil }))
	h.ClientMethod("moved", point{}, "")
	h.ClientMethod("Ping")
	h.ClientMethod("anything", nil)

	intT, strT, f64T, pointT := reflect.TypeFor[int](), reflect.TypeFor[string](), reflect.TypeFor[float64](), reflect.TypeFor[point]()
	want := hub.Description{
		Hub: "shapes",
		Methods: []hub.MethodDescription{
			{Name: "Add", Args: []reflect.Type{intT, intT}, Result: intT},
			{Name: "Fail", Args: []reflect.Type{strT}},
			{Name: "Move", Args: []reflect.Type{pointT}, Result: pointT},
			{Name: "Secret", Authorized: true},
			{Name: "Seq", Result: strT, Stream: true},
			{Name: "Seq2", Result: pointT, Stream: true},
			{Name: "Sum", Args: []reflect.Type{strT, f64T}, StreamArgs: []int{1}, Result: f64T},
			{Name: "Ticks", Args: []reflect.Type{intT}, Result: intT, Stream: true},
			{Name: "zeta"},
		},
		ClientMethods: []hub.MethodDescription{
			{Name: "anything", Args: []reflect.Type{reflect.TypeFor[any]()}},
			{Name: "moved", Args: []reflect.Type{pointT, strT}},
			{Name: "Ping"},
		},
	}
	got := h.Describe()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Describe:\n got %+v\nwant %+v", got, want)
	}
	// The description is the caller's: changing it changes nothing in the hub.
	got.Methods[0].Args[0] = strT
	if again := h.Describe(); !reflect.DeepEqual(again, want) {
		t.Fatalf("Describe after the caller changed a description: %+v", again)
	}
}

// Registering a client method again replaces it, names matching case-insensitively
// as server methods do.
func TestClientMethodReplaces(t *testing.T) {
	h := hub.New(hub.Options{Name: "r"})
	defer h.Close(context.Background())
	h.ClientMethod("message", 1)
	h.ClientMethod("Message", "")
	got := h.Describe().ClientMethods
	want := []hub.MethodDescription{{Name: "Message", Args: []reflect.Type{reflect.TypeFor[string]()}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ClientMethods = %+v, want %+v", got, want)
	}
}

// A hub's description, for a dashboard or a generator of typed clients. The
// client methods are declared: the hub does not check what it sends against them.
func ExampleHub_Describe() {
	type Message struct {
		From string `json:"from"`
		Text string `json:"text"`
	}
	chat := hub.New(hub.Options{Name: "chat"})
	defer chat.Close(context.Background())
	chat.On("Send", func(ctx *hub.Context, room, text string) error { return nil })
	chat.On("History", func(room string, limit int) ([]Message, error) { return nil, nil })
	chat.On("Tail", func(ctx *hub.Context, room string) <-chan Message { return nil })
	chat.ClientMethod("message", Message{})

	d := chat.Describe()
	fmt.Println("hub", d.Hub)
	for _, m := range d.Methods {
		fmt.Println(" ", m)
	}
	for _, m := range d.ClientMethods {
		fmt.Println("  client:", m)
	}
	// Output:
	// hub chat
	//   History(string, int) []hub_test.Message
	//   Send(string, string)
	//   Tail(string) stream hub_test.Message
	//   client: message(hub_test.Message)
}

// A handler may take a context.Context first, as Go code passes one first: it
// gets the call's *Context, and the description has no argument for it (before,
// it was a client argument no JSON decodes into, so no call could succeed).
func TestContextContextParameter(t *testing.T) {
	h := hub.New(hub.Options{Name: "ctx"})
	defer h.Close(context.Background())
	h.On("Twice", func(ctx context.Context, n int) (int, error) {
		if _, ok := ctx.(*hub.Context); !ok {
			return 0, fmt.Errorf("the context is a %T", ctx)
		}
		return 2 * n, ctx.Err()
	})
	intT := reflect.TypeFor[int]()
	if got, want := h.Describe().Methods, []hub.MethodDescription{{Name: "Twice", Args: []reflect.Type{intT}, Result: intT}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Describe: got %+v, want %+v", got, want)
	}

	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := hubclient.Dial(ctx, srv.URL, hubclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Invoke(ctx, "Twice", 21)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var n int
	if err := res.Decode(&n); err != nil || n != 42 {
		t.Fatalf("Twice(21) = %d (%v), want 42", n, err)
	}

	// Elsewhere than first it is a mistake, as *hub.Context is.
	defer func() {
		if recover() == nil {
			t.Error("On took a context.Context second")
		}
	}()
	h.On("Late", func(n int, ctx context.Context) {})
}
