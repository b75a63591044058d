//go:build !linux

package idleconn

import "net"

// CanWatchClose tells whether WatchClose works on this platform.
const CanWatchClose = false

// WatchClose is not available here (ok is always false): the owner of a
// taken-over connection learns that its client left by reading it (a goroutine of
// its own) or when it writes to it. See closewatch_linux.go.
func WatchClose(net.Conn, func()) (stop func(), ok bool) { return nil, false }
