package client

import (
	"context"
	"fmt"
	"reflect"

	"github.com/hubbub-go/hubbub/hub/protocol"
)

// Result is what a hub method returned.
type Result struct {
	// Raw is the result, still encoded in the connection's protocol (a JSON text,
	// or a MessagePack value); nil when the method returned nothing (a Completion
	// without a result), an encoded null when it returned null.
	Raw protocol.RawValue

	proto protocol.Protocol // the connection's; nil means JSON
}

// Decode decodes the result into the value v points to, with the protocol of the
// connection it came from. Under JSON, numbers decoded into an interface value are
// json.Number, so large integers keep their exact value. A void result leaves v
// unchanged.
func (r Result) Decode(v any) error {
	if r.Raw == nil {
		return nil
	}
	proto := r.proto
	if proto == nil {
		proto = protocol.JSON
	}
	return proto.DecodeValue(r.Raw, v)
}

// IsVoid reports whether the method returned nothing.
func (r Result) IsVoid() bool { return r.Raw == nil }

// Invoke calls a hub method and waits for its result. Arguments are encoded with
// the connection's protocol ([Options.Protocol]; encoding/json by default, where a
// json.RawMessage is sent as is); a [protocol.RawValue] is sent as is, so it must be
// in that protocol. An argument that is an *[UploadStream] or a receive-capable
// channel is a client-to-server stream (see UploadStream).
//
// A failure of the method on the server is an *[InvocationError]; an ended
// connection gives an error wrapping [ErrClosed]; a failed send (e.g. a POST answered
// with an error status) is returned as is. When ctx ends first, Invoke returns
// ctx.Err() and the result, when it comes, is dropped: the protocol has no way to
// cancel a plain invocation.
func (c *Conn) Invoke(ctx context.Context, method string, args ...any) (Result, error) {
	if err := c.waitReady(ctx); err != nil {
		return Result{}, err
	}
	id := c.newID()
	msg, uploads, err := c.invocation(protocol.InvocationType, id, method, args)
	if err != nil {
		return Result{}, err
	}
	p := &pending{method: method, result: make(chan completion, 1)}
	it, err := c.sendInvocation(ctx, id, p, msg, uploads)
	if err != nil {
		return Result{}, err
	}
	written := it.done
	for {
		select {
		case err := <-written:
			written = nil
			if err != nil {
				c.forget(id)
				return Result{}, err
			}
		case r := <-p.result:
			return r.result, r.err
		case <-ctx.Done():
			c.forget(id)
			return Result{}, ctx.Err()
		}
	}
}

// InvokeAs calls a hub method and decodes its result into a T.
//
//	sum, err := client.InvokeAs[int](ctx, conn, "Add", 2, 3)
func InvokeAs[T any](ctx context.Context, c *Conn, method string, args ...any) (T, error) {
	var v T
	r, err := c.Invoke(ctx, method, args...)
	if err != nil {
		return v, err
	}
	if err := r.Decode(&v); err != nil {
		return v, fmt.Errorf("client: %s result: %w", method, err)
	}
	return v, nil
}

// Send calls a hub method without waiting for it to run (fire-and-forget: the
// server sends no result, not even an error). It returns once the message has been
// written to the transport, or with the error that prevented it.
func (c *Conn) Send(ctx context.Context, method string, args ...any) error {
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	msg, uploads, err := c.invocation(protocol.InvocationType, "", method, args)
	if err != nil {
		return err
	}
	it, err := c.sendInvocation(ctx, "", nil, msg, uploads)
	if err != nil {
		return err
	}
	return c.waitWritten(ctx, it)
}

// invocation builds an Invocation or StreamInvocation message: arguments encoded,
// upload streams replaced by stream IDs.
func (c *Conn) invocation(t protocol.MessageType, id, method string, args []any) (*protocol.Message, []upload, error) {
	m := &protocol.Message{Type: t, InvocationID: id, Target: method, Arguments: make([]protocol.RawValue, 0, len(args))}
	var uploads []upload
	for i, a := range args {
		if u, ok := asUpload(a); ok {
			if err := u.claim(); err != nil {
				for _, prev := range uploads {
					prev.unclaim()
				}
				return nil, nil, err
			}
			sid := c.newID()
			m.StreamIDs = append(m.StreamIDs, sid)
			uploads = append(uploads, upload{source: u, id: sid})
			continue
		}
		raw, err := c.proto.EncodeValue(a)
		if err != nil {
			for _, prev := range uploads {
				prev.unclaim()
			}
			return nil, nil, fmt.Errorf("client: %s argument %d: %w", method, i, err)
		}
		m.Arguments = append(m.Arguments, raw)
	}
	return m, uploads, nil
}

// sendInvocation registers p (when not nil) under id, queues msg and starts the
// upload streams behind it.
func (c *Conn) sendInvocation(ctx context.Context, id string, p *pending, msg *protocol.Message, uploads []upload) (*outbound, error) {
	fail := func(err error) (*outbound, error) {
		if p != nil {
			c.forget(id)
		}
		for _, u := range uploads {
			u.unclaim()
		}
		return nil, err
	}
	data, err := c.proto.AppendMessage(nil, msg)
	if err != nil {
		return fail(fmt.Errorf("client: %s: %w", msg.Target, err))
	}
	if p != nil {
		c.mu.Lock()
		c.pending[id] = p
		c.mu.Unlock()
	}
	it := &outbound{data: data, n: 1, done: make(chan error, 1), trackable: true}
	if err := c.enqueue(ctx, it); err != nil {
		return fail(err)
	}
	// Items go through the same queue, so they follow the invocation.
	for _, u := range uploads {
		c.wg.Add(1)
		go c.pump(u)
	}
	return it, nil
}

// forget drops a pending invocation whose caller stopped waiting.
func (c *Conn) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// asUpload recognizes the argument types that are client-to-server streams.
func asUpload(a any) (uploadSource, bool) {
	switch u := a.(type) {
	case *UploadStream:
		return u, true
	case nil, protocol.RawValue:
		return nil, false
	}
	v := reflect.ValueOf(a)
	if v.Kind() == reflect.Chan && v.Type().ChanDir()&reflect.RecvDir != 0 {
		return &chanUpload{ch: v}, true
	}
	return nil, false
}
