package hub_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hubbub-go/hubbub/hub"
)

// identityCases: connection tokens used by another identity than the one that
// negotiated them, when the identity comes from Options.UserID (no Authenticate).
func identityCases() []hostileCase {
	byHeader := func(o *hub.Options) {
		o.UserID = func(r *http.Request) string { return r.Header.Get("X-Test-User") }
	}
	return []hostileCase{
		{name: "identity/another user's connection token with UserID", opts: byHeader, as: asUser(hostileBystanderUser), run: func(t *testing.T, e *env) {
			alice, mallory, anonymous := asUser("alice"), asUser("mallory"), http.Header{"X-Test-User": {""}}
			aliceWS := e.negotiate(t, alice)
			for _, intruder := range []http.Header{mallory, anonymous} {
				_, resp, err := e.dialRaw(t, aliceWS.ConnectionToken, intruder)
				wantRefused(t, resp, err, 403, forbiddenText)
			}
			c := e.dialToken(t, aliceWS.ConnectionToken, alice)
			c.send(t, `{"type":1,"invocationId":"w","target":"Whoami","arguments":[]}`+rs)
			if r := c.completion(t, "w"); !strings.Contains(string(r.Result), `"userId":"alice"`) {
				t.Errorf("Whoami %s", r.Result)
			}
			lp := e.openLP(t, alice)
			for _, intruder := range []http.Header{mallory, anonymous} {
				st, body := lp.do(t, "POST", intruder, `{"type":1,"invocationId":"x","target":"Broadcast","arguments":["Stolen",1]}`+rs)
				wantHTTP(t, st, body, 403, forbiddenText)
				st, body = lp.do(t, "GET", intruder, "")
				wantHTTP(t, st, body, 403, forbiddenText)
			}
			e.wantNoBroadcast(t, "Stolen")
			lp.wantAlive(t)
			// An anonymous connection is no more anyone's to take.
			anon := e.openLP(t, nil)
			st, body := anon.do(t, "POST", mallory, `{"type":6}`+rs)
			wantHTTP(t, st, body, 403, forbiddenText)
			anon.wantAlive(t)
			e.wantLogged(t, "hub: connection token used by another user")
		}},
	}
}
