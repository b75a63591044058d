package hub

import (
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/internal/transport"
)

// protocols are the hub protocols a client may name in its handshake. A message
// for many connections is encoded at most once for each (see Envelope).
var protocols = [...]protocol.Protocol{protocol.JSON, protocol.MessagePack}

// protocolNamed returns the protocol whose handshake name is name, or nil.
func protocolNamed(name string) protocol.Protocol {
	for _, p := range protocols {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// protocolIndex is p's place in protocols, for per-protocol caches.
func protocolIndex(p protocol.Protocol) int {
	for i, q := range protocols {
		if q == p {
			return i
		}
	}
	return 0
}

// Protocol is the hub protocol the client named in its handshake ([protocol.JSON]
// or [protocol.MessagePack]), nil before the handshake. Decode the result of
// Invoke with its DecodeValue.
func (c *Conn) Protocol() protocol.Protocol {
	if !c.handshaken.Load() {
		return nil
	}
	return c.proto
}

// binary reports whether the connection's handshake chose a binary protocol.
func (c *Conn) binary() bool {
	return c.handshaken.Load() && isBinary(c.proto)
}

// setFrameTypeLocked has a transport that types its messages (WebSockets) send
// binary ones once the handshake chose a binary protocol; the handshake reply
// already goes in one, as ASP.NET Core sends it. Both the handshake and attach
// call it: the handshake may arrive before the transport is attached. c.mu is
// held.
func (c *Conn) setFrameTypeLocked() {
	if bs, ok := c.transport.(transport.BinarySetter); ok && c.binary() {
		bs.SetBinary(true)
	}
}

// isBinary reports whether p needs a transport that carries binary data.
func isBinary(p protocol.Protocol) bool {
	return p.TransferFormat() == protocol.BinaryFormat
}

// encodeArgs encodes values in p's value encoding; see encodeValue for src.
func encodeArgs(p, src protocol.Protocol, args []any) ([]protocol.RawValue, error) {
	raw := make([]protocol.RawValue, len(args))
	for i, a := range args {
		v, err := encodeValue(p, src, a)
		if err != nil {
			return nil, fmt.Errorf("argument %d (%s): %w", i+1, p.Name(), err)
		}
		raw[i] = v
	}
	return raw, nil
}

// encodeValue encodes v in p's value encoding. A protocol.RawValue is taken to be
// in src's encoding (nil: JSON's), a json.RawMessage in JSON's: it goes out
// unchanged to receivers of that protocol and is converted, through the Go value
// it decodes to, for the others. So a handler may pass on a value of a
// MessagePack caller's as it got it, to receivers of either protocol.
func encodeValue(p, src protocol.Protocol, v any) (protocol.RawValue, error) {
	var raw []byte
	switch r := v.(type) {
	case protocol.RawValue:
		raw = r
	case json.RawMessage:
		raw, src = r, protocol.JSON
	default:
		return p.EncodeValue(v)
	}
	if src == nil {
		src = protocol.JSON
	}
	if src == p || raw == nil {
		return p.EncodeValue(v)
	}
	var value any
	if err := src.DecodeValue(raw, &value); err != nil {
		return nil, fmt.Errorf("converting a %s value: %w", src.Name(), err)
	}
	return p.EncodeValue(withNumbers(value))
}

// withNumbers replaces the json.Numbers in a decoded JSON value by int64 or
// float64, which other encodings write as numbers rather than strings.
func withNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = withNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = withNumbers(e)
		}
	}
	return v
}

// stored returns the arguments in p's form as the envelope carries them, if it
// does. JSON is always there; MessagePack when the sender encoded it.
func (e *Envelope) stored(p protocol.Protocol) ([]protocol.RawValue, bool) {
	forms := e.MessagePackArgs
	switch {
	case p == protocol.JSON:
		raw := make([]protocol.RawValue, len(e.Args))
		for i, a := range e.Args {
			raw[i] = protocol.RawValue(a)
		}
		return raw, true
	case p != protocol.MessagePack || len(forms) != len(e.Args):
		return nil, false
	}
	raw := make([]protocol.RawValue, len(forms))
	for i, f := range forms {
		raw[i] = f
	}
	return raw, true
}

// argsFor returns the arguments encoded for p: as carried, else encoded from the
// sender's Go values, else converted from their JSON form.
func (e *Envelope) argsFor(p protocol.Protocol) ([]protocol.RawValue, error) {
	if raw, ok := e.stored(p); ok {
		return raw, nil
	}
	if e.values != nil {
		return encodeArgs(p, e.src, e.values)
	}
	args := make([]any, len(e.Args))
	for i, a := range e.Args {
		args[i] = a
	}
	return encodeArgs(p, protocol.JSON, args)
}

// encodeAll fills in the arguments' form of every protocol the envelope lacks,
// before it leaves this process: every node then frames it for its receivers
// without encoding a value.
func (e *Envelope) encodeAll() error {
	if e.MessagePackArgs != nil || len(e.Args) == 0 {
		return nil
	}
	raw, err := e.argsFor(protocol.MessagePack)
	if err != nil {
		return err
	}
	e.MessagePackArgs = make([][]byte, len(raw))
	for i, r := range raw {
		e.MessagePackArgs[i] = r
	}
	return nil
}

// frame encodes the envelope's invocation for receivers speaking p.
func (e *Envelope) frame(p protocol.Protocol) ([]byte, error) {
	args, err := e.argsFor(p)
	if err != nil {
		return nil, err
	}
	if hook := encodeHook.Load(); hook != nil {
		(*hook)(p)
	}
	return p.AppendMessage(nil, &protocol.Message{Type: protocol.InvocationType, Target: e.Method, Arguments: args})
}

// encodeHook, when set (by tests), is told of every frame an envelope is encoded
// into.
var encodeHook atomic.Pointer[func(protocol.Protocol)]
