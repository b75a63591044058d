package redis_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
)

// TestBytesAcrossNodesToJSONAndMessagePack runs the shared suite.BytesAcrossNodes
// on Redis, reading the envelopes on the hub's channel.
func TestBytesAcrossNodesToJSONAndMessagePack(t *testing.T) {
	url := redisURL(t)
	prefix := testPrefix(t, url)
	node := newNode(t, url, prefix)
	opts, _ := goredis.ParseURL(url)
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	sub := rdb.Subscribe(context.Background(), prefix+":hub:mixed")
	defer sub.Close()
	if _, err := sub.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	envelopes := make(chan []byte, 16)
	go func() {
		for m := range sub.Channel() {
			envelopes <- []byte(m.Payload[strings.IndexByte(m.Payload, '{'):]) // after the node ID
		}
	}()
	suite.BytesAcrossNodes(t, node(), node(), envelopes)
}

// TestRelayedMessagePackResumeIsBinary runs the shared
// suite.RelayedMessagePackResumeIsBinary on Redis.
func TestRelayedMessagePackResumeIsBinary(t *testing.T) {
	url := redisURL(t)
	suite.RelayedMessagePackResumeIsBinary(t, startCluster(t, url, testPrefix(t, url)))
}

// newNode returns a maker of backplanes of one cluster, for the shared tests that
// start their nodes themselves.
func newNode(t *testing.T, url, prefix string) func() *redis.Backplane {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return func() *redis.Backplane {
		bp, err := redis.New(redis.Options{URL: url, Prefix: prefix, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		return bp
	}
}

// TestConnectionTokenTiedToItsUserAcrossNodes runs the shared
// suite.TokenTiedToUser on Redis.
func TestConnectionTokenTiedToItsUserAcrossNodes(t *testing.T) {
	url := redisURL(t)
	node := newNode(t, url, testPrefix(t, url))
	suite.TokenTiedToUser(t, node(), node())
}
