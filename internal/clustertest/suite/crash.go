package suite

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/internal/clustertest"
	"github.com/hubbub-go/hubbub/transports"
)

// Crashable is a backplane whose tests can crash it: Crash stops it as a killed
// process would stop (no goodbye, no cleanup), and PendingCalls tells how many
// requests it awaits the answer of from other nodes.
type Crashable interface {
	clustertest.Backplane
	Crash()
	PendingCalls() int
}

// RelayCrashable is a Crashable backplane that relays links (hub.LinkRelay) and
// tells how many it relays or has relayed to it.
type RelayCrashable interface {
	Crashable
	RelayedLinks() int
}

// OwnerCrash crashes the node that holds a long-polling connection whose
// requests all land on another node (node 0 negotiated it, node 1 relays its polls,
// POSTs and DELETEs), and checks what the client sees: a 404 "No Connection with
// that ID" within bound (what the backplane promises, plus slack for a loaded
// machine), so that it starts a new connection at once instead of waiting for
// the relay's timeout. start starts a cluster of two nodes whose hubs hold polls
// far longer than bound.
func OwnerCrash[B Crashable](t *testing.T, start func(*testing.T) *clustertest.Cluster[B], bound time.Duration) {
	t.Run("poll in flight", func(t *testing.T) {
		c := start(t)
		cl := DialSplit(t, c.Nodes[0].URL, c.Nodes[1].URL, transports.LongPolling)
		WaitFor(t, "a poll relayed to the owner", func() bool { return c.Nodes[1].Backplane.PendingCalls() > 0 })
		crashed := time.Now()
		c.Nodes[0].Backplane.Crash()
		WantPollGone(t, cl, crashed, "the crash", bound)
	})

	for _, method := range []string{http.MethodPost, http.MethodDelete} {
		t.Run(method+" after the crash", func(t *testing.T) {
			c := start(t)
			cl := DialSplit(t, c.Nodes[0].URL, c.Nodes[1].URL, transports.LongPolling)
			crashed := time.Now()
			c.Nodes[0].Backplane.Crash()
			ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, method, cl.URL(""), strings.NewReader(`{"type":6}`+"\x1e"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", method, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(crashed)
			t.Logf("%s answered %d %q %v after the crash", method, resp.StatusCode, body, took.Round(time.Millisecond))
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "No Connection with that ID") {
				t.Errorf("%s: %d %q, want 404 No Connection with that ID", method, resp.StatusCode, body)
			}
			if took > bound {
				t.Errorf("%s answered %v after the crash, want within %v", method, took, bound)
			}
			http.DefaultClient.CloseIdleConnections()
		})
	}
}

// WantPollGone checks that the relayed poll of cl, in flight when its owner died at
// crashed, was answered 404 within bound.
func WantPollGone(t *testing.T, cl *Client, crashed time.Time, what string, bound time.Duration) {
	t.Helper()
	select {
	case <-cl.Done():
	case <-time.After(WaitTimeout):
		t.Fatalf("the relayed poll was not answered within %s of %s", WaitTimeout, what)
	}
	took := time.Since(crashed)
	t.Logf("relayed poll answered %v after %s: %v", took.Round(time.Millisecond), what, cl.Err())
	if cl.Err() == nil || !strings.Contains(cl.Err().Error(), "status 404: No Connection with that ID") {
		t.Errorf("poll ended with %v, want 404 No Connection with that ID", cl.Err())
	}
	if took > bound {
		t.Errorf("relayed poll answered %v after %s, want within %v", took, what, bound)
	}
}

// RelayNodeCrash crashes one side of a relayed link and checks that the other
// side lets go of it within bound: when the owner dies, the client's link
// on the front ends and its resume gets 404; when the front dies, the owner's
// connection waits for a resume, which succeeds on the owner.
func RelayNodeCrash[B RelayCrashable](t *testing.T, start func(*testing.T) *clustertest.Cluster[B], bound time.Duration) {
	for _, kind := range []transports.Kind{transports.WebSockets, transports.ServerSentEvents} {
		t.Run("owner/"+kind.String(), func(t *testing.T) {
			c := start(t)
			sc := relayedOn(t, c, kind)
			crashed := time.Now()
			c.Nodes[0].Backplane.Crash()
			select {
			case <-sc.Link.Ended():
			case <-time.After(WaitTimeout):
				t.Fatalf("the relayed link outlived its owner by %v", WaitTimeout)
			}
			took := time.Since(crashed)
			t.Logf("relayed link ended %v after the owner's crash", took.Round(time.Millisecond))
			if took > bound {
				t.Errorf("relayed link ended %v after the crash, want within %v", took, bound)
			}
			if status := sc.Resume(t, c.Nodes[1].URL); status != http.StatusNotFound {
				t.Errorf("resume after the owner's crash: HTTP %d, want 404", status)
			}
		})
		t.Run("front/"+kind.String(), func(t *testing.T) {
			c := start(t)
			sc := relayedOn(t, c, kind)
			crashed := time.Now()
			c.Nodes[1].Backplane.Crash()
			WaitFor(t, "the owner to let go of the relayed link", func() bool { return c.Nodes[0].Backplane.RelayedLinks() == 0 })
			took := time.Since(crashed)
			t.Logf("owner let go of the relayed link %v after the front's crash", took.Round(time.Millisecond))
			if took > bound {
				t.Errorf("owner let go %v after the crash, want within %v", took, bound)
			}
			sc.Link.Cut()
			if status := sc.Resume(t, c.Nodes[0].URL); status != 0 {
				t.Fatalf("resume on the owner: HTTP %d", status)
			}
			if r := sc.Call(t, "a", "Add", 2, 3); string(r.Result) != "5" {
				t.Errorf("Add = %s", r.Result)
			}
		})
	}
}

// relayedOn opens a stateful connection on node 0 and resumes it on node 1.
func relayedOn[B RelayCrashable](t *testing.T, c *clustertest.Cluster[B], kind transports.Kind) *StatefulClient {
	t.Helper()
	sc := DialStateful(t, c.Nodes[0].URL, kind)
	sc.Call(t, "1", "Add", 1, 1)
	sc.Link.Cut()
	if status := sc.Resume(t, c.Nodes[1].URL); status != 0 {
		t.Fatalf("resume on node 1: HTTP %d", status)
	}
	if r := sc.Call(t, "2", "Echo", "relayed"); string(r.Result) != `"relayed"` {
		t.Fatalf("Echo over the relay: %s", r.Result)
	}
	if n := c.Nodes[1].Backplane.RelayedLinks(); n != 1 {
		t.Fatalf("node 1 relays %d links, want 1", n)
	}
	return sc
}
