package hub

// Calls: a client's invocation of a hub method, from its arrival (Conn.route) to its
// Completion.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/hubbub-go/hubbub/hub/protocol"
)

// call is an invocation between its arrival and its end. It is registered as soon
// as it arrives, so that a CancelInvocation or a stream item that follows it at once
// finds it even before the dispatcher has started it.
type call struct {
	msg     protocol.Message
	method  *method // nil for an unknown method
	ctx     context.Context
	cancel  context.CancelCauseFunc // the cause is what a call with uploads answers
	uploads []*upload
	streams int // streams this call holds against Options.MaxStreams
	// registered: the call holds its IDs and stream slots (guarded by Conn.invMu)
	registered bool
	// answered: Hub.Close's drain has sent the call's error Completion, so nobody
	// else may (guarded by Conn.invMu)
	answered bool
	err      error // set when the call is refused before it runs
	// traced ends the call's span (Options.Tracer); see endTrace.
	traced func(error)
}

// prepare registers a call that has just arrived.
func (c *Conn) prepare(m *protocol.Message) *call {
	ctx, cancel := context.WithCancelCause(c.ctx)
	var traced func(error)
	if tr := c.hub.opts.Tracer; tr != nil {
		ctx, traced = tr.StartInvocation(ctx, c.invocationInfo(m))
	}
	cl := &call{msg: *m, method: c.hub.method(m.Target), ctx: ctx, cancel: cancel, traced: traced}
	meth := cl.method
	if meth != nil && len(m.StreamIDs) == len(meth.uploads) {
		for i := range m.StreamIDs {
			elem := meth.args[meth.uploads[i]].Elem()
			ch := reflect.MakeChan(reflect.ChanOf(reflect.BothDir, elem), c.hub.opts.StreamBufferCapacity)
			cl.uploads = append(cl.uploads, &upload{ch: ch, elem: elem, ctx: ctx, cancel: cancel})
		}
		cl.streams = len(cl.uploads)
		if meth.stream != notStreaming {
			cl.streams++
		}
	}
	c.invMu.Lock()
	defer c.invMu.Unlock()
	c.running++ // until release
	refuse := func(err error) *call {
		cl.err, cl.uploads, cl.streams = err, nil, 0
		return cl
	}
	if _, inUse := c.invocations[m.InvocationID]; inUse && m.InvocationID != "" {
		return refuse(NewError("Invocation ID '%s' is already in use.", m.InvocationID))
	}
	for _, id := range m.StreamIDs {
		if _, inUse := c.uploads[id]; inUse {
			return refuse(NewError("Stream ID '%s' is already in use.", id))
		}
	}
	if cl.streams > 0 && c.streams+cl.streams > c.hub.opts.MaxStreams {
		return refuse(NewError("Too many streams open on this connection (limit %d).", c.hub.opts.MaxStreams))
	}
	c.streams += cl.streams
	cl.registered = true
	if m.InvocationID != "" {
		if c.invocations == nil {
			c.invocations = map[string]*call{}
		}
		c.invocations[m.InvocationID] = cl
	}
	for i, up := range cl.uploads {
		if c.uploads == nil {
			c.uploads = map[string]*upload{}
		}
		c.uploads[m.StreamIDs[i]] = up
		// However the call ends, its handler sees its streams closed: one that
		// ranges over them returns instead of leaking.
		context.AfterFunc(ctx, func() { up.abort(c) })
	}
	return cl
}

// dispatch starts the invocations waiting in calls, in order, once OnConnected has
// returned, and exits when none is left: an idle connection has no dispatcher. It
// runs apart from the receive path so that a handler waiting for a client result
// (Conn.Invoke) still gets the client's Completion.
func (c *Conn) dispatch() {
	c.mu.Lock()
	ready, isReady := c.ready, c.isReady
	c.mu.Unlock()
	if !isReady {
		select {
		case <-ready:
		case <-c.ctx.Done():
			c.abandon()
			return
		}
	}
	for {
		select {
		case cl := <-c.calls:
			c.invoke(cl)
			continue
		case <-c.ctx.Done():
			c.abandon()
			return
		default:
		}
		c.dispatching.Store(false)
		// A call may have arrived between the empty check and the store.
		if len(c.calls) == 0 || !c.dispatching.CompareAndSwap(false, true) {
			return
		}
	}
}

// abandon releases the calls still waiting when the connection has ended: they
// never run nor are answered, and their spans end with ErrConnectionClosed rather
// than stay open in the tracer's span processors. The dispatcher calls it as it
// exits on the connection's end, as does route for a call it queued after that
// (the dispatcher, still marked running, is not started again).
func (c *Conn) abandon() {
	for {
		select {
		case cl := <-c.calls:
			cl.endTrace(ErrConnectionClosed)
			c.release(cl)
		default:
			return
		}
	}
}

// invoke binds a call to its handler and starts it.
func (c *Conn) invoke(cl *call) {
	m, meth := &cl.msg, cl.method
	fail := func(err error) {
		cl.endTrace(err)
		if c.release(cl) {
			c.complete(m.InvocationID, m.Target, nil, err)
		}
	}
	switch {
	case meth == nil:
		fail(&bindingError{msg: fmt.Sprintf("Unknown hub method '%s'", m.Target)})
		return
	case cl.err != nil:
		fail(cl.err)
		return
	case m.Type == protocol.StreamInvocationType && meth.stream == notStreaming:
		fail(&bindingError{msg: fmt.Sprintf("The client attempted to invoke the non-streaming '%s' method with a streaming invocation.", meth.name)})
		return
	case m.Type == protocol.InvocationType && meth.stream != notStreaming:
		fail(&bindingError{msg: fmt.Sprintf("The client attempted to invoke the streaming '%s' method with a non-streaming invocation.", meth.name)})
		return
	}
	args, err := c.bindArgs(cl)
	if err != nil {
		fail(err)
		return
	}
	if meth.stream != notStreaming {
		go c.run(cl, args, nil)
		return
	}
	select {
	case c.slots <- struct{}{}:
		go c.run(cl, args, c.slots)
	case <-c.ctx.Done():
		cl.endTrace(ErrConnectionClosed)
		c.release(cl)
	}
}

// bindArgs decodes the arguments of a call into the handler's parameter types.
func (c *Conn) bindArgs(cl *call) ([]reflect.Value, error) {
	m, meth := &cl.msg, cl.method
	if len(m.Arguments) != meth.valueArgs {
		return nil, bindFailure(meth.name, "Invocation provides %d argument(s) but target expects %d.", len(m.Arguments), meth.valueArgs)
	}
	if len(m.StreamIDs) != len(meth.uploads) {
		return nil, bindFailure(meth.name, "Invocation provides %d stream(s) but target expects %d.", len(m.StreamIDs), len(meth.uploads))
	}
	args := make([]reflect.Value, 0, len(meth.args)+1)
	next, nextUpload := 0, 0
	for _, t := range meth.args {
		if t.Kind() == reflect.Chan && t.ChanDir() == reflect.RecvDir {
			args = append(args, cl.uploads[nextUpload].ch.Convert(t))
			nextUpload++
			continue
		}
		v := reflect.New(t)
		raw := m.Arguments[next]
		if err := c.proto.DecodeValue(raw, v.Interface()); err != nil || (isNull(c.proto, raw) && !nullable(t)) {
			return nil, bindFailure(meth.name, "Error binding arguments. Argument %d cannot be read as %s (got %s).", next+1, t, shortValue(c.proto, raw))
		}
		next++
		args = append(args, v.Elem())
	}
	return args, nil
}

// isNull reports whether a value is null (nil in MessagePack).
func isNull(p protocol.Protocol, raw protocol.RawValue) bool {
	if isBinary(p) {
		return len(raw) == 1 && raw[0] == msgpackNil
	}
	return string(bytes.TrimSpace(raw)) == "null"
}

// msgpackNil is MessagePack's nil.
const msgpackNil = 0xc0

// nullable reports whether null is a meaningful value of t, as it is for pointers,
// maps, slices and interfaces. Elsewhere JSON decoding would quietly turn null into
// a zero value, which would hide a client's mistake.
func nullable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return true
	}
	return false
}

// shortValue quotes the start of a value for an error message: text as it is,
// a binary encoding in hex.
func shortValue(p protocol.Protocol, raw protocol.RawValue) string {
	if isBinary(p) {
		if len(raw) > 16 {
			return fmt.Sprintf("0x%x...", raw[:13])
		}
		return fmt.Sprintf("0x%x", []byte(raw))
	}
	if len(raw) > 32 {
		return string(raw[:29]) + "..."
	}
	return string(raw)
}

// run calls a handler and sends what it returns: a Completion, or stream items and
// then a Completion. slot, when not nil, is released when the call ends.
func (c *Conn) run(cl *call, args []reflect.Value, slot chan struct{}) {
	if slot != nil {
		defer func() { <-slot }()
	}
	defer c.release(cl)
	meth, id := cl.method, cl.msg.InvocationID
	// A Completion is the client's signal that the invocation ID and stream slots
	// are free again, so they are freed first; the context ends after it is queued.
	// The invocation is counted (Observer.Invoked) before its Completion is queued,
	// so that a client that saw the Completion finds it in the metrics.
	var started time.Time
	observed := false
	observe := func(err error) {
		if observed {
			return
		}
		observed = true
		if !started.IsZero() {
			c.hub.opts.Observer.Invoked(c.hub.opts.Name, meth.name, time.Since(started), err)
		}
		cl.endTrace(err)
	}
	complete := func(result protocol.RawValue, err error) {
		observe(err)
		if c.unregister(cl) {
			c.complete(id, meth.name, result, err)
		}
	}
	hctx := &Context{Context: cl.ctx, conn: c}
	for _, check := range meth.authorize {
		var err error
		if perr := protect(func() { err = check(hctx) }); perr != nil || err != nil {
			if perr != nil { // a panic: logged at ERROR with its stack, never sampled away
				c.hub.logFailure(slog.LevelInfo, "hub: invocation refused", perr, "hub", c.hub.opts.Name, "connection", c.id, "method", meth.name, "user", c.session.identity.UserID)
			} else {
				c.hub.logSampled(slog.LevelInfo, "hub: invocation refused", "hub", c.hub.opts.Name, "connection", c.id, "method", meth.name, "user", c.session.identity.UserID, "err", err)
			}
			complete(nil, unauthorized(meth.name))
			return
		}
	}
	if meth.withContext {
		args = append([]reflect.Value{reflect.ValueOf(hctx)}, args...)
	}
	var outs []reflect.Value
	started = time.Now()
	err := protect(func() { outs = meth.fn.Call(args) })
	defer func() { observe(err) }()
	var value reflect.Value
	if err == nil {
		switch meth.result {
		case returnsError:
			err = asError(outs[0])
		case returnsValue:
			value = outs[0]
		case returnsValueAndError:
			value, err = outs[0], asError(outs[1])
		}
	}
	if len(cl.uploads) > 0 && meth.stream == notStreaming && cl.ctx.Err() != nil {
		// The call ended before the client completed its streams (it cancelled or
		// failed one, or one overran its buffer): what the handler made of the items
		// it got is not the result, whatever it returned.
		err = context.Cause(cl.ctx)
	}
	if err != nil {
		complete(nil, err)
		return
	}
	switch meth.stream {
	case streamsChannel:
		err = c.streamChannel(cl.ctx, id, value)
	case streamsSeq, streamsSeq2:
		err = c.streamSeq(cl.ctx, id, value, meth.stream == streamsSeq2)
	default:
		var result protocol.RawValue
		if value.IsValid() {
			if result, err = c.proto.EncodeValue(value.Interface()); err != nil {
				err = fmt.Errorf("hub: encode result of %s: %w", meth.name, err)
			}
		}
		complete(result, err)
		return
	}
	if c.ctx.Err() != nil {
		return
	}
	if cl.ctx.Err() != nil {
		err = nil // cancelled by the client: the stream simply ends
		if cause := context.Cause(cl.ctx); len(cl.uploads) > 0 && cause != errInvocationCanceled {
			err = cause // an upload failed or overran its buffer: say so
		}
	}
	complete(nil, err)
}

// protect runs f and turns a panic into a *panicError, so a faulty handler costs
// its caller an error Completion and nothing else.
func protect(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	f()
	return nil
}

// panicError is a panic protect recovered. Its text is the panic's value only,
// which DetailedErrors may show the client; the stack is for the log alone
// (logFailure), as it tells an attacker about the server's code.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// logFailure logs what a handler or hook failed with: a panic at ERROR, with its
// stack as an attribute of its own; any other error at level.
func (h *Hub) logFailure(level slog.Level, msg string, err error, attrs ...any) {
	var p *panicError
	if errors.As(err, &p) {
		h.opts.Logger.Error(msg, append(attrs, "err", err.Error(), "stack", string(p.stack))...)
		return
	}
	h.opts.Logger.Log(context.Background(), level, msg, append(attrs, "err", err)...)
}

func asError(v reflect.Value) error {
	if v.IsNil() {
		return nil
	}
	return v.Interface().(error)
}

// streamChannel sends every item received from ch until it is closed or ctx ends.
func (c *Conn) streamChannel(ctx context.Context, id string, ch reflect.Value) error {
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: ch},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
	}
	for {
		chosen, item, ok := reflect.Select(cases)
		if chosen == 1 || !ok {
			return nil
		}
		if err := c.sendItem(ctx, id, item.Interface()); err != nil {
			return err
		}
	}
}

// streamSeq ranges over an iter.Seq or iter.Seq2[T, error].
func (c *Conn) streamSeq(ctx context.Context, id string, seq reflect.Value, withErr bool) error {
	var streamErr error
	yield := reflect.MakeFunc(seq.Type().In(0), func(in []reflect.Value) []reflect.Value {
		ok := ctx.Err() == nil
		if ok && withErr {
			if streamErr = asError(in[1]); streamErr != nil {
				ok = false
			}
		}
		if ok {
			if streamErr = c.sendItem(ctx, id, in[0].Interface()); streamErr != nil {
				ok = false
			}
		}
		return []reflect.Value{reflect.ValueOf(ok)}
	})
	if err := protect(func() { seq.Call([]reflect.Value{yield}) }); err != nil {
		return err
	}
	return streamErr
}

// sendItem queues one StreamItem, waiting while the connection's queue is more than
// half full: a stream is paced by its reader rather than closing it as a slow consumer.
func (c *Conn) sendItem(ctx context.Context, id string, item any) error {
	raw, err := c.proto.EncodeValue(item)
	if err != nil {
		return fmt.Errorf("hub: encode stream item: %w", err)
	}
	frame, err := c.proto.AppendMessage(nil, &protocol.Message{Type: protocol.StreamItemType, InvocationID: id, Item: raw})
	if err != nil {
		return err
	}
	return c.enqueuePaced(ctx, frame)
}

// completion queues a Completion; with an empty id (fire-and-forget) it only logs errors.
func (c *Conn) complete(id, method string, result protocol.RawValue, err error) {
	if err != nil && id == "" {
		c.hub.logFailure(slog.LevelInfo, "hub: fire-and-forget invocation failed", err, "hub", c.hub.opts.Name, "connection", c.id, "method", method)
		return
	}
	if id == "" {
		return
	}
	m := protocol.Message{Type: protocol.CompletionType, InvocationID: id, Result: result}
	if err != nil {
		m.Result = nil
		m.Error, m.HasError = errorText(method, err, c.hub.opts.DetailedErrors), true
		var hubErr *Error
		var bindErr *bindingError
		if !errors.As(err, &hubErr) && !errors.As(err, &bindErr) {
			c.hub.logFailure(slog.LevelWarn, "hub: method failed", err, "hub", c.hub.opts.Name, "connection", c.id, "method", method)
		}
	}
	if frame, encErr := c.encode(&m); encErr == nil {
		c.enqueue(frame)
	}
}

// release forgets a call that has ended and cancels its context; it is called
// once per call. It reports whether the call is still to be answered (see
// unregister).
func (c *Conn) release(cl *call) bool {
	c.invMu.Lock()
	c.unregisterLocked(cl)
	answer := !cl.answered
	c.running--
	idle := c.running == 0
	c.invMu.Unlock()
	cl.cancel(nil)
	cl.endTrace(nil) // a call that never ran
	if idle {
		c.hub.wakeDrain()
	}
	return answer
}

// unregister frees a call's invocation ID, stream IDs and stream slots, so that a
// client that sees the call's Completion may reuse them at once. Idempotent. It
// reports whether the call is still to be answered: false once Hub.Close's drain
// has answered it.
func (c *Conn) unregister(cl *call) bool {
	c.invMu.Lock()
	defer c.invMu.Unlock()
	c.unregisterLocked(cl)
	return !cl.answered
}

func (c *Conn) unregisterLocked(cl *call) {
	if !cl.registered {
		return
	}
	cl.registered = false
	c.streams -= cl.streams
	if id := cl.msg.InvocationID; id != "" {
		delete(c.invocations, id)
	}
	for _, id := range cl.msg.StreamIDs {
		delete(c.uploads, id)
	}
}
