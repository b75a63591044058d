package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"
)

// Following the master. A subscription connection stays where it was made, and
// nothing tells it that its server stopped being the master when the old master
// lives on: a graceful failover (SENTINEL FAILOVER, CLUSTER FAILOVER, a master
// back from a network partition). Publishes follow the new master (go-redis
// drops its pooled connections to the old one on Sentinel's switch-master, and
// follows MOVED on Redis Cluster), so until Sentinel has the old master drop its
// clients (when it next reconfigures it, ~10 s) every envelope would go where
// nobody listens, and each Publish would return nil. On Redis Cluster a replica
// even accepts SSUBSCRIBE for its master's slots, so a partition that
// reconnects with a stale view of the slots may subscribe on the demoted master
// for good.
//
// So every heartbeat checks that the master, as the client sees it, counts this
// node's subscription on each partition: a channel only this node subscribes
// to (its node channel; on Redis Cluster the partition's anchor, which carries
// the node ID) must have one subscriber there (PUBSUB NUMSUB, SHARDNUMSUB). A
// partition whose subscription, confirmed on its current connection, is not
// seen is connected again, to the master. On Redis Cluster the client's view of
// the slots is reloaded at each check, so that it is at most one heartbeat old.

// checkSubscriptions reconnects the partitions whose subscription the master
// does not see.
func (b *Backplane) checkSubscriptions(ctx context.Context) {
	type snapshot struct {
		p   *partition
		gen uint64
	}
	var parts []snapshot
	b.mu.Lock()
	for _, p := range b.parts {
		if p.up.Load() && p.ps != nil {
			parts = append(parts, snapshot{p, p.gen})
		}
	}
	b.mu.Unlock()
	if len(parts) == 0 {
		return
	}
	counts := make(map[string]int64, len(parts))
	if cc, ok := b.rdb.(*goredis.ClusterClient); ok {
		cc.ReloadState(ctx)
		byMaster := map[*goredis.Client][]string{}
		for _, s := range parts {
			master, err := cc.MasterForKey(ctx, s.p.probe)
			if err != nil {
				return // no verdict
			}
			byMaster[master] = append(byMaster[master], s.p.probe)
		}
		for master, probes := range byMaster {
			n, err := master.PubSubShardNumSub(ctx, probes...).Result()
			if err != nil {
				return
			}
			for _, ch := range probes {
				counts[ch] = n[ch]
			}
		}
	} else {
		n, err := b.rdb.PubSubNumSub(ctx, parts[0].p.probe).Result()
		if err != nil {
			return
		}
		counts = n
	}
	for _, s := range parts {
		if counts[s.p.probe] > 0 {
			continue
		}
		b.mu.Lock()
		if s.p.gen == s.gen && s.p.ps != nil {
			b.log.Warn("redis backplane: the master does not see this node's subscription (a failover?); subscribing again", "node", b.nodeID, "partition", s.p.index)
			s.p.ps.Close() // its reader ends and reconnects
		}
		b.mu.Unlock()
	}
}
