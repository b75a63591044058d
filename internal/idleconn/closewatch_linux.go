package idleconn

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// closeWatcher tells taken-over connections' owners when their client closes
// them, for all connections with one goroutine, through an epoll instance of its
// own: a connection waiting for nothing but its client's departure then costs no
// goroutine. The goroutine runs only while something is watched. Each registration
// fires at most once (EPOLLONESHOT); events carry the registration's number, never
// the file descriptor, so a descriptor closed and reused meanwhile cannot be
// mistaken for another.
var closeWatcher struct {
	once    sync.Once
	epfd    int
	wakefd  int // an eventfd that wakes the goroutine to see that nothing is left
	err     error
	mu      sync.Mutex
	running bool
	// failed is the epoll wait's first error other than EINTR: from then on
	// connections are watched the portable way (ok false) and the goroutine, which
	// serves those already watched, waits between attempts.
	failed error
	next   uint64 // 0 stands for wakefd
	watch  map[uint64]func()
}

// CanWatchClose tells whether WatchClose works on this platform.
const CanWatchClose = true

// WatchClose arranges for onClose to run once, on the watcher's goroutine, when
// conn's client closes or resets it; stop cancels that and must be called before
// conn is closed by its owner. ok is false when conn cannot be watched (no file
// descriptor, no epoll): the owner then learns of the client's departure only by
// writing.
func WatchClose(conn net.Conn, onClose func()) (stop func(), ok bool) {
	rc, isSys := rawConn(socketOf(conn))
	if !isSys {
		return nil, false
	}
	w := &closeWatcher
	w.once.Do(openCloseWatcher)
	if w.err != nil {
		return nil, false
	}
	w.mu.Lock()
	if w.failed != nil {
		w.mu.Unlock()
		return nil, false
	}
	w.next++
	id := w.next
	w.watch[id] = onClose
	if !w.running {
		w.running = true
		go watchLoop()
	}
	w.mu.Unlock()
	ev := epollEvent(unix.EPOLLRDHUP|unix.EPOLLONESHOT, id)
	var addErr error
	if err := rc.Control(func(fd uintptr) { addErr = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev) }); err != nil || addErr != nil {
		unwatch(id)
		return nil, false
	}
	return func() {
		if unwatch(id) {
			rc.Control(func(fd uintptr) { unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
		}
	}, true
}

// unwatch forgets registration id and reports whether it was still there; with
// nothing left to watch it wakes the goroutine, which then ends.
func unwatch(id uint64) bool {
	w := &closeWatcher
	w.mu.Lock()
	defer w.mu.Unlock()
	_, pending := w.watch[id]
	delete(w.watch, id)
	if pending && len(w.watch) == 0 {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(w.wakefd, one[:])
	}
	return pending
}

func epollEvent(events uint32, id uint64) unix.EpollEvent {
	return unix.EpollEvent{Events: events, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
}

func openCloseWatcher() {
	w := &closeWatcher
	if w.epfd, w.err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); w.err != nil {
		return
	}
	if w.wakefd, w.err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); w.err != nil {
		return
	}
	ev := epollEvent(unix.EPOLLIN, 0)
	w.err = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, w.wakefd, &ev)
	w.watch = make(map[uint64]func())
}

// How long the watcher waits before trying a failed epoll wait again: from the
// minimum, doubling up to the maximum.
const (
	closeWatchMinBackoff = 10 * time.Millisecond
	closeWatchMaxBackoff = time.Second
)

// epollWait is unix.EpollWait; tests replace it to make the wait fail.
var epollWait = unix.EpollWait

func watchLoop() {
	w := &closeWatcher
	events := make([]unix.EpollEvent, 64)
	var drain [8]byte
	backoff := time.Duration(0)
	for {
		n, err := epollWait(w.epfd, events, -1)
		switch {
		case err == nil:
			backoff = 0
		case errors.Is(err, unix.EINTR):
			n = 0
		default:
			// Not expected to pass (EBADF, EINVAL…); waiting again at once would spin.
			n = 0
			w.mu.Lock()
			if w.failed == nil {
				w.failed = err
				slog.Error("transports: epoll wait of the close watcher failed; watching new connections with a goroutine each", "err", err)
			}
			w.mu.Unlock()
			backoff = min(max(2*backoff, closeWatchMinBackoff), closeWatchMaxBackoff)
			time.Sleep(backoff)
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				unix.Read(w.wakefd, drain[:])
				continue
			}
			w.mu.Lock()
			f := w.watch[id]
			delete(w.watch, id)
			w.mu.Unlock()
			if f != nil {
				f()
			}
		}
		w.mu.Lock()
		if len(w.watch) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}
