package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hubbub-go/hubbub/internal/transport"
	"github.com/hubbub-go/hubbub/transports"
)

// session is a negotiated connection: its ID and secret token, and once a transport
// request claims it, its connection.
type session struct {
	id, token string
	identity  Identity
	remoteIP  string
	stateful  bool            // the client asked for stateful reconnect and got it
	kind      transports.Kind // 0 until a transport claims the session
	conn      *Conn
	sender    sender // SSE and long polling
	poller    *transport.LongPoll
	// pollLink is the number of poller's link: 0 for the connection's first, else
	// the number the client gave the link a resume opened (&link=N on its polls,
	// growing with each resume); see staleLink.
	pollLink uint64
	expiry   *time.Timer
}

// isAsset reports whether r asks for a file under the hub's path (Options.Assets):
// a GET or HEAD of a name with a dot, with no connection id, not an upgrade.
func (h *Hub) isAsset(r *http.Request) bool {
	return h.opts.Assets != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		queryValue(r, "id") == "" && !isWebSocketUpgrade(r) && strings.Contains(path.Base(r.URL.Path), ".")
}

// sender is the client-to-server half of SSE and long polling.
type sender interface {
	ServeSend(http.ResponseWriter, *http.Request)
}

// ServeHTTP serves the hub: POST {base}/negotiate, and on {base} the transports, told
// apart by the request's shape as the SignalR clients send them.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every route: net/http reads to its end the body of a handler that did not
	// (negotiate, a forwarded request…), which a trickling client would hold.
	transport.LimitBodyRead(w, r, h.opts.TransportOptions.BodyReadTimeout)
	if h.isAsset(r) {
		// Public code: no CORS check and no authentication.
		h.opts.Assets.ServeHTTP(w, r)
		return
	}
	if !h.cors(w, r) {
		return
	}
	user, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	if strings.HasSuffix(strings.TrimRight(r.URL.Path, "/"), "/negotiate") {
		h.negotiate(w, r, user)
		return
	}
	token := queryValue(r, "id")
	switch {
	case r.Method == http.MethodGet && isWebSocketUpgrade(r):
		h.serveWebSocket(w, r, token, user)
		return
	case token == "":
		http.Error(w, "Connection ID required", http.StatusBadRequest)
		return
	}
	s := h.session(token)
	if s == nil {
		// Another node's, perhaps: see SessionForwarder.
		if s = h.remote(w, r, token, user); s == nil {
			return
		}
	}
	if !h.sameUser(w, s, user) {
		return
	}
	switch r.Method {
	case http.MethodGet:
		if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			h.serveSSE(w, r, s)
		} else {
			h.servePoll(w, r, s)
		}
	case http.MethodPost:
		h.sessionsMu.Lock()
		kind, sender, c := s.kind, s.sender, s.conn
		h.sessionsMu.Unlock()
		switch {
		case kind == transports.WebSockets:
			http.Error(w, "POST requests are not allowed for WebSocket connections", http.StatusMethodNotAllowed)
		case sender == nil:
			http.Error(w, "No transport is open for this connection yet", http.StatusBadRequest)
		case c != nil && c.detached():
			// The server saw the link go before the client did: not a 404, which
			// would tell the client its connection is gone.
			w.Header().Set("Retry-After", "0")
			http.Error(w, "The connection lost its link: resume it, then send again", http.StatusServiceUnavailable)
		default:
			rec := &statusRecorder{ResponseWriter: w}
			sender.ServeSend(rec, r)
			if rec.status == http.StatusRequestEntityTooLarge {
				h.logSampled(slog.LevelWarn, "hub: POST over the size limit refused", "hub", h.opts.Name, "connection", s.id, "limit", h.opts.TransportOptions.MaxTransportMessageSize)
				h.opts.Observer.Refused(h.opts.Name, "message too large")
			}
			if rec.status == http.StatusRequestTimeout {
				h.logSampled(slog.LevelInfo, "hub: POST body not received in time", "hub", h.opts.Name, "connection", s.id, "timeout", h.opts.TransportOptions.BodyReadTimeout)
				h.opts.Observer.Refused(h.opts.Name, "body read timeout")
			}
		}
	case http.MethodDelete:
		h.sessionsMu.Lock()
		poller := s.poller
		h.sessionsMu.Unlock()
		if poller == nil {
			http.Error(w, "DELETE is only allowed for long polling connections", http.StatusBadRequest)
			return
		}
		poller.ServeDelete(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE, OPTIONS")
		http.Error(w, "Method not allowed", http.StatusMethodNotAllowed)
	}
}

// authenticate runs Options.Authenticate on every request but preflights, so that a
// transport request is checked as its negotiate was. It answers 401 itself on
// refusal. Without Authenticate, the identity is Options.UserID's. A request
// another node forwarded here carries the identity that node found.
func (h *Hub) authenticate(w http.ResponseWriter, r *http.Request) (Identity, bool) {
	if user, ok := forwardedUser(r); ok {
		return user, true // the node where the request landed authenticated it
	}
	if h.opts.Authenticate == nil {
		return Identity{UserID: h.opts.UserID(r)}, true
	}
	user, err := h.opts.Authenticate(r)
	if err == nil && !user.ExpiresAt.IsZero() && !time.Now().Before(user.ExpiresAt) {
		err = errors.New("token expired")
	}
	if err != nil {
		h.logSampled(slog.LevelInfo, "hub: request refused", "hub", h.opts.Name, "method", r.Method, "path", r.URL.Path, "remote", h.proxies.clientIP(r), "reason", err)
		h.opts.Observer.Refused(h.opts.Name, "unauthorized")
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "Unauthorized: "+err.Error(), http.StatusUnauthorized)
		return Identity{}, false
	}
	return user, true
}

// sameUser refuses a transport request whose identity differs from its negotiate's,
// whichever way the identity is found (Authenticate, UserID, an adapter's
// WithUserID): a connection token alone does not let another user in, nor an
// anonymous client into a user's connection, nor the reverse.
func (h *Hub) sameUser(w http.ResponseWriter, s *session, user Identity) bool {
	if s.identity.UserID == user.UserID {
		return true
	}
	h.userMismatch(w, "connection", s.id)
	return false
}

// userMismatch logs, counts and answers a request refused by sameUser; logArgs
// say which connection it was for.
func (h *Hub) userMismatch(w http.ResponseWriter, logArgs ...any) {
	h.logSampled(slog.LevelWarn, "hub: connection token used by another user", append([]any{"hub", h.opts.Name}, logArgs...)...)
	h.opts.Observer.Refused(h.opts.Name, "forbidden")
	http.Error(w, "Forbidden: this connection belongs to another user", http.StatusForbidden)
}

func (h *Hub) negotiate(w http.ResponseWriter, r *http.Request, user Identity) {
	if tr := h.opts.Tracer; tr != nil {
		traceNegotiate(tr, h, w, r, user)
		return
	}
	h.negotiateSession(w, r, user)
}

// negotiateSession answers a negotiate request and returns the connection ID it
// gave, or "".
func (h *Hub) negotiateSession(w http.ResponseWriter, r *http.Request, user Identity) string {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		http.Error(w, "negotiate requires POST", http.StatusMethodNotAllowed)
		return ""
	}
	version := 0
	if v := queryValue(r, "negotiateVersion"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			http.Error(w, "negotiateVersion must be a non-negative integer", http.StatusBadRequest)
			return ""
		}
		version = min(n, 1)
	}
	s := h.openSession(w, r, user, version >= 1)
	if s == nil {
		return ""
	}
	h.opts.Observer.Negotiated(h.opts.Name)
	// Granted only to a client that asks: the official client refuses an answer it
	// did not ask for. A token separate from the ID is needed to resume.
	s.stateful = version >= 1 && !h.opts.DisableStatefulReconnect &&
		strings.EqualFold(queryValue(r, "useStatefulReconnect"), "true")

	resp := transports.NegotiateResponse{
		ConnectionID:         s.id,
		NegotiateVersion:     version,
		AvailableTransports:  h.offer,
		UseStatefulReconnect: s.stateful,
	}
	if version >= 1 {
		resp.ConnectionToken = s.token
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(resp)
	return s.id
}

// openSession registers a new session unless a limit refuses it, in which case it
// answers the request itself and returns nil. With separateToken the secret token
// differs from the public ID (negotiate version 1).
func (h *Hub) openSession(w http.ResponseWriter, r *http.Request, user Identity, separateToken bool) *session {
	s := &session{id: h.newToken(), identity: user, remoteIP: h.proxies.clientIP(r)}
	s.token = s.id
	if separateToken {
		s.token = h.newToken()
	}
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	refuse := func(status int, reason string, limit int) *session {
		h.opts.Observer.Refused(h.opts.Name, reason)
		if limit > 0 {
			h.logSampled(slog.LevelWarn, "hub: connection refused by a limit", "hub", h.opts.Name, "reason", reason, "limit", limit, "user", user.UserID, "ip", s.remoteIP)
		}
		w.Header().Set("Retry-After", "5")
		http.Error(w, reason, status)
		return nil
	}
	switch {
	case h.closed:
		h.opts.Observer.Refused(h.opts.Name, "Server is shutting down")
		refuseShuttingDown(w)
		return nil
	case h.pendingPerIP[s.remoteIP] >= h.opts.MaxPendingNegotiationsPerIP:
		// Before the hub-wide cap: an address that fills its own share is told so,
		// and cannot take the others' shares.
		return refuse(http.StatusTooManyRequests, "Too many pending connections from this address", h.opts.MaxPendingNegotiationsPerIP)
	case h.pending >= h.opts.MaxPendingNegotiations:
		return refuse(http.StatusServiceUnavailable, "Too many pending connections", h.opts.MaxPendingNegotiations)
	case user.UserID != "" && h.perUser[user.UserID] >= h.opts.MaxConnectionsPerUser:
		return refuse(http.StatusTooManyRequests, "Too many connections for this user", h.opts.MaxConnectionsPerUser)
	case h.perIP[s.remoteIP] >= h.opts.MaxConnectionsPerIP:
		return refuse(http.StatusTooManyRequests, "Too many connections from this address", h.opts.MaxConnectionsPerIP)
	}
	h.sessions[s.token] = s
	h.pending++
	h.pendingPerIP[s.remoteIP]++
	if user.UserID != "" {
		h.perUser[user.UserID]++
	}
	h.perIP[s.remoteIP]++
	s.expiry = time.AfterFunc(h.opts.NegotiateTimeout, func() { h.expire(s) })
	return s
}

// dropSessionLocked forgets a session and what it counted against the limits.
func (h *Hub) dropSessionLocked(s *session) {
	if h.sessions[s.token] != s {
		return
	}
	delete(h.sessions, s.token)
	h.sessionEnded(s.token)
	if s.kind == 0 {
		h.claimedLocked(s)
	}
	if u := s.identity.UserID; u != "" {
		if h.perUser[u]--; h.perUser[u] <= 0 {
			delete(h.perUser, u)
		}
	}
	if h.perIP[s.remoteIP]--; h.perIP[s.remoteIP] <= 0 {
		delete(h.perIP, s.remoteIP)
	}
}

// expire forgets a negotiated session that no transport claimed in time.
func (h *Hub) expire(s *session) {
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	if s.kind == 0 {
		h.dropSessionLocked(s)
	}
}

// refuseShuttingDown answers a request for a new connection once Close has begun.
func refuseShuttingDown(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "Server is shutting down", http.StatusServiceUnavailable)
}

// unknownToken answers a request whose token is no session of this node (nor,
// with a SessionForwarder, of another): 404, or once Close has begun 503, as the
// request may be for a connection negotiated before Close and forgotten by it.
func (h *Hub) unknownToken(w http.ResponseWriter, token string) {
	h.sessionsMu.Lock()
	closed := h.closed
	h.sessionsMu.Unlock()
	if closed {
		refuseShuttingDown(w)
		return
	}
	h.notFound(w, token)
}

func (h *Hub) session(token string) *session {
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	return h.sessions[token]
}

// claim binds a session to a transport kind. It answers the request itself and
// returns false when the session is gone or already has a transport.
func (h *Hub) claim(w http.ResponseWriter, s *session, kind transports.Kind) bool {
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	switch {
	case h.closed:
		refuseShuttingDown(w)
		return false
	case h.sessions[s.token] != s:
		h.notFound(w, s.token)
		return false
	case s.kind == kind:
		http.Error(w, "Another "+kind.String()+" request is already active for this connection", http.StatusConflict)
		return false
	case s.kind != 0:
		http.Error(w, "Cannot change transports mid-connection", http.StatusBadRequest)
		return false
	case h.opts.Transports&kind == 0:
		http.Error(w, kind.String()+" is not enabled on this hub", http.StatusNotFound)
		return false
	}
	s.kind = kind
	s.expiry.Stop()
	s.expiry = nil
	h.claimedLocked(s)
	return true
}

// claimedLocked stops counting s as pending: a transport claimed it, or it was
// dropped unclaimed.
func (h *Hub) claimedLocked(s *session) {
	h.pending--
	if h.pendingPerIP[s.remoteIP]--; h.pendingPerIP[s.remoteIP] <= 0 {
		delete(h.pendingPerIP, s.remoteIP)
	}
}

// errRefusedShuttingDown ends the span of a connection refused because Close has
// begun (refuseShuttingDown).
var errRefusedShuttingDown = errors.New("hub: server is shutting down")

// forget drops a session whose transport failed to open.
func (h *Hub) forget(s *session) {
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	h.dropSessionLocked(s)
}

func (h *Hub) serveWebSocket(w http.ResponseWriter, r *http.Request, token string, user Identity) {
	var s *session
	if token == "" {
		// skipNegotiation: the client opens the WebSocket directly.
		if s = h.openSession(w, r, user, false); s == nil {
			return
		}
	} else if s = h.sessionAnywhere(w, r, token, user); s == nil {
		return
	} else if !h.sameUser(w, s, user) {
		return
	}
	if c := h.resuming(w, r, s, transports.WebSockets); c != nil {
		t, err := transport.AcceptWebSocket(w, r, h.opts.TransportOptions, false, c.newLink())
		if err != nil {
			h.opts.Logger.Debug("hub: websocket upgrade to resume failed", "hub", h.opts.Name, "connection", c.id, "err", err)
			return
		}
		c.attach(t)
		return
	}
	if !h.claim(w, s, transports.WebSockets) {
		return
	}
	c := newConn(h, s, r, transports.WebSockets)
	if !h.bind(w, s, c, nil) {
		c.openFailed(errRefusedShuttingDown)
		return
	}
	t, err := transport.AcceptWebSocket(w, r, h.opts.TransportOptions, false, c.newLink())
	if err != nil {
		c.openFailed(fmt.Errorf("hub: websocket upgrade: %w", err))
		h.forget(s)
		if errors.Is(err, transport.ErrOriginNotAllowed) {
			// A custom TransportOptions.CheckOrigin; the hub's own refuses in cors.
			h.originRefused(r, r.Header.Get("Origin"), h.proxies.originTarget(r))
			return
		}
		h.opts.Logger.Debug("hub: websocket upgrade failed", "hub", h.opts.Name, "err", err)
		return
	}
	c.attach(t)
}

// resuming returns the connection of s when a request of kind opens a new link
// for it: stateful reconnect (reconnect.go). It returns nil when the request is
// rather to open the session's first transport, or to be refused as it would be
// without stateful reconnect; and nil, having answered, for a transport of
// another kind, or for a stream another node forwarded here.
func (h *Hub) resuming(w http.ResponseWriter, r *http.Request, s *session, kind transports.Kind) *Conn {
	h.sessionsMu.Lock()
	c, sameKind := s.conn, s.kind == kind
	h.sessionsMu.Unlock()
	if c == nil || !c.resumable() {
		return nil
	}
	switch {
	case !sameKind:
		http.Error(w, "Cannot change transports mid-connection", http.StatusBadRequest)
		return nil
	case kind == transports.ServerSentEvents && r.Context().Value(forwardedKey{}) != nil:
		// A forwarded response is sent back whole: it cannot carry a stream. The
		// client tries again, and lands here in time (docs/reconnect.md).
		http.Error(w, "This connection can resume its stream only on the node that holds it; try again", http.StatusConflict)
		return nil
	}
	return c
}

func (h *Hub) serveSSE(w http.ResponseWriter, r *http.Request, s *session) {
	c := h.resuming(w, r, s, transports.ServerSentEvents)
	fresh := c == nil
	if fresh {
		if !h.claim(w, s, transports.ServerSentEvents) {
			return
		}
		c = newConn(h, s, r, transports.ServerSentEvents)
	}
	t := transport.NewServerSentEvents(h.opts.TransportOptions, c.newLink())
	if !h.bind(w, s, c, t) {
		if fresh {
			c.openFailed(errRefusedShuttingDown)
		}
		return
	}
	c.attach(t)
	t.ServeStream(w, r)
}

func (h *Hub) servePoll(w http.ResponseWriter, r *http.Request, s *session) {
	link, err := pollLinkNumber(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.sessionsMu.Lock()
	poller, kind, current := s.poller, s.kind, s.pollLink
	h.sessionsMu.Unlock()
	var c *Conn
	fresh := false
	switch {
	case poller == nil && kind != 0:
		http.Error(w, "Cannot change transports mid-connection", http.StatusBadRequest)
		return
	case poller == nil:
		if !h.claim(w, s, transports.LongPolling) {
			return
		}
		c, fresh = newConn(h, s, r, transports.LongPolling), true
	case link < current:
		h.staleLink(w, s, link, current)
		return
	case queryValue(r, "resume") != "" || transportEnded(poller) && resumableEnd(poller.Err()):
		// A client whose poll or send failed resumes with a new link; one whose
		// transport ended unnoticed (no poll for DisconnectTimeout) too.
		c = h.resuming(w, r, s, transports.LongPolling)
	}
	if a := queryValue(r, "ack"); a != "" {
		// A stateful long-polling client acks with its polls rather than by POST.
		h.sessionsMu.Lock()
		conn := s.conn
		h.sessionsMu.Unlock()
		if n, err := strconv.ParseInt(a, 10, 64); err == nil && conn != nil {
			conn.acked(n)
		}
	}
	if c != nil {
		poller = transport.NewLongPolling(h.opts.TransportOptions, c.newLink())
		if !h.bindPoll(w, s, c, poller, link) {
			poller.Close() // stops its disconnect timer
			if fresh {
				c.openFailed(errRefusedShuttingDown)
			}
			return
		}
		c.attach(poller)
	}
	poller.ServePoll(w, r)
}

// pollLinkNumber reads the link number a long poll carries (&link=N): 0 without
// one. A stateful long-polling client numbers the links it opens to resume its
// connection, 1, 2…, and every poll of such a link carries its number.
func pollLinkNumber(r *http.Request) (uint64, error) {
	v := queryValue(r, "link")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("link must be a non-negative integer, not %q", clip(v))
	}
	return n, nil
}

// staleLink answers a poll of a link older than the one the connection resumed
// on: its client gave up on that link, but the poll was in flight and arrived
// after the resume. Taking it as the current poll would hand it the Sequence
// message and the replay, to be written to a request nobody reads, and would
// supersede the new link's poll. It gets 204 at once, which tells a long-polling
// client that its transport is over: true of that link, and the client has
// abandoned it anyway. (200 empty would be "poll again", which keeps an
// abandoned link polling if its client still listens; 404 would say the
// connection is gone, which it is not.)
func (h *Hub) staleLink(w http.ResponseWriter, s *session, link, current uint64) {
	h.opts.Logger.Debug("hub: poll of an abandoned long-polling link turned away", "hub", h.opts.Name, "connection", s.id, "link", link, "current", current)
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.WriteHeader(http.StatusNoContent)
}

// transportEnded reports whether t has ended. It asks Err rather than Done: a
// long-polling transport makes its Done channel on demand, and the connection
// would then keep it (112 bytes; it was made by every connection's second poll).
func transportEnded(t transport.Transport) bool { return t.Err() != nil }

// bind records the connection (and its send channel) on the session. Once Close
// has begun it refuses a new connection instead (503) and forgets the session:
// Close must find every connection it is to drain. A connection resuming its link
// (reconnect.go) is an existing one, which the drain serves to the end.
func (h *Hub) bind(w http.ResponseWriter, s *session, c *Conn, sender sender) bool {
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	return h.bindLocked(w, s, c, sender)
}

// bindPoll binds a long-polling link numbered link (see pollLinkNumber), unless a
// newer link was bound meanwhile: then it answers as to a stale poll (staleLink).
// The check and the binding are one step: the session never goes back to an
// older link.
func (h *Hub) bindPoll(w http.ResponseWriter, s *session, c *Conn, poller *transport.LongPoll, link uint64) bool {
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	if link < s.pollLink {
		h.staleLink(w, s, link, s.pollLink)
		return false
	}
	if !h.bindLocked(w, s, c, poller) {
		return false
	}
	s.poller, s.pollLink = poller, link
	return true
}

// bindLocked is bind with sessionsMu held.
func (h *Hub) bindLocked(w http.ResponseWriter, s *session, c *Conn, sender sender) bool {
	if h.closed && s.conn != c {
		h.dropSessionLocked(s)
		refuseShuttingDown(w)
		return false
	}
	s.conn = c
	s.sender = sender
	return true
}

type approvedOriginKey struct{}

// WithApprovedOrigin returns a context saying that a middleware in front of the hub
// approved cross-origin requests from origin, as an app's CORS middleware does when
// it answers for an origin it allows. The hub then lets a request with that Origin
// in (CORS, and the WebSocket upgrade's default origin check) without
// [Options.AllowedOrigins], and leaves the CORS response headers to that middleware.
// A request from any other origin is checked as usual. The Gin adapter sets it
// when the app's CORS middleware (gin-contrib/cors, say) has already answered
// Access-Control-Allow-Origin for the request's Origin, so that CORS is set in one
// place.
func WithApprovedOrigin(ctx context.Context, origin string) context.Context {
	return context.WithValue(ctx, approvedOriginKey{}, origin)
}

// approvedOrigin reports whether a middleware approved r's Origin (WithApprovedOrigin).
func approvedOrigin(r *http.Request, origin string) bool {
	approved, _ := r.Context().Value(approvedOriginKey{}).(string)
	return approved != "" && approved == origin
}

// cors answers preflights and marks cross-origin responses for allowed origins. It
// refuses cross-origin requests from other origins with 403 and returns false. An
// origin a middleware approved (WithApprovedOrigin) is treated as the same origin:
// that middleware answers for it.
func (h *Hub) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	target := h.proxies.originTarget(r)
	if origin == "" || target.matches(origin) || approvedOrigin(r, origin) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "GET, POST, DELETE, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return false
		}
		return true
	}
	if !h.origins.allowsOrigin(origin) {
		h.originRefused(r, origin, target)
		http.Error(w, refusalText(origin, target), http.StatusForbidden)
		return false
	}
	hdr := w.Header()
	h.setCORSHeaders(hdr, origin)
	if r.Method != http.MethodOptions {
		return true
	}
	hdr.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		hdr.Set("Access-Control-Allow-Headers", req)
	}
	hdr.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return false
}

// AllowCORS sets on w the CORS headers the hub answers r with when r comes from
// another origin that [Options.AllowedOrigins] lets in
// (Access-Control-Allow-Origin, Access-Control-Allow-Credentials for a listed
// origin, Vary: Origin), and reports whether it did. It writes nothing else and
// refuses nothing: the hub still checks r when it serves it.
//
// Call it before middleware that may answer in the hub's place (a 401 from the
// app's authentication, say): without these headers the browser hides that
// answer from the page, and its client sees a network error where it could have
// refreshed its token. ginhub.Mount does.
func (h *Hub) AllowCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || h.proxies.originTarget(r).matches(origin) || approvedOrigin(r, origin) ||
		!h.origins.allowsOrigin(origin) {
		return false
	}
	h.setCORSHeaders(w.Header(), origin)
	return true
}

// setCORSHeaders marks a response to an allowed cross-origin request. It may run
// twice for one response (AllowCORS, then the hub's own check): Vary is added once.
func (h *Hub) setCORSHeaders(hdr http.Header, origin string) {
	if h.origins.listed(origin) {
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Credentials", "true")
	} else {
		// Only "*" lets it in: any site may call, but never with the user's
		// cookies or HTTP authentication.
		hdr.Set("Access-Control-Allow-Origin", "*")
	}
	if !slices.Contains(hdr.Values("Vary"), "Origin") {
		hdr.Add("Vary", "Origin")
	}
}

// allowsOrigin is the WebSocket upgrade's origin check (the default
// TransportOptions.CheckOrigin): no Origin, the same origin, an allowed one, or one
// a middleware approved.
func (h *Hub) allowsOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	return origin == "" || h.proxies.originTarget(r).matches(origin) || h.origins.allowsOrigin(origin) ||
		approvedOrigin(r, origin)
}

// originRefused logs (at most one line per refusalLogInterval) and counts a request
// the origin check refused.
func (h *Hub) originRefused(r *http.Request, origin string, target originTarget) {
	h.opts.Observer.Refused(h.opts.Name, "origin")
	h.logSampled(slog.LevelInfo, "hub: origin refused", "hub", h.opts.Name, "origin", clip(origin), "expected", clip(target.expected()),
		"trusted_proxy", target.trusted, "remote", h.proxies.clientIP(r))
}

// logSampled writes a line a client can cause at will: at most one of each msg per
// refusalLogInterval, with "suppressed" counting those left out since the last.
func (h *Hub) logSampled(level slog.Level, msg string, args ...any) {
	ok, suppressed := h.clientLog.of(msg).allow(time.Now(), refusalLogInterval)
	if !ok {
		return
	}
	h.opts.Logger.Log(context.Background(), level, msg, append(args, "suppressed", suppressed)...)
}

// refusalText is the body of a 403 for origin: what it was compared with and which
// option lets it in.
func refusalText(origin string, target originTarget) string {
	text := "Origin not allowed: " + clip(origin) + " is not the same origin as " + clip(target.String())
	if target.forwarded {
		text += " (as forwarded by a trusted proxy)"
	}
	text += ". Add it to Options.AllowedOrigins (--allowed-origins)"
	if !target.trusted {
		text += ", or list your reverse proxy in Options.TrustedProxies (--trusted-proxies)"
	}
	return text + "."
}

// clip shortens what a client sent for a log line or an answer.
func clip(s string) string {
	const most = 200
	if len(s) <= most {
		return s
	}
	return strings.ToValidUTF8(s[:most], "") + "…"
}

// queryValue reads a query parameter, matching its name case-insensitively as
// ASP.NET Core does; an exact match wins. It scans the raw query rather than
// parsing it into a map: it runs on every request.
func queryValue(r *http.Request, name string) string {
	var loose string
	found := false
	for rest := r.URL.RawQuery; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		key, value, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(key, "%+") {
			var err error
			if key, err = url.QueryUnescape(key); err != nil {
				continue
			}
		}
		if !strings.EqualFold(key, name) {
			continue
		}
		if strings.ContainsAny(value, "%+") {
			var err error
			if value, err = url.QueryUnescape(value); err != nil {
				continue
			}
		}
		if key == name {
			return value
		}
		if !found {
			loose, found = value, true
		}
	}
	return loose
}

func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
