package hub

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hubbub-go/hubbub/transports"
)

// SessionForwarder is an optional interface of a [Backplane] that lets every HTTP
// request of a connection land on any node of a cluster, so that a load balancer
// needs no sticky sessions. When the hub's Backplane implements it:
//
//   - negotiate mints connection tokens with NewConnectionToken, so that a token
//     names the node that negotiated it;
//   - a request whose token is not a session of this node is not answered 404 at
//     once: a request that opens a streaming transport (a WebSocket upgrade or a
//     Server-Sent Events GET) claims the negotiated session from the node that holds
//     it (ClaimSession) and opens the transport here; any other request (long polls,
//     POSTs, DELETEs) is forwarded to the node that holds the connection
//     (ForwardRequest), which answers it as if it had received it.
//
// The hub calls ServeSessions once, from [New], to let other nodes reach this node's
// sessions, and SessionEnded when a session of this node is gone.
//
// Implementations must be safe for concurrent use.
type SessionForwarder interface {
	// NewConnectionToken returns a fresh connection token (and connection ID) for
	// a session negotiated on this node: only [A-Za-z0-9_-], unguessable.
	NewConnectionToken(hubName string) string
	// ServeSessions makes this node's sessions of hubName reachable from other
	// nodes until stop is called.
	ServeSessions(hubName string, sessions LocalSessions) (stop func())
	// ClaimSession moves a negotiated session that no transport has opened yet
	// from the node that holds it to this one. kind is the transport about to open
	// it, userID the user of the request ("" anonymous), which the holder checks
	// before it lets the session go. It returns an error wrapping
	// ErrSessionNotFound when no node holds the session, ErrSessionActive when it
	// already has a transport, ErrSessionForbidden when it is another user's.
	ClaimSession(ctx context.Context, hubName, token string, kind transports.Kind, userID string) (SessionInfo, error)
	// ForwardRequest serves r on the node that holds the session of token and
	// writes that node's response to w. It answers 404 when no node holds it.
	ForwardRequest(w http.ResponseWriter, r *http.Request, hubName, token string)
	// SessionEnded tells that a session of this node has ended. It must not block.
	SessionEnded(hubName, token string)
}

// LocalSessions is how a [SessionForwarder] reaches the sessions of one hub on this
// node when another node asks.
type LocalSessions interface {
	// ReleaseSession removes a negotiated session of userID's ("" anonymous) that
	// no transport has opened and returns it, for another node to open. It returns
	// an error wrapping ErrSessionNotFound, ErrSessionActive, or
	// ErrSessionForbidden (another user's: the session stays) otherwise.
	ReleaseSession(token, userID string) (SessionInfo, error)
	// ServeForwarded serves a request that another node forwarded here. It is
	// ServeHTTP, except that a token unknown here is answered 404 rather than
	// forwarded again.
	ServeForwarded(w http.ResponseWriter, r *http.Request)
	// PollTimeout is how long the hub holds a long poll that has nothing to send
	// (its TransportOptions.PollTimeout): a node relaying a poll to another node of
	// the cluster, whose hub has the same options, need not wait much longer.
	PollTimeout() time.Duration
	// AttachRelay resumes the connection of token on a link relayed from the node
	// where the client's request landed (see LinkRelay): front carries what the
	// connection sends to its client. It returns this node's end of the link,
	// which takes the client's units and the link's end. It fails with an error
	// wrapping ErrSessionNotFound (no such connection here), ErrSessionActive (it
	// cannot be resumed: not stateful, or ending), ErrSessionForbidden (another
	// user's) or ErrTransportChange (it uses another transport).
	AttachRelay(token string, req RelayRequest, front RelayPeer) (RelayEndpoint, error)
}

// SessionInfo is a negotiated session on its way between nodes.
type SessionInfo struct {
	ConnectionID string   `json:"id"`
	Token        string   `json:"token"`
	Identity     Identity `json:"identity"`
	Stateful     bool     `json:"stateful,omitempty"` // stateful reconnect was negotiated
}

// Errors of session forwarding.
var (
	// ErrSessionNotFound means no node holds a session with that token.
	ErrSessionNotFound = errors.New("hub: no connection with that token")
	// ErrSessionActive means the session already has a transport (and, for a
	// relayed link, cannot be resumed).
	ErrSessionActive = errors.New("hub: connection already has a transport")
	// ErrSessionForbidden means the request's user is not the connection's.
	ErrSessionForbidden = errors.New("hub: this connection belongs to another user")
	// ErrTransportChange means a request would resume a connection on another
	// transport than its own.
	ErrTransportChange = errors.New("hub: cannot change transports mid-connection")
)

// forwardedKey marks the context of a request another node forwarded here.
type forwardedKey struct{}

// forwardedUserHeader carries, on a request forwarded to the node that holds its
// connection, the user the node where it landed found (quoted; "" is anonymous).
// The node holding the connection checks it against the connection's user rather
// than finding the user again: Options.UserID may read what does not cross nodes,
// a context value a framework adapter set (WithUserID). It is believed only on a
// request a SessionForwarder passed to ServeForwarded.
const forwardedUserHeader = "Hubbub-Forwarded-User"

// withForwardedUser is r, to be forwarded, with the user found for it.
func withForwardedUser(r *http.Request, user Identity) *http.Request {
	r = r.Clone(r.Context())
	r.Header.Set(forwardedUserHeader, strconv.QuoteToASCII(user.UserID))
	return r
}

// forwardedUser is the user the node where a forwarded request landed found for
// it; false for a request not forwarded, or forwarded without one.
func forwardedUser(r *http.Request) (Identity, bool) {
	if r.Context().Value(forwardedKey{}) == nil {
		return Identity{}, false
	}
	user, err := strconv.Unquote(r.Header.Get(forwardedUserHeader))
	if err != nil {
		return Identity{}, false
	}
	return Identity{UserID: user}, true
}

// clusterNode is this hub's LocalSessions.
type clusterNode struct{ h *Hub }

func (n clusterNode) ReleaseSession(token, userID string) (SessionInfo, error) {
	h := n.h
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	s := h.sessions[token]
	switch {
	case s == nil:
		return SessionInfo{}, ErrSessionNotFound
	case s.kind != 0:
		return SessionInfo{}, ErrSessionActive
	case s.identity.UserID != userID:
		// Checked here, before the session moves: another user's request must not
		// take it away from its node.
		h.opts.Logger.Warn("hub: connection token used by another user", "hub", h.opts.Name, "connection", s.id, "claimed", true)
		return SessionInfo{}, ErrSessionForbidden
	}
	if s.expiry != nil {
		s.expiry.Stop()
	}
	h.dropSessionLocked(s)
	return SessionInfo{ConnectionID: s.id, Token: s.token, Identity: s.identity, Stateful: s.stateful}, nil
}

func (n clusterNode) PollTimeout() time.Duration { return n.h.opts.TransportOptions.PollTimeout }

func (n clusterNode) ServeForwarded(w http.ResponseWriter, r *http.Request) {
	if isWebSocketUpgrade(r) {
		http.Error(w, "WebSocket upgrades cannot be forwarded", http.StatusBadRequest)
		return
	}
	n.h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), forwardedKey{}, true)))
}

// joinCluster registers the hub's sessions with a SessionForwarder backplane and
// returns the detach function that also leaves it.
func (h *Hub) joinCluster(detach func()) func() {
	fwd, ok := h.backplane.(SessionForwarder)
	if !ok {
		return detach
	}
	stop := fwd.ServeSessions(h.opts.Name, clusterNode{h})
	return func() {
		stop()
		detach()
	}
}

// newToken mints a connection token (or ID).
func (h *Hub) newToken() string {
	if fwd, ok := h.backplane.(SessionForwarder); ok {
		return fwd.NewConnectionToken(h.opts.Name)
	}
	return transports.NewToken()
}

// sessionEnded tells a SessionForwarder that a session of this node is gone.
func (h *Hub) sessionEnded(token string) {
	if fwd, ok := h.backplane.(SessionForwarder); ok {
		fwd.SessionEnded(h.opts.Name, token)
	}
}

// remote handles a request whose token is not a session of this node. It returns
// the session for the request to open its transport on, claimed from another
// node, or nil once it has answered the request itself: forwarded to the node
// holding the connection, or refused.
func (h *Hub) remote(w http.ResponseWriter, r *http.Request, token string, user Identity) *session {
	fwd, ok := h.backplane.(SessionForwarder)
	if !ok || r.Context().Value(forwardedKey{}) != nil {
		h.unknownToken(w, token)
		return nil
	}
	var kind transports.Kind
	switch {
	case r.Method != http.MethodGet:
	case isWebSocketUpgrade(r):
		kind = transports.WebSockets
	case acceptsEventStream(r):
		kind = transports.ServerSentEvents
	}
	if kind == 0 {
		// Long polls, POSTs and DELETEs go to the node that holds the connection;
		// the first poll opens long polling there.
		fwd.ForwardRequest(w, withForwardedUser(r, user), h.opts.Name, token)
		return nil
	}
	info, err := fwd.ClaimSession(r.Context(), h.opts.Name, token, kind, user.UserID)
	switch {
	case err == nil:
	case errors.Is(err, ErrSessionNotFound):
		h.unknownToken(w, token)
		return nil
	case errors.Is(err, ErrSessionForbidden):
		h.userMismatch(w, "claimed", true)
		return nil
	case errors.Is(err, ErrSessionActive) && h.canRelay():
		// A resume of a stateful connection that lives on another node: the link
		// is served here and relayed to it (relay.go).
		h.relayLink(w, r, token, kind, user)
		return nil
	case errors.Is(err, ErrSessionActive) && kind == transports.ServerSentEvents:
		// Let the node holding it answer 409 or 400, as it would locally.
		fwd.ForwardRequest(w, withForwardedUser(r, user), h.opts.Name, token)
		return nil
	case errors.Is(err, ErrSessionActive):
		http.Error(w, "Another request is already active for this connection", http.StatusConflict)
		return nil
	default:
		h.opts.Logger.Warn("hub: claiming a connection from another node", "hub", h.opts.Name, "err", err)
		http.Error(w, "Cluster unavailable", http.StatusServiceUnavailable)
		return nil
	}
	return h.adopt(w, r, info)
}

// adopt makes a session claimed from another node a pending session of this one,
// counted against this node's limits as a negotiate here would be. It answers the
// request itself and returns nil when a limit refuses it.
func (h *Hub) adopt(w http.ResponseWriter, r *http.Request, info SessionInfo) *session {
	s := h.openSession(w, r, info.Identity, true)
	if s == nil {
		return nil
	}
	h.sessionsMu.Lock()
	defer h.sessionsMu.Unlock()
	if h.sessions[s.token] != s {
		return nil // cannot happen: only its expiry, NegotiateTimeout away, drops it
	}
	delete(h.sessions, s.token)
	s.id, s.token, s.stateful = info.ConnectionID, info.Token, info.Stateful
	h.sessions[s.token] = s
	return s
}

// acceptsEventStream tells an SSE GET from a long poll, as ServeHTTP does.
func acceptsEventStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// sessionAnywhere returns the session of token, this node's or one claimed from
// another node; nil when it has answered the request itself.
func (h *Hub) sessionAnywhere(w http.ResponseWriter, r *http.Request, token string, user Identity) *session {
	if s := h.session(token); s != nil {
		return s
	}
	return h.remote(w, r, token, user)
}
