// Package clustertest starts a cluster of hub nodes sharing one Redis behind a
// round-robin reverse proxy with no stickiness: the shared
// internal/clustertest on Redis backplanes, for the Redis backplane's tests.
package clustertest

import (
	"context"
	"log/slog"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest"
)

// Cluster and Node are the shared ones on Redis backplanes.
type (
	Cluster = clustertest.Cluster[*redis.Backplane]
	Node    = clustertest.Node[*redis.Backplane]
)

// Config describes a cluster. Zero fields take the defaults written beside them.
type Config struct {
	// RedisURL is the Redis all nodes share. Required.
	RedisURL string
	// Prefix namespaces the cluster's Redis keys and channels. Required: use a
	// random one per test.
	Prefix string
	// Nodes is the number of hub nodes. Default 3.
	Nodes int
	// ProxyAddr is where the proxy listens. Default 127.0.0.1:0.
	ProxyAddr string
	// JWTSecret, when set, is the HS256 secret of /hubs/secure; unset refuses every token.
	JWTSecret string
	// Hub is applied to the options of every hub before it is made (timeouts…).
	Hub func(*hub.Options)
	// Backplane is applied to the options of every backplane (intervals…).
	Backplane func(*redis.Options)
	// Logger receives the nodes' logs. Default: discarded.
	Logger *slog.Logger
}

// Start starts the nodes and the proxy and waits until every backplane is
// connected to Redis.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	return clustertest.Start(ctx, clustertest.Config[*redis.Backplane]{
		NewBackplane: func(_ int, logger *slog.Logger) (*redis.Backplane, error) {
			o := redis.Options{URL: cfg.RedisURL, Prefix: cfg.Prefix, Logger: logger}
			if cfg.Backplane != nil {
				cfg.Backplane(&o)
			}
			return redis.New(o)
		},
		Nodes: cfg.Nodes, ProxyAddr: cfg.ProxyAddr, JWTSecret: cfg.JWTSecret, Hub: cfg.Hub, Logger: cfg.Logger,
	})
}
