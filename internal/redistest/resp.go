package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// RedisError is an error reply of Redis ("-ERR ...", "-MOVED 3999 127.0.0.1:7002"),
// without the leading '-'.
type RedisError string

func (e RedisError) Error() string { return "redis: " + string(e) }

// ioTimeout bounds a read or a write when the context has no deadline, so that a
// wedged server cannot hang a test forever.
const ioTimeout = 10 * time.Second

// Conn is one connection to a Redis speaking RESP2: enough for tests to send
// commands and to read pushed messages (Pub/Sub). It is not safe for concurrent
// use.
type Conn struct {
	nc net.Conn
	rd *bufio.Reader
}

// Dial connects to the Redis at addr.
func Dial(ctx context.Context, addr string) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("redistest: dial %s: %w", addr, err)
	}
	return &Conn{nc: nc, rd: bufio.NewReader(nc)}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Send writes one command.
func (c *Conn) Send(ctx context.Context, args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	c.nc.SetWriteDeadline(deadline(ctx))
	if _, err := io.WriteString(c.nc, b.String()); err != nil {
		return fmt.Errorf("redistest: send %s: %w", args[0], err)
	}
	return nil
}

// Receive reads one reply or pushed message: a string (simple or bulk), an int64,
// nil (a null bulk or array) or a []any of these. An error reply is returned as a
// RedisError; inside an array it stays an element.
func (c *Conn) Receive(ctx context.Context) (any, error) {
	c.nc.SetReadDeadline(deadline(ctx))
	if ctx.Done() != nil {
		// Unblock the read when ctx is cancelled before its deadline.
		stop := context.AfterFunc(ctx, func() { c.nc.SetReadDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	v, err := readReply(c.rd)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("redistest: receive: %w", ctx.Err())
	}
	if re, ok := v.(RedisError); ok {
		return nil, re
	}
	return v, err
}

// Do sends one command and reads its reply (see Receive).
func (c *Conn) Do(ctx context.Context, args ...string) (any, error) {
	if err := c.Send(ctx, args...); err != nil {
		return nil, err
	}
	return c.Receive(ctx)
}

func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(ioTimeout)
}

// errProtocol means the server sent something that is not RESP2.
var errProtocol = errors.New("redistest: protocol error")

func readReply(rd *bufio.Reader) (any, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("redistest: read reply: %w", err)
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("%w: line %q", errProtocol, line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return RedisError(body), nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: integer %q", errProtocol, body)
		}
		return n, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("%w: bulk length %q", errProtocol, body)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, fmt.Errorf("redistest: read reply: %w", err)
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 {
			return nil, fmt.Errorf("%w: array length %q", errProtocol, body)
		}
		if n == -1 {
			return nil, nil
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = readReply(rd); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("%w: line %q", errProtocol, line)
}

// flatten renders a reply as redis-cli --raw does: strings as they are, integers
// in decimal, nil as "", array elements one a line (nested arrays flattened).
func flatten(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case RedisError:
		return string(v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = flatten(e)
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

// infoField returns the value of field in an INFO or CLUSTER INFO reply.
func infoField(info, field string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), field+":"); ok {
			return v
		}
	}
	return ""
}
