package hub

import (
	"reflect"
	"slices"
	"strings"
)

// Description is what a hub offers its clients and what it sends them, as
// [Hub.Describe] returns it: for a dashboard, or a generator of typed clients.
type Description struct {
	Hub string // [Options.Name]
	// Methods are the methods registered with [Hub.On], sorted by name
	// (case-insensitively, as they match).
	Methods []MethodDescription
	// ClientMethods are the methods declared with [Hub.ClientMethod]: what the
	// hub's clients should handle. Sorted like Methods.
	ClientMethods []MethodDescription
}

// MethodDescription is one method's signature as a client sees it. The types are
// the Go types the arguments are decoded into (or the results encoded from), so that
// a generator can walk their fields and JSON tags.
type MethodDescription struct {
	Name string
	// Args are the invocation's arguments in order, without the handler's *Context.
	// An argument listed in StreamArgs is a client-to-server stream (the handler's
	// <-chan T): Args holds its item type T.
	Args       []reflect.Type
	StreamArgs []int
	// Result is the type of the completion's result, or with Stream the type of
	// each item the method streams to the caller (its <-chan T, iter.Seq[T] or
	// iter.Seq2[T, error]); nil when the method returns nothing but maybe an error.
	// Always nil for a client method.
	Result reflect.Type
	Stream bool
	// Authorized says the method has [Authorize] checks (or [RequireClaim]): some
	// callers are refused.
	Authorized bool
}

// String is the signature in Go-like notation: "Sum(string, stream float64)
// float64", "Ticks(int) stream int".
func (m MethodDescription) String() string {
	var b strings.Builder
	b.WriteString(m.Name)
	b.WriteByte('(')
	for i, t := range m.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		if slices.Contains(m.StreamArgs, i) {
			b.WriteString("stream ")
		}
		b.WriteString(t.String())
	}
	b.WriteByte(')')
	if m.Result != nil {
		b.WriteByte(' ')
		if m.Stream {
			b.WriteString("stream ")
		}
		b.WriteString(m.Result.String())
	}
	return b.String()
}

// ClientMethod declares a method the hub invokes on its clients (with
// [Target.Send] and the like), and the types of its arguments, given as values of
// those types: h.ClientMethod("message", Message{}) (a nil argument stands for
// any). It is documentation for [Hub.Describe] and for generators of typed
// clients: the hub does not check what it sends against it. Declaring a name again
// replaces it; names match case-insensitively. Safe to call at any time.
func (h *Hub) ClientMethod(name string, args ...any) {
	d := MethodDescription{Name: name}
	for _, a := range args {
		t := reflect.TypeOf(a)
		if t == nil {
			t = reflect.TypeFor[any]()
		}
		d.Args = append(d.Args, t)
	}
	h.methodsMu.Lock()
	defer h.methodsMu.Unlock()
	if h.clientMethods == nil {
		h.clientMethods = map[string]MethodDescription{}
	}
	h.clientMethods[strings.ToLower(name)] = d
}

// Describe returns the hub's methods and its declared client methods. The
// description is the caller's to keep or change.
func (h *Hub) Describe() Description {
	h.methodsMu.RLock()
	defer h.methodsMu.RUnlock()
	d := Description{Hub: h.opts.Name}
	for _, m := range h.methods {
		d.Methods = append(d.Methods, m.describe())
	}
	for _, m := range h.clientMethods {
		m.Args = slices.Clone(m.Args)
		d.ClientMethods = append(d.ClientMethods, m)
	}
	byName := func(a, b MethodDescription) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	}
	slices.SortFunc(d.Methods, byName)
	slices.SortFunc(d.ClientMethods, byName)
	return d
}

// describe is the method's signature as a client sees it.
func (m *method) describe() MethodDescription {
	d := MethodDescription{Name: m.name, Authorized: len(m.authorize) > 0}
	for i, t := range m.args {
		if slices.Contains(m.uploads, i) {
			d.StreamArgs = append(d.StreamArgs, i)
			t = t.Elem()
		}
		d.Args = append(d.Args, t)
	}
	if m.result != returnsValue && m.result != returnsValueAndError {
		return d
	}
	out := m.fn.Type().Out(0)
	switch m.stream {
	case notStreaming:
		d.Result = out
	case streamsChannel:
		d.Result, d.Stream = out.Elem(), true
	case streamsSeq, streamsSeq2:
		d.Result, d.Stream = out.In(0).In(0), true // func(yield func(T[, error]) bool)
	}
	return d
}
