package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// go-redis retries a failed dial once a second on a goroutine of its own,
	// which sees the pool closed at its next try: after a test whose Redis was
	// unreachable, it may outlive the package's last test by up to a second.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

// sharedRedis is the Redis every test but the fault test uses. It is shared: tests
// never flush or stop it, and keep their keys under a random prefix they delete.
const sharedRedis = "127.0.0.1:6379"

// redisURL returns the shared Redis's URL, or skips the test when it is not
// reachable (fails instead when HUBBUB_REQUIRE_REDIS=1).
func redisURL(t testing.TB) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", sharedRedis, time.Second)
	if err != nil {
		if os.Getenv("HUBBUB_REQUIRE_REDIS") == "1" {
			t.Fatalf("Redis at %s is required (HUBBUB_REQUIRE_REDIS=1) but unreachable: %v", sharedRedis, err)
		}
		t.Skipf("Redis at %s is unreachable (%v): skipping; set HUBBUB_REQUIRE_REDIS=1 to fail instead", sharedRedis, err)
	}
	conn.Close()
	return "redis://" + sharedRedis + "/0"
}

// testPrefix returns a random key prefix and deletes its keys when the test ends.
func testPrefix(t testing.TB, url string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	prefix := "hubbub-test-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { deleteKeys(t, url, prefix) })
	return prefix
}

func deleteKeys(t testing.TB, url, prefix string) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("cleanup of %s: %v", prefix, err)
	}
}
