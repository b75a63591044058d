package protocol_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/hub/protocol"
)

// payload128 is a 128-byte argument encoded as a JSON string, the size hubbench
// broadcasts.
var payload128 = protocol.RawValue(`"` + strings.Repeat("x", 126) + `"`)

// BenchmarkAppendMessage encodes what a broadcast sends: an invocation without an
// ID, a target and a 128-byte argument. The hub encodes it once per broadcast.
func BenchmarkAppendMessage(b *testing.B) {
	tests := []struct {
		name string
		msg  protocol.Message
	}{
		{"invocation-128B", protocol.Message{Type: protocol.InvocationType, Target: "tick", Arguments: []protocol.RawValue{payload128}}},
		{"completion-128B", protocol.Message{Type: protocol.CompletionType, InvocationID: "42", Result: payload128}},
		{"ping", protocol.Message{Type: protocol.PingType}},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var err error
				buf, err = protocol.JSON.AppendMessage(buf[:0], &tc.msg)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
		b.Run(tc.name+"/nil-dst", func(b *testing.B) {
			// As hub.deliver and Conn.encode call it: a fresh slice each time.
			b.ReportAllocs()
			for b.Loop() {
				if _, err := protocol.JSON.AppendMessage(nil, &tc.msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeValue encodes one argument, as Target.Send does for each.
func BenchmarkEncodeValue(b *testing.B) {
	s := strings.Repeat("x", 126)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := protocol.JSON.EncodeValue(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseMessages parses units as clients send them: one invocation, a batch
// of 16 records in one unit (what a busy client's writer joins), and a ping.
func BenchmarkParseMessages(b *testing.B) {
	inv := []byte("{\"type\":1,\"invocationId\":\"7\",\"target\":\"Broadcast\",\"arguments\":[\"tick\"," + string(payload128) + "]}\x1e")
	tests := []struct {
		name string
		unit []byte
		n    int
	}{
		{"invocation-128B", inv, 1},
		{"batch-16", bytes.Repeat(inv, 16), 16},
		{"ping", []byte("{\"type\":6}\x1e"), 1},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.unit)))
			var dst []protocol.Message
			for b.Loop() {
				var err error
				dst, err = protocol.JSON.ParseMessages(tc.unit, dst[:0])
				if err != nil || len(dst) != tc.n {
					b.Fatal(len(dst), err)
				}
			}
		})
	}
}

// protocolPayloads are the arguments the MessagePack/JSON comparison uses: a 128-byte
// text and a 4 KiB binary payload, each encoded by its protocol's EncodeValue (so the
// binary one is base64 under JSON and bin under MessagePack).
func protocolPayloads(b *testing.B, p protocol.Protocol) map[string]protocol.RawValue {
	text, err := p.EncodeValue(strings.Repeat("x", 128))
	if err != nil {
		b.Fatal(err)
	}
	bin, err := p.EncodeValue(bytes.Repeat([]byte{0xa5}, 4096))
	if err != nil {
		b.Fatal(err)
	}
	return map[string]protocol.RawValue{"text-128B": text, "binary-4KiB": bin}
}

var benchProtocols = []protocol.Protocol{protocol.JSON, protocol.MessagePack}

// BenchmarkMessagePackAppend encodes a broadcast invocation with one argument under
// both protocols, and reports the bytes each puts on the wire per message.
func BenchmarkMessagePackAppend(b *testing.B) {
	for _, p := range benchProtocols {
		for _, size := range []string{"text-128B", "binary-4KiB"} {
			b.Run(p.Name()+"/"+size, func(b *testing.B) {
				msg := protocol.Message{Type: protocol.InvocationType, Target: "tick",
					Arguments: []protocol.RawValue{protocolPayloads(b, p)[size]}}
				b.ReportAllocs()
				var buf []byte
				for b.Loop() {
					var err error
					if buf, err = p.AppendMessage(buf[:0], &msg); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(len(buf)))
				b.ReportMetric(float64(len(buf)), "wire-B/msg")
			})
		}
	}
}

// BenchmarkMessagePackParse parses an invocation from a client with a target and one
// argument under both protocols.
func BenchmarkMessagePackParse(b *testing.B) {
	for _, p := range benchProtocols {
		for _, size := range []string{"text-128B", "binary-4KiB"} {
			b.Run(p.Name()+"/"+size, func(b *testing.B) {
				msg := protocol.Message{Type: protocol.InvocationType, InvocationID: "7", Target: "Broadcast",
					Arguments: []protocol.RawValue{protocolPayloads(b, p)[size]}}
				unit, err := p.AppendMessage(nil, &msg)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(unit)))
				var dst []protocol.Message
				for b.Loop() {
					if dst, err = p.ParseMessages(unit, dst[:0]); err != nil || len(dst) != 1 {
						b.Fatal(len(dst), err)
					}
				}
			})
		}
	}
}

// BenchmarkMessagePackEncodeValue encodes the two payloads as Target.Send does for
// each argument, under both protocols.
func BenchmarkMessagePackEncodeValue(b *testing.B) {
	values := map[string]any{"text-128B": strings.Repeat("x", 128), "binary-4KiB": bytes.Repeat([]byte{0xa5}, 4096)}
	for _, p := range benchProtocols {
		for _, size := range []string{"text-128B", "binary-4KiB"} {
			b.Run(p.Name()+"/"+size, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.EncodeValue(values[size]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
