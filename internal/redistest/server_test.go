package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := StartServerT(t, "--maxmemory", "12345678")
	if want := "redis://" + s.Addr + "/0"; s.URL() != want {
		t.Errorf("URL() = %q, want %q", s.URL(), want)
	}
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Errorf("Addr %q is not on 127.0.0.1", s.Addr)
	}
	if got, err := s.Do(ctx, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
	// The extra arguments reach redis-server.
	if got, err := s.Do(ctx, "CONFIG", "GET", "maxmemory"); err != nil || got != "maxmemory\n12345678" {
		t.Fatalf("CONFIG GET maxmemory = %q, %v", got, err)
	}
	// Nothing on disk: no save points, no AOF.
	if got, err := s.Do(ctx, "CONFIG", "GET", "save"); err != nil || got != "save\n" {
		t.Errorf("CONFIG GET save = %q, %v", got, err)
	}
	if _, err := s.Do(ctx, "NOSUCHCOMMAND"); !errors.As(err, new(RedisError)) {
		t.Errorf("an unknown command gave %v, want a RedisError", err)
	}
	if n, err := s.DoReply(ctx, "INCRBY", "redistest:n", "41"); err != nil || n != int64(41) {
		t.Errorf("INCRBY = %#v, %v", n, err)
	}
	if !s.Running() {
		t.Fatal("Running() = false before Kill")
	}
	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if s.Running() {
		t.Error("Running() = true after Kill")
	}
	if _, err := s.Do(ctx, "PING"); err == nil {
		t.Error("PING answered after Kill")
	}
	if err := s.Kill(); err != nil {
		t.Errorf("a second Kill: %v", err)
	}
	dir := s.Dir
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the server's directory is gone before Close: %v", err)
	}
	// Close is idempotent and safe to call concurrently.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(s.Close)
	}
	wg.Wait()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the server's directory %s outlived Close: %v", dir, err)
	}
}

func TestServerRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := StartServerT(t)
	addr := s.Addr
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(ctx); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if s.Addr != addr {
		t.Errorf("Restart moved the server from %s to %s", addr, s.Addr)
	}
	if got, err := s.Do(ctx, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING after Restart = %q, %v", got, err)
	}
	if err := s.Restart(ctx); err == nil {
		t.Error("Restart of a running server succeeded")
	}
}

// fakeTB records what a helper does with its test: the helpers end the test
// with Skip or Fatal, which end the goroutine (runtime.Goexit).
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper()                  {}
func (f *fakeTB) Cleanup(fn func())        { fn() }
func (f *fakeTB) Context() context.Context { return context.Background() }
func (f *fakeTB) Skip(args ...any)         { f.skipped = true; f.msg = fmt.Sprint(args...); runtime.Goexit() }
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = true
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatal(args ...any) { f.failed = true; f.msg = fmt.Sprint(args...); runtime.Goexit() }
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func runFake(fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() { defer close(done); fn(f) }()
	<-done
	return f
}

func TestHelpersWithoutRedis(t *testing.T) {
	old := ServerPath
	ServerPath = "/nonexistent/redis-server"
	defer func() { ServerPath = old }()
	starts := map[string]func(tb testing.TB){
		"server":   func(tb testing.TB) { StartServerT(tb) },
		"cluster":  func(tb testing.TB) { StartClusterT(tb, ClusterConfig{}) },
		"sentinel": func(tb testing.TB) { StartSentinelT(tb, SentinelConfig{}) },
	}
	for name, start := range starts {
		t.Setenv("HUBBUB_REQUIRE_REDIS", "")
		if f := runFake(start); !f.skipped || f.failed || !strings.Contains(f.msg, "/nonexistent/redis-server") {
			t.Errorf("%s: without redis-server: skipped %v, failed %v, %q; want a skip naming the binary", name, f.skipped, f.failed, f.msg)
		}
		t.Setenv("HUBBUB_REQUIRE_REDIS", "1")
		if f := runFake(start); f.skipped || !f.failed || !strings.Contains(f.msg, "HUBBUB_REQUIRE_REDIS") {
			t.Errorf("%s: without redis-server, HUBBUB_REQUIRE_REDIS=1: skipped %v, failed %v, %q; want a failure", name, f.skipped, f.failed, f.msg)
		}
	}
	if _, err := StartServer(context.Background()); !errors.Is(err, ErrNoRedis) {
		t.Errorf("StartServer without redis-server: %v, want ErrNoRedis", err)
	}
}

// TestServerStartFails: a server that cannot start (its port is taken: args
// override the free port chosen) is an error with its log, not a hang, after
// tries on other ports, each in a fresh directory, all removed.
func TestServerStartFails(t *testing.T) {
	taken := StartServerT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var dirs []string
	s, err := start(ctx, ServerPath, func(port, _ int, dir string) ([]string, error) {
		dirs = append(dirs, dir)
		if _, err := os.Stat(filepath.Join(dir, logFile)); err == nil {
			t.Errorf("attempt %d starts in a directory with a log", len(dirs))
		}
		return []string{"--port", strconv.Itoa(taken.Port), "--bind", "127.0.0.1", "--save", ""}, nil
	})
	if err == nil {
		s.Close()
		t.Fatalf("a second server on %s started", taken.Addr)
	}
	if !errors.Is(err, errPortInUse) || !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("error %v, want errPortInUse with the log's reason", err)
	}
	if len(dirs) != startAttempts {
		t.Errorf("%d attempts, want %d", len(dirs), startAttempts)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("a failed start left %s: %v", d, err)
		}
	}
}
