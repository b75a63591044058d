package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Redis Cluster of the redis-cluster backplane: 3 masters and a replica of each.
const (
	redisClusterMasters  = 3
	redisClusterReplicas = 1 // per master
	redisClusterTimeout  = 30 * time.Second
)

// redisCluster is a Redis Cluster hubbench started for a run: cluster-enabled
// redis-servers on free loopback ports, the slots split evenly over the masters.
type redisCluster struct {
	masters, replicas []*redisProcess
}

// startRedisCluster starts a Redis Cluster of redisClusterMasters masters with
// redisClusterReplicas replicas each, and waits until every node says
// cluster_state:ok and every master has its replicas. The seam to
// internal/redistest's StartCluster (see startRedis).
func startRedisCluster(bin string) (c *redisCluster, err error) {
	c = &redisCluster{}
	defer func() {
		if err != nil {
			c.stop()
			c = nil
		}
	}()
	for i := range redisClusterMasters * (1 + redisClusterReplicas) {
		p, err := startRedis(bin, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		if err != nil {
			return nil, fmt.Errorf("redis cluster: %w", err)
		}
		if i < redisClusterMasters {
			c.masters = append(c.masters, p)
		} else {
			c.replicas = append(c.replicas, p)
		}
	}
	all := c.nodes()
	ids := make([]string, len(all))
	for i, p := range all {
		if ids[i], err = redisCommand(p.addr, "CLUSTER", "MYID"); err != nil {
			return nil, fmt.Errorf("redis cluster: %s: CLUSTER MYID: %w", p.addr, err)
		}
	}
	for i, p := range c.masters {
		from, to := i*16384/len(c.masters), (i+1)*16384/len(c.masters)-1
		if _, err := redisCommand(p.addr, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(from), strconv.Itoa(to)); err != nil {
			return nil, fmt.Errorf("redis cluster: %s: CLUSTER ADDSLOTSRANGE: %w", p.addr, err)
		}
	}
	for _, p := range all[1:] {
		host, port, _ := strings.Cut(p.addr, ":")
		if _, err := redisCommand(all[0].addr, "CLUSTER", "MEET", host, port); err != nil {
			return nil, fmt.Errorf("redis cluster: CLUSTER MEET %s: %w", p.addr, err)
		}
	}
	deadline := time.Now().Add(redisClusterTimeout)
	// A replica can follow its master once it knows it.
	if err := waitRedis(deadline, c.replicas, func(info string) bool { return strings.Count(info, "\n") >= len(all) }, "CLUSTER", "NODES"); err != nil {
		return nil, fmt.Errorf("redis cluster: the nodes did not meet: %w", err)
	}
	for i, p := range c.replicas {
		if _, err := redisCommand(p.addr, "CLUSTER", "REPLICATE", ids[i%len(c.masters)]); err != nil {
			return nil, fmt.Errorf("redis cluster: %s: CLUSTER REPLICATE: %w", p.addr, err)
		}
	}
	if err := waitRedis(deadline, all, func(info string) bool { return strings.Contains(info, "cluster_state:ok") }, "CLUSTER", "INFO"); err != nil {
		return nil, fmt.Errorf("redis cluster: not ok: %w", err)
	}
	if err := waitRedis(deadline, c.masters, func(info string) bool {
		return strings.Contains(info, fmt.Sprintf("connected_slaves:%d", redisClusterReplicas))
	}, "INFO", "replication"); err != nil {
		return nil, fmt.Errorf("redis cluster: replicas not connected: %w", err)
	}
	return c, nil
}

// waitRedis waits until every server's reply to args satisfies ok, until deadline.
func waitRedis(deadline time.Time, servers []*redisProcess, ok func(string) bool, args ...string) error {
	for _, p := range servers {
		for {
			reply, err := redisCommand(p.addr, args...)
			if err == nil && ok(reply) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: %s: %q %v", p.addr, strings.Join(args, " "), reply, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func (c *redisCluster) nodes() []*redisProcess {
	return append(append([]*redisProcess(nil), c.masters...), c.replicas...)
}

// url is the redis+cluster:// URL of backplane/redis, naming every master.
func (c *redisCluster) url() string {
	var hosts []string
	for _, p := range c.masters {
		hosts = append(hosts, p.addr)
	}
	return "redis+cluster://" + strings.Join(hosts, ",")
}

// addrs are every node's address, masters first.
func (c *redisCluster) addrs() []string {
	var out []string
	for _, p := range c.nodes() {
		out = append(out, p.addr)
	}
	return out
}

// stop ends the cluster's servers (only them, by their processes).
func (c *redisCluster) stop() {
	for _, p := range c.nodes() {
		p.stop()
	}
}
