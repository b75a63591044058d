package client_test

// Wire-level tests of what survives a cut (docs/reconnect.md): long polls retried,
// stateful reconnect's numbering, acks and resume on each transport.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// countNegotiates counts the negotiate requests a fake saw.
func countNegotiates(f *fake) int {
	n := 0
	for _, r := range f.requests() {
		if strings.Contains(r, "/negotiate") {
			n++
		}
	}
	return n
}

// TestLongPollRetriedOnSameConnection: a poll answered 502, 503 or 504 by a proxy
// is retried on the same connection, without a new negotiate; the messages of the
// next poll arrive.
func TestLongPollRetriedOnSameConnection(t *testing.T) {
	for _, status := range []int{502, 503, 504} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			f := newLPFake(t, "tok")
			go func() {
				<-f.posts
				f.replies <- lpReply{200, "{}" + rs}
			}()
			c, err := dialFake(t, f.URL, client.Options{DisableStatefulReconnect: true})
			if err != nil {
				t.Fatal(err)
			}
			got := listen(c, "hello")
			f.replies <- lpReply{status, "proxy says no"}
			f.replies <- lpReply{status, "proxy says no"}
			f.replies <- lpReply{200, `{"type":1,"target":"hello","arguments":[1]}` + rs}
			expectJSON(t, got, "1")
			if err := c.Err(); err != nil {
				t.Fatalf("the connection ended: %v", err)
			}
			if c.ConnectionID() != "cid" {
				t.Errorf("ConnectionID %q", c.ConnectionID())
			}
			if n := countNegotiates(f.fake); n != 1 {
				t.Errorf("%d negotiates, want 1", n)
			}
			for _, r := range f.requests() {
				if strings.Contains(r, "resume=1") {
					t.Errorf("a poll carries the resume marker without stateful reconnect: %s", r)
				}
			}
		})
	}
}

// dialLinkFake dials f in the background, plays the server's handshake and returns
// the connection; the initial link's "opened" event is consumed.
func dialLinkFake(t *testing.T, f *linkFake, opts client.Options, version int) *client.Conn {
	t.Helper()
	res := make(chan *client.Conn, 1)
	go func() {
		c, err := dialFake(t, f.URL, opts)
		if err != nil {
			t.Error(err)
		}
		res <- c
	}()
	f.handshake(version)
	c := <-res
	if c == nil {
		t.FailNow()
	}
	if f.kind != transports.LongPolling {
		f.expectOpened()
	}
	return c
}

func TestStatefulNegotiateAndHandshake(t *testing.T) {
	tests := []struct {
		name        string
		disable     bool // client.Options.DisableStatefulReconnect
		serverAgree bool
		wantAsk     bool
		wantVersion int
	}{
		{"agreed", false, true, true, 2},
		{"server says no", false, false, true, 1},
		{"client disabled", true, false, false, 1},
	}
	for _, k := range kinds {
		for _, tc := range tests {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				f := newLinkFake(t, k.kind, tc.serverAgree)
				c := dialLinkFake(t, f, client.Options{DisableStatefulReconnect: tc.disable}, tc.wantVersion)
				asked := false
				for _, r := range f.requests() {
					if strings.Contains(r, "/negotiate") && strings.Contains(r, "useStatefulReconnect=true") {
						asked = true
					}
				}
				if asked != tc.wantAsk {
					t.Errorf("negotiate asked for stateful reconnect: %v, want %v (%q)", asked, tc.wantAsk, f.requests())
				}
				if c.ConnectionID() != "cid" {
					t.Errorf("ConnectionID %q", c.ConnectionID())
				}
			})
		}
	}
}

// TestStatefulAcks: the client acks what it received (the highest number), about
// a second later, coalesced; and it drops what the server acked, so that a resume
// replays only the rest.
func TestStatefulAcks(t *testing.T) {
	f := newLinkFake(t, transports.WebSockets, true)
	c := dialLinkFake(t, f, client.Options{}, 2)
	got := listen(c, "hello")
	f.toClient <- record(protocol.Message{Type: protocol.InvocationType, Target: "hello", Arguments: []protocol.RawValue{protocol.RawValue("1")}}) +
		record(protocol.Message{Type: protocol.PingType}) +
		record(protocol.Message{Type: protocol.InvocationType, Target: "hello", Arguments: []protocol.RawValue{protocol.RawValue("2")}})
	f.toClient <- record(protocol.Message{Type: protocol.InvocationType, Target: "hello", Arguments: []protocol.RawValue{protocol.RawValue("3")}})
	expectJSON(t, got, "1")
	expectJSON(t, got, "2")
	expectJSON(t, got, "3")
	for {
		m := f.next()
		if m.Type != protocol.AckType {
			t.Fatalf("got %v, want an Ack", m.Type)
		}
		if m.SequenceID == 3 {
			break
		}
	}
	// A big burst is acked without waiting for the timer.
	var big strings.Builder
	for i := range 400 {
		big.WriteString(record(protocol.Message{Type: protocol.InvocationType, Target: "hello", Arguments: []protocol.RawValue{protocol.RawValue(strconv.Itoa(i + 4)), protocol.RawValue(`"` + strings.Repeat("x", 100) + `"`)}}))
	}
	f.toClient <- big.String()
	start := time.Now()
	for m := f.next(); m.SequenceID != 403; m = f.next() {
	}
	t.Logf("a burst of 400 messages (48 KiB) acked after %s", time.Since(start))
	if s := c.Stats(); s.AcksSent < 1 || s.Duplicates != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestStatefulResume: on each transport, a cut link is resumed on the same
// connection: the client discards what arrives before the server's Sequence,
// drops duplicates, sends its own Sequence (the oldest unacked number) and replays
// what the server did not ack, and a Send made during the cut goes out after it.
func TestStatefulResume(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			f := newLinkFake(t, k.kind, true)
			var reconnecting, reconnected atomic.Int32
			opts := client.Options{
				OnReconnecting: func(err error) { reconnecting.Add(1) },
				OnReconnected: func(resumed bool) {
					if !resumed {
						t.Error("OnReconnected(false) after a stateful resume")
					}
					reconnected.Add(1)
				},
			}
			c := dialLinkFake(t, f, opts, 2)
			got := listen(c, "hello")
			ctx := testCtx(t)
			for i := 1; i <= 3; i++ {
				if err := c.Send(ctx, "M", i); err != nil {
					t.Fatal(err)
				}
				if m := f.nextSkipAcks(); m.Target != "M" || string(m.Arguments[0]) != strconv.Itoa(i) {
					t.Fatalf("message %d: %+v", i, m)
				}
			}
			hello := func(n int) string {
				return record(protocol.Message{Type: protocol.InvocationType, Target: "hello", Arguments: []protocol.RawValue{protocol.RawValue(strconv.Itoa(n))}})
			}
			seq := func(n int64) string { return record(protocol.Message{Type: protocol.SequenceType, SequenceID: n}) }
			f.toClient <- record(protocol.Message{Type: protocol.AckType, SequenceID: 2}) + hello(1) + hello(2)
			expectJSON(t, got, "1")
			expectJSON(t, got, "2")

			f.cut()
			q := f.expectOpened()
			if !strings.Contains(q, "id=tok") || (k.kind == transports.LongPolling) != strings.Contains(q, "resume=1") {
				t.Errorf("resume link query %q", q)
			}
			// A send during the cut waits for the resume.
			sent := make(chan error, 1)
			go func() { sent <- c.Send(ctx, "M", 4) }()
			// Before the Sequence: discarded. Then 1 and 2 again (duplicates), and 3.
			f.toClient <- hello(99) + seq(1) + hello(1) + hello(2) + hello(3)
			if m := f.nextSkipAcks(); m.Type != protocol.SequenceType || m.SequenceID != 3 {
				t.Fatalf("first message on the resumed link: %+v, want Sequence 3", m)
			}
			if m := f.nextSkipAcks(); m.Target != "M" || string(m.Arguments[0]) != "3" {
				t.Fatalf("replay: %+v, want M(3)", m)
			}
			if m := f.nextSkipAcks(); m.Target != "M" || string(m.Arguments[0]) != "4" {
				t.Fatalf("after the replay: %+v, want M(4)", m)
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			expectJSON(t, got, "3")
			expectNone(t, got)
			if c.Err() != nil || c.ConnectionID() != "cid" {
				t.Fatalf("Err %v, ConnectionID %q", c.Err(), c.ConnectionID())
			}
			if reconnecting.Load() != 1 || reconnected.Load() != 1 {
				t.Errorf("OnReconnecting %d, OnReconnected %d; want 1, 1", reconnecting.Load(), reconnected.Load())
			}
			if n := countNegotiates(f.fake); n != 1 {
				t.Errorf("%d negotiates", n)
			}
			s := c.Stats()
			if s.Duplicates != 2 || s.Discarded != 1 || s.Replayed != 1 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

// TestLongPollLinksNumbered: every request of a long-polling link the client
// opens to resume its connection carries the link's number (&link=N, N counting
// the resumes; the first link's polls carry none), so that the server can turn
// away a poll of an abandoned link that arrives after the resume.
func TestLongPollLinksNumbered(t *testing.T) {
	f := newLinkFake(t, transports.LongPolling, true)
	dialLinkFake(t, f, client.Options{}, 2)
	linkOf := func(query string) (link string, resume bool) {
		v, err := url.ParseQuery(query)
		if err != nil {
			t.Fatalf("poll query %q: %v", query, err)
		}
		return v.Get("link"), v.Get("resume") == "1"
	}
	// waitPoll returns once a poll of link comes that is not a resume.
	waitPoll := func(link string) {
		t.Helper()
		for {
			select {
			case q := <-f.polled:
				if got, resume := linkOf(q); got == link && !resume {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no poll of link %q", link)
			}
		}
	}
	waitPoll("")
	for n := 1; n <= 2; n++ {
		f.cut()
		link, resume := linkOf(f.expectOpened())
		if link != strconv.Itoa(n) || !resume {
			t.Fatalf("resume %d: link %q resume %v, want link %d and resume=1", n, link, resume, n)
		}
		f.toClient <- record(protocol.Message{Type: protocol.SequenceType, SequenceID: 1})
		waitPoll(link)
	}
}

// TestStatefulConnectionLost: when the server no longer knows the connection
// (404 on the resume), or the reconnect window passes, the connection ends with
// ErrConnectionLost.
func TestStatefulConnectionLost(t *testing.T) {
	for _, k := range kinds {
		for _, how := range []string{"404", "window"} {
			t.Run(k.name+"/"+how, func(t *testing.T) {
				t.Parallel()
				f := newLinkFake(t, k.kind, true)
				c := dialLinkFake(t, f, client.Options{ReconnectWindow: time.Second}, 2)
				if how == "404" {
					f.gone.Store(true)
				} else {
					f.status.Store(http.StatusServiceUnavailable)
				}
				f.cut()
				err := waitDone(t, c)
				if !errors.Is(err, client.ErrConnectionLost) || !errors.Is(err, client.ErrClosed) {
					t.Fatalf("Err = %v, want ErrConnectionLost", err)
				}
				if how == "404" {
					var he *client.HTTPError
					if !errors.As(err, &he) || he.StatusCode != 404 {
						t.Errorf("Err = %v, want the 404", err)
					}
				}
			})
		}
	}
	t.Run("LongPolling without stateful/404", func(t *testing.T) {
		f := newLPFake(t, "tok")
		go func() {
			<-f.posts
			f.replies <- lpReply{200, "{}" + rs}
			f.replies <- lpReply{404, "No Connection with that ID"}
		}()
		c, err := dialFake(t, f.URL, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := waitDone(t, c); !errors.Is(err, client.ErrConnectionLost) {
			t.Fatalf("Err = %v, want ErrConnectionLost", err)
		}
	})
}

// TestStatefulBufferFull: once the unacked messages fill the send buffer, sends
// wait for the server's acks (bounded by their context).
func TestStatefulBufferFull(t *testing.T) {
	f := newLinkFake(t, transports.WebSockets, true)
	c := dialLinkFake(t, f, client.Options{StatefulReconnectBufferSize: 300}, 2)
	ctx := testCtx(t)
	arg := strings.Repeat("x", 80)
	n := 0
	for ; n < 10; n++ {
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := c.Send(short, "M", arg)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		f.nextSkipAcks()
	}
	if n == 0 || n == 10 {
		t.Fatalf("%d sends went through before the buffer was full", n)
	}
	if c.Err() != nil {
		t.Fatal(c.Err())
	}
	// An Ack frees the buffer: the next send goes through.
	f.toClient <- record(protocol.Message{Type: protocol.AckType, SequenceID: int64(n)})
	if err := c.Send(ctx, "M", "after"); err != nil {
		t.Fatal(err)
	}
	if m := f.nextSkipAcks(); string(m.Arguments[0]) != `"after"` {
		t.Fatalf("got %+v", m)
	}
}
