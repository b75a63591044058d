package idleconn

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unique"
)

// Taking a connection over from net/http.
//
// A parked net/http handler costs its connection two goroutines (the handler's and
// the background reader's), a 4 KiB read buffer, a 4 KiB write buffer and the
// request and response state: about 30 KiB, which an idle SSE stream or held long
// poll keeps for as long as it lasts. A connection taken over (hijacked) costs only
// its socket and what its owner keeps. The owner then writes the HTTP/1.1 response
// itself, without chunking, and closes the connection at its end
// ("Connection: close"), since it cannot hand the connection back for the next
// request.
//
// Only HTTP/1.x connections can be taken over, and only through a ResponseWriter
// that allows it (net/http's own, or a middleware's that unwraps to it); otherwise
// the owner works through the ResponseWriter as before.

// Taken is a connection taken over from net/http to finish one response. The zero
// value stands for none (Conn nil).
type Taken struct {
	// Conn is the connection, with no deadline set; its owner writes the response
	// (AppendHead, Respond) and closes it.
	Conn net.Conn
	// header holds the response's header lines, taken from the ResponseWriter's
	// headers at takeover, for the head written later. Interned: responses of a
	// kind carry the same headers, so thousands of held polls share one copy.
	header unique.Handle[string]
}

// TakeOver hijacks w's connection for the response to r, keeping w's headers (but
// Content-Length, Connection, Transfer-Encoding and Date, which AppendHead writes)
// for the head. It reports false when the connection cannot be taken over (HTTP/2,
// a ResponseWriter that cannot hijack); w is then still usable.
func TakeOver(w http.ResponseWriter, r *http.Request) (Taken, bool) {
	if r.ProtoMajor != 1 {
		return Taken{}, false
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return Taken{}, false
	}
	var header strings.Builder
	w.Header().WriteSubset(&header, skipHeaders)
	// Deadlines net/http set for its own reads and writes would now cut this
	// response short; the owner sets its own per write.
	conn.SetDeadline(time.Time{})
	return Taken{Conn: conn, header: unique.Make(header.String())}, true
}

// skipHeaders are the headers a taken-over response writes itself.
var skipHeaders = map[string]bool{"Content-Length": true, "Connection": true, "Transfer-Encoding": true, "Date": true}

// AppendHead appends the response head: the status line, the kept headers, Date,
// Content-Length when contentLength >= 0, and "Connection: close".
func (t *Taken) AppendHead(dst []byte, status, contentLength int) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(status)...)
	dst = append(dst, "\r\n"...)
	dst = append(dst, t.header.Value()...)
	dst = append(dst, "Date: "...)
	dst = time.Now().UTC().AppendFormat(dst, http.TimeFormat)
	dst = append(dst, "\r\n"...)
	if contentLength >= 0 {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(contentLength), 10)
		dst = append(dst, "\r\n"...)
	}
	return append(dst, "Connection: close\r\n\r\n"...)
}

// Respond writes a whole response, status and body, under deadline, and closes the
// connection.
func (t *Taken) Respond(status int, body []byte, deadline time.Time) error {
	defer t.Conn.Close()
	t.Conn.SetWriteDeadline(deadline)
	contentLength := len(body)
	if status == http.StatusNoContent {
		contentLength = -1 // a 204 has no body, nor its length
	}
	head := t.AppendHead(make([]byte, 0, 160+len(t.header.Value())), status, contentLength)
	bufs := net.Buffers{head, body}
	_, err := bufs.WriteTo(t.Conn)
	return err
}
