package idleconn

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A failing epoll wait (other than EINTR) must not turn the close watcher's
// goroutine into a busy loop: it backs off, and new connections are watched the
// portable way instead.
func TestCloseWatcherDoesNotSpinOnEpollError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); peer.Close() })
		return peer
	}
	// Nothing else may be watched while the wait is replaced.
	waitWatcherIdle(t)
	var calls atomic.Int64
	epollWait = func(int, []unix.EpollEvent, int) (int, error) {
		calls.Add(1)
		return 0, unix.EBADF
	}
	defer func() {
		waitWatcherIdle(t)
		epollWait = unix.EpollWait
		resetCloseWatcherFailure()
	}()

	stop, ok := WatchClose(dial(), func() {})
	if !ok {
		t.Fatal("WatchClose refused a TCP connection before any failure")
	}
	defer stop()
	start := calls.Load()
	time.Sleep(200 * time.Millisecond)
	if n := calls.Load() - start; n > 20 {
		t.Errorf("epoll wait called %d times in 200 ms after it failed with EBADF: the watcher spins", n)
	}
	if stop2, ok := WatchClose(dial(), func() {}); ok {
		stop2()
		t.Error("WatchClose still takes connections after its epoll wait failed; want the portable fallback (ok false)")
	}
}

// waitWatcherIdle waits until the close watcher's goroutine has ended.
func waitWatcherIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w := &closeWatcher
		w.mu.Lock()
		running := w.running
		w.mu.Unlock()
		if !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("close watcher still running")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// resetCloseWatcherFailure lets the watcher use epoll again.
func resetCloseWatcherFailure() {
	closeWatcher.mu.Lock()
	closeWatcher.failed = nil
	closeWatcher.mu.Unlock()
}
