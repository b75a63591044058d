package transports

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
// its socket and what the transport keeps. The transport then writes the HTTP/1.1
// response itself, without chunking, and closes the connection at its end
// ("Connection: close"), since it cannot hand the connection back for the next
// request.
//
// Only HTTP/1.x connections can be taken over, and only through a ResponseWriter
// that allows it (net/http's own, or a middleware's that unwraps to it); otherwise
// the transport works through the ResponseWriter as before.

// takenOver is a connection taken over to finish one response.
type takenOver struct {
	conn net.Conn
	// header holds the response's header lines, taken from the ResponseWriter's
	// headers at takeover, for the head written later. Interned: responses of a
	// kind carry the same headers, so thousands of held polls share one copy.
	header unique.Handle[string]
}

// takeOver hijacks w's connection for the response to r, keeping w's headers (but
// Content-Length) for the head. It reports false when the connection cannot be
// taken over; w is then still usable.
func (t *takenOver) takeOver(w http.ResponseWriter, r *http.Request) bool {
	if r.ProtoMajor != 1 {
		return false
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	var header strings.Builder
	w.Header().WriteSubset(&header, skipHeaders)
	// Deadlines net/http set for its own reads and writes would now cut this
	// response short; the transport sets its own per write.
	conn.SetDeadline(time.Time{})
	t.conn, t.header = conn, unique.Make(header.String())
	return true
}

// skipHeaders are the headers a taken-over response writes itself.
var skipHeaders = map[string]bool{"Content-Length": true, "Connection": true, "Transfer-Encoding": true, "Date": true}

// appendHead appends the response head: the status line, the kept headers, Date,
// Content-Length when contentLength >= 0, and "Connection: close".
func (t *takenOver) appendHead(dst []byte, status, contentLength int) []byte {
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

// respond writes a whole response, status and body, under deadline, and closes the
// connection.
func (t *takenOver) respond(status int, body []byte, deadline time.Time) error {
	defer t.conn.Close()
	t.conn.SetWriteDeadline(deadline)
	contentLength := len(body)
	if status == http.StatusNoContent {
		contentLength = -1 // a 204 has no body, nor its length
	}
	head := t.appendHead(make([]byte, 0, 160+len(t.header.Value())), status, contentLength)
	bufs := net.Buffers{head, body}
	_, err := bufs.WriteTo(t.conn)
	return err
}
