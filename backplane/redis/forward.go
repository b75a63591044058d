package redis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hubbub-go/hubbub/backplane/internal/forwarding"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// rpcMessage is one message of the forwarding protocol between nodes, published
// on the receiving node's channel.
type rpcMessage = forwarding.Message

const (
	rpcHTTP   = forwarding.TypeHTTP
	rpcClaim  = forwarding.TypeClaim
	rpcCancel = forwarding.TypeCancel
	rpcReply  = forwarding.TypeReply

	errNotFound = forwarding.ErrNotFound
	errBusy     = forwarding.ErrBusy
)

// errNodeGone means no node listens on the channel of the node a session names.
var errNodeGone = errors.New("redis backplane: the node holding the connection is gone")

// NewConnectionToken implements [hub.SessionForwarder]: this node's ID followed by
// 22 random base64url characters.
func (b *Backplane) NewConnectionToken(string) string { return b.nodeID + transports.NewToken() }

// nodeOf returns the node a token names, or "".
func nodeOf(token string) string {
	if len(token) <= nodeIDLen {
		return ""
	}
	return token[:nodeIDLen]
}

// ServeSessions implements [hub.SessionForwarder].
func (b *Backplane) ServeSessions(hubName string, sessions hub.LocalSessions) func() {
	b.mu.Lock()
	st := b.hubs[hubName]
	if st == nil {
		// Attach failed or was not called: serve the sessions all the same.
		st = &hubState{deliver: func(*hub.Envelope) {}}
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

// SessionEnded implements [hub.SessionForwarder]: the session record this node
// wrote for the connection, if any, is deleted with the next heartbeat.
func (b *Backplane) SessionEnded(_, token string) {
	b.callsMu.Lock()
	defer b.callsMu.Unlock()
	if key, ok := b.located[token]; ok {
		delete(b.located, token)
		b.ended = append(b.ended, key)
	}
}

// flushEnded deletes the session records of ended connections.
func (b *Backplane) flushEnded(ctx context.Context) {
	b.callsMu.Lock()
	keys := b.ended
	b.ended = nil
	b.callsMu.Unlock()
	if len(keys) == 0 {
		return
	}
	_, err := b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		b.del(ctx, p, keys...)
		return nil
	})
	if err != nil {
		// They expire after SessionTTL anyway; try again next time.
		b.callsMu.Lock()
		b.ended = append(b.ended, keys...)
		b.callsMu.Unlock()
	}
}

// ClaimSession implements [hub.SessionForwarder]: it asks the node that holds the
// session (the session record's, else the token's) to release it, and for
// Server-Sent Events (whose POSTs will land anywhere) and stateful connections
// (whose links may be resumed anywhere) records in Redis that the connection now
// lives here.
func (b *Backplane) ClaimSession(ctx context.Context, hubName, token string, kind transports.Kind, userID string) (hub.SessionInfo, error) {
	if !b.Healthy() {
		return hub.SessionInfo{}, fmt.Errorf("redis backplane: claim connection: %w", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout*2)
	defer cancel()
	node, err := b.owner(ctx, hubName, token)
	switch {
	case err != nil:
		return hub.SessionInfo{}, fmt.Errorf("redis backplane: claim connection: %w", err)
	case node == "" || node == b.nodeID:
		return hub.SessionInfo{}, hub.ErrSessionNotFound
	}
	reply, err := b.call(ctx, node, &rpcMessage{Type: rpcClaim, Hub: hubName, Token: token, User: userID})
	switch {
	case errors.Is(err, errNodeGone):
		return hub.SessionInfo{}, fmt.Errorf("redis backplane: claim connection: %w", hub.ErrSessionNotFound)
	case err != nil:
		return hub.SessionInfo{}, fmt.Errorf("redis backplane: claim connection: %w", err)
	}
	if err := forwarding.Refused("redis backplane: claim connection", reply); err != nil {
		return hub.SessionInfo{}, err
	}
	if reply.Session == nil {
		return hub.SessionInfo{}, errors.New("redis backplane: claim connection: no session in the reply")
	}
	if kind == transports.ServerSentEvents || reply.Session.Stateful {
		key := b.locationKey(hubName, token)
		if err := b.rdb.Set(ctx, key, b.nodeID, b.opts.SessionTTL).Err(); err != nil {
			// The session was released to us; without the record its POSTs would
			// not find it, so the stream cannot open.
			return hub.SessionInfo{}, fmt.Errorf("redis backplane: record connection: %w", err)
		}
		b.callsMu.Lock()
		b.located[token] = key
		b.callsMu.Unlock()
	}
	return *reply.Session, nil
}

// ForwardRequest implements [hub.SessionForwarder]. The owner is the node the
// session record names, else the node named in the token. The reply is the
// owner's response, or 404 (no such node, or the owner died meanwhile: see
// liveness.go), 503 (Redis down, owner busy), 504 (no answer within
// ForwardTimeout, or the hub's PollTimeout for a poll, plus OpTimeout) or 413
// (body over MaxForwardedBody).
func (b *Backplane) ForwardRequest(w http.ResponseWriter, r *http.Request, hubName, token string) {
	if !b.Healthy() {
		http.Error(w, "Cluster unavailable", http.StatusServiceUnavailable)
		return
	}
	node, err := b.owner(r.Context(), hubName, token)
	if err != nil {
		http.Error(w, "Cluster unavailable", http.StatusServiceUnavailable)
		return
	}
	if node == "" || node == b.nodeID {
		http.Error(w, "No Connection with that ID", http.StatusNotFound)
		return
	}
	req := forwarding.Request(w, r, hubName, b.opts.MaxForwardedBody)
	if req == nil {
		return
	}
	// The owner holds a poll up to its hub's PollTimeout: a poll not answered by
	// then and a Redis round trip is stuck, and waiting on would keep a client that
	// believes itself connected waiting for nothing.
	timeout := b.opts.ForwardTimeout
	if sessions := b.sessions(hubName); sessions != nil && r.Method == http.MethodGet {
		timeout = min(timeout, sessions.PollTimeout())
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout+b.opts.OpTimeout)
	defer cancel()
	reply, err := b.call(ctx, node, req)
	switch {
	case errors.Is(err, errNodeGone):
		http.Error(w, "No Connection with that ID", http.StatusNotFound)
		return
	case errors.Is(err, context.DeadlineExceeded):
		http.Error(w, "The node holding the connection did not answer", http.StatusGatewayTimeout)
		return
	case err != nil:
		if r.Context().Err() == nil {
			http.Error(w, "Cluster unavailable", http.StatusServiceUnavailable)
		}
		return
	case reply.Err == errBusy:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "The node holding the connection is busy", http.StatusServiceUnavailable)
		return
	}
	forwarding.WriteResponse(w, reply)
}

// owner is the node that holds the session of token.
func (b *Backplane) owner(ctx context.Context, hubName, token string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	node, err := b.rdb.Get(ctx, b.locationKey(hubName, token)).Result()
	switch {
	case err == nil:
		return node, nil
	case errors.Is(err, goredis.Nil):
		return nodeOf(token), nil
	default:
		return "", fmt.Errorf("redis backplane: find connection: %w", err)
	}
}

// call sends a request to node and waits for its reply, or ctx. It numbers the
// request unless it has a number (from nextCall) already. When ctx ends
// first, the node is told to cancel the request. It fails with errNodeGone at once
// when nobody listens on node's channel or node is known dead, and as soon as node
// is declared dead while the call waits (see liveness.go).
func (b *Backplane) call(ctx context.Context, node string, req *rpcMessage) (*rpcMessage, error) {
	if req.ID == 0 {
		req.ID = b.nextCall.Add(1)
	}
	req.From = b.nodeID
	pc := &pendingCall{node: node, result: make(chan callResult, 1)}
	b.callsMu.Lock()
	if _, dead := b.dead[node]; dead {
		b.callsMu.Unlock()
		return nil, errNodeGone
	}
	b.calls[req.ID] = pc
	b.callsMu.Unlock()
	defer func() {
		b.callsMu.Lock()
		delete(b.calls, req.ID)
		b.callsMu.Unlock()
	}()
	n, err := b.send(ctx, node, req)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errNodeGone
	}
	select {
	case res := <-pc.result:
		return res.reply, res.err
	case <-ctx.Done():
		if req.Type == rpcHTTP {
			cctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
			b.send(cctx, node, &rpcMessage{Type: rpcCancel, ID: req.ID, From: b.nodeID})
			cancel()
		}
		return nil, ctx.Err()
	}
}

// send publishes m on node's channel and returns how many subscribers got it.
func (b *Backplane) send(ctx context.Context, node string, m *rpcMessage) (int64, error) {
	data, err := forwarding.Marshal(m)
	if err != nil {
		return 0, fmt.Errorf("redis backplane: encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, b.opts.OpTimeout)
	defer cancel()
	channel, _ := b.nodeChannel(node)
	n, err := b.publishCmd(ctx, b.rdb, channel, data).Result()
	if err != nil {
		return 0, fmt.Errorf("redis backplane: send to node %s: %w", node, err)
	}
	return n, nil
}

// receiveRPC handles a message on this node's channel. It runs on the subscriber
// goroutine, so it never waits: requests are served on goroutines of their own,
// at most MaxForwardedRequests at once.
func (b *Backplane) receiveRPC(payload string) {
	var m rpcMessage
	if err := forwarding.Unmarshal([]byte(payload), &m); err != nil {
		b.log.Warn("redis backplane: dropping an undecodable message", "err", err)
		return
	}
	switch m.Type {
	case rpcReply:
		b.callsMu.Lock()
		pc := b.calls[m.ID]
		b.callsMu.Unlock()
		if pc != nil {
			select {
			case pc.result <- callResult{reply: &m}:
			default:
			}
		}
	case rpcCancel:
		b.callsMu.Lock()
		cancel := b.serving[m.From+"/"+strconv.FormatUint(m.ID, 10)]
		b.callsMu.Unlock()
		if cancel != nil {
			cancel()
		}
	case rpcRelayUp, rpcRelayDown, rpcRelayEndUp, rpcRelayEndDown:
		b.receiveRelay(&m)
	case rpcHTTP, rpcClaim, rpcRelayOpen:
		select {
		case b.slots <- struct{}{}:
		default:
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				b.reply(&m, &rpcMessage{Err: errBusy})
			}()
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer func() { <-b.slots }()
			switch m.Type {
			case rpcClaim:
				b.serveClaim(&m)
			case rpcRelayOpen:
				b.serveRelayOpen(&m)
			default:
				b.serveHTTP(&m)
			}
		}()
	}
}

func (b *Backplane) reply(req, reply *rpcMessage) {
	reply.Type, reply.ID, reply.From = rpcReply, req.ID, b.nodeID
	ctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
	defer cancel()
	if _, err := b.send(ctx, req.From, reply); err != nil {
		b.log.Debug("redis backplane: reply lost", "to", req.From, "err", err)
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

func (b *Backplane) serveClaim(m *rpcMessage) {
	b.reply(m, forwarding.Claim(b.sessions(m.Hub), m))
}

// serveHTTP serves a forwarded request with the hub's ServeForwarded, buffering
// the response, and sends the response back.
func (b *Backplane) serveHTTP(m *rpcMessage) {
	sessions := b.sessions(m.Hub)
	if sessions == nil {
		b.reply(m, forwarding.NotFound())
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.opts.ForwardTimeout)
	defer cancel()
	key := m.From + "/" + strconv.FormatUint(m.ID, 10)
	b.callsMu.Lock()
	b.serving[key] = cancel
	b.callsMu.Unlock()
	defer func() {
		b.callsMu.Lock()
		delete(b.serving, key)
		b.callsMu.Unlock()
	}()
	if reply := forwarding.Serve(ctx, b.ctx, sessions, m); reply != nil {
		b.reply(m, reply)
	}
}
