package hub

import (
	"fmt"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// recordsWithin returns the records of unit before the first one over limit bytes
// (with its framing: a JSON record's separator, a MessagePack record's length
// prefix; an unterminated or cut tail counts whole), and whether there was one. A
// unit holds whole records: clients pack many into one WebSocket message or POST,
// so the limit of one hub message (TransportOptions.MaxReceiveSize) is applied to
// each, as ASP.NET Core applies MaximumReceiveMessageSize.
func recordsWithin(p protocol.Protocol, unit []byte, limit int64) (within []byte, oversized bool) {
	if int64(len(unit)) <= limit {
		return unit, false
	}
	for start := 0; start < len(unit); {
		end := start + recordLen(p, unit[start:])
		if int64(end-start) > limit {
			return unit[:start], true
		}
		start = end
	}
	return unit, false
}

// recordLen is the length of the first record of data in protocol p with its
// framing, or len(data) when data does not hold one whole record (the parser
// tells what is wrong with it).
func recordLen(p protocol.Protocol, data []byte) int {
	_, rest, ok, err := protocol.SplitRecord(p, data)
	if !ok || err != nil {
		return len(data)
	}
	return len(data) - len(rest)
}

// messageTooLarge is what a client whose message broke the per-message limit is
// told (the text of ASP.NET Core's InvalidDataException, naming our option), and
// why its connection ended.
func messageTooLarge(limit int64) (text string, reason error) {
	return fmt.Sprintf("InvalidDataException: The maximum message size of %dB was exceeded. The message size can be configured with TransportOptions.MaxReceiveSize.", limit),
		fmt.Errorf("hub: a message over %d bytes: %w", limit, transports.ErrTooLarge)
}

// maxBatch caps what the writer packs into one unit when many messages are queued
// (one larger message goes alone). Clients bound what they read at once (the Go
// client's MaxReceiveSize), and a poll answer carrying a backlog of hundreds of
// messages must stay within that. ASP.NET Core hands its transports about as much
// at once (a 64 KiB pipe threshold).
const maxBatch = 64 << 10

// batchLen returns how many messages at the head of queue the next unit carries:
// at least one, and more while they fit in maxBatch bytes.
func batchLen(queue [][]byte) int {
	n, size := 0, 0
	for n < len(queue) && (n == 0 || size+len(queue[n]) <= maxBatch) {
		size += len(queue[n])
		n++
	}
	return n
}
