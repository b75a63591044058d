package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"time"

	"github.com/hubbub-go/hubbub/hub/protocol"
)

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
		if !started.IsZero() && !observed {
			observed = true
			c.hub.opts.Observer.Invoked(c.hub.opts.Name, meth.name, time.Since(started), err)
		}
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
