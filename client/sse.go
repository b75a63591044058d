package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/hubbub-go/hubbub/transports"
)

// sseTransport is the Server-Sent Events transport: one long GET carries the
// server's units as events; POSTs carry the client's.
type sseTransport struct {
	postSender
	cancel context.CancelFunc // ends the GET
	body   io.ReadCloser
	events *eventReader
}

// connectSSE opens the event stream. The transport is connected once the server
// answered 200 with Content-Type text/event-stream; anything else is an error, so
// the caller can fall back to the next transport.
func connectSSE(ctx context.Context, s *session, connectURL string) (*sseTransport, error) {
	// The stream outlives ctx, which bounds only the connect.
	streamCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	getURL := connectURL
	// As the official client: the token rides in the query (EventSource cannot set
	// headers), the one obtained at negotiate.
	if tok := s.currentToken(); tok != "" {
		getURL = withQuery(getURL, "access_token", url.QueryEscape(tok))
	}
	resp, err := s.do(streamCtx, http.MethodGet, getURL, request{accept: "text/event-stream", noCache: true})
	if !stop() {
		// ctx ended during the connect.
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		return nil, fmt.Errorf("event stream: %w", context.Cause(ctx))
	}
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		return nil, fmt.Errorf("event stream refused: %w", httpError(resp, http.MethodGet, getURL))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		drain(resp)
		cancel()
		return nil, fmt.Errorf("event stream: GET %s: Content-Type %q, want text/event-stream", redact(getURL), resp.Header.Get("Content-Type"))
	}
	return &sseTransport{
		postSender: postSender{s: s, url: connectURL},
		cancel:     cancel,
		body:       resp.Body,
		events:     newEventReader(resp.Body, s.opts.MaxReceiveSize),
	}, nil
}

func (t *sseTransport) kind() transports.Kind { return transports.ServerSentEvents }

func (t *sseTransport) receive() ([]byte, error) { return t.events.next() }

func (t *sseTransport) interrupt() { t.cancel() }

func (t *sseTransport) release(context.Context) {
	t.cancel()
	t.body.Close()
}

func (t *sseTransport) cut() { t.cancel() }

func (t *sseTransport) discard() {
	t.cancel()
	t.body.Close()
}

// eventReader parses a text/event-stream into the data of its events, as the
// EventSource specification says: lines end with CRLF, LF or CR; a line starting
// with ":" is a comment; "data" fields of one event are joined with "\n"; a blank
// line ends the event; events without data, and other fields (event, id, retry),
// are ignored. An event cut by the end of the stream is dropped.
type eventReader struct {
	r      io.Reader
	max    int64  // cap on one event's data (and one line)
	buf    []byte // read buffer; pend is its unconsumed part
	pend   []byte
	err    error  // a read error not yet returned
	skipLF bool   // the last line ended with CR: a following LF belongs to it
	data   []byte // the current event's data, each line followed by "\n"
}

func newEventReader(r io.Reader, max int64) *eventReader {
	return &eventReader{r: r, max: max, buf: make([]byte, 0, 4<<10)}
}

// errEventTooLarge is returned for an event over the size limit.
var errEventTooLarge = errors.New("server-sent event too large")

// next returns the data of the next event that has some.
func (e *eventReader) next() ([]byte, error) {
	for {
		line, err := e.line()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			if len(e.data) == 0 {
				continue
			}
			unit := e.data[:len(e.data)-1]
			e.data = nil
			if len(unit) == 0 {
				continue
			}
			return unit, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		if string(field) != "data" {
			continue
		}
		if int64(len(e.data)+len(value)+1) > e.max {
			return nil, fmt.Errorf("%w (over %d bytes)", errEventTooLarge, e.max)
		}
		e.data = append(append(e.data, value...), '\n')
	}
}

// line returns the next line without its terminator. It is valid until the next
// call.
func (e *eventReader) line() ([]byte, error) {
	for {
		if e.skipLF && len(e.pend) > 0 {
			if e.pend[0] == '\n' {
				e.pend = e.pend[1:]
			}
			e.skipLF = false
		}
		if i := bytes.IndexAny(e.pend, "\r\n"); i >= 0 {
			line := e.pend[:i]
			e.skipLF = e.pend[i] == '\r'
			e.pend = e.pend[i+1:]
			return line, nil
		}
		if e.err != nil {
			return nil, e.err
		}
		if int64(len(e.pend)) > e.max {
			return nil, fmt.Errorf("%w (a line over %d bytes)", errEventTooLarge, e.max)
		}
		// Keep the unconsumed bytes at the start of buf and read behind them.
		n := copy(e.buf[:cap(e.buf)], e.pend)
		if cap(e.buf)-n < 1<<10 {
			grown := make([]byte, n, 2*cap(e.buf))
			copy(grown, e.buf[:n])
			e.buf = grown
		}
		m, err := e.r.Read(e.buf[n:cap(e.buf)])
		e.buf = e.buf[:n+m]
		e.pend = e.buf
		if err != nil {
			e.err = err
		}
	}
}
