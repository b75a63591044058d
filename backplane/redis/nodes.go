package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// heartbeatLoop keeps this node's liveness key fresh, repairs this node's
// membership records after an outage, deletes the session records of ended
// connections, and purges the memberships of nodes whose liveness key expired
// (crashed without Close). It runs every HeartbeatInterval, and at once when
// Redis comes back.
func (b *Backplane) heartbeatLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		case <-b.wake:
		}
		if !b.Healthy() {
			continue
		}
		ctx, cancel := context.WithTimeout(b.ctx, b.opts.HeartbeatInterval)
		b.heartbeat(ctx)
		cancel()
	}
}

func (b *Backplane) heartbeat(ctx context.Context) {
	var added *goredis.IntCmd
	_, err := b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, b.aliveKey(b.nodeID), time.Now().UnixMilli(), b.opts.NodeTTL)
		added = p.SAdd(ctx, b.nodesKey(), b.nodeID)
		return nil
	})
	if err != nil {
		b.distrustVerdicts()
		b.log.Debug("redis backplane: heartbeat failed", "err", err)
		return
	}
	b.trustVerdictsAfterGrace()
	if added.Val() == 1 && b.beats > 0 {
		// Another node took this one for dead and purged it.
		b.log.Warn("redis backplane: this node was purged by another (heartbeats late?); restoring its records", "node", b.nodeID)
		b.needResync.Store(true)
	}
	b.beats++
	if b.needResync.Swap(false) {
		if err := b.resync(ctx); err != nil {
			b.needResync.Store(true)
			b.log.Debug("redis backplane: membership resync failed", "err", err)
		}
	}
	b.flushEnded(ctx)
	b.purgeDead(ctx)
	b.checkSubscriptions(ctx)
}

// resync makes Redis hold exactly this node's memberships: the mirror is written
// again and entries Redis has but the mirror lacks (removals that failed) go.
func (b *Backplane) resync(ctx context.Context) error {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	want := map[string]struct{}{}
	b.membersMu.Lock()
	for hubName, groups := range b.members {
		for group, conns := range groups {
			for id := range conns {
				want[memberEntry(hubName, group, id)] = struct{}{}
			}
		}
	}
	b.membersMu.Unlock()
	have, err := b.rdb.SMembers(ctx, b.membershipKey(b.nodeID)).Result()
	if err != nil {
		return err
	}
	_, err = b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, e := range have {
			if _, ok := want[e]; ok {
				continue
			}
			if hubName, group, id, ok := parseMemberEntry(e); ok {
				p.SRem(ctx, b.groupKey(hubName, group), id)
			}
			p.SRem(ctx, b.membershipKey(b.nodeID), e)
		}
		for e := range want {
			hubName, group, id, _ := parseMemberEntry(e)
			p.SAdd(ctx, b.groupKey(hubName, group), id)
			p.SAdd(ctx, b.membershipKey(b.nodeID), e)
		}
		return nil
	})
	return err
}

// purgeDead purges the nodes whose liveness key has expired.
func (b *Backplane) purgeDead(ctx context.Context) {
	if !b.verdictsTrusted() {
		return
	}
	nodes, err := b.rdb.SMembers(ctx, b.nodesKey()).Result()
	if err != nil {
		return
	}
	alive := make(map[string]*goredis.IntCmd, len(nodes))
	_, err = b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, id := range nodes {
			if id != b.nodeID {
				alive[id] = p.Exists(ctx, b.aliveKey(id))
			}
		}
		return nil
	})
	if err != nil {
		return
	}
	for id, cmd := range alive {
		if cmd.Val() == 0 {
			b.log.Info("redis backplane: purging the memberships of a dead node", "node", id)
			b.declareDead(id, "its liveness key expired")
			b.purgeNode(ctx, id)
		}
	}
}

// purgeNode removes a node's memberships and liveness. Idempotent: several nodes
// may purge the same dead node at once.
func (b *Backplane) purgeNode(ctx context.Context, id string) {
	entries, err := b.rdb.SMembers(ctx, b.membershipKey(id)).Result()
	if err != nil {
		return
	}
	b.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, e := range entries {
			if hubName, group, conn, ok := parseMemberEntry(e); ok {
				p.SRem(ctx, b.groupKey(hubName, group), conn)
			}
		}
		b.del(ctx, p, b.membershipKey(id), b.aliveKey(id))
		p.SRem(ctx, b.nodesKey(), id)
		return nil
	})
}

// del deletes keys: one DEL, or on Redis Cluster one DEL a key, since the keys
// may lie in several slots, which one command cannot span (CROSSSLOT). In a
// pipeline, they go in one round trip still.
func (b *Backplane) del(ctx context.Context, p goredis.Cmdable, keys ...string) {
	if !b.sharded() {
		p.Del(ctx, keys...)
		return
	}
	for _, k := range keys {
		p.Del(ctx, k)
	}
}
