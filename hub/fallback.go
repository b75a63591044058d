package hub

// The client's fallback report (issue 17): after connecting, the bundled client
// says why it left each transport it tried before the one it is on, in one
// non-blocking invocation of FallbackTarget. The hub takes it before method
// lookup, checks it strictly and tells the Observer, if it is a
// FallbackObserver; it is never a hub method.

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// FallbackTarget is the target of the bundled client's fallback report: an
// Invocation without invocationId whose arguments are one object per transport
// the client left, {"transport": "WebSockets", "reason": "upgrade-refused"}
// (transport: a wire name; reason: one of FallbackObserver's). The hub counts
// the first report of a connection and ignores the rest. Hub method names
// beginning with "hubbub:" are reserved: On panics on them.
//
// A server without the report (an older Hubbub, ASP.NET Core SignalR) takes it
// for a fire-and-forget call of an unknown method: it logs it and answers nothing.
const FallbackTarget = "hubbub:fallback"

// reservedPrefix starts the names of the hub's own targets.
const reservedPrefix = "hubbub:"

// Bounds of a report: one entry per transport, each a small object.
const (
	maxFallbackEntries   = 3
	maxFallbackEntrySize = 256
)

// fallbackReasons are FallbackObserver's stable reasons; anything else counts
// as "failed".
var fallbackReasons = map[string]bool{
	"upgrade-refused": true, "frames-dropped": true, "stream-buffered": true, "requests-cut": true, "failed": true,
}

// checkMethodName refuses the names reserved for the hub's own targets.
func checkMethodName(name string) error {
	if len(name) >= len(reservedPrefix) && strings.EqualFold(name[:len(reservedPrefix)], reservedPrefix) {
		return fmt.Errorf("hub: method name %q is reserved (names beginning with %q are the hub's own)", name, reservedPrefix)
	}
	return nil
}

// isFallbackReport tells the report from other messages: a non-blocking
// Invocation of FallbackTarget. One with an invocationId goes on to method
// lookup and is answered as an unknown method.
func isFallbackReport(m *protocol.Message) bool {
	return m.Type == protocol.InvocationType && m.InvocationID == "" && strings.EqualFold(m.Target, FallbackTarget)
}

// fallbackReport takes the client's report: the first of the connection only,
// entries of unknown transports, the wrong shape or over their size skipped, a
// transport counted once, an unknown reason counted as "failed". A report of
// more entries than there are transports is dropped whole. Nothing it carries
// is logged.
func (c *Conn) fallbackReport(m *protocol.Message) {
	if c.reported {
		return
	}
	c.reported = true
	obs, ok := c.hub.opts.Observer.(FallbackObserver)
	if !ok {
		return
	}
	if len(m.Arguments) > maxFallbackEntries {
		c.hub.logSampled(slog.LevelDebug, "hub: fallback report dropped: too many entries", "hub", c.hub.opts.Name, "connection", c.id, "entries", len(m.Arguments))
		return
	}
	var seen transports.Kind
	for _, raw := range m.Arguments {
		var entry struct {
			Transport string `json:"transport"`
			Reason    string `json:"reason"`
		}
		if len(raw) > maxFallbackEntrySize || c.proto.DecodeValue(raw, &entry) != nil {
			continue
		}
		kind := fallbackKind(entry.Transport)
		if kind == 0 || seen&kind != 0 {
			continue
		}
		seen |= kind
		reason := entry.Reason
		if !fallbackReasons[reason] {
			reason = "failed"
		}
		obs.Fallback(c.hub.opts.Name, kind, reason)
	}
}

// fallbackKind reads a transport's wire name, exactly; 0 if it is none.
func fallbackKind(name string) transports.Kind {
	for _, k := range transports.Kinds {
		if name == k.String() {
			return k
		}
	}
	return 0
}
