//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package transports

import "net"

// waitReadable cannot wait without reading on this platform; see readable_poll.go.
func waitReadable(net.Conn) error { return nil }

// peerClosed cannot tell on this platform; see readable_poll.go.
func peerClosed(net.Conn) bool { return false }
