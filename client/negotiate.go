package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// userAgent is sent on every request unless Options.Header sets one.
var userAgent = "Hubbub Go client (" + runtime.Version() + "; " + runtime.GOOS + ")"

// maxNegotiateBody caps a negotiate response.
const maxNegotiateBody = 1 << 20

// maxRedirects is how many negotiate redirects are followed, as the official client.
const maxRedirects = 100

// parseHubURL checks a hub URL and returns it with an http or https scheme (ws and
// wss are accepted too) and without a fragment. The query string is kept verbatim:
// it is sent on every request.
func parseHubURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("client: hub URL: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("client: hub URL %q: the scheme must be http or https", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("client: hub URL %q has no host", raw)
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}

// negotiateURL is {base}/negotiate (or {base}negotiate when base ends in "/") with
// the base's query, plus negotiateVersion=1 unless the query has it already.
func negotiateURL(base string) string {
	u, _ := url.Parse(base)
	if strings.HasSuffix(u.Path, "/") {
		u.Path += "negotiate"
	} else {
		u.Path += "/negotiate"
	}
	if u.RawPath != "" {
		if strings.HasSuffix(u.RawPath, "/") {
			u.RawPath += "negotiate"
		} else {
			u.RawPath += "/negotiate"
		}
	}
	if !hasQueryKey(u.RawQuery, "negotiateVersion") {
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += "negotiateVersion=1"
	}
	return u.String()
}

func hasQueryKey(rawQuery, key string) bool {
	for p := range strings.SplitSeq(rawQuery, "&") {
		k, _, _ := strings.Cut(p, "=")
		if k == key {
			return true
		}
	}
	return false
}

// withQuery appends key=value to u's query, keeping what is there verbatim, as the
// official client does (it appends "id=<token>" to the user's URL as a string).
func withQuery(u, key, value string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + key + "=" + value
}

// negotiation is the outcome of negotiate: where to connect and with what.
type negotiation struct {
	url          string // the hub URL after redirects
	connectionID string
	token        string
	transports   []transports.AvailableTransport
	stateful     bool // the server agreed to stateful reconnect
}

// negotiateBody is a negotiate response; ProtocolVersion marks an old ASP.NET
// (not Core) SignalR server, which the client cannot talk to.
type negotiateBody struct {
	transports.NegotiateResponse
	ProtocolVersion json.RawMessage `json:"ProtocolVersion"`
}

// negotiate runs POST {url}/negotiate, following redirects.
func (s *session) negotiate(ctx context.Context, base string) (*negotiation, error) {
	for range maxRedirects {
		if _, err := s.refreshToken(ctx); err != nil {
			return nil, fmt.Errorf("%w: access token: %w", ErrNegotiate, err)
		}
		u := negotiateURL(base)
		if !s.opts.DisableStatefulReconnect {
			u = withQuery(u, "useStatefulReconnect", "true")
		}
		rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
		resp, err := s.do(rctx, http.MethodPost, u, request{xrw: true, auth: true})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("%w: %w", ErrNegotiate, err)
		}
		if resp.StatusCode != http.StatusOK {
			herr := httpError(resp, http.MethodPost, u)
			cancel()
			if resp.StatusCode == http.StatusNotFound {
				return nil, fmt.Errorf("%w: %w (either this is not a SignalR endpoint or there is a proxy blocking the connection)", ErrNegotiate, herr)
			}
			return nil, fmt.Errorf("%w: %w", ErrNegotiate, herr)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxNegotiateBody+1))
		resp.Body.Close()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%w: reading the response: %w", ErrNegotiate, err)
		}
		if len(body) > maxNegotiateBody {
			return nil, fmt.Errorf("%w: response larger than %d bytes", ErrNegotiate, maxNegotiateBody)
		}
		var nr negotiateBody
		if err := json.Unmarshal(body, &nr); err != nil {
			return nil, fmt.Errorf("%w: the response is not a negotiate response: %w: %q", ErrNegotiate, err, shorten(body))
		}
		switch {
		case nr.ProtocolVersion != nil:
			return nil, fmt.Errorf("%w: the server is an ASP.NET SignalR server; this client only speaks to ASP.NET Core SignalR servers", ErrNegotiate)
		case nr.Error != "":
			return nil, fmt.Errorf("%w: %s", ErrNegotiate, nr.Error)
		case nr.URL != "":
			next, err := parseHubURL(nr.URL)
			if err != nil {
				return nil, fmt.Errorf("%w: redirect: %w", ErrNegotiate, err)
			}
			base = next
			if nr.AccessToken != "" {
				s.fixToken(nr.AccessToken)
			}
			continue
		case nr.UseStatefulReconnect && s.opts.DisableStatefulReconnect:
			return nil, fmt.Errorf("%w: the server negotiated stateful reconnect, which the client did not ask for", ErrNegotiate)
		}
		n := &negotiation{url: base, connectionID: nr.ConnectionID, token: nr.ConnectionToken, transports: nr.AvailableTransports, stateful: nr.UseStatefulReconnect}
		if nr.NegotiateVersion < 1 || n.token == "" {
			n.token = nr.ConnectionID // negotiate version 0: the ID is the token
		}
		if n.token == "" {
			return nil, fmt.Errorf("%w: the response has no connectionId: %q", ErrNegotiate, shorten(body))
		}
		return n, nil
	}
	return nil, fmt.Errorf("%w: more than %d redirects", ErrNegotiate, maxRedirects)
}

// connected is a transport connected by connect, and what it was connected with.
type connected struct {
	tr           transport
	connectionID string
	connectURL   string // {hub}?id=<token>: where a link is resumed
	stateful     bool   // negotiated stateful reconnect
}

// connect negotiates and connects a transport, falling back as the official client
// does: the server's transports are tried in its order; after a transport failed to
// connect, the client negotiates again (a new connection) and tries the next one.
func (c *Conn) connect(ctx context.Context) (connected, error) {
	if c.opts.SkipNegotiation {
		tr, err := dialWebSocket(ctx, c.sess, c.url)
		if err != nil {
			return connected{}, fmt.Errorf("%w: WebSockets: %w", ErrNoTransport, err)
		}
		return connected{tr: tr, connectURL: c.url}, nil
	}
	n, err := c.sess.negotiate(ctx, c.url)
	if err != nil {
		return connected{}, err
	}
	format := c.proto.TransferFormat()
	var eligible []transports.Kind
	var skipped []error
	for _, at := range n.transports {
		k, ok := transportKind(at.Transport)
		switch {
		case !ok:
			continue // unknown names are skipped
		case c.opts.Transports&k == 0:
			skipped = append(skipped, fmt.Errorf("%s: disabled by the client", k))
		case k == transports.ServerSentEvents && format == protocol.BinaryFormat:
			// An event stream carries text only, whatever the server says.
			skipped = append(skipped, fmt.Errorf("%s: cannot carry the %s transfer format of the %s protocol", k, format, c.proto.Name()))
		case !hasFormat(at.TransferFormats, format.String()):
			skipped = append(skipped, fmt.Errorf("%s: no %s transfer format", k, format))
		default:
			eligible = append(eligible, k)
		}
	}
	if len(eligible) == 0 {
		return connected{}, fmt.Errorf("%w: none of the transports supported by the client are supported by the server: %w", ErrNoTransport, errors.Join(skipped...))
	}
	var attempts []error
	for i, k := range eligible {
		if i > 0 {
			// The previous transport failed: its connection is spent.
			if n, err = c.sess.negotiate(ctx, c.url); err != nil {
				attempts = append(attempts, err)
				break
			}
		}
		connectURL := withQuery(n.url, "id", n.token)
		var tr transport
		switch k {
		case transports.WebSockets:
			tr, err = dialWebSocket(ctx, c.sess, connectURL)
		case transports.ServerSentEvents:
			tr, err = connectSSE(ctx, c.sess, connectURL)
		case transports.LongPolling:
			tr, err = connectLongPolling(ctx, c.sess, connectURL)
		}
		if err == nil {
			return connected{tr: tr, connectionID: n.connectionID, connectURL: connectURL, stateful: n.stateful}, nil
		}
		c.log.Debug("client: transport failed to connect", "transport", k, "err", err)
		attempts = append(attempts, fmt.Errorf("%s: %w", k, err))
		if ctx.Err() != nil {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		attempts = append(attempts, err)
	}
	return connected{}, fmt.Errorf("%w: %w", ErrNoTransport, errors.Join(attempts...))
}

// transportKind reads a negotiate transport name; the match is case-sensitive, as
// the official client's.
func transportKind(name string) (transports.Kind, bool) {
	for _, k := range transports.Kinds {
		if k.String() == name {
			return k, true
		}
	}
	return 0, false
}

func hasFormat(formats []string, want string) bool {
	for _, f := range formats {
		if f == want {
			return true
		}
	}
	return false
}

// session holds what every HTTP request of a connection shares: the client, the
// headers and the access token.
type session struct {
	opts   *Options
	client *http.Client
	own    *http.Transport // the client's transport when the session made it

	mu      sync.Mutex
	tokenFn func(context.Context) (string, error)
	token   string
}

func newSession(opts *Options) *session {
	s := &session{opts: opts, client: opts.HTTPClient, tokenFn: opts.AccessToken}
	if s.client == nil {
		s.own = http.DefaultTransport.(*http.Transport).Clone()
		s.client = &http.Client{Transport: s.own}
	}
	return s
}

// closeIdle closes the idle connections of a transport the session made.
func (s *session) closeIdle() {
	if s.own != nil {
		s.own.CloseIdleConnections()
	}
}

// refreshToken calls the token function, if any, and keeps its result.
func (s *session) refreshToken(ctx context.Context) (string, error) {
	s.mu.Lock()
	fn := s.tokenFn
	s.mu.Unlock()
	if fn == nil {
		return s.currentToken(), nil
	}
	tok, err := fn(ctx)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.token = tok
	s.mu.Unlock()
	return tok, nil
}

func (s *session) currentToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

func (s *session) canRefresh() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenFn != nil
}

// fixToken replaces the token function with a fixed token (a negotiate redirect's).
func (s *session) fixToken(tok string) {
	s.mu.Lock()
	s.tokenFn, s.token = nil, tok
	s.mu.Unlock()
}

// request describes what to add to an HTTP request.
type request struct {
	body        []byte
	contentType string
	accept      string
	noCache     bool // Cache-Control: no-cache, as EventSource sends
	xrw         bool // X-Requested-With: XMLHttpRequest, as the official client's fetches
	auth        bool // Authorization: Bearer
	retry401    bool // on 401, refresh the token once and retry
	// noReplay stops net/http from sending the request again by itself when a
	// reused connection fails before the response: a poll the server answered
	// into a dead connection must fail, not be silently replaced (its messages
	// would be lost).
	noReplay bool
}

// unreplayable is an empty request body that net/http cannot rewind, which makes
// a GET non-replayable; net/http still sends the GET without a body.
type unreplayable struct{}

func (unreplayable) Read([]byte) (int, error) { return 0, io.EOF }
func (unreplayable) Close() error             { return nil }

// header builds the headers common to every request and the WebSocket upgrade.
func (s *session) header() http.Header {
	h := make(http.Header, len(s.opts.Header)+3)
	for k, v := range s.opts.Header {
		h[k] = append([]string(nil), v...)
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", userAgent)
	}
	return h
}

// do sends one request.
func (s *session) do(ctx context.Context, method, u string, r request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, body)
		if err != nil {
			return nil, err
		}
		if r.noReplay && body == nil {
			req.Body, req.GetBody = unreplayable{}, nil
		}
		req.Header = s.header()
		if r.contentType != "" {
			req.Header.Set("Content-Type", r.contentType)
		}
		if r.accept != "" {
			req.Header.Set("Accept", r.accept)
		}
		if r.noCache {
			req.Header.Set("Cache-Control", "no-cache")
		}
		if r.xrw {
			req.Header.Set("X-Requested-With", "XMLHttpRequest")
		}
		if r.auth {
			if tok := s.currentToken(); tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, redact(u), unwrapURLError(err))
		}
		if resp.StatusCode == http.StatusUnauthorized && r.retry401 && r.auth && attempt == 0 && s.canRefresh() {
			drain(resp)
			if _, err := s.refreshToken(ctx); err != nil {
				return nil, fmt.Errorf("access token: %w", err)
			}
			continue
		}
		return resp, nil
	}
}

// unwrapURLError drops the *url.Error layer, whose message repeats the URL with
// its secrets.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// httpError makes an *HTTPError of resp and closes its body.
func httpError(resp *http.Response, method, u string) *HTTPError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	drain(resp)
	return &HTTPError{Method: method, URL: redact(u), StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(b))}
}

// drain reads a little of what is left of the body, so the connection can be
// reused, and closes it.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func shorten(b []byte) string {
	if len(b) > 200 {
		return string(b[:197]) + "..."
	}
	return string(b)
}
