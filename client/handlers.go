package client

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/hubbub-go/hubbub/hub/protocol"
)

// Handler handles a server-to-client invocation (a hub calling a client method).
// args are the invocation's arguments, still encoded in the connection's protocol
// ([Options.Protocol]: JSON texts, or MessagePack values); decode them with
// [Conn.DecodeArgs] or [Conn.Decode], which use that protocol.
type Handler func(args []protocol.RawValue)

// ResultHandler answers a server-to-client invocation that expects a result (a
// "client result": the hub waits for the reply). The value returned is sent back as
// the result (nil becomes null; a [protocol.RawValue] must be in the connection's
// protocol); an error is sent as an error completion with the error's text. ctx is
// canceled when the connection ends.
type ResultHandler func(ctx context.Context, args []protocol.RawValue) (any, error)

type handlerEntry struct{ fn Handler }

// On registers handler for invocations of target, matched case-insensitively as the
// official client does ("Notify" reaches On("notify", …)). Several handlers may be
// registered for one target; they run in registration order. The returned function
// removes this handler.
//
// Handlers run one at a time, in arrival order, on the connection's handler
// goroutine. A handler that takes long delays the others, and once
// [Options.MaxQueueLength] invocations wait, the connection stops reading. An
// invocation for a target without a handler is dropped (and logged at Warn).
// A panicking handler is recovered and logged.
func (c *Conn) On(target string, handler Handler) (off func()) {
	key := strings.ToLower(target)
	e := &handlerEntry{fn: handler}
	c.mu.Lock()
	c.handlers[key] = append(c.handlers[key], e)
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		hs := c.handlers[key]
		for i, h := range hs {
			if h == e {
				c.handlers[key] = append(hs[:i:i], hs[i+1:]...)
				break
			}
		}
		if len(c.handlers[key]) == 0 {
			delete(c.handlers, key)
		}
	}
}

// Off removes every handler of target registered with On.
func (c *Conn) Off(target string) {
	c.mu.Lock()
	delete(c.handlers, strings.ToLower(target))
	c.mu.Unlock()
}

// OnInvoke sets the handler that answers invocations of target that expect a result,
// replacing any previous one; a nil handler removes it. Targets match
// case-insensitively. Such an invocation without a handler is answered with the
// error "Client didn't provide a result.", as the official client does. [Result]
// handlers run on the same goroutine as On handlers.
func (c *Conn) OnInvoke(target string, handler ResultHandler) {
	key := strings.ToLower(target)
	c.mu.Lock()
	if handler == nil {
		delete(c.resultHandlers, key)
	} else {
		c.resultHandlers[key] = handler
	}
	c.mu.Unlock()
}

// DecodeArgs decodes JSON args into dst; it is [Conn.DecodeArgs] for a connection
// whose protocol is JSON (the default). With another protocol, use Conn.DecodeArgs.
func DecodeArgs(args []protocol.RawValue, dst ...any) error {
	return decodeArgs(protocol.JSON, args, dst)
}

// DecodeArgs decodes args (received by a handler of c) into dst, one pointer per
// argument, in order, with the connection's protocol. There must be at least
// len(dst) arguments; extra ones are ignored, as the official client does.
//
//	conn.On("message", func(args []protocol.RawValue) {
//		var user, text string
//		if err := conn.DecodeArgs(args, &user, &text); err != nil { … }
//	})
func (c *Conn) DecodeArgs(args []protocol.RawValue, dst ...any) error {
	return decodeArgs(c.proto, args, dst)
}

func decodeArgs(proto protocol.Protocol, args []protocol.RawValue, dst []any) error {
	if len(args) < len(dst) {
		return fmt.Errorf("client: %d arguments, want %d", len(args), len(dst))
	}
	for i, d := range dst {
		if err := proto.DecodeValue(args[i], d); err != nil {
			return fmt.Errorf("client: argument %d: %w", i, err)
		}
	}
	return nil
}

// Decode decodes raw, a value received on c (a handler's argument, a stream
// item), into the value v points to, with the connection's protocol. []byte
// values travel as base64 strings under JSON and as bin under MessagePack; both
// decode into a []byte.
func (c *Conn) Decode(raw protocol.RawValue, v any) error {
	return c.proto.DecodeValue(raw, v)
}

// Protocol returns the connection's hub protocol ([Options.Protocol]).
func (c *Conn) Protocol() protocol.Protocol { return c.proto }

// dispatchLoop runs the handlers. After the connection has ended it still runs what
// had arrived before, as the official client does for a batch that ends in Close.
func (c *Conn) dispatchLoop() {
	defer close(c.dispatcherDone)
	for {
		select {
		case m := <-c.inbox:
			c.dispatch(&m)
		case <-c.handlerCtx.Done():
			for {
				select {
				case m := <-c.inbox:
					c.dispatch(&m)
				default:
					return
				}
			}
		}
	}
}

func (c *Conn) dispatch(m *protocol.Message) {
	key := strings.ToLower(m.Target)
	c.inHandler.Store(true)
	defer c.inHandler.Store(false)
	if m.InvocationID == "" {
		c.mu.Lock()
		hs := c.handlers[key]
		c.mu.Unlock()
		if len(hs) == 0 {
			c.log.Warn("client: no handler for the invoked method", "target", m.Target)
			return
		}
		for _, h := range hs {
			c.call(m.Target, func() { h.fn(m.Arguments) })
		}
		return
	}

	c.mu.Lock()
	rh := c.resultHandlers[key]
	c.mu.Unlock()
	reply := protocol.Message{Type: protocol.CompletionType, InvocationID: m.InvocationID}
	if rh == nil {
		c.log.Warn("client: no result handler for the invoked method", "target", m.Target)
		reply.Error, reply.HasError = "Client didn't provide a result.", true
	} else {
		var (
			v   any
			err error
		)
		panicked := c.call(m.Target, func() { v, err = rh(c.handlerCtx, m.Arguments) })
		switch {
		case panicked:
			err = errors.New("client: the result handler panicked")
		case err == nil:
			reply.Result, err = c.proto.EncodeValue(v)
		}
		if err != nil {
			reply.Result = nil
			reply.Error, reply.HasError = err.Error(), true
		}
	}
	if err := c.enqueueMessage(c.handlerCtx, &reply, false); err != nil && c.closingCtx.Err() == nil {
		c.log.Warn("client: cannot send the client result", "target", m.Target, "err", err)
	}
}

// call runs fn, recovering a panic as net/http does for handlers.
func (c *Conn) call(target string, fn func()) (panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			panicked = true
			c.log.Error("client: handler panicked", "target", target, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	fn()
	return false
}
