package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/hubbub-go/hubbub/hub/protocol"
)

// Stream is a server-to-client stream: the items a streaming hub method yields.
// Read them with Next or [Items]; stop early with Cancel, which tells the server
// (a CancelInvocation message) so that it stops producing.
//
// Items are buffered ([Options.StreamBufferCapacity]); when the buffer is full the
// connection stops reading until they are taken, so read or cancel every stream.
type Stream struct {
	c      *Conn
	id     string
	method string

	items      chan protocol.RawValue // closed by finish
	err        error                  // why items was closed; written before
	canceled   chan struct{}
	cancelOnce sync.Once
	stop       func() bool // stops watching the Stream call's context
}

// Stream calls a streaming hub method (one returning a channel or an iterator on
// the server). ctx governs the whole stream: when it ends, the stream is cancelled.
// Arguments are as for Invoke, upload streams included.
func (c *Conn) Stream(ctx context.Context, method string, args ...any) (*Stream, error) {
	if err := c.waitReady(ctx); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := c.newID()
	msg, uploads, err := c.invocation(protocol.StreamInvocationType, id, method, args)
	if err != nil {
		return nil, err
	}
	s := &Stream{
		c:        c,
		id:       id,
		method:   method,
		items:    make(chan protocol.RawValue, c.opts.StreamBufferCapacity),
		canceled: make(chan struct{}),
	}
	s.stop = context.AfterFunc(ctx, s.Cancel)
	it, err := c.sendInvocation(ctx, id, &pending{method: method, stream: s}, msg, uploads)
	if err == nil {
		err = c.waitWritten(ctx, it)
	}
	if err != nil {
		s.stop()
		c.forget(id)
		s.cancelOnce.Do(func() { close(s.canceled) })
		return nil, err
	}
	return s, nil
}

// Next returns the next item, encoded in the connection's protocol (decode it with
// [Conn.Decode], or range over Items[T] instead). At the end of the stream it
// returns io.EOF; when the hub method failed, an *[InvocationError]; when the
// connection ended first, an error wrapping [ErrClosed]; after Cancel (or once the
// [Conn.Stream] call's context ended), [ErrCanceled]. When ctx ends first it returns
// ctx.Err() and the stream goes on.
func (s *Stream) Next(ctx context.Context) (protocol.RawValue, error) {
	select {
	case <-s.canceled:
		return nil, ErrCanceled
	default:
	}
	select {
	case item, ok := <-s.items:
		if !ok {
			return nil, s.err
		}
		return item, nil
	case <-s.canceled:
		return nil, ErrCanceled
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Items returns an iterator over the stream's items. It stops at the end of the
// stream; a failure is yielded once, as the last pair. Leaving the loop early
// cancels the stream.
//
//	for item, err := range s.Items() { … }
func (s *Stream) Items() iter.Seq2[protocol.RawValue, error] {
	return func(yield func(protocol.RawValue, error) bool) {
		for {
			item, err := s.Next(context.Background())
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(item, nil) {
				s.Cancel()
				return
			}
		}
	}
}

// Items returns an iterator over the stream's items decoded as T; see [Stream.Items].
// An item that does not decode ends the iteration with the error and cancels the
// stream.
//
//	for n, err := range client.Items[int](s) { … }
func Items[T any](s *Stream) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for raw, err := range s.Items() {
			var v T
			if err == nil {
				if err = s.c.proto.DecodeValue(raw, &v); err != nil {
					s.Cancel()
					err = fmt.Errorf("client: %s item: %w", s.method, err)
				}
			}
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}

// Cancel stops the stream: unless it has already ended, the server is sent a
// CancelInvocation and items still arriving are dropped. Next then returns
// [ErrCanceled]. Cancel is idempotent and does not wait for the server.
func (s *Stream) Cancel() {
	s.cancelOnce.Do(func() {
		close(s.canceled)
		s.stop()
		c := s.c
		c.mu.Lock()
		p, ok := c.pending[s.id]
		if ok && p.stream == s {
			delete(c.pending, s.id)
		}
		c.mu.Unlock()
		if ok {
			_ = c.enqueueMessage(context.Background(), &protocol.Message{Type: protocol.CancelInvocationType, InvocationID: s.id}, false)
		}
	})
}

// finish ends the stream with err (io.EOF for a normal end). Called once, by whoever
// removed the stream from the pending invocations.
func (s *Stream) finish(err error) {
	s.err = err
	close(s.items)
	s.stop()
}

// UploadStream is a client-to-server stream: pass it as an argument of Invoke, Send
// or [Conn.Stream] and the hub method receives it as a stream parameter (a channel on a
// Hubbub server, an IAsyncEnumerable or ChannelReader in .NET). Items written with
// Send go out as StreamItem messages; Close ends the stream (a Completion), and
// CloseWithError ends it with an error.
//
// As Invoke waits for the method's result, which usually comes only after the
// stream's end, feed the stream from another goroutine:
//
//	up := client.NewUploadStream()
//	go func() {
//		defer up.Close()
//		for _, n := range []int{1, 2, 3} {
//			if err := up.Send(ctx, n); err != nil {
//				return
//			}
//		}
//	}()
//	sum, err := client.InvokeAs[float64](ctx, conn, "Sum", up)
//
// A receive-capable channel argument (chan T or <-chan T) is an upload stream too:
// its items are sent until it is closed. It cannot end with an error.
//
// An UploadStream can be used for one invocation only.
type UploadStream struct {
	items   chan uploadItem // unbuffered: Send returns once the pump took the item
	end     chan error      // buffered 1; nil for a normal end
	endOnce sync.Once
	claimed atomic.Bool

	stopOnce sync.Once
	stopped  chan struct{} // closed once nothing will take items anymore
	stopErr  error         // written before stopped is closed
}

// NewUploadStream returns an upload stream, ready to be passed to an invocation.
func NewUploadStream() *UploadStream {
	return &UploadStream{
		items:   make(chan uploadItem),
		end:     make(chan error, 1),
		stopped: make(chan struct{}),
	}
}

var errUploadClosed = errors.New("client: upload stream closed")

// uploadItem is an item handed by Send to the pump, which encodes it with the
// connection's protocol (known only once the stream is bound to an invocation)
// and tells Send the outcome on encoded.
type uploadItem struct {
	v       any
	encoded chan error // buffered 1
}

// Send hands item to the connection, waiting until the invocation carrying the
// stream has been sent and the item is taken (bounded by the connection's send
// queue); the item is encoded with the connection's protocol, and an item that
// does not encode is an error, the stream going on. It fails after Close, when
// the connection has ended, or when the invocation could not be sent.
func (u *UploadStream) Send(ctx context.Context, item any) error {
	select {
	case <-u.stopped:
		return u.stopErr
	default:
	}
	it := uploadItem{v: item, encoded: make(chan error, 1)}
	select {
	case u.items <- it:
		return <-it.encoded
	case <-u.stopped:
		return u.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends the stream normally. Idempotent; always returns nil.
func (u *UploadStream) Close() error { return u.CloseWithError(nil) }

// CloseWithError ends the stream with err's text as the error the server sees (nil
// ends it normally). Only the first Close or CloseWithError counts. It returns nil.
func (u *UploadStream) CloseWithError(err error) error {
	u.endOnce.Do(func() { u.end <- err })
	return nil
}

func (u *UploadStream) claim() error {
	if !u.claimed.CompareAndSwap(false, true) {
		return errors.New("client: an UploadStream can be used for one invocation only")
	}
	return nil
}

func (u *UploadStream) abort(err error) { u.halt(err) }

func (u *UploadStream) halt(err error) {
	u.stopOnce.Do(func() {
		u.stopErr = err
		close(u.stopped)
	})
}

func (u *UploadStream) run(c *Conn, id string) {
	for {
		select {
		case it := <-u.items:
			raw, err := c.proto.EncodeValue(it.v)
			if err != nil {
				it.encoded <- fmt.Errorf("client: upload stream item: %w", err)
				continue
			}
			it.encoded <- nil
			m := protocol.Message{Type: protocol.StreamItemType, InvocationID: id, Item: raw}
			if err := c.enqueueMessage(context.Background(), &m, false); err != nil {
				u.halt(err)
				return
			}
		case err := <-u.end:
			m := protocol.Message{Type: protocol.CompletionType, InvocationID: id}
			if err != nil {
				m.Error, m.HasError = err.Error(), true
			}
			if err := c.enqueueMessage(context.Background(), &m, false); err != nil {
				u.halt(err)
				return
			}
			u.halt(errUploadClosed)
			return
		case <-c.closingCtx.Done():
			u.halt(c.closedErr())
			return
		}
	}
}

// chanUpload is a channel argument used as an upload stream.
type chanUpload struct{ ch reflect.Value }

func (*chanUpload) claim() error { return nil }
func (*chanUpload) abort(error)  {}

func (u *chanUpload) run(c *Conn, id string) {
	cases := []reflect.SelectCase{
		{Dir: reflect.SelectRecv, Chan: u.ch},
		{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c.closingCtx.Done())},
	}
	for {
		chosen, v, ok := reflect.Select(cases)
		if chosen == 1 {
			return
		}
		m := protocol.Message{Type: protocol.CompletionType, InvocationID: id}
		if ok {
			raw, err := c.proto.EncodeValue(v.Interface())
			if err == nil {
				m = protocol.Message{Type: protocol.StreamItemType, InvocationID: id, Item: raw}
			} else {
				m.Error, m.HasError = err.Error(), true
				ok = false
			}
		}
		if err := c.enqueueMessage(context.Background(), &m, false); err != nil || !ok {
			return
		}
	}
}

// uploadSource is what an upload stream argument provides.
type uploadSource interface {
	claim() error
	abort(err error)
	run(c *Conn, id string)
}

// upload is an upload stream bound to its stream ID.
type upload struct {
	source uploadSource
	id     string
}

func (u upload) unclaim() {
	u.source.abort(errors.New("client: the invocation carrying the upload stream was not sent"))
}

func (c *Conn) pump(u upload) {
	defer c.wg.Done()
	u.source.run(c, u.id)
}
