package hub

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
)

var (
	contextType = reflect.TypeFor[*Context]()
	// A handler may take the *Context as a context.Context, as Go code passes one.
	stdContextType = reflect.TypeFor[context.Context]()
	errorType      = reflect.TypeFor[error]()
)

// resultShape says what a handler returns.
type resultShape int

const (
	returnsNothing resultShape = iota
	returnsError
	returnsValue
	returnsValueAndError
)

// streamShape says how a streaming handler hands out its items.
type streamShape int

const (
	notStreaming streamShape = iota
	streamsChannel
	streamsSeq  // iter.Seq[T]
	streamsSeq2 // iter.Seq2[T, error]
)

// method is a registered handler with its signature worked out once, so that an
// invocation only decodes and calls.
type method struct {
	name        string
	fn          reflect.Value
	withContext bool
	// args lists, per handler parameter after the context, the type to decode into,
	// or for an upload stream (<-chan T) the channel type.
	args      []reflect.Type
	uploads   []int // indexes into args that are upload streams
	valueArgs int
	result    resultShape
	stream    streamShape
	authorize []func(*Context) error
}

// MethodOption refines a method registered with [Hub.On].
type MethodOption func(*method)

// Authorize makes a method run only when check returns nil; otherwise the caller
// gets an error Completion saying it is unauthorized (and the server logs check's
// error). Several Authorize options must all pass.
func Authorize(check func(ctx *Context) error) MethodOption {
	return func(m *method) { m.authorize = append(m.authorize, check) }
}

// RequireClaim makes a method run only for callers whose [Identity].Claims[name] is
// one of values (or, for a list claim such as "roles", contains one of them).
func RequireClaim(name string, values ...string) MethodOption {
	return Authorize(func(ctx *Context) error {
		if claimHas(ctx.Conn().Identity().Claims[name], values) {
			return nil
		}
		return fmt.Errorf("hub: claim %q is not one of %q", name, values)
	})
}

func claimHas(claim any, values []string) bool {
	switch v := claim.(type) {
	case string:
		return slices.Contains(values, v)
	case []string:
		return slices.ContainsFunc(v, func(s string) bool { return slices.Contains(values, s) })
	case []any:
		return slices.ContainsFunc(v, func(e any) bool { s, ok := e.(string); return ok && slices.Contains(values, s) })
	}
	return false
}

// unauthorized is the error a caller gets when an Authorize check refuses it.
func unauthorized(method string) error {
	return &bindingError{msg: fmt.Sprintf("Failed to invoke '%s' because user is unauthorized", method)}
}

func newMethod(name string, handler any) (*method, error) {
	fn := reflect.ValueOf(handler)
	t := fn.Type()
	if t.Kind() != reflect.Func {
		return nil, fmt.Errorf("hub: handler for %q is a %s, not a func", name, t)
	}
	if t.IsVariadic() {
		return nil, fmt.Errorf("hub: handler for %q: variadic handlers are not supported", name)
	}
	m := &method{name: name, fn: fn}
	for i := 0; i < t.NumIn(); i++ {
		in := t.In(i)
		switch {
		case i == 0 && (in == contextType || in == stdContextType):
			m.withContext = true
			continue
		case in == contextType || in == stdContextType:
			return nil, fmt.Errorf("hub: handler for %q: %s must be the first parameter", name, in)
		case in.Kind() == reflect.Chan && in.ChanDir() == reflect.RecvDir:
			m.uploads = append(m.uploads, len(m.args))
		default:
			m.valueArgs++
		}
		m.args = append(m.args, in)
	}
	switch t.NumOut() {
	case 0:
		m.result = returnsNothing
	case 1:
		if t.Out(0) == errorType {
			m.result = returnsError
		} else {
			m.result = returnsValue
		}
	case 2:
		if t.Out(1) != errorType {
			return nil, fmt.Errorf("hub: handler for %q: the second result must be error", name)
		}
		m.result = returnsValueAndError
	default:
		return nil, fmt.Errorf("hub: handler for %q returns %d values; return at most (T, error)", name, t.NumOut())
	}
	if m.result == returnsValue || m.result == returnsValueAndError {
		m.stream = streamShapeOf(t.Out(0))
	}
	return m, nil
}

// streamShapeOf recognises <-chan T, chan T, iter.Seq[T] and iter.Seq2[T, error].
func streamShapeOf(t reflect.Type) streamShape {
	if t.Kind() == reflect.Chan && t.ChanDir()&reflect.RecvDir != 0 {
		return streamsChannel
	}
	if t.Kind() != reflect.Func || t.NumIn() != 1 || t.NumOut() != 0 {
		return notStreaming
	}
	yield := t.In(0)
	if yield.Kind() != reflect.Func || yield.NumOut() != 1 || yield.Out(0).Kind() != reflect.Bool {
		return notStreaming
	}
	switch {
	case yield.NumIn() == 1:
		return streamsSeq
	case yield.NumIn() == 2 && yield.In(1) == errorType:
		return streamsSeq2
	}
	return notStreaming
}

// bindingError is an invocation that does not fit its handler. Its text goes to the client.
type bindingError struct{ msg string }

func (e *bindingError) Error() string { return e.msg }

func bindFailure(method, format string, args ...any) error {
	return &bindingError{msg: fmt.Sprintf("Failed to invoke '%s' due to an error on the server. InvalidDataException: %s", method, fmt.Sprintf(format, args...))}
}

// errorText is what the client sees for a handler error.
func errorText(method string, err error, detailed bool) string {
	var hubErr *Error
	var bindErr *bindingError
	var panicErr *panicError
	generic := fmt.Sprintf("An unexpected error occurred invoking '%s' on the server.", method)
	switch {
	case errors.As(err, &bindErr):
		return bindErr.msg
	case errors.As(err, &hubErr):
		return hubErr.Message
	case detailed && errors.As(err, &panicErr):
		return generic + " " + panicErr.Error() // the value, never the stack
	case detailed:
		return err.Error()
	}
	return generic
}
