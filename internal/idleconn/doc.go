// Package idleconn holds the low-level tricks that make an idle connection cheap,
// in one place, each behind a small API and each with a switch in
// transports.Options. The transports (internal/transport) use them; nothing here
// knows of SignalR, hubs or units. Figures are RSS per connection at 10,000 idle
// connections (BENCHMARKS.md, "Idle memory: what changed").
//
// # A shallow wait for the next WebSocket message (WaitReadable)
//
// WaitReadable waits until a socket is readable without reading: it peeks
// (recvfrom with MSG_PEEK|MSG_DONTWAIT) and parks in the runtime's network poller
// a few frames deep, where a goroutine parked inside gorilla/websocket's frame
// reader sits deeper and keeps a stack twice the size. The WebSocket transport
// waits there, and after a second with no message hands the wait to a fresh
// goroutine, whose stack starts small: the runtime never shrinks the reader's
// grown stack that far. An idle WebSocket's reader holds 2 KiB of stack instead of
// 4 (12.9 → 10.4 KiB per connection with the step that came with it).
//
// Cost: one more system call per message that finds the read buffer empty, and a
// goroutine started per connection that goes idle. Idle readers also lower the
// runtime's adaptive initial stack size, so short-lived goroutines (the hub's
// writers and invocations) grow their stacks more often: about 8–10% of echo
// throughput when measured, made up since by other work. Where a connection has no
// file descriptor to wait on (TLS, a pipe), or on platforms without MSG_PEEK
// (CanWaitReadable false), WaitReadable returns at once and the reader waits in
// gorilla's read as usual. Switch: transports.Options.DisableIdleReadHandoff.
//
// # Taking a response over from net/http (TakeOver)
//
// A net/http handler parked on an SSE stream or a held long poll costs about
// 30 KiB: two goroutines, a read and a write buffer, the request and response. A
// connection taken over (hijacked) costs its socket and what its owner keeps. SSE
// streams are taken over as they open (33.9 → 7.7 KiB), long polls after
// transports.Options.IdlePollTakeover with nothing to send (32.8 → 11.3 KiB after
// 2 s, → 5.3–5.5 KiB after 500 ms).
//
// Cost: the owner writes the HTTP/1.1 response by hand and ends it with
// "Connection: close", so each taken-over poll's answer closes its connection and
// the client's next poll opens a new one (hence the wait before taking a poll
// over: busy clients keep their keep-alive connections). Middleware that waits for
// the response to end (Gin's Logger, any access log) sees a taken-over one end at
// takeover, with no status. HTTP/2 requests and ResponseWriters that cannot hijack
// are not taken over: they stay in their handlers. Switches:
// transports.Options.DisableTakeover, and IdlePollTakeover negative for polls
// alone.
//
// # One goroutine watching every taken-over connection (WatchClose)
//
// A taken-over connection has no net/http reader to notice its client leaving.
// WatchClose registers it with one epoll instance (EPOLLRDHUP, one-shot) served
// by one goroutine for all connections, which runs only while something is
// watched. An SSE stream then needs no goroutine of its own to read its
// connection (6.9 → 4.4 KiB), and a taken-over poll whose client leaves is let go
// at once rather than when it is answered.
//
// Cost: an epoll instance and an eventfd for the process, and the goroutine while
// connections are watched. Linux only (CanWatchClose): elsewhere, or when epoll
// fails, a taken-over SSE stream reads its connection from a goroutine of its own,
// with a small stack, and a taken-over poll learns that its client left when it is
// answered (PeerClosed, at the latest after transports.Options.PollTimeout).
// Switch: transports.Options.DisableCloseWatcher.
//
// # Telling whether a client left (PeerClosed)
//
// PeerClosed peeks at a socket without blocking: a taken-over poll about to be
// answered skips writing to a client that has gone, and its unit goes to the next
// poll. It reports false where it cannot tell (CanWaitReadable false). It serves
// taken-over polls only, so DisableTakeover switches it off with them.
package idleconn
