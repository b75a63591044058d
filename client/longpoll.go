package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/transports"
)

// lpTransport is the long polling transport: GET polls bring the server's units,
// POSTs carry the client's, a DELETE ends the connection.
type lpTransport struct {
	postSender
	ctx    context.Context // canceled by interrupt and cut
	cancel context.CancelFunc
	first  []byte // data of the first poll, if the server sent any

	// resume: the next poll carries &resume=1 (a stateful resume), until one is
	// answered; such a poll is bounded by resumeTimeout, since the server answers
	// it at once.
	resume        atomic.Bool
	resumeTimeout time.Duration
	// ack, when above 0, is the highest message number the reader has taken
	// (stateful reconnect): polls carry it as &ack=N instead of an Ack POST each.
	ack atomic.Int64

	// retry, when not nil, retries polls answered 502, 503 or 504 or cut by the
	// network, on the same connection (without stateful reconnect; with it, the
	// connection resumes instead).
	retry *pollRetry
}

// pollRetry is how failed polls are retried without stateful reconnect.
type pollRetry struct {
	window      time.Duration // from the first failure of an outage
	onRetry     func(err error)
	onRecovered func()
}

// connectLongPolling sends the first poll, which the server answers at once; the
// transport is connected when it is answered 200.
func connectLongPolling(ctx context.Context, s *session, connectURL string) (*lpTransport, error) {
	t := newLongPolling(s, connectURL)
	stop := context.AfterFunc(ctx, t.cancel)
	unit, err := t.poll()
	if !stop() {
		t.cancel()
		return nil, fmt.Errorf("first poll: %w", context.Cause(ctx))
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("the server closed the connection at the first poll (204)")
	}
	if err != nil {
		t.cancel()
		return nil, fmt.Errorf("first poll: %w", err)
	}
	t.first = unit
	return t, nil
}

// newLongPolling returns a long polling transport that has not polled yet.
func newLongPolling(s *session, connectURL string) *lpTransport {
	ctx, cancel := context.WithCancel(context.Background())
	return &lpTransport{postSender: postSender{s: s, url: connectURL}, ctx: ctx, cancel: cancel}
}

func (t *lpTransport) kind() transports.Kind { return transports.LongPolling }

// poll sends one poll. It returns the body of a 200 (possibly empty), io.EOF for a
// 204, an *HTTPError for any other status.
func (t *lpTransport) poll() ([]byte, error) {
	timeout := pollTimeout
	u := withQuery(t.url, "_", strconv.FormatInt(time.Now().UnixMilli(), 10))
	if t.resume.Load() {
		u = withQuery(u, "resume", "1")
		timeout = t.resumeTimeout
	}
	if n := t.ack.Load(); n > 0 {
		u = withQuery(u, "ack", strconv.FormatInt(n, 10))
	}
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	resp, err := t.s.do(ctx, http.MethodGet, u, request{xrw: true, auth: true, retry401: true, noReplay: true})
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
			return nil, fmt.Errorf("poll: %w", errTooLarge{t.s.opts.MaxReceiveSize})
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
	var outage time.Time // when the current run of failed polls started
	attempt := 0
	for {
		unit, err := t.poll()
		if err == nil {
			// The resume poll was answered (the server answers it at once, its
			// Sequence comes on this poll or the next): later polls are plain ones.
			t.resume.Store(false)
		}
		if err == nil && !outage.IsZero() {
			outage = time.Time{}
			t.retry.onRecovered()
		}
		switch {
		case err == nil && len(unit) == 0:
			continue // the server's poll timeout: poll again
		case err == nil:
			return unit, nil
		case t.ctx.Err() != nil:
			return nil, t.ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !t.resume.Load():
			continue // our poll timeout: poll again, as the official client
		case t.retry != nil && retryablePoll(err):
			if outage.IsZero() {
				outage, attempt = time.Now(), 0
				t.retry.onRetry(err)
			}
			if time.Since(outage) >= t.retry.window {
				return nil, &lostError{fmt.Errorf("polls failed for the reconnect window (%s): %w", t.retry.window, err)}
			}
			t.s.opts.Logger.Debug("client: poll failed, retrying", "err", err, "attempt", attempt)
			if !sleepCtx(t.ctx, reconnectDelay(attempt)) {
				return nil, t.ctx.Err()
			}
			attempt++
		default:
			return nil, err
		}
	}
}

// retryablePoll tells a poll failure worth retrying on the same connection: a
// proxy's 502, 503 or 504, or the network.
func retryablePoll(err error) bool {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode == http.StatusBadGateway || he.StatusCode == http.StatusServiceUnavailable || he.StatusCode == http.StatusGatewayTimeout
	}
	var tl errTooLarge
	return !errors.Is(err, io.EOF) && !errors.As(err, &tl)
}

func (t *lpTransport) interrupt() { t.cancel() }

func (t *lpTransport) cut() { t.cancel() }

func (t *lpTransport) discard() { t.cancel() }

// release sends the DELETE that ends the connection on the server. Its outcome is
// only logged: the server may have ended the connection already (404).
func (t *lpTransport) release(ctx context.Context) {
	t.cancel()
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

// errTooLarge is a unit over Options.MaxReceiveSize.
type errTooLarge struct{ max int64 }

func (e errTooLarge) Error() string { return fmt.Sprintf("response over %d bytes", e.max) }

// reconnectDelays are the waits before successive attempts to get a link back: the
// first at once, then growing to reconnectMaxDelay.
var reconnectDelays = []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second}

const reconnectMaxDelay = 2 * time.Second

func reconnectDelay(attempt int) time.Duration {
	if attempt < len(reconnectDelays) {
		return reconnectDelays[attempt]
	}
	return reconnectMaxDelay
}

// sleepCtx waits d, or less when ctx ends first (then it returns false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
