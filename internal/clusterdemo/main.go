// Command clusterdemo starts a Hubbub cluster on loopback for outside test suites:
// several hub nodes (the conformance hub at /hubs/conformance and /hubs/secure)
// sharing one Redis through the Redis backplane (or one NATS through the NATS
// backplane: --nats URL or HUBBUB_NATS_URL), behind a round-robin reverse proxy
// with no sticky sessions. It takes the flags of cmd/hubbub that the
// official-client suite passes (--addr is the proxy's address) and prints the same
// "listening on URL" line, so that suite runs against it unchanged:
//
//	go build -o /tmp/clusterdemo ./internal/clusterdemo
//	cd testdata/official && HUBBUB_BIN=/tmp/clusterdemo npm test
//	cd testdata/official && HUBBUB_NATS_URL=nats://127.0.0.1:4222 HUBBUB_BIN=/tmp/clusterdemo npm test
//
// Its Redis keys (NATS subjects) live under a random prefix (or --prefix); the
// Redis keys are deleted on exit (SIGINT/SIGTERM). The crash tests of the backplane run it as a node to SIGKILL.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hubbub-go/hubbub/backplane/nats"
	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest"
	"github.com/hubbub-go/hubbub/transports"
)

func main() {
	fs := flag.NewFlagSet("clusterdemo", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "the proxy's address")
	redisURL := fs.String("redis", envOr("HUBBUB_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL (env HUBBUB_REDIS_URL)")
	natsURL := fs.String("nats", os.Getenv("HUBBUB_NATS_URL"), "NATS URL (env HUBBUB_NATS_URL): the NATS backplane instead of Redis")
	nodes := fs.Int("nodes", 3, "hub nodes behind the proxy")
	jwtSecret := fs.String("jwt-secret", "", "HS256 secret for /hubs/secure")
	keepAlive := fs.Duration("keepalive-interval", hub.DefaultKeepAliveInterval, "ping interval")
	clientTimeout := fs.Duration("client-timeout", hub.DefaultClientTimeout, "close clients silent this long")
	pollTimeout := fs.Duration("poll-timeout", transports.DefaultPollTimeout, "long-poll hold time")
	fs.String("transports", "", "ignored (all transports)")
	fs.String("allowed-origins", "", "ignored")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	prefix := fs.String("prefix", "", "Redis key (NATS subject) prefix (default: a random one, its Redis keys deleted on exit)")
	heartbeat := fs.Duration("heartbeat-interval", 0, "the backplane's HeartbeatInterval (default: the backplane's)")
	fs.Parse(os.Args[1:])

	var level slog.Level
	level.UnmarshalText([]byte(*logLevel))
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *prefix == "" {
		var b [6]byte
		rand.Read(b[:])
		*prefix = "hubbub-demo-" + hex.EncodeToString(b[:])
	}
	hubOpts := func(o *hub.Options) {
		o.KeepAliveInterval, o.ClientTimeout = *keepAlive, *clientTimeout
		o.TransportOptions.PollTimeout = *pollTimeout
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	var (
		url   string
		close func(context.Context) error
		err   error
	)
	if *natsURL != "" {
		url, close, err = start(startCtx, clustertest.Config[*nats.Backplane]{
			NewBackplane: func(_ int, logger *slog.Logger) (*nats.Backplane, error) {
				return nats.New(nats.Options{URL: *natsURL, Prefix: *prefix, HeartbeatInterval: *heartbeat, Logger: logger})
			},
			Nodes: *nodes, ProxyAddr: *addr, JWTSecret: *jwtSecret, Logger: logger, Hub: hubOpts,
		})
	} else {
		url, close, err = start(startCtx, clustertest.Config[*redis.Backplane]{
			NewBackplane: func(_ int, logger *slog.Logger) (*redis.Backplane, error) {
				return redis.New(redis.Options{URL: *redisURL, Prefix: *prefix, HeartbeatInterval: *heartbeat, Logger: logger})
			},
			Nodes: *nodes, ProxyAddr: *addr, JWTSecret: *jwtSecret, Logger: logger, Hub: hubOpts,
		})
	}
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterdemo:", err)
		os.Exit(1)
	}
	fmt.Printf("hubbub cluster of %d nodes (prefix %s) listening on %s\n", *nodes, *prefix, url)
	<-ctx.Done()
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = close(closeCtx)
	cleanupCtx, cancelCleanup := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelCleanup()
	if *natsURL == "" {
		cleanup(cleanupCtx, *redisURL, *prefix)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterdemo: close:", err)
	}
}

// start starts a cluster and returns its URL and its Close.
func start[B clustertest.Backplane](ctx context.Context, cfg clustertest.Config[B]) (string, func(context.Context) error, error) {
	c, err := clustertest.Start(ctx, cfg)
	if err != nil {
		return "", nil, err
	}
	return c.URL, c.Close, nil
}

// cleanup deletes the cluster's keys (SCAN, never FLUSH: the Redis may be shared).
func cleanup(ctx context.Context, redisURL, prefix string) {
	opts, err := goredis.ParseURL(redisURL)
	if err != nil {
		return
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
