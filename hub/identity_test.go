package hub_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// asUser is the header the identity tests' Options.UserID reads; nil is anonymous.
func asUser(user string) http.Header {
	if user == "" {
		return nil
	}
	return http.Header{"X-Test-User": {user}}
}

const forbiddenText = "Forbidden: this connection belongs to another user"

// TestConnectionTokenTiedToItsUser: without Options.Authenticate, a connection
// token used by another user than the one who negotiated it (Options.UserID, here
// from a header) is refused 403 on every kind of transport request, the refusal is
// counted, and the owner's connection carries on.
func TestConnectionTokenTiedToItsUser(t *testing.T) {
	refusals := &refusalCounter{}
	opts := hostileOptions()
	opts.UserID = func(r *http.Request) string { return r.Header.Get("X-Test-User") }
	opts.Observer = refusals
	e := newEnv(t, opts, asUser(hostileBystanderUser))

	pairs := []struct{ owner, intruder string }{
		{"alice", "bob"},
		{"alice", ""}, // identified negotiate, anonymous request
		{"", "bob"},   // anonymous negotiate, identified request
	}
	requests := []struct {
		name string
		// try makes the intruder's request on a connection of owner's and returns
		// what it got; then checks the owner's connection still works.
		try func(t *testing.T, owner, intruder http.Header) (int, string)
	}{
		{"WebSocket", func(t *testing.T, owner, intruder http.Header) (int, string) {
			n := e.negotiate(t, owner)
			_, resp, err := e.dialRaw(t, n.ConnectionToken, intruder)
			if err == nil {
				return 101, ""
			}
			st, body := 0, err.Error()
			if resp != nil {
				st, body = resp.StatusCode, readBody(t, resp)
			}
			c := e.dialToken(t, n.ConnectionToken, owner)
			c.wantAlive(t)
			return st, body
		}},
		{"SSE stream", func(t *testing.T, owner, intruder http.Header) (int, string) {
			n := e.negotiate(t, owner)
			hdr := http.Header{"Accept": {"text/event-stream"}}
			for k, v := range intruder {
				hdr[k] = v
			}
			st, body, _ := e.do(t, "GET", "/hub?id="+n.ConnectionToken, hdr, "")
			if st == 200 {
				return st, body
			}
			e.openSSE(t, n.ConnectionToken, owner)
			return st, body
		}},
		{"SSE POST", func(t *testing.T, owner, intruder http.Header) (int, string) {
			n := e.negotiate(t, owner)
			e.openSSE(t, n.ConnectionToken, owner)
			st, body, _ := e.do(t, "POST", "/hub?id="+n.ConnectionToken, intruder, `{"type":6}`+rs)
			if st2, body2, _ := e.do(t, "POST", "/hub?id="+n.ConnectionToken, owner, `{"type":6}`+rs); st2 != 200 {
				t.Errorf("owner's POST after the intruder's: %d %q", st2, body2)
			}
			return st, body
		}},
		{"long poll GET", func(t *testing.T, owner, intruder http.Header) (int, string) {
			lp := e.openLP(t, owner)
			st, body := lp.do(t, "GET", withoutUser(intruder), "")
			lp.wantAlive(t)
			return st, body
		}},
		{"long poll POST", func(t *testing.T, owner, intruder http.Header) (int, string) {
			lp := e.openLP(t, owner)
			st, body := lp.do(t, "POST", withoutUser(intruder), `{"type":1,"invocationId":"x","target":"Broadcast","arguments":["Stolen",1]}`+rs)
			lp.wantAlive(t)
			return st, body
		}},
		{"long poll DELETE", func(t *testing.T, owner, intruder http.Header) (int, string) {
			lp := e.openLP(t, owner)
			st, body := lp.do(t, "DELETE", withoutUser(intruder), "")
			lp.wantAlive(t)
			return st, body
		}},
	}
	for _, p := range pairs {
		for _, req := range requests {
			name := req.name + "/" + orAnonymous(p.owner) + "'s token used by " + orAnonymous(p.intruder)
			t.Run(name, func(t *testing.T) {
				before := refusals.count("forbidden")
				st, body := req.try(t, asUser(p.owner), asUser(p.intruder))
				wantHTTP(t, st, body, 403, forbiddenText)
				if got := refusals.count("forbidden") - before; got != 1 {
					t.Errorf("%d refusals counted as \"forbidden\", want 1", got)
				}
				e.checkBystanders(t, name)
			})
		}
	}
	e.wantLogged(t, "hub: connection token used by another user")
}

// withoutUser is hdr with an X-Test-User entry even when anonymous, so that it
// replaces the long-polling connection's own.
func withoutUser(hdr http.Header) http.Header {
	if hdr == nil {
		return http.Header{"X-Test-User": {""}}
	}
	return hdr
}

func orAnonymous(user string) string {
	if user == "" {
		return "anonymous"
	}
	return strings.ToLower(user)
}

// TestStatefulResumeTiedToItsUser: a resume of a stateful connection is a
// transport request like any other: another user's (or an anonymous one's) is
// refused 403, and the owner's resume then works.
func TestStatefulResumeTiedToItsUser(t *testing.T) {
	var user atomic.Value // who every request is, as the test says
	user.Store("alice")
	_, srv := statefulServer(t, hub.Options{UserID: func(*http.Request) string { return user.Load().(string) }})
	for _, kind := range []transports.Kind{transports.WebSockets, transports.ServerSentEvents, transports.LongPolling} {
		t.Run(kind.String(), func(t *testing.T) {
			user.Store("alice")
			c := dialStateful(t, srv, kind, 2)
			c.link.cut()
			<-c.link.ended
			for _, intruder := range []string{"bob", ""} {
				user.Store(intruder)
				if l := openLink(t, srv, kind, c.token, c.links+1); l.status != http.StatusForbidden {
					t.Errorf("resume as %q: HTTP %d, want 403", intruder, l.status)
				}
			}
			user.Store("alice")
			c.resume(t)
			c.link.send(t, `{"type":9,"sequenceId":1}`)
			c.invoke(t, "e", "Echo", "still alice's")
			if r := c.take(t); string(r.Result) != `"still alice's"` {
				t.Errorf("after the resume: %+v", r)
			}
		})
	}
}
