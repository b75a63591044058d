package main

import (
	"context"
	"fmt"

	"github.com/hubbub-go/hubbub/internal/redistest"
)

// redisCluster is the Redis Cluster of the redis-cluster backplane, started for
// a run by internal/redistest: 3 masters and a replica of each, on free loopback
// ports.
type redisCluster struct {
	c *redistest.Cluster
}

// startRedisCluster starts the cluster with bin (--redis-server; redis-cli is
// found in PATH) and waits until every node is ok and every replica in sync.
func startRedisCluster(bin string) (*redisCluster, error) {
	if err := useRedisServer(bin); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	defer cancel()
	c, err := redistest.StartCluster(ctx, redistest.ClusterConfig{Masters: 3, ReplicasPerMaster: 1})
	if err != nil {
		return nil, fmt.Errorf("redis cluster: %w", err)
	}
	return &redisCluster{c: c}, nil
}

// url is the redis+cluster:// URL of backplane/redis, every node a seed.
func (c *redisCluster) url() string { return c.c.URL() }

// addrs are every node's address: readRedisStats adds up the masters among them.
func (c *redisCluster) addrs() []string {
	var out []string
	for _, n := range c.c.Nodes {
		out = append(out, n.Addr)
	}
	return out
}

// stop ends the cluster's servers (only them, by their process groups).
func (c *redisCluster) stop() { c.c.Close() }
