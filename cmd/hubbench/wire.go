package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// binarySize is the size of the binary payload (--payload binary).
const binarySize = 4 << 10

// blob is the binary payload: 4 KiB of every byte value but '|', so that the
// subscribers' marker scan ("B|seq|ns|") cannot match inside it.
var blob = func() []byte {
	b := make([]byte, binarySize)
	for i := range b {
		b[i] = byte(i * 7)
		if b[i] == '|' {
			b[i]++
		}
	}
	return b
}()

// wire is the hub protocol and payload of a hubbub broadcast or echo measurement.
// The zero value is JSON with the 128-byte text payload, as before --protocol.
type wire struct {
	proto  protocol.Protocol // nil: JSON
	binary bool              // [marker, 4 KiB of bytes] instead of the 128-byte text
}

// wiresOf combines the --protocol and --payload choices.
func wiresOf(protocols, payloads []string) ([]wire, error) {
	var out []wire
	for _, p := range protocols {
		var proto protocol.Protocol
		switch p {
		case "json":
		case "messagepack":
			proto = protocol.MessagePack
		default:
			return nil, fmt.Errorf("--protocol: %q is not json, messagepack or both", p)
		}
		for _, pl := range payloads {
			switch pl {
			case "text", "binary":
				out = append(out, wire{proto: proto, binary: pl == "binary"})
			default:
				return nil, fmt.Errorf("--payload: %q is not text, binary or both", pl)
			}
		}
	}
	return out, nil
}

// expand reads "both" as the two choices.
func expand(choice, a, b string) []string {
	if choice == "both" {
		return []string{a, b}
	}
	return splitList(choice)
}

func (w wire) messagePack() bool { return w.proto != nil && w.proto.Name() == "messagepack" }

// carriedBy: MessagePack needs a transport that carries binary (not SSE).
func (w wire) carriedBy(k transports.Kind) bool {
	return !w.messagePack() || k != transports.ServerSentEvents
}

// label records w in a result.
func (w wire) label(res *result) {
	if w.messagePack() {
		res.Protocol = "messagepack"
	}
	if w.binary {
		res.Payload = "binary"
	}
}

// appendPayload appends what the publisher sends as message seq: the 128-byte text
// payload, or with binary only its marker (the publisher adds the bytes).
func (w wire) appendPayload(dst []byte, seq int64, now time.Time) []byte {
	if !w.binary {
		return appendPayload(dst, seq, now)
	}
	dst = append(dst, "B|"...)
	dst = appendInt(dst, seq)
	dst = append(dst, '|')
	dst = appendInt(dst, now.UnixNano())
	return append(dst, '|')
}

// value is the hub-method argument for payload: the text itself, or [marker, bytes].
func (w wire) value(payload []byte) any {
	if w.binary {
		return []any{string(payload), blob}
	}
	return string(payload)
}

// echoPayload is the argument of every Echo of an echo measurement.
func (w wire) echoPayload(now time.Time) any { return w.value(w.appendPayload(nil, 0, now)) }

// checkEcho checks that an Echo returned what it was given, as the connection's
// protocol decodes it: bytes come back as bin under MessagePack, base64 under JSON.
func (w wire) checkEcho(res client.Result, sent any) error {
	if !w.binary {
		var got string
		if err := res.Decode(&got); err != nil || got != sent {
			return fmt.Errorf("echo: got %q, %v", got, err)
		}
		return nil
	}
	var tuple []any
	if err := res.Decode(&tuple); err != nil || len(tuple) != 2 {
		return fmt.Errorf("echo: got %d values, %v", len(tuple), err)
	}
	data, ok := tuple[1].([]byte)
	if text, isText := tuple[1].(string); isText && !w.messagePack() {
		var err error
		data, err = base64.StdEncoding.DecodeString(text)
		ok = err == nil
	}
	if tuple[0] != sent.([]any)[0] || !ok || !bytes.Equal(data, blob) {
		return fmt.Errorf("echo: got %v and %T back", tuple[0], tuple[1])
	}
	return nil
}

// protocolMarkdown is the MessagePack-against-JSON table of a run with --protocol
// both: for hubbub's broadcast (best round) and echo, per transport and payload,
// the rate and the hub-protocol bytes per message in each protocol, and their ratio.
func (rep *report) protocolMarkdown() string {
	if !slices.Contains(rep.Config.Protocols, "messagepack") || !slices.Contains(rep.Config.Protocols, "json") {
		return ""
	}
	find := func(scenario, transport, protocol, payload string) *result {
		for i, r := range rep.Best {
			if r.Scenario == scenario && r.Target == targetHubbub && r.Transport == transport && !r.Stateful &&
				(r.Protocol == protocol || protocol == "json" && r.Protocol == "") && r.Payload == payload {
				return &rep.Best[i]
			}
		}
		return nil
	}
	var b strings.Builder
	b.WriteString("### MessagePack against JSON (hubbub; broadcast: best round, echo: one measurement each)\n\n")
	b.WriteString("| scenario | transport | payload | JSON /s | MessagePack /s | **MessagePack / JSON** | JSON bytes in | MessagePack bytes in | **bytes MessagePack / JSON** | JSON bytes out | MessagePack bytes out | errors |\n")
	b.WriteString("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	rate := func(r *result) float64 {
		if r.Scenario == "echo" {
			return r.OpsPS
		}
		return r.DeliveriesPS
	}
	for _, scenario := range []string{"broadcast", "echo"} {
		for _, transport := range rep.Config.Transports {
			for _, payload := range []string{"", "binary"} {
				j, m := find(scenario, transport, "json", payload), find(scenario, transport, "messagepack", payload)
				if j == nil || m == nil {
					continue
				}
				name := "128 B text"
				if payload == "binary" {
					name = "4 KiB binary"
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %.0f | %.0f | **%s** | %.0f | %.0f | **%s** | %.0f | %.0f | %d / %d |\n",
					scenario, transport, name, rate(j), rate(m), ratio(rate(m), rate(j)),
					j.WireIn, m.WireIn, ratio(m.WireIn, j.WireIn), j.WireOut, m.WireOut, j.Errors, m.Errors)
			}
		}
	}
	b.WriteString("\nBytes are hub-protocol bytes per message (records with their separator or length prefix; " +
		"WebSocket, SSE and HTTP framing not counted): *in* as received by one subscriber per delivery (broadcast) " +
		"or by a client per round trip (echo), *out* as sent by the publisher per message or by a client per round trip.\n\n")
	return b.String()
}
