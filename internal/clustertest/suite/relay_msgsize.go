package suite

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/internal/clustertest"
	"github.com/hubbub-go/hubbub/transports"
)

// RelayedLinkSizeLimits: a link relayed to the node holding its
// connection takes a unit packed with 400 small invocations, as the official
// client sends them, and a message over the per-message limit closes the
// connection with the protocol's Close message, as on a local link.
func RelayedLinkSizeLimits[B RelayCrashable](t *testing.T, c *clustertest.Cluster[B]) {
	for _, kind := range []transports.Kind{transports.WebSockets, transports.ServerSentEvents} {
		t.Run(kind.String(), func(t *testing.T) {
			sc := relayedOn(t, c, kind)
			const calls = 400
			value := strings.Repeat("x", 50)
			records := make([]string, calls)
			for i := range records {
				records[i] = fmt.Sprintf(`{"type":1,"invocationId":"p%d","target":"Echo","arguments":[%q]}`, i, value)
			}
			sc.Send(t, records...) // one unit of about 45 KB
			for i := range calls {
				r := sc.Take(t)
				if r.Type != 3 || r.InvocationID != fmt.Sprint("p", i) || string(r.Result) != `"`+value+`"` {
					t.Fatalf("completion %d of %d: %+v", i, calls, r)
				}
			}

			sc.Send(t, `{"type":1,"invocationId":"big","target":"Echo","arguments":["`+strings.Repeat("x", transports.DefaultMaxReceiveSize)+`"]}`)
			want := "The maximum message size of 32768B was exceeded"
			for {
				r := sc.Link.Next(t)
				if r.Type == 7 {
					if !strings.Contains(r.Error, want) {
						t.Fatalf("Close %q, want it to say %q", r.Error, want)
					}
					break
				}
			}
		})
	}
}
