//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package idleconn

import (
	"net"
	"syscall"
)

// CanWaitReadable tells whether WaitReadable waits on this platform (it does on
// Linux and the BSDs, macOS included), and PeerClosed can tell.
const CanWaitReadable = true

// WaitReadable blocks until c has bytes to read, has reached end of file, or has
// failed, without reading anything: it peeks (recvfrom with MSG_PEEK|MSG_DONTWAIT)
// and otherwise parks in the runtime's network poller. A deadline set on c ends the
// wait with an error wrapping os.ErrDeadlineExceeded. The goroutine waits in the runtime's network
// poller a few frames deep, so its stack stays at the minimum while the connection
// is idle; a goroutine parked inside a WebSocket library's frame reader keeps a
// stack twice that size. When c offers no file descriptor to wait on (TLS, pipes)
// it returns at once, and the caller's read blocks as usual.
//
// It peeks before every wait: the poller forgets a readiness event when a wait
// begins (internal/poll's prepareRead), so data that came before would not wake it.
func WaitReadable(c net.Conn) error {
	rc, ok := rawConn(c)
	if !ok {
		return nil
	}
	var peek [1]byte
	err := rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing yet, so wait for the poller's next readiness event.
		return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR
	})
	return err
}

// PeerClosed reports whether the peer has closed (or reset) c, without blocking
// and without consuming data. It reports false when it cannot tell.
func PeerClosed(c net.Conn) bool {
	rc, ok := rawConn(socketOf(c))
	if !ok {
		return false
	}
	closed := false
	var peek [1]byte
	rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || (err != nil && err != syscall.EAGAIN && err != syscall.EWOULDBLOCK && err != syscall.EINTR)
		return true
	})
	return closed
}

// rawConn is c's file descriptor access, when it has one (a TCP or Unix socket; not
// TLS, not a pipe).
func rawConn(c net.Conn) (syscall.RawConn, bool) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	return rc, err == nil
}

// socketOf is the connection under c's TLS, if any: what tells whether a client
// has left. (Not for waiting to read: TLS may hold data its socket no longer has.)
func socketOf(c net.Conn) net.Conn {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		return tc.NetConn()
	}
	return c
}
