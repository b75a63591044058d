package idleconn

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// WaitReadable returns once data has come, without consuming it; it waits past a
// deadline's end only with that deadline's error; PeerClosed tells a closed peer
// from an open one and consumes nothing either.
func TestWaitReadableAndPeerClosed(t *testing.T) {
	if !CanWaitReadable {
		t.Skip("no MSG_PEEK wait on this platform")
	}
	client, server := tcpPair(t)

	server.SetReadDeadline(time.Now().Add(time.Millisecond))
	if err := WaitReadable(server); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("WaitReadable on an idle connection past its deadline = %v, want os.ErrDeadlineExceeded", err)
	}
	server.SetReadDeadline(time.Time{})
	if PeerClosed(server) {
		t.Error("PeerClosed on an open connection = true")
	}

	client.Write([]byte("x"))
	if err := WaitReadable(server); err != nil {
		t.Fatalf("WaitReadable with data = %v", err)
	}
	if PeerClosed(server) {
		t.Error("PeerClosed with unread data = true")
	}
	var b [2]byte
	if n, err := server.Read(b[:]); n != 1 || b[0] != 'x' || err != nil {
		t.Fatalf("Read after WaitReadable = %d %q %v, want the byte still there", n, b[:n], err)
	}

	client.Close()
	if err := WaitReadable(server); err != nil {
		t.Fatalf("WaitReadable at end of file = %v", err)
	}
	if !PeerClosed(server) {
		t.Error("PeerClosed after the peer closed = false")
	}
}
