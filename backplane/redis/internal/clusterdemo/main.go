// Command clusterdemo starts a Hubbub cluster on loopback for outside test suites:
// several hub nodes (the conformance hub at /hubs/conformance and /hubs/secure)
// sharing one Redis through the Redis backplane, behind a round-robin reverse
// proxy with no sticky sessions. It takes the flags of cmd/hubbub that the
// official-client suite passes (--addr is the proxy's address) and prints the same
// "listening on URL" line, so that suite runs against it unchanged:
//
//	go build -o /tmp/clusterdemo ./backplane/redis/internal/clusterdemo
//	cd testdata/official && HUBBUB_BIN=/tmp/clusterdemo npm test
//
// Its Redis keys live under a random prefix (or --prefix), deleted on exit
// (SIGINT/SIGTERM). The crash tests of the backplane run it as a node to SIGKILL.
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

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/backplane/redis/internal/clustertest"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

func main() {
	fs := flag.NewFlagSet("clusterdemo", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "the proxy's address")
	redisURL := fs.String("redis", envOr("HUBBUB_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL (env HUBBUB_REDIS_URL)")
	nodes := fs.Int("nodes", 3, "hub nodes behind the proxy")
	jwtSecret := fs.String("jwt-secret", "", "HS256 secret for /hubs/secure")
	keepAlive := fs.Duration("keepalive-interval", hub.DefaultKeepAliveInterval, "ping interval")
	clientTimeout := fs.Duration("client-timeout", hub.DefaultClientTimeout, "close clients silent this long")
	pollTimeout := fs.Duration("poll-timeout", transports.DefaultPollTimeout, "long-poll hold time")
	fs.String("transports", "", "ignored (all transports)")
	fs.String("allowed-origins", "", "ignored")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	prefix := fs.String("prefix", "", "Redis key prefix (default: a random one, its keys deleted on exit)")
	heartbeat := fs.Duration("heartbeat-interval", redis.DefaultHeartbeatInterval, "the backplane's HeartbeatInterval")
	fs.Parse(os.Args[1:])

	var level slog.Level
	level.UnmarshalText([]byte(*logLevel))
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *prefix == "" {
		var b [6]byte
		rand.Read(b[:])
		*prefix = "hubbub-demo-" + hex.EncodeToString(b[:])
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := clustertest.Start(startCtx, clustertest.Config{
		RedisURL: *redisURL, Prefix: *prefix, Nodes: *nodes, ProxyAddr: *addr, JWTSecret: *jwtSecret, Logger: logger,
		Hub: func(o *hub.Options) {
			o.KeepAliveInterval, o.ClientTimeout = *keepAlive, *clientTimeout
			o.TransportOptions.PollTimeout = *pollTimeout
		},
		Backplane: func(o *redis.Options) { o.HeartbeatInterval = *heartbeat },
	})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterdemo:", err)
		os.Exit(1)
	}
	fmt.Printf("hubbub cluster of %d nodes (redis prefix %s) listening on %s\n", *nodes, *prefix, c.URL)
	<-ctx.Done()
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = c.Close(closeCtx)
	cleanupCtx, cancelCleanup := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelCleanup()
	cleanup(cleanupCtx, *redisURL, *prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "clusterdemo: close:", err)
	}
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
