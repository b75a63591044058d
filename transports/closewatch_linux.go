package transports

import (
	"encoding/binary"
	"net"
	"sync"

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
	next    uint64 // 0 stands for wakefd
	watch   map[uint64]func()
}

// closeWatchSupported tells whether watchClose works on this platform.
const closeWatchSupported = true

// watchClose arranges for onClose to run once, on the watcher's goroutine, when
// conn's client closes or resets it; stop cancels that and must be called before
// conn is closed by its owner. ok is false when conn cannot be watched (no file
// descriptor, no epoll): the owner then learns of the client's departure only by
// writing.
func watchClose(conn net.Conn, onClose func()) (stop func(), ok bool) {
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

func watchLoop() {
	w := &closeWatcher
	events := make([]unix.EpollEvent, 64)
	var drain [8]byte
	for {
		n, err := unix.EpollWait(w.epfd, events, -1)
		if err != nil {
			n = 0 // EINTR
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
