package transport

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/transports"
)

// sendChannel is the client-to-server half shared by Server-Sent Events and long
// polling: one POST carries one unit.
//
// The official client sends strictly one POST at a time, so a second concurrent POST
// is a misbehaving client and gets 409 rather than a place in a queue: queuing would
// let one client hold any number of request bodies in memory.
type sendChannel struct {
	maxSize int64
	receive Receiver
	ended   func() bool // the transport has ended
	busy    atomic.Bool // a POST is being read or delivered

	// bodyTimeout bounds the reading of a body (Options.BodyReadTimeout).
	bodyTimeout time.Duration
}

// Plain-text reasons for the POST refusals. They are short on purpose: clients show
// them in errors, and nothing about the server's state belongs there.
const (
	reasonTooLarge = "message too large"
	reasonBusy     = "another send is in progress"
	reasonClosed   = "connection closed"
	reasonSlowBody = "request body not received in time"
)

// bodyPool holds the buffers POST bodies are read into. A unit is only valid during
// the Receiver call, so the buffer goes back to the pool right after it.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody keeps rare large bodies from pinning memory in the pool.
const maxPooledBody = 64 << 10

// serve answers one POST: 405 for another method, 404 once the transport has ended,
// 409 while another POST is in progress, 413 over maxSize, 408 for a body not
// received within bodyTimeout, else receive(body) and 200.
func (s *sendChannel) serve(w http.ResponseWriter, r *http.Request) {
	LimitBodyRead(w, r, s.bodyTimeout)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if s.ended() {
		http.Error(w, reasonClosed, http.StatusNotFound)
		return
	}
	if !s.busy.CompareAndSwap(false, true) {
		http.Error(w, reasonBusy, http.StatusConflict)
		return
	}
	defer s.busy.Store(false)

	if r.ContentLength > s.maxSize {
		// Refuse before reading anything; MaxBytesReader below catches bodies
		// without a declared length.
		w.Header().Set("Connection", "close")
		http.Error(w, reasonTooLarge, http.StatusRequestEntityTooLarge)
		return
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBody {
			buf.Reset()
			bodyPool.Put(buf)
		}
	}()
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.maxSize))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(w, reasonTooLarge, http.StatusRequestEntityTooLarge)
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The rest of the body may still be on its way: the connection
			// cannot carry another request.
			w.Header().Set("Connection", "close")
			http.Error(w, reasonSlowBody, http.StatusRequestTimeout)
			return
		}
		// The client went away mid-body, most likely; the reply is best effort.
		http.Error(w, "could not read the request body", http.StatusBadRequest)
		return
	}
	// The transport may have ended while the body was read: a Receiver must not be
	// called after Done is closed.
	if s.ended() {
		http.Error(w, reasonClosed, http.StatusNotFound)
		return
	}
	s.receive(buf.Bytes())
	w.WriteHeader(http.StatusOK)
}

// LimitBodyRead sets a deadline timeout from now for reading r's body, through
// http.ResponseController (so through middleware whose ResponseWriter unwraps): a
// client that announces a body and trickles it cannot hold the request, its
// goroutine and its buffers for longer. A read past the deadline fails with an
// error wrapping os.ErrDeadlineExceeded. A request without a body is left alone:
// net/http is already watching its connection for the client leaving, and a
// deadline would end that watch (and the request's context) while a stream or a
// held poll goes on. Once a body has been read to its end, net/http lifts the
// deadline likewise. Where the ResponseWriter cannot set deadlines it does nothing.
func LimitBodyRead(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	if r.Body == nil || r.Body == http.NoBody || timeout <= 0 {
		return
	}
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
}

// PostReceiver is the client-to-server half of Server-Sent Events on its own: it
// serves the POSTs that carry a client's units where the stream that carries the
// server's units is served by someone else (a stream relayed from another node of
// a cluster). Its answers are those of SSE.ServeSend.
type PostReceiver struct{ post sendChannel }

// NewPostReceiver returns a PostReceiver that passes each POSTed body, at most
// opts.MaxTransportMessageSize bytes, to receive, until ended reports true.
func NewPostReceiver(opts transports.Options, receive Receiver, ended func() bool) *PostReceiver {
	opts = opts.WithDefaults()
	return &PostReceiver{post: sendChannel{maxSize: opts.MaxTransportMessageSize, bodyTimeout: opts.BodyReadTimeout, receive: receive, ended: ended}}
}

// ServeSend serves a POST carrying one unit from the client, as SSE.ServeSend.
func (p *PostReceiver) ServeSend(w http.ResponseWriter, r *http.Request) { p.post.serve(w, r) }
