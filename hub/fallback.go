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
// Invocation without invocationId whose one argument maps each transport the
// client left (its wire name) to why (one of FallbackObserver's reasons):
//
//	{"type":1,"target":"hubbub:fallback","arguments":[{"WebSockets":"upgrade-refused"}]}
//
// The hub counts the first report of a connection and ignores the rest. Hub
// method names beginning with "hubbub:" are reserved: On panics on them.
//
// A server without the report (an older Hubbub, ASP.NET Core SignalR) takes it
// for a fire-and-forget call of an unknown method: it logs it and answers nothing.
const FallbackTarget = "hubbub:fallback"

// reservedPrefix starts the names of the hub's own targets.
const reservedPrefix = "hubbub:"

// maxFallbackReportSize bounds a report's argument: three transports with the
// longest names and reasons take about 110 bytes.
const maxFallbackReportSize = 256

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

// fallbackReport takes the client's report, the first of the connection only.
// A report is one object of at most one entry per transport: anything else
// (more arguments, an argument too large, not an object of strings, more
// entries than there are transports) is dropped whole. Keys that are not a
// transport's wire name are skipped, and a reason not among the stable ones
// counts as "failed". Nothing the report carries is logged.
func (c *Conn) fallbackReport(m *protocol.Message) {
	if c.reported {
		return
	}
	c.reported = true
	obs, ok := c.hub.opts.Observer.(FallbackObserver)
	if !ok || len(m.Arguments) == 0 {
		return
	}
	var left map[string]string
	if len(m.Arguments) > 1 || len(m.Arguments[0]) > maxFallbackReportSize ||
		c.proto.DecodeValue(m.Arguments[0], &left) != nil || len(left) > len(transports.Kinds) {
		c.hub.logSampled(slog.LevelDebug, "hub: malformed fallback report dropped", "hub", c.hub.opts.Name, "connection", c.id,
			"arguments", len(m.Arguments), "bytes", len(m.Arguments[0]))
		return
	}
	for _, kind := range transports.Kinds {
		reason, ok := left[kind.String()]
		if !ok {
			continue
		}
		if !fallbackReasons[reason] {
			reason = "failed"
		}
		obs.Fallback(c.hub.opts.Name, kind, reason)
	}
}
