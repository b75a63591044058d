package linkcut

import (
	"errors"
	"net"
	"slices"
	"sync"
)

// errCut is what a link's reads and writes return once it is cut.
var errCut = errors.New("linkcut: link cut")

// listener hands the HTTP server links instead of bare connections, so the proxy
// knows every client connection, including those hijacked for WebSockets.
type listener struct {
	net.Listener
	p *Proxy
}

func (ln *listener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	p := ln.p
	l := &link{Conn: c, p: p, closed: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	p.nextID++
	l.id = p.nextID
	p.links[l] = struct{}{}
	return l, nil
}

// link is one client connection. Reads and writes stop while a black hole holds it,
// and a MidResponse cut resets it from inside a write.
type link struct {
	net.Conn
	p         *Proxy
	id        uint64        // acceptance order, for deterministic random choices
	closed    chan struct{} // closed by Close
	closeOnce sync.Once

	// Guarded by p.mu.
	control  bool      // it carried a control API request: never cut, never counted
	flights  []*flight // the requests it is carrying
	cutAfter int       // > 0: a MidResponse cut lets this many more bytes out, then resets
}

// flight is one request through the proxy. Its fields are guarded by p.mu.
type flight struct {
	cancel   func()            // ends the whole exchange, upstream included
	upstream func(cause error) // cancels the upstream round trip; nil once its response started or it failed
	started  bool              // the upstream's response has started
}

func (l *link) Read(b []byte) (int, error) {
	if err := l.waitHole(); err != nil {
		return 0, err
	}
	n, err := l.Conn.Read(b)
	if n > 0 {
		// Bytes that arrive during a black hole are held, then dropped with the link.
		if err := l.waitHole(); err != nil {
			return 0, err
		}
	}
	return n, err
}

func (l *link) Write(b []byte) (int, error) {
	if err := l.waitHole(); err != nil {
		return 0, err
	}
	p := l.p
	p.mu.Lock()
	k := l.cutAfter
	switch {
	case k > 0 && len(b) >= k:
		l.cutAfter = 0
		p.stats.Cuts[MidResponse]++
	case k > 0:
		l.cutAfter -= len(b)
	}
	p.mu.Unlock()
	if k == 0 || len(b) < k {
		return l.Conn.Write(b)
	}
	n, _ := l.Conn.Write(b[:k])
	l.reset()
	return n, errCut
}

// waitHole blocks while a black hole holds l, and reports whether l was cut.
func (l *link) waitHole() error {
	if held := l.p.heldBy(l); held != nil {
		select {
		case <-held:
		case <-l.closed:
		}
	}
	select {
	case <-l.closed:
		return errCut
	default:
		return nil
	}
}

// reset closes l so that the client sees a TCP reset, and cancels the requests it
// carries so that the upstream sees them go.
func (l *link) reset() {
	if tc, ok := l.Conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	l.Close()
}

// Close closes the connection, forgets it and cancels the requests it carries.
func (l *link) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		p := l.p
		p.mu.Lock()
		delete(p.links, l)
		flights := slices.Clone(l.flights) // removeFlight clears the slots it frees
		p.mu.Unlock()
		close(l.closed)
		err = l.Conn.Close()
		for _, f := range flights {
			f.cancel()
		}
	})
	return err
}
