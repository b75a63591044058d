package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Relays to a node that dies.
//
// A request relayed to another node (call) waits for that node's reply. When the
// node dies, no reply comes: without more, the request would wait for its whole
// timeout (a minute for a POST, a poll timeout for a long poll) while its client
// believes itself connected. So this node watches the nodes it awaits replies
// from: every HeartbeatInterval/2 it asks Redis, in one round trip, whether each
// of them still listens on its channel (PUBSUB NUMSUB) and still has its liveness
// key. A node found missing either on two checks in a row is declared dead: every
// request in flight to it is answered at once (404: its connections died with
// it), and so is every new one for NodeTTL. Two checks rather than one, so that a
// node whose subscription is being re-made after a blip (milliseconds) is not
// taken for dead.
//
// A process that dies (a crash, SIGKILL, an OOM kill) closes its connections to
// Redis, so its subscription goes at once: its relays are answered within
// HeartbeatInterval of its death (two checks) plus a Redis round trip. A node
// that stops without closing them (frozen, or cut off by the network with its
// TCP connections left half open) keeps its subscription until Redis notices; it
// is declared dead when its liveness key expires, NodeTTL after its last
// heartbeat. The heartbeat's purge of dead nodes declares them dead too.

// pendingCall is a request sent to another node, awaiting its reply.
type pendingCall struct {
	node   string
	result chan callResult // buffered: the first result wins, the others are dropped
}

// callResult is the reply to a call, or why none will come.
type callResult struct {
	reply *rpcMessage
	err   error
}

// errRedisLost fails the calls in flight when this node loses Redis: their
// replies, published on this node's channel, could not reach it.
var errRedisLost = fmt.Errorf("%w: the connection to Redis was lost while waiting for another node", ErrUnavailable)

// ownerCheckInterval is how often the nodes this node awaits replies from are
// checked.
func (b *Backplane) ownerCheckInterval() time.Duration { return b.opts.HeartbeatInterval / 2 }

// watchOwnersLoop checks, every ownerCheckInterval, that the nodes this node has
// requests in flight to are alive, and declares dead those found missing twice in
// a row.
func (b *Backplane) watchOwnersLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.ownerCheckInterval())
	defer t.Stop()
	suspects := map[string]bool{} // found missing at the last check
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		nodes := b.awaitedNodes()
		if len(nodes) == 0 || !b.Healthy() || !b.verdictsTrusted() {
			clear(suspects)
			continue
		}
		ctx, cancel := context.WithTimeout(b.ctx, b.opts.OpTimeout)
		missing, err := b.missingNodes(ctx, nodes)
		cancel()
		if err != nil {
			continue // no verdict; the subscription judges Redis's health
		}
		next := make(map[string]bool, len(missing))
		for _, node := range missing {
			if suspects[node] {
				b.declareDead(node, "it no longer listens on its channel or heartbeats")
			} else {
				next[node] = true
			}
		}
		suspects = next
	}
}

// awaitedNodes returns the nodes this node has requests in flight to or links
// relayed with (relay.go), and forgets
// the dead nodes declared longer than NodeTTL ago.
func (b *Backplane) awaitedNodes() []string {
	b.callsMu.Lock()
	defer b.callsMu.Unlock()
	now := time.Now()
	for node, since := range b.dead {
		if now.Sub(since) >= b.opts.NodeTTL {
			delete(b.dead, node)
		}
	}
	seen := map[string]bool{}
	var nodes []string
	for _, pc := range b.calls {
		if !seen[pc.node] {
			seen[pc.node] = true
			nodes = append(nodes, pc.node)
		}
	}
	b.relaysMu.Lock() // lock order: callsMu, then relaysMu
	for key := range b.relays {
		if !seen[key.peer] {
			seen[key.peer] = true
			nodes = append(nodes, key.peer)
		}
	}
	b.relaysMu.Unlock()
	return nodes
}

// missingNodes returns the nodes among nodes that have no subscriber on their
// channel or no liveness key, in one round trip (on Redis Cluster, one more per
// node: each channel's subscribers are counted on its shard).
func (b *Backplane) missingNodes(ctx context.Context, nodes []string) ([]string, error) {
	channels := make([]string, len(nodes))
	for i, node := range nodes {
		channels[i], _ = b.nodeChannel(node)
	}
	var subscribers *goredis.MapStringIntCmd
	alive := make([]*goredis.IntCmd, len(nodes))
	_, err := b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		if !b.sharded() {
			subscribers = p.PubSubNumSub(ctx, channels...)
		}
		for i, node := range nodes {
			alive[i] = p.Exists(ctx, b.aliveKey(node))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis backplane: check nodes: %w", err)
	}
	var counts map[string]int64
	if subscribers != nil {
		counts = subscribers.Val()
	} else if counts, err = b.shardSubscribers(ctx, channels); err != nil {
		return nil, fmt.Errorf("redis backplane: check nodes: %w", err)
	}
	var missing []string
	for i, node := range nodes {
		if counts[channels[i]] == 0 || alive[i].Val() == 0 {
			missing = append(missing, node)
		}
	}
	return missing, nil
}

// shardSubscribers counts the subscribers of each sharded channel on the shard
// that serves it (PUBSUB SHARDNUMSUB answers for its own node only).
func (b *Backplane) shardSubscribers(ctx context.Context, channels []string) (map[string]int64, error) {
	cc := b.rdb.(*goredis.ClusterClient)
	counts := make(map[string]int64, len(channels))
	for _, ch := range channels {
		master, err := cc.MasterForKey(ctx, ch)
		if err != nil {
			return nil, err
		}
		n, err := master.PubSubShardNumSub(ctx, ch).Result()
		if err != nil {
			return nil, err
		}
		counts[ch] = n[ch]
	}
	return counts, nil
}

// Verdicts after an outage. While this node cannot reach Redis (its subscription
// is down, or a heartbeat fails), neither can the others, maybe: their liveness
// keys expire and their subscriptions go as they wait to reconnect. That proves
// nothing of their death, and taking a live node for dead would answer the
// requests forwarded to it 404, which ends their clients' connections. So from
// an outage until a grace of NodeTTL plus ReconnectMaxDelay after this node's
// first heartbeat that succeeds again (the time for every live node to
// reconnect, its backoff at its longest, and heartbeat) this node declares no
// node dead and purges none. A node that dies meanwhile is found after the
// grace. On Redis Cluster the node registry (the nodes set and every liveness
// key) lies in one slot, so that this node's heartbeat succeeding means the
// shard of every liveness key is reachable.

const distrusted = -1

// distrustVerdicts starts an outage: no verdict until a grace after its end.
func (b *Backplane) distrustVerdicts() { b.verdictsFrom.Store(distrusted) }

// trustVerdictsAfterGrace ends an outage, if one was going on, with a heartbeat
// that succeeded: verdicts resume after the grace.
func (b *Backplane) trustVerdictsAfterGrace() {
	grace := b.opts.NodeTTL + b.opts.ReconnectMaxDelay
	b.verdictsFrom.CompareAndSwap(distrusted, time.Now().Add(grace).UnixNano())
}

// verdictsTrusted reports whether this node may take another for dead.
func (b *Backplane) verdictsTrusted() bool {
	from := b.verdictsFrom.Load()
	return from != distrusted && time.Now().UnixNano() >= from
}

// declareDead answers every request in flight to node with errNodeGone, and
// every new one for NodeTTL.
func (b *Backplane) declareDead(node, why string) {
	b.callsMu.Lock()
	_, known := b.dead[node]
	b.dead[node] = time.Now()
	failed := b.failCallsLocked(node, errNodeGone)
	b.callsMu.Unlock()
	links := b.endRelays(node, fmt.Errorf("redis backplane: relayed link: %w", errNodeGone))
	if !known {
		b.log.Info("redis backplane: a node is gone with its connections; answering the requests forwarded to it 404", "node", node, "why", why, "requests_failed", failed, "links_ended", links)
	}
}

// failCalls answers the calls in flight to node (every call for node "") with
// err.
func (b *Backplane) failCalls(node string, err error) {
	b.callsMu.Lock()
	defer b.callsMu.Unlock()
	b.failCallsLocked(node, err)
}

func (b *Backplane) failCallsLocked(node string, err error) int {
	n := 0
	for _, pc := range b.calls {
		if node == "" || pc.node == node {
			select {
			case pc.result <- callResult{err: err}:
				n++
			default: // answered already
			}
		}
	}
	return n
}
