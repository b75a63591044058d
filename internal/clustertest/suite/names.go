package suite

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/internal/clustertest"
	"github.com/hubbub-go/hubbub/transports"
)

// HostileNames checks that group names, user IDs and connection tokens are free
// text to the backplane: names with the characters that mean something to a
// broker (Redis Cluster hash tags, glob and NATS wildcard characters, separators,
// spaces, NUL), unicode, the empty name and very long names each reach exactly
// their own receivers across nodes, never another name's; and that a request
// whose connection token is very long is refused without harming the node's link
// to the broker. Presence (Groups.Members) tells each group's one member. The
// cluster needs two nodes.
func HostileNames[B clustertest.Backplane](t *testing.T, c *clustertest.Cluster[B]) {
	ctx := context.Background()
	a, b := c.Nodes[0], c.Nodes[1]
	long := strings.Repeat("x", 5000)
	names := []string{
		"", "{x}", "a}{b", "{", "}", "{}", "*", "?", "[ab]", "a*", "a:b", "g:a", "u:a", "a",
		"a.b", ".", "..", "*.>", ">", "a b", " ", "\t", "\x00", "a\x00b", "ü日本語", long, long + "y",
		"\xff", "\xfe", "\ufffd", // invalid UTF-8, and what a decoder turns it into
	}

	// A forwarded request (it names no connection of the node it lands on) with a
	// token far longer than any this server mints: 404, as for any unknown token.
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		req, err := http.NewRequest(method, b.URL+"/hubs/conformance?id="+url.QueryEscape(long), strings.NewReader("{}\x1e"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s with a %d-byte token: %d, want 404", method, len(long), resp.StatusCode)
		}
	}

	// A connection negotiated on one node and opened on the other (its session
	// claimed, its POSTs forwarded) keeps its user, whatever the user's ID.
	for _, user := range []string{"ü日本語", "\xff", "a\x00b", long} {
		for _, kind := range []transports.Kind{transports.WebSockets, transports.ServerSentEvents, transports.LongPolling} {
			cl, err := TryDialSplit(t, a.URL+"/hubs/conformance", b.URL+"/hubs/conformance", user, kind)
			if err != nil {
				t.Errorf("user %q over %s, negotiated on one node and opened on the other: %v", abbrev(user), kind, err)
				continue
			}
			// Both nodes send to the user at once: the one holding the connection
			// has its user from the claim (or, for long polling, kept it), and the
			// other's send finds the user's subscription made, since the client
			// got its handshake reply only then.
			for i, n := range []*clustertest.Node[B]{a, b} {
				if err := n.Conformance.Clients().User(user).Send(ctx, "split", i); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for range 2 {
				m, err := cl.Next()
				if err != nil || m.Target != "split" {
					t.Fatalf("user %q over %s: got %v, then %v %v, want split", abbrev(user), kind, got, m.Target, err)
				}
				got = append(got, string(m.Arguments[0]))
			}
			cl.Close()
		}
	}

	clients := make([]*Client, len(names))
	for i, name := range names {
		clients[i] = Dial(t, a.URL+"/hubs/conformance", name, transports.WebSockets)
		if err := a.Conformance.Groups().Add(ctx, clients[i].ID, name); err != nil {
			t.Fatalf("join group %q: %v", abbrev(name), err)
		}
	}
	// Presence, asked on the other node.
	for i, name := range names {
		members, err := b.Conformance.Groups().Members(ctx, name)
		if err != nil {
			t.Fatalf("members of group %q: %v", abbrev(name), err)
		}
		if !slices.Equal(members, []string{clients[i].ID}) {
			t.Errorf("members of group %q: %v, want [%s]", abbrev(name), members, clients[i].ID)
		}
	}
	sender := b.Conformance.Clients()
	for i, name := range names {
		if err := sender.Group(name).Send(ctx, "group", i); err != nil {
			t.Fatalf("send to group %q: %v", abbrev(name), err)
		}
		if name != "" { // "" is the anonymous user: no user to send to
			if err := sender.User(name).Send(ctx, "user", i); err != nil {
				t.Fatalf("send to user %q: %v", abbrev(name), err)
			}
		}
		if err := sender.Client(clients[i].ID).Send(ctx, "connection", i); err != nil {
			t.Fatalf("send to connection %d: %v", i, err)
		}
	}
	if err := sender.All().Send(ctx, "sentinel"); err != nil {
		t.Fatal(err)
	}
	for i, cl := range clients {
		var got []string
		for {
			m, err := cl.Next()
			if err != nil {
				t.Fatalf("name %q: waiting for the sentinel (after %v): %v", abbrev(names[i]), got, err)
			}
			if m.Target == "sentinel" {
				break
			}
			got = append(got, fmt.Sprintf("%s %s", m.Target, m.Arguments[0]))
		}
		want := []string{fmt.Sprintf("group %d", i), fmt.Sprintf("user %d", i), fmt.Sprintf("connection %d", i)}
		if names[i] == "" {
			want = slices.Delete(want, 1, 2)
		}
		if !slices.Equal(got, want) {
			t.Errorf("the member of group and user %q got %v before the sentinel, want %v", abbrev(names[i]), got, want)
		}
	}
}

// abbrev shortens a long name for a message.
func abbrev(s string) string {
	if len(s) > 20 {
		return fmt.Sprintf("%s…(%d bytes)", s[:10], len(s))
	}
	return s
}
