package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// wsTransport is the WebSockets transport over gorilla/websocket: records go out
// in text frames, or in binary frames for a binary protocol (the handshake
// request too, as the .NET client does); frames of either type are accepted.
type wsTransport struct {
	conn          *websocket.Conn
	frameType     int // websocket.TextMessage or websocket.BinaryMessage
	interruptOnce sync.Once
}

// wsCloseWait bounds how long a closing client waits for the server's close frame.
const wsCloseWait = time.Second

// dialWebSocket opens the WebSocket at the connect URL (http(s) turned into
// ws(s)). A refusal (any status but 101) is an *HTTPError, so the caller can fall
// back to the next transport.
func dialWebSocket(ctx context.Context, s *session, connectURL string) (*wsTransport, error) {
	wsURL := connectURL
	switch {
	case strings.HasPrefix(wsURL, "https:"):
		wsURL = "wss:" + strings.TrimPrefix(wsURL, "https:")
	case strings.HasPrefix(wsURL, "http:"):
		wsURL = "ws:" + strings.TrimPrefix(wsURL, "http:")
	}
	h := s.header()
	// As the official client in Node: the token factory is called again for the
	// WebSocket, and the token goes in the Authorization header of the upgrade.
	tok, err := s.refreshToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("access token: %w", err)
	}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	conn, resp, err := s.wsDialer().DialContext(ctx, wsURL, h)
	if err != nil {
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			return nil, fmt.Errorf("websocket upgrade refused: %w", httpError(resp, http.MethodGet, connectURL))
		}
		return nil, fmt.Errorf("websocket dial %s: %w", redact(wsURL), unwrapURLError(err))
	}
	conn.SetReadLimit(s.opts.MaxReceiveSize)
	frameType := websocket.TextMessage
	if s.opts.Protocol.TransferFormat() == protocol.BinaryFormat {
		frameType = websocket.BinaryMessage
	}
	return &wsTransport{conn: conn, frameType: frameType}, nil
}

// wsDialer builds a dialer that goes the way the HTTP client does: its proxy, dialer,
// TLS configuration and cookie jar.
func (s *session) wsDialer() *websocket.Dialer {
	d := &websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: s.opts.RequestTimeout,
		Jar:              s.client.Jar,
	}
	t, ok := s.client.Transport.(*http.Transport)
	if !ok && s.client.Transport == nil {
		t, ok = http.DefaultTransport.(*http.Transport)
	}
	if ok {
		d.Proxy = t.Proxy
		d.NetDialContext = t.DialContext
		if t.TLSClientConfig != nil {
			d.TLSClientConfig = t.TLSClientConfig.Clone()
		}
	}
	return d
}

func (t *wsTransport) kind() transports.Kind { return transports.WebSockets }

func (t *wsTransport) receive() ([]byte, error) {
	for {
		_, data, err := t.conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				if ce.Code == websocket.CloseNormalClosure {
					return nil, io.EOF
				}
				if ce.Code == websocket.CloseAbnormalClosure {
					return nil, fmt.Errorf("websocket closed with status code %d (%s)", ce.Code, ce.Text)
				}
				// A close frame: the server (or a proxy) ended the link on purpose.
				return nil, &wsCloseError{code: ce.Code, text: ce.Text}
			}
			return nil, err
		}
		if len(data) > 0 {
			return data, nil
		}
	}
}

func (t *wsTransport) send(ctx context.Context, unit []byte) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Time{}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_ = t.conn.SetWriteDeadline(deadline)
	return t.conn.WriteMessage(t.frameType, unit)
}

// interrupt starts the close handshake: a close frame with status 1000, then the
// reader waits at most wsCloseWait for the server's.
func (t *wsTransport) interrupt() {
	t.interruptOnce.Do(func() {
		deadline := time.Now().Add(wsCloseWait)
		_ = t.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
		_ = t.conn.UnderlyingConn().SetDeadline(deadline)
	})
}

func (t *wsTransport) release(context.Context) {
	_ = t.conn.Close()
}

func (t *wsTransport) cut() { _ = t.conn.Close() }

func (t *wsTransport) discard() { _ = t.conn.Close() }

// wsCloseError is a close frame with a status other than 1000: the link was ended
// on purpose, so a stateful connection does not resume it.
type wsCloseError struct {
	code int
	text string
}

func (e *wsCloseError) Error() string {
	return fmt.Sprintf("websocket closed with status code %d (%s)", e.code, e.text)
}
