package client

import (
	"context"
	"net/http"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// transport is the client side of one connection's transport: it moves units (one
// WebSocket message, one SSE event's data, one poll response, one POST body) and
// knows nothing of the hub protocol.
//
// Concurrency: receive is called by one goroutine (the connection's reader), send
// by one goroutine at a time (the writer); interrupt may be called from any
// goroutine; release is called once, after receive has returned for the last time.
type transport interface {
	kind() transports.Kind
	// receive returns the next non-empty unit. io.EOF means the server ended the
	// transport without an error: a WebSocket close with status 1000, the end of the
	// SSE stream, a poll answered 204.
	receive() ([]byte, error)
	// send delivers one unit.
	send(ctx context.Context, unit []byte) error
	// interrupt makes receive (and a blocked send) return soon: a WebSocket close
	// frame, the SSE request or the poll canceled.
	interrupt()
	// release frees what is left: the WebSocket's socket, the long polling DELETE.
	release(ctx context.Context)
	// cut makes receive (and a blocked send) return soon without a word to the
	// server (no close frame, no DELETE): the link is lost and the connection may
	// be resumed over a new one. It may be called from any goroutine, repeatedly.
	cut()
	// discard frees a cut transport without a word to the server; it is called
	// instead of release, after receive has returned for the last time.
	discard()
}

// postSender is the client-to-server half of SSE and long polling: one POST per
// unit to the connect URL. The connection's single writer guarantees one POST at a
// time, which the protocol requires.
type postSender struct {
	s   *session
	url string // {hub}?id=<token>
}

func (p *postSender) send(ctx context.Context, unit []byte) error {
	resp, err := p.s.do(ctx, http.MethodPost, p.url, request{
		body:        unit,
		contentType: p.s.contentType(),
		xrw:         true,
		auth:        true,
		retry401:    true,
	})
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpError(resp, http.MethodPost, p.url)
	}
	drain(resp)
	return nil
}

// contentType is the Content-Type of the POSTs: binary protocols' records are
// not text.
func (s *session) contentType() string {
	if s.opts.Protocol.TransferFormat() == protocol.BinaryFormat {
		return "application/octet-stream"
	}
	return "text/plain;charset=UTF-8"
}
