package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/internal/idleconn"
	"github.com/hubbub-go/hubbub/transports"
)

// WebSocket is the WebSockets transport of one connection, over gorilla/websocket.
//
// Once accepted, one goroutine reads the socket and hands each message to the
// Receiver; it is the only goroutine the transport owns, and it ends with the
// connection. Nothing else is held while the connection is idle: write buffers come
// from a pool shared by all connections and return to it after each message.
//
// It ends on Close, the client's close frame, a read or write failure, or a
// message over the size limit. Err then tells why: transports.ErrClosed after
// Close; an error wrapping transports.ErrClosed when the client closed with status
// 1000 (normal), 1001 (going away) or 1005 (no status, which is what the official
// client's stop() sends); an error wrapping transports.ErrTooLarge for an
// oversized message; any other error (another close status, a dropped connection,
// a failed write) describes the failure.
//
// Concurrency: Send must be called by one goroutine at a time (Transport's rule);
// Close, Done and Err may be called from any goroutine, also during a Send.
type WebSocket struct {
	// endState's mu also orders the read deadline between Close and the idle
	// wait (see setIdleDeadline).
	endState

	conn    *websocket.Conn
	opts    transports.Options
	msgType int // websocket.TextMessage or websocket.BinaryMessage, for Send; guarded by writeMu
	receive Receiver

	writeMu sync.Mutex // serializes data writes; gorilla allows one writer

	// br is gorilla's read buffer, ours since the upgrade (see ownReadBuffer), so that
	// the read loop can wait for the socket only when nothing is buffered; nil if
	// gorilla made its own.
	br *bufio.Reader
}

// closeHandshakeTimeout bounds how long a server-initiated close waits for the
// client's close frame before dropping the TCP connection. Waiting lets the client
// see a clean close (code 1000, wasClean), which the official client reports as a
// close without error.
const closeHandshakeTimeout = time.Second

// writeBufferPools holds one pool per write buffer size, as gorilla/websocket asks
// ("use a single pool for each unique value of WriteBufferSize").
var writeBufferPools sync.Map // int -> *sync.Pool

func writeBufferPool(size int) *sync.Pool {
	if p, ok := writeBufferPools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := writeBufferPools.LoadOrStore(size, new(sync.Pool))
	return p.(*sync.Pool)
}

// AcceptWebSocket upgrades r to a WebSocket and starts reading it: every message,
// text or binary, goes to receive, in order, from one goroutine. binary chooses the
// frame type Send writes (binary frames for MessagePack, text frames for JSON).
//
// The caller has already checked the session, so a refusal can still be a plain HTTP
// status: when opts.CheckOrigin refuses r, AcceptWebSocket answers 403 "origin not
// allowed" and returns an error wrapping ErrOriginNotAllowed without upgrading; a malformed upgrade request gets
// gorilla's 4xx. Either way w has been answered and the caller writes nothing more.
// On success the handler may return at once: the connection lives on without it
// (r.Context ends with the handler, so keep nothing tied to it).
//
// Messages over opts.MaxTransportMessageSize close the connection with status 1009 and end
// the transport with an error wrapping ErrTooLarge. Pings are answered with pongs.
func AcceptWebSocket(w http.ResponseWriter, r *http.Request, opts transports.Options, binary bool, receive Receiver) (*WebSocket, error) {
	opts = opts.WithDefaults()
	if !opts.CheckOrigin(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return nil, fmt.Errorf("transports: websocket upgrade refused: origin %q: %w", r.Header.Get("Origin"), ErrOriginNotAllowed)
	}
	hj := &ownReadBuffer{ResponseWriter: w, size: opts.ReadBufferSize}
	up := websocket.Upgrader{
		WriteBufferSize: opts.WriteBufferSize,
		WriteBufferPool: writeBufferPool(opts.WriteBufferSize),
		// The origin was checked above, so the refusal is ours (403 with a reason).
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			w.Header().Set("Sec-Websocket-Version", "13")
			http.Error(w, http.StatusText(status), status)
		},
	}
	if opts.ReadBufferSize <= minOwnReadBuffer {
		up.ReadBufferSize, hj.size = opts.ReadBufferSize, 0
	}
	conn, err := up.Upgrade(hj, r, nil)
	if err != nil {
		return nil, fmt.Errorf("transports: websocket upgrade: %w", err)
	}
	conn.SetReadLimit(opts.MaxTransportMessageSize)
	ws := &WebSocket{
		conn:    conn,
		opts:    opts,
		msgType: websocket.TextMessage,
		receive: receive,
		br:      hj.br,
	}
	if binary {
		ws.msgType = websocket.BinaryMessage
	}
	go ws.readLoop(true)
	return ws, nil
}

// minOwnReadBuffer: gorilla/websocket adopts a read buffer handed to it at upgrade
// only when it is larger than this.
const minOwnReadBuffer = 256

// ownReadBuffer hands gorilla/websocket, at upgrade, a read buffer of ours of the
// configured size, in place of net/http's 4 KiB one, and keeps a reference to it.
type ownReadBuffer struct {
	http.ResponseWriter
	size int
	br   *bufio.Reader
}

func (o *ownReadBuffer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(o.ResponseWriter).Hijack()
	if err != nil || o.size == 0 || brw.Reader.Buffered() > 0 {
		return conn, brw, err // gorilla refuses early data itself
	}
	o.br = bufio.NewReaderSize(conn, o.size)
	return conn, bufio.NewReadWriter(o.br, brw.Writer), nil
}

// Kind returns WebSockets.
func (ws *WebSocket) Kind() transports.Kind { return transports.WebSockets }

// Send writes unit as one message: a binary frame if AcceptWebSocket was told
// binary, else a text frame. The write is bounded by Options.WriteTimeout, or by
// ctx's deadline when that is sooner; ctx is otherwise only checked before writing,
// since an interrupted frame would leave the stream unusable. A failed write ends the
// transport. Send returns an error wrapping ErrClosed once the transport has ended.
func (ws *WebSocket) Send(ctx context.Context, unit []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ws.writeMu.Lock()
	defer ws.writeMu.Unlock()
	if ws.ended() {
		return fmt.Errorf("transports: websocket send: %w", transports.ErrClosed)
	}
	deadline := time.Now().Add(ws.opts.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	// SetWriteDeadline only records the deadline for this Conn's data writes; it
	// is not shared with WriteControl, which Close may run concurrently.
	ws.conn.SetWriteDeadline(deadline)
	if err := ws.conn.WriteMessage(ws.msgType, unit); err != nil {
		err = fmt.Errorf("transports: websocket write: %w", err)
		if ws.end(err) {
			ws.conn.Close()
		}
		return err
	}
	return nil
}

// SetBinary chooses the frame type of the messages Send writes from now on:
// binary frames for a binary hub protocol (MessagePack), text frames otherwise.
// The hub calls it once the handshake has named the protocol, before it sends
// the handshake reply.
func (ws *WebSocket) SetBinary(binary bool) {
	ws.writeMu.Lock()
	defer ws.writeMu.Unlock()
	ws.msgType = websocket.TextMessage
	if binary {
		ws.msgType = websocket.BinaryMessage
	}
}

// Close ends the transport and sends a close frame with status 1000 (normal
// closure); the TCP connection is dropped once the client answers the close, or
// after a grace period of one second. Close is idempotent and safe from any
// goroutine, also during a Send: the close frame is a control frame, which
// gorilla/websocket writes between data frames, so Close waits at most
// Options.WriteTimeout for a write in progress. It returns nil.
func (ws *WebSocket) Close() error {
	if !ws.end(transports.ErrClosed) {
		return nil
	}
	deadline := time.Now().Add(ws.opts.WriteTimeout)
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := ws.conn.WriteControl(websocket.CloseMessage, msg, deadline); err != nil {
		ws.conn.Close()
		return nil
	}
	// The read loop sees the client's answering close frame (or this deadline) and
	// closes the connection.
	ws.mu.Lock() // see setIdleDeadline
	ws.conn.SetReadDeadline(time.Now().Add(closeHandshakeTimeout))
	ws.mu.Unlock()
	return nil
}

// readBufPool holds the buffers messages are read into: a unit is only valid during
// the Receiver call, so an idle connection keeps no message buffer.
var readBufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readLoop reads the connection: it is the transport's one goroutine. It owns the
// end of the TCP connection: whatever ends the transport, the socket is closed here
// once reading stops.
//
// While the connection is idle the goroutine waits in the network poller a few
// frames deep (see idleconn.WaitReadable). Handling messages grows its stack, and the
// runtime never shrinks a stack that much, so once the connection has been idle
// for idleReadHandoff the loop goes on in a fresh goroutine, which starts small,
// and this one ends. A busy connection keeps its goroutine (a fresh one would grow
// its stack again for every message); an idle one waits with half the stack.
// Options.DisableIdleReadHandoff turns both off: the loop then waits in
// NextReader, on the goroutine AcceptWebSocket started.
func (ws *WebSocket) readLoop(fresh bool) {
	nc := ws.conn.NetConn()
	shallow := ws.br != nil && !ws.opts.DisableIdleReadHandoff
	for {
		if shallow && ws.br.Buffered() == 0 {
			// A wait error (a deadline, a reset) shows again in NextReader.
			if fresh || !ws.setIdleDeadline(time.Now().Add(idleReadHandoff)) {
				idleconn.WaitReadable(nc)
			} else {
				err := idleconn.WaitReadable(nc)
				ws.setIdleDeadline(time.Time{})
				if errors.Is(err, os.ErrDeadlineExceeded) && !ws.ended() {
					go ws.readLoop(true)
					return
				}
			}
		}
		fresh = false
		_, r, err := ws.conn.NextReader()
		if err == nil {
			buf := readBufPool.Get().(*bytes.Buffer)
			_, err = buf.ReadFrom(r)
			if err == nil && !ws.ended() {
				ws.receive(buf.Bytes())
			}
			if buf.Cap() <= maxPooledBody {
				buf.Reset()
				readBufPool.Put(buf)
			}
		}
		if err != nil {
			ws.end(readError(err, ws.opts.MaxTransportMessageSize))
			ws.linger(err)
			ws.conn.Close()
			return
		}
	}
}

// idleReadHandoff is how long a connection waits for its next message on the
// goroutine that read the last one, before a fresh goroutine takes over the wait.
const idleReadHandoff = time.Second

// setIdleDeadline sets the read deadline of the idle wait, unless the transport
// has ended: Close then owns the read deadline. It reports whether it set it.
func (ws *WebSocket) setIdleDeadline(t time.Time) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.err != nil {
		return false
	}
	ws.conn.NetConn().SetReadDeadline(t)
	return true
}

// linger drains the socket for a moment after gorilla/websocket has failed the
// connection with its own close frame (1009 for an oversized message, 1002 for a
// protocol error). Closing a socket with unread data makes the kernel send a reset,
// which can destroy that close frame before the client reads it.
func (ws *WebSocket) linger(err error) {
	var ce *websocket.CloseError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, net.ErrClosed) {
		return // the peer closed, the connection broke, or a deadline passed
	}
	nc := ws.conn.NetConn()
	nc.SetReadDeadline(time.Now().Add(closeHandshakeTimeout))
	io.Copy(io.Discard, nc)
}

// readError turns what stopped the read loop into the transport's end reason.
func readError(err error, limit int64) error {
	if errors.Is(err, websocket.ErrReadLimit) {
		// gorilla/websocket has already sent the close frame with status 1009.
		return fmt.Errorf("transports: websocket message over %d bytes: %w", limit, transports.ErrTooLarge)
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case websocket.CloseAbnormalClosure:
			return errors.New("transports: websocket connection lost without a close frame")
		case websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived:
			// A browser closing its tab says 1001: the client is gone, not cut off.
			return fmt.Errorf("transports: websocket closed by the client (%d %s): %w", ce.Code, closeText(ce), transports.ErrEndedByClient)
		}
		return fmt.Errorf("transports: websocket closed by the client with status %d %s", ce.Code, closeText(ce))
	}
	return fmt.Errorf("transports: websocket read: %w", err)
}

func closeText(ce *websocket.CloseError) string {
	if ce.Text == "" {
		return "(no reason)"
	}
	return fmt.Sprintf("%q", ce.Text)
}
