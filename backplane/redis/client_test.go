package redis_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// testClient is a minimal SignalR JSON client over raw HTTP and gorilla/websocket,
// for the three transports: the requests are exactly the official client's shape
// (negotiate, then WS upgrade / SSE GET + POSTs / polls + POSTs + DELETE), so that
// through a round-robin proxy each may land on any node.
type testClient struct {
	t     testing.TB
	base  string // hub URL
	neg   string // hub URL for negotiate: base unless dialSplit
	user  string
	kind  transports.Kind
	id    string
	token string
	http  *http.Client

	ws      *websocket.Conn
	reading bool // a reader goroutine was started; it closes done
	sendMu  sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // the reader has ended

	mu      sync.Mutex
	calls   map[string]chan protocol.Message
	nextID  int
	events  chan protocol.Message // invocations from the server
	ready   chan struct{}         // the handshake response arrived
	readErr error
}

const waitTimeout = 20 * time.Second

func dial(t testing.TB, base, user string, kind transports.Kind) *testClient {
	t.Helper()
	c, err := tryDial(t, base, user, kind)
	if err != nil {
		t.Fatalf("dial %s as %q: %v", kind, user, err)
	}
	t.Cleanup(c.Close)
	return c
}

// dialSplit negotiates on one node's hub and sends everything else to another's.
func dialSplit(t testing.TB, negotiateNode, otherNode string, kind transports.Kind) *testClient {
	t.Helper()
	c, err := tryDialSplit(t, negotiateNode+"/hubs/conformance", otherNode+"/hubs/conformance", "", kind)
	if err != nil {
		t.Fatalf("dial %s: %v", kind, err)
	}
	t.Cleanup(c.Close)
	return c
}

func tryDial(t testing.TB, base, user string, kind transports.Kind) (*testClient, error) {
	return tryDialSplit(t, base, base, user, kind)
}

func tryDialSplit(t testing.TB, neg, base, user string, kind transports.Kind) (*testClient, error) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &testClient{
		t: t, base: base, neg: neg, user: user, kind: kind, ctx: ctx, cancel: cancel,
		http:   &http.Client{Transport: &http.Transport{}},
		done:   make(chan struct{}),
		calls:  map[string]chan protocol.Message{},
		events: make(chan protocol.Message, 4096),
		ready:  make(chan struct{}),
	}
	if err := c.start(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *testClient) url(extra string) string {
	q := url.Values{}
	if c.user != "" {
		q.Set("user", c.user)
	}
	if c.token != "" {
		q.Set("id", c.token)
	}
	s := c.base + "?" + q.Encode()
	if extra != "" {
		s += "&" + extra
	}
	return s
}

func (c *testClient) start() error {
	resp, err := c.http.Post(c.neg+"/negotiate?negotiateVersion=1&user="+url.QueryEscape(c.user), "", nil)
	if err != nil {
		return err
	}
	var neg transports.NegotiateResponse
	err = json.NewDecoder(resp.Body).Decode(&neg)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("negotiate: %d %v", resp.StatusCode, err)
	}
	c.id, c.token = neg.ConnectionID, neg.ConnectionToken
	switch c.kind {
	case transports.WebSockets:
		d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
		ws, resp, err := d.DialContext(c.ctx, "ws"+strings.TrimPrefix(c.url(""), "http"), nil)
		if err != nil {
			if resp != nil {
				return fmt.Errorf("websocket: %d %w", resp.StatusCode, err)
			}
			return err
		}
		c.ws = ws
		c.reading = true
		go c.readWebSocket()
	case transports.ServerSentEvents:
		req, _ := http.NewRequestWithContext(c.ctx, http.MethodGet, c.url(""), nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			resp.Body.Close()
			return fmt.Errorf("sse: status %d", resp.StatusCode)
		}
		c.reading = true
		go c.readSSE(resp.Body)
	case transports.LongPolling:
		status, _, err := c.poll()
		if err != nil || status != 200 {
			return fmt.Errorf("first poll: %d %v", status, err)
		}
		c.reading = true
		go c.readPolls()
	}
	if err := c.send([]byte(`{"protocol":"json","version":1}` + "\x1e")); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	select {
	case <-c.ready:
		return nil
	case <-c.done:
		return fmt.Errorf("handshake: connection ended: %v", c.readErr)
	case <-time.After(waitTimeout):
		return errors.New("handshake: no response")
	}
}

func (c *testClient) poll() (int, []byte, error) {
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodGet, c.url("_="+strconv.FormatInt(time.Now().UnixNano(), 10)), nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func (c *testClient) readWebSocket() {
	defer close(c.done)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readErr = err
			return
		}
		if !c.unit(data) {
			return
		}
	}
}

func (c *testClient) readSSE(body io.ReadCloser) {
	defer close(c.done)
	defer body.Close()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data:"):
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		case line == "" && data.Len() > 0:
			if !c.unit(data.Bytes()) {
				return
			}
			data.Reset()
		}
	}
	c.readErr = sc.Err()
}

func (c *testClient) readPolls() {
	defer close(c.done)
	for {
		status, body, err := c.poll()
		switch {
		case err != nil:
			c.readErr = err
			return
		case status == http.StatusNoContent:
			c.readErr = errors.New("204: connection ended")
			return
		case status != http.StatusOK:
			c.readErr = fmt.Errorf("poll: status %d: %s", status, body)
			return
		}
		if len(body) > 0 && !c.unit(body) {
			return
		}
	}
}

// unit handles one unit from the server; false ends the reader.
func (c *testClient) unit(data []byte) bool {
	select {
	case <-c.ready:
	default:
		errText, rest, err := protocol.ParseHandshakeResponse(data)
		if err != nil || errText != "" {
			c.readErr = fmt.Errorf("handshake response: %q %v", errText, err)
			return false
		}
		close(c.ready)
		data = rest
	}
	msgs, err := protocol.JSON.ParseMessages(data, nil)
	if err != nil {
		c.readErr = err
		return false
	}
	for _, m := range msgs {
		switch m.Type {
		case protocol.CompletionType:
			c.mu.Lock()
			ch := c.calls[m.InvocationID]
			delete(c.calls, m.InvocationID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		case protocol.InvocationType:
			c.events <- m
		case protocol.CloseType:
			c.readErr = fmt.Errorf("closed by the server: %q", m.Error)
			return false
		}
	}
	return true
}

func (c *testClient) send(unit []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.ws != nil {
		return c.ws.WriteMessage(websocket.TextMessage, unit)
	}
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodPost, c.url(""), bytes.NewReader(unit))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST: status %d", resp.StatusCode)
	}
	return nil
}

// invoke calls a hub method and returns its result, or the error completion.
func (c *testClient) invoke(method string, args ...any) (protocol.RawValue, error) {
	c.mu.Lock()
	c.nextID++
	id := strconv.Itoa(c.nextID)
	reply := make(chan protocol.Message, 1)
	c.calls[id] = reply
	c.mu.Unlock()
	raw := make([]protocol.RawValue, len(args))
	for i, a := range args {
		v, err := protocol.JSON.EncodeValue(a)
		if err != nil {
			return nil, err
		}
		raw[i] = v
	}
	frame, err := protocol.JSON.AppendMessage(nil, &protocol.Message{Type: protocol.InvocationType, InvocationID: id, Target: method, Arguments: raw})
	if err != nil {
		return nil, err
	}
	if err := c.send(frame); err != nil {
		return nil, err
	}
	select {
	case m := <-reply:
		if m.HasError {
			return nil, errors.New(m.Error)
		}
		return m.Result, nil
	case <-c.done:
		return nil, fmt.Errorf("connection ended: %v", c.readErr)
	case <-time.After(waitTimeout):
		return nil, fmt.Errorf("%s: no completion", method)
	}
}

func (c *testClient) mustInvoke(t testing.TB, method string, args ...any) protocol.RawValue {
	t.Helper()
	v, err := c.invoke(method, args...)
	if err != nil {
		t.Fatalf("%s (%s, %s): %v", method, c.kind, c.id, err)
	}
	return v
}

// next returns the next invocation the server sent.
func (c *testClient) next() (protocol.Message, error) {
	select {
	case m := <-c.events:
		return m, nil
	case <-c.done:
		select {
		case m := <-c.events:
			return m, nil
		default:
		}
		return protocol.Message{}, fmt.Errorf("connection ended: %v", c.readErr)
	case <-time.After(waitTimeout):
		return protocol.Message{}, errors.New("no message")
	}
}

// expect reads invocations until one of target arrives and returns its first
// argument. Earlier ones of other targets are returned too, in order.
func (c *testClient) expect(t testing.TB, target string) (string, []string) {
	t.Helper()
	var before []string
	for {
		m, err := c.next()
		if err != nil {
			t.Fatalf("%s %s waiting for %q (after %v): %v", c.kind, c.id, target, before, err)
		}
		if m.Target == target {
			arg := ""
			if len(m.Arguments) > 0 {
				arg = string(m.Arguments[0])
			}
			return arg, before
		}
		before = append(before, m.Target)
	}
}

func (c *testClient) Close() {
	select {
	case <-c.ctx.Done():
		return
	default:
	}
	if c.ws != nil {
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.ws.Close()
	}
	if c.kind == transports.LongPolling && c.token != "" {
		req, _ := http.NewRequest(http.MethodDelete, c.url(""), nil)
		if resp, err := c.http.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	c.cancel()
	if !c.reading {
		c.http.CloseIdleConnections()
		return
	}
	select {
	case <-c.done:
	case <-time.After(waitTimeout):
		c.t.Errorf("%s %s: reader did not end", c.kind, c.id)
	}
	c.http.CloseIdleConnections()
}
