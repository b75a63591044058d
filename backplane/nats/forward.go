package nats

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	natsgo "github.com/nats-io/nats.go"

	"github.com/hubbub-go/hubbub/backplane/internal/forwarding"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// forward is the backplane's part that implements hub.SessionForwarder with NATS
// request-reply: a node's requests go to {prefix}.n.{node}, and a connection
// claimed by another node than its negotiate's for Server-Sent Events (whose
// POSTs land anywhere) or stateful reconnect is served on its own subject,
// {prefix}.s.{hub}.{token}, by the node that holds it.
type forward struct {
	slots chan struct{} // MaxForwardedRequests
	// requests receives the requests of every session subject, for one goroutine
	// (serveLoop) rather than one per subscription; MaxForwardedRequests of them
	// may wait, beyond which NATS drops them (the requester times out).
	requests chan *natsgo.Msg
	nextCall atomic.Uint64

	mu      sync.Mutex
	calls   map[uint64]*call                // requests in flight to other nodes
	serving map[string]context.CancelFunc   // forwarded requests being served, by requester/ID
	located map[string]*natsgo.Subscription // session subjects of claimed connections, by token
	relays  map[relayKey]*relayLink         // relayed links, this node's side of each (relay.go)
}

type call struct {
	node   string
	cancel context.CancelCauseFunc
}

func (f *forward) init(opts Options) {
	f.slots = make(chan struct{}, opts.MaxForwardedRequests)
	f.requests = make(chan *natsgo.Msg, opts.MaxForwardedRequests)
	f.calls = map[uint64]*call{}
	f.serving = map[string]context.CancelFunc{}
	f.located = map[string]*natsgo.Subscription{}
	f.relays = map[relayKey]*relayLink{}
}

// failNode ends the calls in flight to node (every call for "") with cause, and
// returns how many.
func (f *forward) failNode(node string, cause error) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if node == "" || c.node == node {
			c.cancel(cause)
			n++
		}
	}
	return n
}

func (f *forward) failAll(cause error) { f.failNode("", cause) }

// errNodeGone means the node holding a connection is gone (nobody answers on its
// subject, or it stopped heartbeating while a request waited).
var errNodeGone = errors.New("nats backplane: the node holding the connection is gone")

func (b *Backplane) nodeSubject(node string) string { return b.subject("n", node) }
func (b *Backplane) sessionSubject(hubName, tok string) string {
	return b.subject("s", token(hubName), token(tok))
}

// NewConnectionToken implements [hub.SessionForwarder]: this node's ID followed by
// 22 random base64url characters.
func (b *Backplane) NewConnectionToken(string) string { return b.nodeID + transports.NewToken() }

// nodeOf returns the node a token names, or "" (also for a token that is not one
// of ours: it comes from a request).
func nodeOf(tok string) string {
	if len(tok) <= nodeIDLen || !validToken(tok[:nodeIDLen]) {
		return ""
	}
	return tok[:nodeIDLen]
}

// ServeSessions implements [hub.SessionForwarder].
func (b *Backplane) ServeSessions(hubName string, sessions hub.LocalSessions) func() {
	b.mu.Lock()
	st := b.hubs[hubName]
	if st == nil {
		st = &hubState{}
		b.hubs[hubName] = st
	}
	st.sessions = sessions
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if st.sessions == sessions {
			st.sessions = nil
		}
	}
}

func (b *Backplane) sessions(hubName string) hub.LocalSessions {
	b.mu.Lock()
	defer b.mu.Unlock()
	if st := b.hubs[hubName]; st != nil {
		return st.sessions
	}
	return nil
}

// SessionEnded implements [hub.SessionForwarder]: the session subject of a claimed
// connection goes.
func (b *Backplane) SessionEnded(_, tok string) {
	b.forward.mu.Lock()
	sub := b.forward.located[tok]
	delete(b.forward.located, tok)
	b.forward.mu.Unlock()
	if sub != nil {
		sub.Unsubscribe()
	}
}

// ClaimSession implements [hub.SessionForwarder]: it asks the node serving the
// connection's session subject, else the node named in the token, to release
// the session, and for Server-Sent Events and stateful
// connections serves the connection's session subject from now on.
func (b *Backplane) ClaimSession(ctx context.Context, hubName, tok string, kind transports.Kind, userID string) (hub.SessionInfo, error) {
	if !b.Healthy() {
		return hub.SessionInfo{}, fmt.Errorf("nats backplane: claim connection: %w", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	// A connection claimed before (a stateful one whose link is resumed, maybe
	// on the node that negotiated it) is served on its session subject: its
	// holder answers that it is active.
	claim := &forwarding.Message{Type: forwarding.TypeClaim, Hub: hubName, Token: tok, User: userID}
	reply, err := b.call(ctx, "", b.sessionSubject(hubName, tok), claim)
	if node := nodeOf(tok); errors.Is(err, errNodeGone) && node != "" && node != b.nodeID {
		reply, err = b.call(ctx, node, b.nodeSubject(node), claim)
	}
	switch {
	case errors.Is(err, errNodeGone):
		return hub.SessionInfo{}, fmt.Errorf("nats backplane: claim connection: %w", hub.ErrSessionNotFound)
	case err != nil:
		return hub.SessionInfo{}, fmt.Errorf("nats backplane: claim connection: %w", err)
	}
	if err := forwarding.Refused("nats backplane: claim connection", reply); err != nil {
		return hub.SessionInfo{}, err
	}
	if reply.Session == nil {
		return hub.SessionInfo{}, errors.New("nats backplane: claim connection: no session in the reply")
	}
	if kind == transports.ServerSentEvents || reply.Session.Stateful {
		sub, err := b.nc.ChanSubscribe(b.sessionSubject(hubName, tok), b.forward.requests)
		if err == nil {
			err = b.nc.FlushWithContext(ctx)
		}
		if err != nil {
			// The session was released to us; unreachable, its POSTs would not find
			// it, so the stream cannot open.
			if sub != nil {
				sub.Unsubscribe()
			}
			return hub.SessionInfo{}, fmt.Errorf("nats backplane: serve connection: %w", err)
		}
		b.forward.mu.Lock()
		b.forward.located[tok] = sub
		b.forward.mu.Unlock()
	}
	return *reply.Session, nil
}

// ForwardRequest implements [hub.SessionForwarder]: the request goes to the
// connection's session subject, else (nobody serves it) to the node named in
// the token. The reply is the owner's response, or 404 (no such node or
// connection, or the owner died meanwhile), 503 (NATS down, owner busy), 504 (no
// answer within ForwardTimeout, or the hub's PollTimeout for a poll, plus
// OpTimeout) or 413 (body over MaxForwardedBody).
func (b *Backplane) ForwardRequest(w http.ResponseWriter, r *http.Request, hubName, tok string) {
	if !b.Healthy() {
		http.Error(w, "Cluster unavailable", http.StatusServiceUnavailable)
		return
	}
	req := forwarding.Request(w, r, hubName, b.opts.MaxForwardedBody)
	if req == nil {
		return
	}
	timeout := b.opts.ForwardTimeout
	if sessions := b.sessions(hubName); sessions != nil && r.Method == http.MethodGet {
		timeout = min(timeout, sessions.PollTimeout())
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout+b.opts.OpTimeout)
	defer cancel()
	reply, err := b.call(ctx, "", b.sessionSubject(hubName, tok), req)
	if node := nodeOf(tok); errors.Is(err, errNodeGone) && node != "" && node != b.nodeID {
		reply, err = b.call(ctx, node, b.nodeSubject(node), req)
	}
	switch {
	case errors.Is(err, errNodeGone):
		http.Error(w, "No Connection with that ID", http.StatusNotFound)
		return
	case errors.Is(err, context.DeadlineExceeded):
		http.Error(w, "The node holding the connection did not answer", http.StatusGatewayTimeout)
		return
	case errors.Is(err, natsgo.ErrMaxPayload):
		http.Error(w, "Request too large to forward to the node holding the connection", http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		if r.Context().Err() == nil {
			http.Error(w, "Cluster unavailable", http.StatusServiceUnavailable)
		}
		return
	case reply.Err == forwarding.ErrBusy:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "The node holding the connection is busy", http.StatusServiceUnavailable)
		return
	}
	forwarding.WriteResponse(w, reply)
}

// call sends req to subject (served by node, "" when unknown) and waits for the
// reply or ctx. It numbers req unless it has a number already. It fails with errNodeGone when nobody serves subject or when
// node is found gone meanwhile; a forwarded HTTP request whose ctx ends first is
// cancelled on the node serving it.
func (b *Backplane) call(ctx context.Context, node, subject string, req *forwarding.Message) (*forwarding.Message, error) {
	if req.ID == 0 {
		req.ID = b.nextCall.Add(1)
	}
	req.From = b.nodeID
	data, err := forwarding.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("nats backplane: encode request: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	b.forward.mu.Lock()
	b.forward.calls[req.ID] = &call{node: node, cancel: cancel}
	b.forward.mu.Unlock()
	defer func() {
		b.forward.mu.Lock()
		delete(b.forward.calls, req.ID)
		b.forward.mu.Unlock()
	}()
	m, err := b.request(ctx, subject, data)
	switch {
	case errors.Is(err, natsgo.ErrNoResponders):
		return nil, errNodeGone
	case err != nil:
		cause := context.Cause(ctx)
		if errors.Is(cause, errNodeGone) || errors.Is(cause, ErrUnavailable) {
			return nil, cause
		}
		if req.Type == forwarding.TypeHTTP && ctx.Err() != nil && b.Healthy() {
			stop, _ := forwarding.Marshal(&forwarding.Message{Type: forwarding.TypeCancel, ID: req.ID, From: b.nodeID})
			b.nc.Publish(subject, stop)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("nats backplane: request: %w", err)
	}
	var reply forwarding.Message
	if err := forwarding.Unmarshal(m, &reply); err != nil {
		return nil, fmt.Errorf("nats backplane: decode reply: %w", err)
	}
	return &reply, nil
}

// Replies over max_payload (a forwarded poll's answer may hold all a connection
// queued, base64 in JSON) go in parts, each a message starting with
// partMore or, the last, partLast: never '{', which starts a whole reply.
const (
	partMore = '+'
	partLast = '.'
)

// request publishes data on subject and returns the reply, put together from
// its parts.
func (b *Backplane) request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	inbox := b.nc.NewRespInbox()
	sub, err := b.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := b.nc.PublishRequest(subject, inbox, data); err != nil {
		return nil, err
	}
	var parts []byte
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, err
		}
		if len(m.Data) == 0 || (m.Data[0] != partMore && m.Data[0] != partLast) {
			return m.Data, nil
		}
		parts = append(parts, m.Data[1:]...)
		if m.Data[0] == partLast {
			return parts, nil
		}
	}
}

// serveLoop hands the requests of session subjects to serveRPC.
func (b *Backplane) serveLoop() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case m := <-b.forward.requests:
			b.serveRPC(m)
		}
	}
}

// serveRPC handles a request on this node's subject or a session subject. It
// runs on the subscription's goroutine, so it never waits: requests are served
// on goroutines of their own, at most MaxForwardedRequests at once.
func (b *Backplane) serveRPC(m *natsgo.Msg) {
	var req forwarding.Message
	if err := forwarding.Unmarshal(m.Data, &req); err != nil {
		b.log.Warn("nats backplane: dropping an undecodable request", "err", err)
		return
	}
	key := req.From + "/" + strconv.FormatUint(req.ID, 10)
	switch req.Type {
	case forwarding.TypeCancel:
		b.forward.mu.Lock()
		cancel := b.forward.serving[key]
		b.forward.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		return
	case forwarding.TypeRelayUp, forwarding.TypeRelayDown, forwarding.TypeRelayEndUp, forwarding.TypeRelayEndDown:
		b.receiveRelay(&req)
		return
	case forwarding.TypeHTTP, forwarding.TypeClaim, forwarding.TypeRelayOpen:
	default:
		return
	}
	select {
	case b.forward.slots <- struct{}{}:
	default:
		b.respond(m, &forwarding.Message{Err: forwarding.ErrBusy})
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.forward.slots }()
		switch req.Type {
		case forwarding.TypeClaim:
			b.respond(m, forwarding.Claim(b.sessions(req.Hub), &req))
		case forwarding.TypeRelayOpen:
			b.respond(m, b.serveRelayOpen(&req))
		default:
			if reply := b.serveHTTP(&req, key); reply != nil {
				b.respond(m, reply)
			}
		}
	}()
}

// respond answers a request, naming this node: in one message, or in parts
// when it does not fit in one.
func (b *Backplane) respond(m *natsgo.Msg, reply *forwarding.Message) {
	reply.From = b.nodeID
	data, _ := forwarding.Marshal(reply)
	size := int(b.nc.MaxPayload()) - 1
	if len(data) <= size {
		m.Respond(data)
		return
	}
	for len(data) > 0 {
		n := min(len(data), size)
		part := make([]byte, 0, 1+n)
		if n < len(data) {
			part = append(part, partMore)
		} else {
			part = append(part, partLast)
		}
		if err := b.nc.Publish(m.Reply, append(part, data[:n]...)); err != nil {
			b.log.Warn("nats backplane: answering a forwarded request", "err", err)
			return
		}
		data = data[n:]
	}
}

// serveHTTP serves a forwarded request (forwarding.Serve), cancelled when the
// requester says so; nil when it did.
func (b *Backplane) serveHTTP(req *forwarding.Message, key string) *forwarding.Message {
	sessions := b.sessions(req.Hub)
	if sessions == nil {
		return forwarding.NotFound()
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.opts.ForwardTimeout)
	defer cancel()
	b.forward.mu.Lock()
	b.forward.serving[key] = cancel
	b.forward.mu.Unlock()
	defer func() {
		b.forward.mu.Lock()
		delete(b.forward.serving, key)
		b.forward.mu.Unlock()
	}()
	return forwarding.Serve(ctx, b.ctx, sessions, req)
}
