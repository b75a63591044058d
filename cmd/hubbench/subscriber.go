package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// The lean subscribers: the receiving side of the load tool. They speak just enough
// of each target's protocol to connect, optionally join a group, and read: the
// SignalR JSON hub protocol over WebSockets, SSE and long polling for hubbub, plain
// WebSocket text messages for the raw baseline, centrifuge's JSON protocol for
// centrifuge. They cost far less per connection than the full Go client (one
// goroutine and one small buffer each), which keeps the load generator from being
// the bottleneck at thousands of connections. Publishers, echo and churn use the Go
// client (package client).

// dialer opens connections from a rotating set of 127.0.0.0/8 source addresses, so
// that one run can exceed one address pair's ephemeral port range.
type dialer struct {
	sources []net.IP
	next    atomic.Uint64
	clients []*http.Client // one per source, for negotiate, SSE and POSTs
	ws      []*websocket.Dialer
	net     []*net.Dialer // one per source, for the polls' own connections
}

func newDialer(sources []net.IP) *dialer {
	d := &dialer{sources: sources}
	for _, ip := range sources {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
		tr := &http.Transport{
			DialContext:         nd.DialContext,
			MaxIdleConns:        0,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		}
		d.clients = append(d.clients, &http.Client{Transport: tr})
		d.net = append(d.net, nd)
		d.ws = append(d.ws, &websocket.Dialer{
			NetDialContext:   nd.DialContext,
			HandshakeTimeout: 10 * time.Second,
			ReadBufferSize:   1024,
			WriteBufferSize:  1024,
		})
	}
	return d
}

func (d *dialer) pick() int { return int(d.next.Add(1)-1) % len(d.sources) }

func (d *dialer) closeIdle() {
	for _, c := range d.clients {
		c.CloseIdleConnections()
	}
}

// subConn is one lean connection.
type subConn interface {
	// recv returns the next unit (WebSocket message, SSE event data, poll body).
	recv() ([]byte, error)
	send(unit []byte) error
	close()
}

// subscribe connects one subscriber of target over kind, joins group if set (hubbub
// only), then reads into s until the connection ends or ctx is done. stateful
// (hubbub only) asks for stateful reconnect and acks what arrives (see acker);
// proto (hubbub only; nil is JSON) is the hub protocol.
func subscribe(ctx context.Context, d *dialer, base, target string, kind transports.Kind, group string, stateful bool, proto protocol.Protocol, s *sink) (subConn, error) {
	i := d.pick()
	var c subConn
	var err error
	switch target {
	case targetRaw:
		if group != "" {
			return nil, errors.New("the raw baseline has no groups")
		}
		var ws *websocket.Conn
		ws, _, err = d.ws[i].DialContext(ctx, "ws://"+base+rawPath, nil)
		if err == nil {
			c = &wsSub{ws: ws}
		}
	case targetCentrifuge:
		c, err = dialCentrifuge(ctx, d.ws[i], base, group)
	case targetHubbub:
		c, err = dialHubbub(ctx, d, i, base, kind, group, stateful, proto, s)
	default:
		err = fmt.Errorf("unknown target %q", target)
	}
	if err != nil {
		return nil, err
	}
	s.connected.Add(1)
	go func() {
		defer s.connected.Add(-1)
		for {
			unit, err := c.recv()
			if err != nil {
				if ctx.Err() == nil && !s.closing.Load() {
					s.fail(fmt.Errorf("receive: %w", err))
				}
				return
			}
			if target == targetCentrifuge && len(unit) == 2 && string(unit) == "{}" {
				c.send(unit) // centrifuge's application-level ping: answer pong
				continue
			}
			s.bytes.Add(int64(len(unit)))
			s.units.Add(1)
			s.onData(unit)
			if a, ok := c.(*ackedConn); ok {
				a.onUnit(unit)
			}
		}
	}()
	return c, nil
}

// wsSub reads WebSocket messages into one reused buffer.
type wsSub struct {
	ws     *websocket.Conn
	buf    []byte
	wmu    sync.Mutex
	binary bool // send binary frames (MessagePack, after the handshake)
}

func (w *wsSub) recv() ([]byte, error) {
	_, r, err := w.ws.NextReader()
	if err != nil {
		return nil, err
	}
	w.buf = w.buf[:0]
	for {
		if len(w.buf) == cap(w.buf) {
			w.buf = append(w.buf, 0)[:len(w.buf)]
		}
		n, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+n]
		if err == io.EOF {
			return w.buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (w *wsSub) send(unit []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if w.binary {
		return w.ws.WriteMessage(websocket.BinaryMessage, unit)
	}
	return w.ws.WriteMessage(websocket.TextMessage, unit)
}

func (w *wsSub) close() { w.ws.Close() }

// dialCentrifuge connects and sends the connect command; the server subscribes the
// connection itself, to the bench channel or to channel when set (a group).
func dialCentrifuge(ctx context.Context, wd *websocket.Dialer, base, channel string) (*wsSub, error) {
	ws, _, err := wd.DialContext(ctx, "ws://"+base+centrifugePath, nil)
	if err != nil {
		return nil, err
	}
	c := &wsSub{ws: ws}
	connect := `{"id":1,"connect":{}}`
	if channel != "" {
		connect = fmt.Sprintf(`{"id":1,"connect":{"data":{"channel":%q}}}`, channel)
	}
	if err := c.send([]byte(connect)); err != nil {
		ws.Close()
		return nil, err
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	reply, err := c.recv()
	if err != nil || !bytes.Contains(reply, []byte(`"connect"`)) {
		ws.Close()
		return nil, fmt.Errorf("centrifuge connect: %q %v", reply, err)
	}
	ws.SetReadDeadline(time.Time{})
	return c, nil
}

const rs = 0x1e // the JSON hub protocol's record separator

// dialHubbub negotiates, opens the transport, performs the handshake and joins group.
// stateful asks for stateful reconnect (docs/reconnect.md): useStatefulReconnect=true
// in the negotiate query and handshake version 2; the connection returned is then an
// *ackedConn, which acks what it is fed, and whose ack failures count in s.errors
// (s may be nil only when stateful is false). proto nil is JSON; MessagePack
// (WebSockets and long polling) is for connections without group or stateful.
func dialHubbub(ctx context.Context, d *dialer, i int, base string, kind transports.Kind, group string, stateful bool, proto protocol.Protocol, s *sink) (subConn, error) {
	hc := d.clients[i]
	hubURL := "http://" + base + hubPath
	query := "?negotiateVersion=1"
	name := "json"
	if proto != nil {
		name = proto.Name()
	}
	if name != "json" && (group != "" || stateful) {
		return nil, fmt.Errorf("lean subscribers speak %s without groups or stateful reconnect only", name)
	}
	handshake := "{\"protocol\":\"" + name + "\",\"version\":1}\x1e"
	if stateful {
		query += "&useStatefulReconnect=true"
		handshake = "{\"protocol\":\"json\",\"version\":2}\x1e"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hubURL+"/negotiate"+query, nil)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	var neg transports.NegotiateResponse
	err = json.NewDecoder(resp.Body).Decode(&neg)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || neg.ConnectionToken == "" {
		return nil, fmt.Errorf("negotiate: status %d: %v", resp.StatusCode, err)
	}
	if stateful && !neg.UseStatefulReconnect {
		// Without acks the server would keep buffering; with stateful refused the
		// run would measure the wrong thing. Either way: stop here.
		return nil, errors.New("negotiate: the server refused stateful reconnect")
	}
	tokenURL := hubURL + "?id=" + neg.ConnectionToken
	var c subConn
	switch kind {
	case transports.WebSockets:
		ws, _, err := d.ws[i].DialContext(ctx, "ws://"+base+hubPath+"?id="+neg.ConnectionToken, nil)
		if err != nil {
			return nil, err
		}
		c = &wsSub{ws: ws}
	case transports.ServerSentEvents:
		c, err = openSSE(ctx, hc, tokenURL)
	case transports.LongPolling:
		c, err = openLongPoll(ctx, hc, d.net[i], base, hubPath+"?id="+neg.ConnectionToken)
	default:
		err = fmt.Errorf("transport %v", kind)
	}
	if err != nil {
		return nil, err
	}
	if stateful {
		ac := &ackedConn{subConn: c, s: s, delay: s.ackDelay, eager: s.ackBytes}
		if lp, ok := c.(*lpSub); ok {
			lp.acked, ac.byPoll = ac.receivedSoFar, true
		}
		c = ac
	}
	if err := c.send([]byte(handshake)); err != nil {
		c.close()
		return nil, err
	}
	done := make(chan error, 1)
	timer := time.AfterFunc(15*time.Second, c.close) // a missing reply ends the dial
	defer timer.Stop()
	go func() {
		// The handshake reply, then (with a group) the JoinGroup completion.
		var seen []byte
		for {
			unit, err := c.recv()
			if err != nil {
				done <- fmt.Errorf("hubbub handshake: %w", err)
				return
			}
			if a, ok := c.(*ackedConn); ok {
				a.onUnit(unit) // the JoinGroup completion is numbered too
			}
			seen = append(seen, unit...)
			if group == "" && bytes.IndexByte(seen, rs) >= 0 {
				done <- nil
				return
			}
			if group != "" && bytes.Contains(seen, []byte(`"type":3`)) {
				done <- nil
				return
			}
		}
	}()
	if group != "" {
		inv := fmt.Sprintf("{\"type\":1,\"invocationId\":\"j\",\"target\":\"JoinGroup\",\"arguments\":[%q]}\x1e", group)
		if err := c.send([]byte(inv)); err != nil {
			c.close()
			return nil, err
		}
	}
	if err := <-done; err != nil {
		c.close()
		return nil, err
	}
	if ws, ok := c.(*wsSub); ok && name != "json" {
		ws.binary = true
	}
	return c, nil
}

// sseSub reads the event stream; units go out as POSTs.
type sseSub struct {
	hc     *http.Client
	url    string
	body   io.ReadCloser
	r      *bufio.Reader
	buf    []byte
	line   []byte
	grown  bool // r reads in large pieces
	cancel context.CancelFunc
}

func openSSE(ctx context.Context, hc *http.Client, url string) (*sseSub, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("sse: status %d", resp.StatusCode)
	}
	return &sseSub{hc: hc, url: url, body: resp.Body, r: bufio.NewReaderSize(resp.Body, 2048), cancel: cancel}, nil
}

// recv returns the data of the next event, lines joined with "\n".
func (s *sseSub) recv() ([]byte, error) {
	s.buf = s.buf[:0]
	data := false
	for {
		line, err := s.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long line (a batch of records): gather it, and from now on read
			// in large pieces, as browsers do: through the small buffer, a batch
			// took a read call per 2 KiB. (Connections that never get one, as in
			// the idle scenario, keep the small buffer.)
			s.line = append(s.line[:0], line...)
			if !s.grown {
				s.grown = true
				s.r = bufio.NewReaderSize(s.r, 32<<10) // s.r is empty: reads go past it
			}
			for err == bufio.ErrBufferFull {
				line, err = s.r.ReadSlice('\n')
				s.line = append(s.line, line...)
			}
			line = s.line
		}
		if err != nil {
			return nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if data {
				return s.buf, nil
			}
		case bytes.HasPrefix(line, []byte("data:")):
			if data {
				s.buf = append(s.buf, '\n')
			}
			data = true
			s.buf = append(s.buf, bytes.TrimPrefix(line[5:], []byte(" "))...)
		}
	}
}

func (s *sseSub) send(unit []byte) error { return post(s.hc, s.url, unit) }

func (s *sseSub) close() { s.cancel(); s.body.Close() }

func post(hc *http.Client, url string, unit []byte) error {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(unit))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return &statusError{op: "post", status: resp.StatusCode}
	}
	return nil
}

// statusError is an HTTP answer other than 200: the server refused, the network
// did not fail.
type statusError struct {
	op     string
	status int
}

func (e *statusError) Error() string { return fmt.Sprintf("%s: status %d", e.op, e.status) }

// lpSub polls over a keep-alive connection of its own, writing each GET and
// reading each answer by hand, as the lean WebSocket subscriber reads frames: one
// goroutine and no allocation per poll. (http.Client costs three goroutines and a
// few dozen allocations per poll, which at thousands of subscribers made the load
// generator, not the server, the bottleneck.) It polls again right after each
// answer, as the official client does, and dials again when the server closes the
// connection after an answer (a poll it took over: Connection: close). Units go out
// as POSTs through the http.Client.
type lpSub struct {
	hc     *http.Client
	nd     *net.Dialer
	addr   string   // host:port
	path   string   // path and query of the polls, without the ack
	url    string   // for POST and DELETE
	conn   net.Conn // set and read by the polling goroutine; close reads it under mu
	mu     sync.Mutex
	closed bool // guarded by mu
	r      *bufio.Reader
	req    []byte
	buf    []byte
	acked  func() int64 // stateful: polls ack with &ack=N, as the clients do
	ackOut atomic.Int64 // the last N a poll carried
}

func openLongPoll(ctx context.Context, hc *http.Client, nd *net.Dialer, addr, path string) (*lpSub, error) {
	l := &lpSub{hc: hc, nd: nd, addr: addr, path: path, url: "http://" + addr + path}
	// The first poll is answered at once and opens the connection.
	if _, err := l.pollContext(ctx); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

var errPollClosed = errors.New("long polling: 204, connection closed")

func (l *lpSub) poll() ([]byte, error) { return l.pollContext(context.Background()) }

// pollContext sends one poll and reads its answer; ctx bounds the dial only.
func (l *lpSub) pollContext(ctx context.Context) ([]byte, error) {
	if l.conn == nil {
		conn, err := l.nd.DialContext(ctx, "tcp", l.addr)
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		closed := l.closed
		if !closed {
			l.conn = conn
		}
		l.mu.Unlock()
		if closed {
			conn.Close()
			return nil, net.ErrClosed
		}
		if l.r == nil {
			l.r = bufio.NewReaderSize(conn, 4096)
		} else {
			l.r.Reset(conn)
		}
	}
	l.req = append(l.req[:0], "GET "...)
	l.req = append(l.req, l.path...)
	if l.acked != nil {
		if n := l.acked(); n > 0 {
			l.req = append(l.req, "&ack="...)
			l.req = strconv.AppendInt(l.req, n, 10)
			l.ackOut.Store(n)
		}
	}
	l.req = append(l.req, " HTTP/1.1\r\nHost: "...)
	l.req = append(l.req, l.addr...)
	l.req = append(l.req, "\r\nUser-Agent: hubbench\r\nAccept: */*\r\n\r\n"...)
	if _, err := l.conn.Write(l.req); err != nil {
		return nil, err
	}
	status, body, keep, err := l.readAnswer()
	if !keep {
		l.conn.Close()
		l.mu.Lock()
		l.conn = nil
		l.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	switch status {
	case 200:
		return body, nil
	case 204:
		return nil, errPollClosed
	}
	return nil, fmt.Errorf("poll: status %d", status)
}

// readAnswer reads one HTTP/1.1 response with a Content-Length (or none, for 204);
// keep tells whether the connection stays open for the next poll.
func (l *lpSub) readAnswer() (status int, body []byte, keep bool, err error) {
	length := 0
	keep = true
	for first := true; ; first = false {
		line, err := l.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if first {
			if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
				return 0, nil, false, fmt.Errorf("poll: bad status line %q", line)
			}
			status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
			continue
		}
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, nil, false, fmt.Errorf("poll: Content-Length %q", value)
			}
		case asciiEqualFold(name, "Connection"):
			keep = !asciiEqualFold(value, "close")
		case asciiEqualFold(name, "Transfer-Encoding"):
			return 0, nil, false, fmt.Errorf("poll: Transfer-Encoding %q not supported", value)
		}
	}
	if cap(l.buf) < length {
		l.buf = make([]byte, length)
	}
	l.buf = l.buf[:length]
	if _, err := io.ReadFull(l.r, l.buf); err != nil {
		return 0, nil, false, err
	}
	return status, l.buf, keep, nil
}

func asciiEqualFold(b []byte, s string) bool { return strings.EqualFold(string(b), s) }

func (l *lpSub) recv() ([]byte, error) {
	for {
		b, err := l.poll()
		if err != nil || len(b) > 0 {
			return b, err
		}
	}
}

func (l *lpSub) send(unit []byte) error { return post(l.hc, l.url, unit) }

func (l *lpSub) close() {
	l.mu.Lock()
	closed, c := l.closed, l.conn
	l.closed = true
	l.mu.Unlock()
	if closed {
		return
	}
	if c != nil {
		c.Close() // ends a poll in flight
	}
	req, _ := http.NewRequest(http.MethodDelete, l.url, nil)
	if resp, err := l.hc.Do(req); err == nil {
		resp.Body.Close()
	}
}

// transportName is the short name used in results.
func transportName(k transports.Kind) string {
	switch k {
	case transports.WebSockets:
		return "ws"
	case transports.ServerSentEvents:
		return "sse"
	case transports.LongPolling:
		return "lp"
	}
	return strings.ToLower(k.String())
}
