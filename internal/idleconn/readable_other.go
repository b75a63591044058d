//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package idleconn

import "net"

// CanWaitReadable tells whether WaitReadable waits on this platform (it does on
// Linux and the BSDs, macOS included), and PeerClosed can tell.
const CanWaitReadable = false

// WaitReadable cannot wait without reading on this platform: it returns at once,
// and the caller's read blocks as usual. See readable_poll.go.
func WaitReadable(net.Conn) error { return nil }

// PeerClosed cannot tell on this platform: it reports false. See readable_poll.go.
func PeerClosed(net.Conn) bool { return false }
