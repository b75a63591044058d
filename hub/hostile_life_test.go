package hub_test

import (
	"iter"
	"testing"

	"github.com/hubbub-go/hubbub/hub"
)

// lifeCases are hostile cases for panics: a client that makes a handler or a
// stream panic at will gets an error Completion, never the server's stack, and
// its connection (and everyone else's) lives on. Closing the hub cannot be a case
// here (the bystanders would go with it): TestNoConnectionOpensAfterClose covers
// tokens used after Close.
func lifeCases() []hostileCase {

	registerPanics := func(h *hub.Hub) {
		h.On("PanicStream", func() iter.Seq[int] {
			return func(yield func(int) bool) {
				yield(1)
				panic("hostile stream panic")
			}
		})
		h.On("PanicUpload", func(items <-chan int) {
			<-items
			panic("hostile upload panic")
		})
	}
	return []hostileCase{
		{name: "protocol/handler panic with DetailedErrors", opts: func(o *hub.Options) { o.DetailedErrors = true }, run: func(t *testing.T, e *env) {
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"p","target":"Panic","arguments":[]}`+rs)
			c.wantError(t, "p", "An unexpected error occurred invoking 'Panic' on the server. panic: hostile test panic")
			c.wantAlive(t)
			e.wantLogged(t, `err="panic: hostile test panic" stack="goroutine `)
		}},
		{name: "protocol/stream panic", run: func(t *testing.T, e *env) {
			registerPanics(e.h)
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":4,"invocationId":"p","target":"PanicStream","arguments":[]}`+rs)
			c.wantError(t, "p", "An unexpected error occurred invoking 'PanicStream' on the server.")
			c.wantAlive(t)
			e.wantLogged(t, `err="panic: hostile stream panic" stack="goroutine `)
		}},
		{name: "protocol/upload handler panic", run: func(t *testing.T, e *env) {
			registerPanics(e.h)
			c := &client{ws: dialWS(t, e.srv)}
			c.send(t, `{"type":1,"invocationId":"p","target":"PanicUpload","arguments":[],"streamIds":["s"]}`+rs+
				`{"type":2,"invocationId":"s","item":1}`+rs)
			c.wantError(t, "p", "An unexpected error occurred invoking 'PanicUpload' on the server.")
			c.wantAlive(t)
			e.wantLogged(t, `err="panic: hostile upload panic" stack="goroutine `)
		}},
	}
}
