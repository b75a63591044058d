package hub_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// Hostile MessagePack input: lying lengths (of a record, an array, a string),
// deep nesting, wrong types in message fields, unknown extensions, cut varints
// and records over the per-message limit. Each ends the attacker's connection
// with a MessagePack Close saying InvalidDataException, allocates nothing from
// what a length announces, and leaves the bystanders working.

// invalidDataClose starts the Close error of a connection that sent bad data.
const invalidDataClose = "Connection closed with an error. InvalidDataException: "

// mpRecord frames body (a msgpack array) with its varint length prefix.
func mpRecord(body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	var out []byte
	for n := len(b); ; n >>= 7 {
		if n < 0x80 {
			out = append(out, byte(n))
			break
		}
		out = append(out, byte(n)|0x80)
	}
	return append(out, b...)
}

// mpInvocationHead is the start of an Invocation record with id "1" and no
// headers, up to its target: [1, {}, "1", ...
var mpInvocationHead = []byte{0x95, 0x01, 0x80, 0xa1, '1'}

// mpEcho is an Echo invocation's head, up to its arguments array: [1, {}, "1", "Echo", ...
var mpEcho = append(append([]byte{}, mpInvocationHead...), 0xa4, 'E', 'c', 'h', 'o')

func msgpackCases() []hostileCase {
	deep := append(append([]byte{}, mpEcho...), 0x91) // Echo's arguments: one argument...
	deep = append(deep, bytes.Repeat([]byte{0x91}, 10_000)...)
	deep = append(deep, 0xc0) // ...of 10,000 arrays nested around nil
	bad := []struct {
		name     string
		unit     []byte
		contains string
	}{
		{"a record length prefix announcing more than the unit holds",
			append([]byte{0xe8, 0x07}, mpEcho...), "incomplete"}, // 1,000 bytes announced
		{"a length prefix of six bytes", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x90}, ""},
		{"a length prefix announcing 2^31 bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x08, 0x90}, ""},
		{"a truncated varint", []byte{0xff, 0xff}, "incomplete"},
		{"an array32 announcing 2^32-1 elements", mpRecord([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}), ""},
		{"a map32 announcing 2^32-1 headers", mpRecord([]byte{0x95, 0x01, 0xdf, 0xff, 0xff, 0xff, 0xff}), ""},
		{"arguments in an array32 of 2^32-1", mpRecord(mpEcho, []byte{0xdd, 0xff, 0xff, 0xff, 0xff}), ""},
		{"a str32 longer than the record", mpRecord(mpInvocationHead, []byte{0xdb, 0x7f, 0xff, 0xff, 0xff}, []byte("Echo")), ""},
		{"a bin32 argument longer than the record", mpRecord(mpEcho, []byte{0x91, 0xc6, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3}), ""},
		{"arguments nested 10,000 deep", mpRecord(deep), ""},
		{"an unknown extension type", mpRecord(mpEcho, []byte{0x91, 0xd4, 0x2a, 0x00}), ""},
		{"the message type as a string", mpRecord([]byte{0x95, 0xa1, '1', 0x80, 0xa1, '1', 0xa4, 'E', 'c', 'h', 'o', 0x90}), ""},
		{"the target as an integer", mpRecord(mpInvocationHead, []byte{0x2a, 0x90}), ""},
		{"the arguments as a map", mpRecord(mpEcho, []byte{0x80}), ""},
		{"the invocation id as an integer", mpRecord([]byte{0x95, 0x01, 0x80, 0x07, 0xa4, 'E', 'c', 'h', 'o', 0x90}), ""},
		{"the headers as an array", mpRecord([]byte{0x95, 0x01, 0x90, 0xa1, '1', 0xa4, 'E', 'c', 'h', 'o', 0x90}), ""},
		{"a record that is not an array", mpRecord([]byte{0xa3, 'a', 'b', 'c'}), ""},
		{"an empty record", []byte{0x00}, ""},
		{"a record with bytes after its array", mpRecord(mpEcho, []byte{0x90, 0xc0}), ""},
	}
	var cases []hostileCase
	for _, tc := range bad {
		for _, kind := range []transports.Kind{transports.WebSockets, transports.LongPolling} {
			cases = append(cases, hostileCase{name: "msgpack/" + kind.String() + "/" + tc.name, run: func(t *testing.T, e *env) {
				c := dialMsgPack(t, e.srv, kind, 1, false)
				c.sendUnit(t, tc.unit)
				c.wantClosePrefix(t, invalidDataClose, tc.contains)
			}})
		}
	}
	overLimit := func(id string) protocol.Message {
		arg, _ := mp.EncodeValue(strings.Repeat("x", hostileMaxReceive))
		return protocol.Message{Type: protocol.InvocationType, InvocationID: id, Target: "Echo", Arguments: []protocol.RawValue{arg}}
	}
	for _, kind := range []transports.Kind{transports.WebSockets, transports.LongPolling} {
		cases = append(cases,
			hostileCase{name: "msgpack/" + kind.String() + "/a record over the per-message limit behind a small one", run: func(t *testing.T, e *env) {
				c := dialMsgPack(t, e.srv, kind, 1, false)
				arg, _ := mp.EncodeValue("small")
				c.send(t, protocol.Message{Type: protocol.InvocationType, InvocationID: "small", Target: "Echo", Arguments: []protocol.RawValue{arg}}, overLimit("big"))
				c.wantClosePrefix(t, tooLargeClose, "TransportOptions.MaxReceiveSize")
			}},
			hostileCase{name: "msgpack/" + kind.String() + "/a record just within the per-message limit", run: func(t *testing.T, e *env) {
				c := dialMsgPack(t, e.srv, kind, 1, false)
				m := overLimit("fits")
				var unit []byte
				// Shorten the string argument until the record, prefix included, is the limit.
				for n := hostileMaxReceive; len(unit) != hostileMaxReceive; n-- {
					m.Arguments[0], _ = mp.EncodeValue(strings.Repeat("x", n))
					if unit, _ = mp.AppendMessage(nil, &m); len(unit) < hostileMaxReceive {
						t.Fatalf("no record of exactly %d bytes", hostileMaxReceive)
					}
				}
				c.sendUnit(t, unit)
				c.completion(t, "fits", nil)
				c.wantAlive(t)
			}},
			hostileCase{name: "msgpack/" + kind.String() + "/handshake and invocations in one unit", run: func(t *testing.T, e *env) {
				n := negotiate(t, e.srv)
				c := &mpConn{kind: kind, token: n.ConnectionToken}
				c.open(t, e.srv)
				unit := []byte(`{"protocol":"messagepack","version":1}` + rs)
				arg, _ := mp.EncodeValue("batched")
				unit, _ = mp.AppendMessage(unit, &protocol.Message{Type: protocol.InvocationType, InvocationID: "b", Target: "Echo", Arguments: []protocol.RawValue{arg}})
				c.sendUnit(t, unit)
				if errText, rest, err := protocol.ParseHandshakeResponse(c.readUnit(t)); err != nil || errText != "" {
					t.Fatalf("handshake reply: %q %v", errText, err)
				} else {
					c.parse(t, rest)
				}
				var s string
				if c.completion(t, "b", &s); s != "batched" {
					t.Errorf("Echo %q", s)
				}
			}},
		)
	}
	return cases
}
