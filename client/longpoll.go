package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hubbub-go/hubbub/transports"
)

// lpTransport is the long polling transport: GET polls bring the server's units,
// POSTs carry the client's, a DELETE ends the connection.
type lpTransport struct {
	postSender
	ctx    context.Context // canceled by interrupt
	cancel context.CancelFunc
	first  []byte // data of the first poll, if the server sent any
}

// connectLongPolling sends the first poll, which the server answers at once; the
// transport is connected when it is answered 200.
func connectLongPolling(ctx context.Context, s *session, connectURL string) (*lpTransport, error) {
	pollCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := &lpTransport{postSender: postSender{s: s, url: connectURL}, ctx: pollCtx, cancel: cancel}
	stop := context.AfterFunc(ctx, cancel)
	unit, err := t.poll()
	if !stop() {
		cancel()
		return nil, fmt.Errorf("first poll: %w", context.Cause(ctx))
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the server closed the connection at the first poll (204)")
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("first poll: %w", err)
	}
	t.first = unit
	return t, nil
}

func (t *lpTransport) kind() transports.Kind { return transports.LongPolling }

// poll sends one poll. It returns the body of a 200 (possibly empty), io.EOF for a
// 204, an *HTTPError for any other status.
func (t *lpTransport) poll() ([]byte, error) {
	ctx, cancel := context.WithTimeout(t.ctx, pollTimeout)
	defer cancel()
	u := withQuery(t.url, "_", strconv.FormatInt(time.Now().UnixMilli(), 10))
	resp, err := t.s.do(ctx, http.MethodGet, u, request{xrw: true, auth: true, retry401: true})
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		body, err := io.ReadAll(io.LimitReader(resp.Body, t.s.opts.MaxReceiveSize+1))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("poll: reading the response: %w", err)
		}
		if int64(len(body)) > t.s.opts.MaxReceiveSize {
			return nil, fmt.Errorf("poll: response over %d bytes", t.s.opts.MaxReceiveSize)
		}
		return body, nil
	case http.StatusNoContent:
		drain(resp)
		return nil, io.EOF
	default:
		return nil, httpError(resp, http.MethodGet, u)
	}
}

func (t *lpTransport) receive() ([]byte, error) {
	if unit := t.first; len(unit) > 0 {
		t.first = nil
		return unit, nil
	}
	for {
		unit, err := t.poll()
		switch {
		case err == nil && len(unit) == 0:
			continue // the server's poll timeout: poll again
		case err == nil:
			return unit, nil
		case t.ctx.Err() != nil:
			return nil, t.ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			continue // our poll timeout: poll again, as the official client
		default:
			return nil, err
		}
	}
}

func (t *lpTransport) interrupt() { t.cancel() }

// release sends the DELETE that ends the connection on the server. Its outcome is
// only logged: the server may have ended the connection already (404).
func (t *lpTransport) release(ctx context.Context) {
	resp, err := t.s.do(ctx, http.MethodDelete, t.url, request{xrw: true, auth: true, retry401: true})
	if err != nil {
		t.s.opts.Logger.Debug("client: long polling DELETE failed", "err", err)
		return
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		t.s.opts.Logger.Debug("client: long polling DELETE refused", "err", httpError(resp, http.MethodDelete, t.url))
		return
	}
	drain(resp)
}
