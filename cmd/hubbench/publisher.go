package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// publisher sends the broadcasts of a measurement.
type publisher interface {
	// publish sends payload to every subscriber, or to group's members when group
	// is set (hubbub and centrifuge, whose groups are channels).
	publish(ctx context.Context, payload []byte, group string) error
	close()
}

// newPublisher connects the publishing side for target over conns connections
// (hubbub and centrifuge; the raw baseline takes one): hubbub is driven through
// the Go client (invoking the conformance hub's Broadcast and SendToGroup), the raw
// baseline takes the payload as a text message, centrifuge a publish command. Both
// servers handle one command of a connection at a time, so conns bounds the
// publishes in progress: on one node a publish returns once queued to the local
// subscribers and 4 keep up, but in a cluster each one waits for Redis.
func newPublisher(ctx context.Context, d *dialer, base, target string, w wire, conns int) (publisher, error) {
	switch target {
	case targetHubbub:
		return newHubbubPublisher(ctx, d, base, conns, w)
	case targetRaw, targetCentrifuge:
		p := &wsPublisher{centrifuge: target == targetCentrifuge}
		if target == targetRaw {
			conns = 1
		}
		for range max(1, conns) {
			var c subConn
			var err error
			if target == targetRaw {
				c, err = dialRawWS(ctx, d, base)
			} else {
				c, err = dialCentrifuge(ctx, d.ws[d.pick()], base, "")
			}
			if err != nil {
				p.close()
				return nil, err
			}
			go func() { // the publisher is a receiver too: read and drop, answer pings
				for {
					unit, err := c.recv()
					if err != nil {
						return
					}
					if string(unit) == "{}" {
						c.send(unit)
					}
				}
			}()
			p.conns = append(p.conns, c)
		}
		return p, nil
	}
	return nil, fmt.Errorf("unknown target %q", target)
}

func dialRawWS(ctx context.Context, d *dialer, base string) (*wsSub, error) {
	ws, _, err := d.ws[d.pick()].DialContext(ctx, "ws://"+base+rawPath, nil)
	if err != nil {
		return nil, err
	}
	return &wsSub{ws: ws}, nil
}

type wsPublisher struct {
	conns      []subConn // round-robin
	next       int
	centrifuge bool
	id         int64
	buf        []byte
}

func (p *wsPublisher) publish(_ context.Context, payload []byte, group string) error {
	c := p.conns[p.next%len(p.conns)]
	p.next++
	if !p.centrifuge {
		if group != "" {
			return errors.New("the raw baseline has no groups")
		}
		return c.send(payload)
	}
	channel := benchChannel
	if group != "" {
		channel = group
	}
	p.id++
	p.buf = append(p.buf[:0], `{"id":`...)
	p.buf = appendInt(p.buf, p.id)
	p.buf = append(p.buf, `,"publish":{"channel":"`...)
	p.buf = append(p.buf, channel...)
	p.buf = append(p.buf, `","data":"`...)
	p.buf = append(p.buf, payload...)
	p.buf = append(p.buf, `"}}`...)
	return c.send(p.buf)
}

func (p *wsPublisher) close() {
	for _, c := range p.conns {
		c.close()
	}
}

// hubbubPublisher round-robins over lean WebSocket connections writing
// Broadcast / SendToGroup invocations of the conformance hub, so that the server's
// one-invocation-at-a-time rule per connection does not serialize everything, and
// so that publishing costs the load generator what it costs for the baselines (one
// WebSocket write in the publishing goroutine). The Go client publisher was
// measurably slower under GOMAXPROCS=1: each Send waits for its writer goroutine,
// which queues behind thousands of runnable subscriber goroutines.
//
// With a wire other than JSON text, each invocation is encoded by the protocol
// (hub/protocol) instead of by hand: [marker, 4 KiB of bytes] for binary payloads.
type hubbubPublisher struct {
	conns []subConn
	next  int
	buf   []byte
	wire  wire
	bytes int64 // hub-protocol bytes sent
}

func newHubbubPublisher(ctx context.Context, d *dialer, base string, n int, w wire) (*hubbubPublisher, error) {
	p := &hubbubPublisher{wire: w}
	for range n {
		c, err := dialHubbub(ctx, d, d.pick(), base, transports.WebSockets, "", false, w.proto, nil)
		if err != nil {
			p.close()
			return nil, err
		}
		go func() { // publishers receive the broadcasts too: drop them
			for {
				if _, err := c.recv(); err != nil {
					return
				}
			}
		}()
		p.conns = append(p.conns, c)
	}
	return p, nil
}

func (p *hubbubPublisher) publish(_ context.Context, payload []byte, group string) error {
	c := p.conns[p.next%len(p.conns)]
	p.next++
	if p.wire.proto != nil || p.wire.binary {
		return p.publishEncoded(c, payload, group)
	}
	if group != "" {
		p.buf = append(p.buf[:0], `{"type":1,"target":"SendToGroup","arguments":["`...)
		p.buf = append(p.buf, group...)
		p.buf = append(p.buf, `","tick","`...)
	} else {
		p.buf = append(p.buf[:0], `{"type":1,"target":"Broadcast","arguments":["tick","`...)
	}
	p.buf = append(p.buf, payload...)
	p.buf = append(p.buf, "\"]}\x1e"...)
	p.bytes += int64(len(p.buf))
	return c.send(p.buf)
}

// publishEncoded sends Broadcast / SendToGroup encoded by the wire's protocol.
func (p *hubbubPublisher) publishEncoded(c subConn, payload []byte, group string) error {
	proto := p.wire.proto
	if proto == nil {
		proto = protocol.JSON
	}
	m := protocol.Message{Type: protocol.InvocationType, Target: "Broadcast"}
	args := []any{"tick", p.wire.value(payload)}
	if group != "" {
		m.Target, args = "SendToGroup", append([]any{group}, args...)
	}
	for _, a := range args {
		raw, err := proto.EncodeValue(a)
		if err != nil {
			return err
		}
		m.Arguments = append(m.Arguments, raw)
	}
	var err error
	if p.buf, err = proto.AppendMessage(p.buf[:0], &m); err != nil {
		return err
	}
	p.bytes += int64(len(p.buf))
	return c.send(p.buf)
}

func (p *hubbubPublisher) close() {
	for _, c := range p.conns {
		c.close()
	}
}

// dialGoClient connects a Go client from one of the dialer's source addresses.
// proto nil is JSON.
func dialGoClient(ctx context.Context, d *dialer, base string, kind transports.Kind, proto protocol.Protocol) (*client.Conn, error) {
	return client.Dial(ctx, "http://"+base+hubPath, client.Options{
		Transports: kind,
		Protocol:   proto,
		HTTPClient: d.clients[d.pick()],
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}
