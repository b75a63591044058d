// Package forwarding is what the backplanes share of session forwarding and link
// relaying (hub.SessionForwarder, hub.LinkRelay) between nodes, whatever carries
// it (Redis channels, NATS subjects): the message between nodes, the building of a
// forwarded request and the serving of it on the node that holds the connection,
// the answers to a claim, and the reasons a relayed link ends.
package forwarding

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// Message is one message of the forwarding protocol between nodes: a request,
// its reply, a unit of a relayed link or its end. It travels JSON-encoded.
type Message struct {
	Type string `json:"t"` // one of the Type constants
	ID   uint64 `json:"id"`
	From string `json:"f"` // the sending node
	Hub  string `json:"h,omitempty"`

	// TypeHTTP request
	Method string      `json:"m,omitempty"`
	URL    string      `json:"u,omitempty"`
	Host   string      `json:"ho,omitempty"`
	Remote string      `json:"ra,omitempty"`
	Header http.Header `json:"hd,omitempty"`
	Body   []byte      `json:"b,omitempty"` // and a relayed unit

	// TypeClaim and TypeRelayOpen request
	Token string            `json:"tk,omitempty"`
	User  string            `json:"us,omitempty"` // TypeClaim: the claiming request's user
	Relay *hub.RelayRequest `json:"rl,omitempty"`

	// TypeReply: an HTTP response (Status, Header, Body), or a claim's Session or
	// Err (one of the Err constants, or the reason a relayed link ended).
	Status  int              `json:"s,omitempty"`
	Session *hub.SessionInfo `json:"se,omitempty"`
	Err     string           `json:"e,omitempty"`
	// Binary answers TypeRelayOpen: the connection speaks a binary hub protocol.
	Binary bool `json:"bin,omitempty"`
	// More marks a part of a relayed unit that one message of the backplane
	// cannot carry: the rest follows, and the last part has no More.
	More bool `json:"mo,omitempty"`

	// Users holds, as bytes, the user IDs above that are not valid UTF-8 (see
	// Marshal); only Marshal and Unmarshal touch it.
	Users *RawUsers `json:"rus,omitempty"`
}

// RawUsers are a Message's user IDs as bytes: User, Session's and Relay's.
type RawUsers struct {
	User    []byte `json:"us,omitempty"`
	Session []byte `json:"se,omitempty"`
	Relay   []byte `json:"rl,omitempty"`
}

// Marshal encodes m for another node. A user ID is any bytes, and a JSON string
// carries what is not valid UTF-8 as U+FFFD: the node holding a connection would
// refuse its own user's claim (403), or the claiming node would take the
// connection for another user's. Such IDs travel as bytes in Users.
func Marshal(m *Message) ([]byte, error) {
	var session, relay string
	if m.Session != nil {
		session = m.Session.Identity.UserID
	}
	if m.Relay != nil {
		relay = m.Relay.UserID
	}
	if utf8.ValidString(m.User) && utf8.ValidString(session) && utf8.ValidString(relay) {
		return json.Marshal(m)
	}
	c := *m
	c.Users = &RawUsers{User: []byte(m.User), Session: []byte(session), Relay: []byte(relay)}
	c.User = ""
	if m.Session != nil {
		s := *m.Session
		s.Identity.UserID = ""
		c.Session = &s
	}
	if m.Relay != nil {
		r := *m.Relay
		r.UserID = ""
		c.Relay = &r
	}
	return json.Marshal(&c)
}

// Unmarshal decodes what Marshal encodes into m.
func Unmarshal(data []byte, m *Message) error {
	if err := json.Unmarshal(data, m); err != nil {
		return err
	}
	if u := m.Users; u != nil {
		m.Users = nil
		m.User = string(u.User)
		if m.Session != nil {
			m.Session.Identity.UserID = string(u.Session)
		}
		if m.Relay != nil {
			m.Relay.UserID = string(u.Relay)
		}
	}
	return nil
}

// Message types.
const (
	TypeHTTP         = "http"
	TypeClaim        = "claim"
	TypeCancel       = "cancel"
	TypeReply        = "reply"
	TypeRelayOpen    = "ropen"
	TypeRelayUp      = "rup"   // a unit from the client, front to owner
	TypeRelayDown    = "rdown" // a unit for the client, owner to front
	TypeRelayEndUp   = "rendu" // the front's side has ended
	TypeRelayEndDown = "rendd" // the owner's side has ended
)

// The Err of a reply.
const (
	ErrNotFound  = "notfound"
	ErrActive    = "active"
	ErrForbidden = "forbidden"
	ErrBusy      = "busy"
	ErrTransport = "transport"
	// ReasonTooLarge ends a relayed link whose client broke the size limit.
	ReasonTooLarge = "toolarge"
)

// Request turns r, for the connection of a hub on another node, into a
// TypeHTTP message. The body is read up to maxBody; beyond it, or when it cannot
// be read, Request answers r itself and returns nil.
func Request(w http.ResponseWriter, r *http.Request, hubName string, maxBody int64) *Message {
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			http.Error(w, "could not read the request body", http.StatusBadRequest)
			return nil
		}
		if int64(len(body)) > maxBody {
			http.Error(w, "message too large", http.StatusRequestEntityTooLarge)
			return nil
		}
	}
	return &Message{
		Type: TypeHTTP, Hub: hubName, Method: r.Method, URL: r.URL.RequestURI(), Host: r.Host,
		Remote: r.RemoteAddr, Header: r.Header, Body: body,
	}
}

// WriteResponse writes the response a TypeHTTP request got.
func WriteResponse(w http.ResponseWriter, reply *Message) {
	for k, v := range reply.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(reply.Status)
	w.Write(reply.Body)
}

// NotFound is the reply to a request for a hub this node does not serve.
func NotFound() *Message {
	return &Message{Status: http.StatusNotFound, Body: []byte("No Connection with that ID\n")}
}

// Serve serves a TypeHTTP request with the hub's ServeForwarded, within ctx,
// buffering the response, and returns the reply; nil when ctx ended before the
// hub answered (the requester cancelled it: nobody waits for the answer) unless
// stopping, the node's own end, has come.
func Serve(ctx, stopping context.Context, sessions hub.LocalSessions, m *Message) *Message {
	r, err := http.NewRequestWithContext(ctx, m.Method, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return &Message{Status: http.StatusBadRequest, Body: []byte("bad forwarded request\n")}
	}
	r.Header = m.Header
	if r.Header == nil {
		r.Header = http.Header{}
	}
	r.Host, r.RemoteAddr = m.Host, m.Remote
	r.ContentLength = int64(len(m.Body))
	w := &responseBuffer{header: http.Header{}}
	sessions.ServeForwarded(w, r)
	if ctx.Err() != nil && stopping.Err() == nil && w.status == 0 {
		return nil
	}
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	return &Message{Status: status, Header: w.header, Body: w.body.Bytes()}
}

// Claim serves a TypeClaim request: the session released to the claiming node,
// or why not.
func Claim(sessions hub.LocalSessions, m *Message) *Message {
	if sessions == nil {
		return &Message{Err: ErrNotFound}
	}
	info, err := sessions.ReleaseSession(m.Token, m.User)
	if err != nil {
		return Refusal(err)
	}
	return &Message{Session: &info}
}

// Refusal is the reply to a claim or a relay's opening that the holder refused
// with err (from ReleaseSession or AttachRelay).
func Refusal(err error) *Message {
	switch {
	case errors.Is(err, hub.ErrSessionForbidden):
		return &Message{Err: ErrForbidden}
	case errors.Is(err, hub.ErrTransportChange):
		return &Message{Err: ErrTransport}
	case errors.Is(err, hub.ErrSessionActive):
		return &Message{Err: ErrActive}
	}
	return &Message{Err: ErrNotFound}
}

// Refused is the error a refusing reply stands for: hub.ErrSessionNotFound,
// ErrSessionActive, ErrSessionForbidden or ErrTransportChange, else one saying
// what the reply said (prefix names the backplane); nil for no refusal.
func Refused(prefix string, reply *Message) error {
	switch reply.Err {
	case "":
		return nil
	case ErrNotFound:
		return hub.ErrSessionNotFound
	case ErrActive:
		return hub.ErrSessionActive
	case ErrForbidden:
		return hub.ErrSessionForbidden
	case ErrTransport:
		return hub.ErrTransportChange
	}
	return fmt.Errorf("%s: %s", prefix, reply.Err)
}

// EndReason is what the end of a relayed link tells the other side of reason.
func EndReason(reason error) string {
	switch {
	case reason == nil:
		return ""
	case errors.Is(reason, transports.ErrTooLarge):
		return ReasonTooLarge
	}
	return reason.Error()
}

// EndError is the error the reason of a relayed link's end stands for (prefix
// names the backplane).
func EndError(prefix, text string) error {
	switch text {
	case "":
		return nil
	case ReasonTooLarge:
		return fmt.Errorf("%s: the relayed client sent a message over the size limit: %w", prefix, transports.ErrTooLarge)
	}
	return fmt.Errorf("%s: relayed link ended on the other node: %s", prefix, text)
}

// responseBuffer is the http.ResponseWriter of a forwarded request.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *responseBuffer) Header() http.Header { return w.header }

func (w *responseBuffer) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *responseBuffer) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// Flush is a no-op: the response goes back whole once the handler returns.
func (w *responseBuffer) Flush() {}

// SetWriteDeadline accepts and ignores deadlines: writes go to memory.
func (w *responseBuffer) SetWriteDeadline(time.Time) error { return nil }
