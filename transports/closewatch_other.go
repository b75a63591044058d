//go:build !linux

package transports

import "net"

// closeWatchSupported tells whether watchClose works on this platform.
const closeWatchSupported = false

// watchClose is not available here: a taken-over long poll learns that its client
// left when it is answered. See closewatch_linux.go.
func watchClose(net.Conn, func()) (stop func(), ok bool) { return nil, false }
