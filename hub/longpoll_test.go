package hub_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// TestLongPollWriterBetweenPolls: what the hub sends while no poll is open waits,
// and the next poll carries all of it, in order, in one answer; what it sends while
// a poll is held answers that poll. (No writer waits between polls: the poll that
// opens sends what waits, from its own goroutine.)
func TestLongPollWriterBetweenPolls(t *testing.T) {
	tests := []struct {
		name     string
		messages int
		held     bool // send while a poll is held, rather than between polls
	}{
		{"one message between polls", 1, false},
		{"many messages between polls", 50, false},
		{"a message to a held poll", 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, srv := statefulServer(t, hub.Options{TransportOptions: transports.Options{PollTimeout: 5 * time.Second}})
			n := negotiateFor(t, srv, false)
			if status, _ := pollOnce(t, srv, n.ConnectionToken, ""); status != http.StatusOK {
				t.Fatalf("first poll: %d", status)
			}
			postOnce(t, srv, n.ConnectionToken, `{"protocol":"json","version":1}`+rs)
			if _, recs := pollOnce(t, srv, n.ConnectionToken, ""); len(recs) != 1 {
				t.Fatalf("handshake answer: %+v", recs)
			}
			conn, ok := h.Conn(n.ConnectionID)
			if !ok {
				t.Fatal("no connection")
			}
			send := func() {
				for i := range tc.messages {
					if err := conn.Send("m", i); err != nil {
						t.Error(err)
					}
				}
			}
			if tc.held {
				go func() {
					time.Sleep(50 * time.Millisecond) // the poll below is held by then
					send()
				}()
			} else {
				send()
			}
			defer func() { // end the connection, so that the hub's Close need not wait
				req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/hub?id="+n.ConnectionToken, nil)
				if resp, err := httpClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
			status, recs := pollOnce(t, srv, n.ConnectionToken, "")
			if status != http.StatusOK || len(recs) != tc.messages {
				t.Fatalf("poll = %d with %d records, want 200 with %d", status, len(recs), tc.messages)
			}
			for i, r := range recs {
				if r.Type != 1 || r.Target != "m" || len(r.Arguments) != 1 || fmt.Sprint(r.Arguments[0]) != fmt.Sprint(i) {
					t.Fatalf("record %d: %+v, want invocation m(%d)", i, r, i)
				}
			}
		})
	}
}
