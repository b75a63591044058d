package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/internal/idleconn"
	"github.com/hubbub-go/hubbub/transports"
)

// SSE is the Server-Sent Events transport of one connection: one long GET response
// carries the server-to-client units as events (ServeStream), and POSTs carry the
// client's units (ServeSend).
//
// The event framing is written here rather than with an SSE server library: it is a
// few lines, and doing it ourselves keeps every unit one event on the wire, flushed
// at once, with no goroutine or buffer per stream beyond the HTTP server's own.
//
// On HTTP/1.x the stream's connection is taken over from net/http as it opens (see
// idleconn.TakeOver): Send writes to it from the caller's goroutine, and the
// client leaving is seen by idleconn.WatchClose (on Linux one goroutine for all
// connections, elsewhere a goroutine per stream with a small stack); the handler
// has returned. Where it cannot be taken over (HTTP/2, a ResponseWriter that
// cannot hijack, Options.DisableTakeover), Send writes to the GET's ResponseWriter
// while ServeStream's handler waits, and the transport owns no goroutine.
//
// It ends on Close, the client dropping the stream (its way of stopping), or a
// failed write. Err then tells why: transports.ErrClosed after Close, an error
// wrapping transports.ErrClosed when the client dropped the stream, or the write
// error.
//
// Concurrency: Send must be called by one goroutine at a time (Transport's rule);
// ServeStream, ServeSend, Close, Done and Err may be called from any goroutine.
type SSE struct {
	opts transports.Options
	post sendChannel

	// endState's mu guards these too. ready is made on demand (by a Send before
	// the stream opens), as Done's channel is: a channel is 112 bytes, which an
	// idle connection would keep for nothing.
	endState
	started bool          // ServeStream has been called
	isOpen  atomic.Bool   // the stream is open; set under mu
	ready   chan struct{} // closed once the stream is open, if made

	// writeMu guards the stream's writer: Send writes under it, and ServeStream
	// takes it before returning so no write outlives the handler.
	writeMu sync.Mutex
	w       http.ResponseWriter // nil unless the stream is open in its handler
	rc      *http.ResponseController
	// conn is the stream's connection once taken over from net/http (see
	// idleconn.TakeOver), in place of w; nil after the end. stopWatch ends the
	// watch for the client leaving (see idleconn.WatchClose), if any.
	conn      net.Conn
	stopWatch func()
}

// NewServerSentEvents returns an SSE transport that passes each POSTed body to
// receive. Register it (as a Transport) before calling ServeStream: the client POSTs
// its handshake as soon as the stream opens, and a Send issued before ServeStream
// runs waits for the stream instead of failing.
func NewServerSentEvents(opts transports.Options, receive Receiver) *SSE {
	s := &SSE{opts: opts.WithDefaults()}
	s.post = sendChannel{maxSize: s.opts.MaxTransportMessageSize, bodyTimeout: s.opts.BodyReadTimeout, receive: receive, ended: s.ended}
	return s
}

// Kind returns ServerSentEvents.
func (s *SSE) Kind() transports.Kind { return transports.ServerSentEvents }

// ServeStream serves the event stream (the GET): status 200 with
// Content-Type text/event-stream and headers that keep caches, compression and
// proxy buffering away, then the comment line ":\r\n", flushed at once (clients
// report the stream open only when bytes arrive), then one event per Send. It
// returns when the transport ends: Close, the client going away (r's context ends),
// or a failed write; when the connection was taken over, it returns at once and the
// stream goes on without it.
//
// Only one stream per transport: a second call answers 409, and a call after the
// transport has ended answers 404 "connection closed".
func (s *SSE) ServeStream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	s.mu.Lock()
	started, ended := s.started, s.err != nil
	s.started = true
	s.mu.Unlock()
	switch {
	case ended:
		http.Error(w, reasonClosed, http.StatusNotFound)
		return
	case started:
		http.Error(w, "an event stream is already open for this connection", http.StatusConflict)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Encoding", "identity") // keeps compression middleware off the stream
	h.Set("X-Accel-Buffering", "no")      // and nginx from buffering it
	if !s.opts.DisableTakeover {
		if t, ok := idleconn.TakeOver(w, r); ok {
			s.serveTaken(&t)
			return
		}
	}
	w.WriteHeader(http.StatusOK)

	rc := http.NewResponseController(w)
	// Without this, a write deadline left on a keep-alive connection would apply
	// to the next request on it (net/http resets it only with Server.WriteTimeout).
	defer rc.SetWriteDeadline(time.Time{})
	// Open before the preamble reaches the client, which answers it at once: a
	// Send then finds the stream open and queues behind the preamble on writeMu,
	// instead of waiting on channels the connection would keep.
	s.writeMu.Lock()
	s.w, s.rc = w, rc
	s.opened()
	err := s.write(rc, w, []byte(":\r\n"), time.Now().Add(s.opts.WriteTimeout))
	if err != nil {
		s.w, s.rc = nil, nil
	}
	s.writeMu.Unlock()
	if err != nil {
		s.end(fmt.Errorf("transports: sse stream: %w", err))
		return
	}

	select {
	case <-s.Done():
	case <-r.Context().Done():
		// The client drops the GET to stop; SSE has no other way to say so.
		s.clientLeft()
	}
	// Wait for a write in progress (bounded by its deadline), then forbid more.
	s.writeMu.Lock()
	s.w, s.rc = nil, nil
	s.writeMu.Unlock()
}

// serveTaken opens the stream on a connection taken over from net/http: the head
// and the opening comment, then events as Send writes them, until the transport
// ends and closes the connection, or the client does. The handler returns at once.
func (s *SSE) serveTaken(t *idleconn.Taken) {
	conn := t.Conn
	head := t.AppendHead(nil, http.StatusOK, -1)
	head = append(head, ":\r\n"...)
	// Open before the head is written, as in ServeStream.
	s.writeMu.Lock()
	s.conn = conn
	s.opened()
	conn.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	_, err := conn.Write(head)
	s.writeMu.Unlock()
	if err != nil {
		s.end(fmt.Errorf("transports: sse stream: %w", err))
		s.closeConn()
		return
	}
	if s.ended() {
		s.closeConn()
		return
	}
	if !s.opts.DisableCloseWatcher {
		if stop, ok := idleconn.WatchClose(conn, s.clientLeft); ok {
			s.writeMu.Lock()
			s.stopWatch = stop
			s.writeMu.Unlock()
			if s.ended() {
				s.closeConn() // in case the end came before stopWatch was set
			}
			return
		}
	}
	go s.watch(conn)
}

// watch reads the taken-over connection until it fails, which ends the transport:
// the client dropping the stream is its way of stopping. It serves where
// idleconn.WatchClose cannot, or Options.DisableCloseWatcher says not to.
func (s *SSE) watch(conn net.Conn) {
	var discard [64]byte
	for {
		if _, err := conn.Read(discard[:]); err != nil {
			s.clientLeft()
			return
		}
	}
}

// clientLeft ends the transport because the client dropped the stream, which is
// its way of stopping.
func (s *SSE) clientLeft() {
	s.end(fmt.Errorf("transports: sse stream closed by the client: %w", transports.ErrClosed))
}

// closeConn closes a taken-over stream once any write in progress is over.
func (s *SSE) closeConn() {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.stopWatch != nil {
		s.stopWatch()
		s.stopWatch = nil
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// ServeSend serves a POST carrying one unit from the client: the body, at most
// Options.MaxTransportMessageSize bytes (else 413 "message too large"), goes to the Receiver
// and the reply is 200 with an empty body. Another POST still in progress answers
// 409, a POST after the transport has ended 404 "connection closed", another method
// 405. Any Content-Type is accepted.
func (s *SSE) ServeSend(w http.ResponseWriter, r *http.Request) { s.post.serve(w, r) }

// Send writes unit as one event, a "data: " line per line of the unit, and flushes
// it. Lines end at "\n", "\r\n" or a lone "\r" (the client's parser would split
// there anyway; prefixing every piece keeps a stray "\r" from starting a field of
// its own), so the client reads the unit back with "\n" line ends.
//
// If the stream is not open yet, Send waits for it, for ctx, or for the end of the
// transport. The write is bounded by Options.WriteTimeout, or by ctx's deadline when
// that is sooner; a failed write ends the transport. Send returns an error wrapping
// ErrClosed once the transport has ended.
func (s *SSE) Send(ctx context.Context, unit []byte) error {
	// Waiting on ctx makes its Done channel, which a connection would then keep:
	// only wait when the stream is not open yet.
	if !s.isOpen.Load() {
		if ready := s.readyChan(); ready != nil {
			select {
			case <-ready:
			case <-s.Done():
				return fmt.Errorf("transports: sse send: %w", transports.ErrClosed)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if (s.w == nil && s.conn == nil) || s.ended() {
		return fmt.Errorf("transports: sse send: %w", transports.ErrClosed)
	}
	deadline := time.Now().Add(s.opts.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	bp := eventPool.Get().(*[]byte)
	event := appendEvent((*bp)[:0], unit)
	var err error
	if s.conn != nil {
		s.conn.SetWriteDeadline(deadline)
		_, err = s.conn.Write(event)
	} else {
		err = s.write(s.rc, s.w, event, deadline)
	}
	if cap(event) <= maxPooledBody {
		*bp = event[:0]
		eventPool.Put(bp)
	}
	if err != nil {
		err = fmt.Errorf("transports: sse write: %w", err)
		s.end(err)
		return err
	}
	return nil
}

// write writes b and flushes it under deadline.
func (s *SSE) write(rc *http.ResponseController, w http.ResponseWriter, b []byte, deadline time.Time) error {
	// A writer that cannot take deadlines still works; WriteTimeout is then the
	// HTTP server's business.
	if err := rc.SetWriteDeadline(deadline); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	return rc.Flush()
}

var eventPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendEvent appends unit framed as one unnamed event to dst.
func appendEvent(dst, unit []byte) []byte {
	for {
		i := lineEnd(unit)
		dst = append(dst, "data: "...)
		dst = append(dst, unit[:i]...)
		dst = append(dst, '\r', '\n')
		if i == len(unit) {
			break
		}
		if unit[i] == '\r' && i+1 < len(unit) && unit[i+1] == '\n' {
			i++
		}
		unit = unit[i+1:] // a trailing line end yields a last, empty line, as in .NET
	}
	return append(dst, '\r', '\n')
}

// lineEnd returns the index of the first '\n' or '\r' in b, or len(b). Two
// vectorised scans beat one byte loop: units rarely hold either (JSON escapes
// them), and scanning byte by byte was a tenth of the server's CPU in bursts.
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		i = len(b)
	}
	if j := bytes.IndexByte(b[:i], '\r'); j >= 0 {
		return j
	}
	return i
}

// Close ends the transport: ServeStream returns, which ends the response. It is
// idempotent, safe from any goroutine, and returns nil.
func (s *SSE) Close() error {
	s.end(transports.ErrClosed)
	return nil
}

// opened marks the stream open, for Send.
func (s *SSE) opened() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.isOpen.Store(true)
	if s.ready != nil {
		close(s.ready)
	}
}

// readyChan returns a channel closed once the stream opens, or nil if it is open.
func (s *SSE) readyChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isOpen.Load() {
		return nil
	}
	if s.ready == nil {
		s.ready = make(chan struct{})
	}
	return s.ready
}

// end ends the transport (endState.end), and a taken-over stream with its
// connection.
func (s *SSE) end(err error) {
	if s.endState.end(err) {
		// Send may hold writeMu (and be the caller), so this waits apart.
		go s.closeConn()
	}
}
