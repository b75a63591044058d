package suite

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

// Client is a minimal SignalR JSON client over raw HTTP and gorilla/websocket,
// for the three transports: the requests are exactly the official client's shape
// (negotiate, then WS upgrade / SSE GET + POSTs / polls + POSTs + DELETE), so that
// through a round-robin proxy each may land on any node.
type Client struct {
	t    testing.TB
	base string // hub URL
	neg  string // hub URL for negotiate: base unless dialSplit
	user string
	// Kind is the transport; ID and Token are the connection's, from negotiate.
	Kind  transports.Kind
	ID    string
	Token string
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

// WaitTimeout bounds every wait of a Client and of WaitFor.
const WaitTimeout = 20 * time.Second

// Dial connects a client as user (anonymous when "") over kind to the hub at
// base, closed when the test ends.
func Dial(t testing.TB, base, user string, kind transports.Kind) *Client {
	t.Helper()
	c, err := TryDial(t, base, user, kind)
	if err != nil {
		t.Fatalf("dial %s as %q: %v", kind, user, err)
	}
	t.Cleanup(c.Close)
	return c
}

// DialSplit negotiates on one node's hub and sends everything else to another's.
func DialSplit(t testing.TB, negotiateNode, otherNode string, kind transports.Kind) *Client {
	t.Helper()
	c, err := TryDialSplit(t, negotiateNode+"/hubs/conformance", otherNode+"/hubs/conformance", "", kind)
	if err != nil {
		t.Fatalf("dial %s: %v", kind, err)
	}
	t.Cleanup(c.Close)
	return c
}

// TryDial is Dial returning its error.
func TryDial(t testing.TB, base, user string, kind transports.Kind) (*Client, error) {
	return TryDialSplit(t, base, base, user, kind)
}

// TryDialSplit is DialSplit on hub URLs, returning its error.
func TryDialSplit(t testing.TB, neg, base, user string, kind transports.Kind) (*Client, error) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		t: t, base: base, neg: neg, user: user, Kind: kind, ctx: ctx, cancel: cancel,
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

// URL is the hub URL with the connection's token and extra, a query string.
func (c *Client) URL(extra string) string {
	q := url.Values{}
	if c.user != "" {
		q.Set("user", c.user)
	}
	if c.Token != "" {
		q.Set("id", c.Token)
	}
	s := c.base + "?" + q.Encode()
	if extra != "" {
		s += "&" + extra
	}
	return s
}

func (c *Client) start() error {
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
	c.ID, c.Token = neg.ConnectionID, neg.ConnectionToken
	switch c.Kind {
	case transports.WebSockets:
		d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
		ws, resp, err := d.DialContext(c.ctx, "ws"+strings.TrimPrefix(c.URL(""), "http"), nil)
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
		req, _ := http.NewRequestWithContext(c.ctx, http.MethodGet, c.URL(""), nil)
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
	case <-time.After(WaitTimeout):
		return errors.New("handshake: no response")
	}
}

func (c *Client) poll() (int, []byte, error) {
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodGet, c.URL("_="+strconv.FormatInt(time.Now().UnixNano(), 10)), nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func (c *Client) readWebSocket() {
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

func (c *Client) readSSE(body io.ReadCloser) {
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

func (c *Client) readPolls() {
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
func (c *Client) unit(data []byte) bool {
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

func (c *Client) send(unit []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.ws != nil {
		return c.ws.WriteMessage(websocket.TextMessage, unit)
	}
	req, _ := http.NewRequestWithContext(c.ctx, http.MethodPost, c.URL(""), bytes.NewReader(unit))
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

// Invoke calls a hub method and returns its result, or the error completion.
func (c *Client) Invoke(method string, args ...any) (protocol.RawValue, error) {
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
	case <-time.After(WaitTimeout):
		return nil, fmt.Errorf("%s: no completion", method)
	}
}

// MustInvoke is Invoke failing the test on an error.
func (c *Client) MustInvoke(t testing.TB, method string, args ...any) protocol.RawValue {
	t.Helper()
	v, err := c.Invoke(method, args...)
	if err != nil {
		t.Fatalf("%s (%s, %s): %v", method, c.Kind, c.ID, err)
	}
	return v
}

// Next returns the next invocation the server sent.
func (c *Client) Next() (protocol.Message, error) {
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
	case <-time.After(WaitTimeout):
		return protocol.Message{}, errors.New("no message")
	}
}

// Expect reads invocations until one of target arrives and returns its first
// argument. Earlier ones of other targets are returned too, in order.
func (c *Client) Expect(t testing.TB, target string) (string, []string) {
	t.Helper()
	var before []string
	for {
		m, err := c.Next()
		if err != nil {
			t.Fatalf("%s %s waiting for %q (after %v): %v", c.Kind, c.ID, target, before, err)
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

// Close ends the connection and waits for its reader.
func (c *Client) Close() {
	select {
	case <-c.ctx.Done():
		return
	default:
	}
	if c.ws != nil {
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.ws.Close()
	}
	if c.Kind == transports.LongPolling && c.Token != "" {
		req, _ := http.NewRequest(http.MethodDelete, c.URL(""), nil)
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
	case <-time.After(WaitTimeout):
		c.t.Errorf("%s %s: reader did not end", c.Kind, c.ID)
	}
	c.http.CloseIdleConnections()
}

// Done is closed when the connection's reader has ended; Err then tells why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection's reader ended, once Done is closed.
func (c *Client) Err() error { return c.readErr }
