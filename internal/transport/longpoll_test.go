package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/internal/idleconn"
	"github.com/hubbub-go/hubbub/transports"
)

// lpServer serves one long-polling transport: GET polls, POST sends, DELETE closes.
type lpServer struct {
	*httptest.Server
	lp     *LongPoll
	units  *units
	client *http.Client
}

// takeOverPollsAfter, when set, replaces the default IdlePollTakeover of the
// servers newLPServer starts: TestLongPollTakenOver reruns tests with it.
var takeOverPollsAfter time.Duration

func newLPServer(t *testing.T, opts transports.Options) *lpServer {
	return startLPServer(t, opts, false)
}

// startLPServer starts an lpServer, over TLS if asked.
func startLPServer(t *testing.T, opts transports.Options, overTLS bool) *lpServer {
	t.Helper()
	if opts.IdlePollTakeover == 0 {
		opts.IdlePollTakeover = takeOverPollsAfter
	}
	s := &lpServer{units: newUnits()}
	s.lp = NewLongPolling(opts, s.units.receive)
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			s.lp.ServePoll(w, r)
		case http.MethodPost:
			s.lp.ServeSend(w, r)
		case http.MethodDelete:
			s.lp.ServeDelete(w, r)
		}
	}))
	if overTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	s.client = s.Server.Client()
	t.Cleanup(s.Close)
	t.Cleanup(func() { s.lp.Close() }) // runs first: releases held polls
	return s
}

type pollResult struct {
	status int
	body   string
	header http.Header
	close  bool // the server closes the connection after this response
	err    error
}

// poll sends one poll and returns its answer.
func (s *lpServer) poll(ctx context.Context) pollResult {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/hub?id=x&_=1", nil)
	resp, err := s.client.Do(req)
	if err != nil {
		return pollResult{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return pollResult{status: resp.StatusCode, body: string(b), header: resp.Header, close: resp.Close, err: err}
}

// startPoll sends a poll in the background and waits until the transport holds it.
func (s *lpServer) startPoll(t *testing.T, ctx context.Context) <-chan pollResult {
	t.Helper()
	ch := make(chan pollResult, 1)
	s.lp.mu.Lock()
	before := s.lp.current
	s.lp.mu.Unlock()
	go func() { ch <- s.poll(ctx) }()
	deadline := time.Now().Add(waitTimeout)
	for {
		s.lp.mu.Lock()
		held := s.lp.current != nil && s.lp.current != before
		if held && takeOverPollsAfter != 0 {
			held = s.lp.current.taken.Conn != nil
		}
		s.lp.mu.Unlock()
		if held {
			return ch
		}
		if time.Now().After(deadline) {
			t.Fatal("poll not held")
		}
		time.Sleep(time.Millisecond)
	}
}

// sendToNextPoll sends unit and checks that the next poll gets it.
func (s *lpServer) sendToNextPoll(t *testing.T, unit string) {
	t.Helper()
	sent := make(chan error, 1)
	go func() { sent <- s.lp.Send(context.Background(), []byte(unit)) }()
	ch := make(chan pollResult, 1)
	go func() { ch <- s.poll(context.Background()) }()
	if r := result(t, ch); r.status != http.StatusOK || r.body != unit {
		t.Errorf("next poll = %d %q, want the unit", r.status, r.body)
	}
	if err := <-sent; err != nil {
		t.Errorf("Send: %v", err)
	}
}

func (s *lpServer) firstPoll(t *testing.T) {
	t.Helper()
	if r := s.poll(context.Background()); r.err != nil || r.status != http.StatusOK || r.body != "" {
		t.Fatalf("first poll = %d %q %v, want 200 empty", r.status, r.body, r.err)
	}
}

func result(t *testing.T, ch <-chan pollResult) pollResult {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("poll: %v", r.err)
		}
		return r
	case <-time.After(waitTimeout):
		t.Fatal("poll not answered")
		return pollResult{}
	}
}

func TestLongPollFirstPoll(t *testing.T) {
	// A long PollTimeout: the first poll must not wait for it, nor for data.
	srv := newLPServer(t, transports.Options{PollTimeout: time.Hour})
	r := srv.poll(context.Background())
	if r.err != nil || r.status != http.StatusOK || r.body != "" {
		t.Fatalf("first poll = %d %q %v, want 200 empty", r.status, r.body, r.err)
	}
	want := map[string]string{
		"Content-Type":   "application/octet-stream",
		"Cache-Control":  "no-cache, no-store",
		"Pragma":         "no-cache",
		"Expires":        "0",
		"Content-Length": "0",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if srv.lp.Kind() != transports.LongPolling {
		t.Errorf("Kind = %v", srv.lp.Kind())
	}
}

func TestLongPollDelivers(t *testing.T) {
	tests := []struct {
		name      string
		sendFirst bool // Send before the poll arrives (it waits for one)
	}{
		{"held poll answered by Send", false},
		{"Send waits for the poll", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newLPServer(t, transports.Options{PollTimeout: time.Hour})
			srv.firstPoll(t)
			unit := "{}\x1e{\"type\":1,\"target\":\"a\",\"arguments\":[]}\x1e"
			sent := make(chan error, 1)
			var polled <-chan pollResult
			if tc.sendFirst {
				go func() { sent <- srv.lp.Send(context.Background(), []byte(unit)) }()
				ch := make(chan pollResult, 1)
				go func() { ch <- srv.poll(context.Background()) }()
				polled = ch
			} else {
				polled = srv.startPoll(t, context.Background())
				go func() { sent <- srv.lp.Send(context.Background(), []byte(unit)) }()
			}
			r := result(t, polled)
			if r.status != http.StatusOK || r.body != unit {
				t.Errorf("poll = %d %q, want 200 %q", r.status, r.body, unit)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
				t.Errorf("Content-Type = %q", ct)
			}
			if err := <-sent; err != nil {
				t.Errorf("Send: %v", err)
			}
		})
	}
}

func TestLongPollTimeout(t *testing.T) {
	srv := newLPServer(t, transports.Options{PollTimeout: 20 * time.Millisecond})
	srv.firstPoll(t)
	r := srv.poll(context.Background())
	if r.err != nil || r.status != http.StatusOK || r.body != "" {
		t.Fatalf("idle poll = %d %q %v, want 200 empty", r.status, r.body, r.err)
	}
	if isClosed(srv.lp.Done()) {
		t.Error("a poll timeout ended the transport")
	}
}

func TestLongPollEnd(t *testing.T) {
	tests := []struct {
		name    string
		end     func(t *testing.T, s *lpServer)
		wantErr func(error) bool
	}{
		{"Close", func(t *testing.T, s *lpServer) { s.lp.Close() }, func(err error) bool { return err == transports.ErrClosed }},
		{"DELETE", func(t *testing.T, s *lpServer) {
			req, _ := http.NewRequest(http.MethodDelete, s.URL+"/hub?id=x", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("DELETE: status %d, want 202", resp.StatusCode)
			}
		}, func(err error) bool { return errors.Is(err, transports.ErrClosed) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newLPServer(t, transports.Options{PollTimeout: time.Hour})
			srv.firstPoll(t)
			held := srv.startPoll(t, context.Background())
			tc.end(t, srv)

			if r := result(t, held); r.status != http.StatusNoContent {
				t.Errorf("held poll: status %d, want 204", r.status)
			}
			if r := srv.poll(context.Background()); r.err != nil || r.status != http.StatusNoContent {
				t.Errorf("later poll: %d %v, want 204", r.status, r.err)
			}
			waitClosed(t, srv.lp.Done(), "Done")
			if err := srv.lp.Err(); !tc.wantErr(err) {
				t.Errorf("Err = %v", err)
			}
			if err := srv.lp.Send(context.Background(), []byte("x")); !errors.Is(err, transports.ErrClosed) {
				t.Errorf("Send after end = %v, want ErrClosed", err)
			}
			// The official client's last POST may come after its DELETE: 404.
			resp, err := http.Post(srv.URL+"/hub?id=x", "text/plain", strings.NewReader("{\"type\":7}\x1e"))
			if err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("POST after end: status %d, want 404", resp.StatusCode)
			}
			req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/hub?id=x", nil)
			if resp, err = http.DefaultClient.Do(req); err != nil {
				t.Fatal(err)
			}
			readBody(t, resp)
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("DELETE after end: status %d, want 202 (a DELETE is idempotent)", resp.StatusCode)
			}
		})
	}
}

func TestLongPollPendingSendFailsOnEnd(t *testing.T) {
	srv := newLPServer(t, transports.Options{PollTimeout: time.Hour})
	srv.firstPoll(t)
	sent := make(chan error, 1)
	go func() { sent <- srv.lp.Send(context.Background(), []byte("x")) }()
	time.Sleep(5 * time.Millisecond) // let Send start waiting (either order is correct)
	srv.lp.Close()
	select {
	case err := <-sent:
		if !errors.Is(err, transports.ErrClosed) {
			t.Errorf("Send = %v, want ErrClosed", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Send still waiting after Close")
	}
}

func TestLongPollDisconnectTimeout(t *testing.T) {
	t.Run("no poll ends the transport", func(t *testing.T) {
		srv := newLPServer(t, transports.Options{DisconnectTimeout: 20 * time.Millisecond})
		srv.firstPoll(t)
		waitClosed(t, srv.lp.Done(), "Done")
		err := srv.lp.Err()
		if err == nil || errors.Is(err, transports.ErrClosed) || !strings.Contains(err.Error(), "no poll") {
			t.Errorf("Err = %v", err)
		}
		if r := srv.poll(context.Background()); r.status != http.StatusNoContent {
			t.Errorf("poll after disconnect: status %d, want 204", r.status)
		}
	})
	t.Run("a held poll keeps it alive", func(t *testing.T) {
		srv := newLPServer(t, transports.Options{DisconnectTimeout: 20 * time.Millisecond, PollTimeout: time.Hour})
		srv.firstPoll(t)
		held := srv.startPoll(t, context.Background())
		time.Sleep(100 * time.Millisecond) // five disconnect timeouts
		if isClosed(srv.lp.Done()) {
			t.Fatalf("transport ended while a poll was held: %v", srv.lp.Err())
		}
		go srv.lp.Send(context.Background(), []byte("x"))
		if r := result(t, held); r.status != http.StatusOK || r.body != "x" {
			t.Errorf("poll = %d %q", r.status, r.body)
		}
	})
}

// TestLongPollSecondPoll: a new poll supersedes the held one, which gets 204, as in
// ASP.NET Core; the new poll carries on.
func TestLongPollSecondPoll(t *testing.T) {
	srv := newLPServer(t, transports.Options{PollTimeout: time.Hour})
	srv.firstPoll(t)
	first := srv.startPoll(t, context.Background())
	second := srv.startPoll(t, context.Background())
	if r := result(t, first); r.status != http.StatusNoContent {
		t.Errorf("superseded poll: status %d, want 204", r.status)
	}
	if isClosed(srv.lp.Done()) {
		t.Fatal("superseding ended the transport")
	}
	go srv.lp.Send(context.Background(), []byte("after\x1e"))
	if r := result(t, second); r.status != http.StatusOK || r.body != "after\x1e" {
		t.Errorf("second poll = %d %q", r.status, r.body)
	}
}

// TestLongPollAbortedPoll: a unit meant for a poll whose client left goes to the next
// poll instead.
func TestLongPollAbortedPoll(t *testing.T) {
	srv := newLPServer(t, transports.Options{PollTimeout: time.Hour})
	srv.firstPoll(t)
	ctx, cancel := context.WithCancel(context.Background())
	aborted := srv.startPoll(t, ctx)
	cancel()
	if r := <-aborted; r.err == nil {
		t.Fatalf("aborted poll answered %d", r.status)
	}
	// Send once the server has seen the abort: before that, nothing tells a poll
	// whose client has just left from a live one, in any HTTP server.
	deadline := time.Now().Add(waitTimeout)
	for {
		srv.lp.mu.Lock()
		held := srv.lp.current != nil
		srv.lp.mu.Unlock()
		if !held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not see the aborted poll")
		}
		time.Sleep(time.Millisecond)
	}
	srv.sendToNextPoll(t, "kept\x1e")
}

func TestLongPollSendContext(t *testing.T) {
	srv := newLPServer(t, transports.Options{PollTimeout: 50 * time.Millisecond})
	srv.firstPoll(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := srv.lp.Send(ctx, []byte("dropped by the caller")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want the ctx error", err)
	}
	// The unit Send gave up on is not delivered later.
	if r := srv.poll(context.Background()); r.status != http.StatusOK || r.body != "" {
		t.Errorf("next poll = %d %q, want 200 empty", r.status, r.body)
	}
}

// failingWriter is a ResponseWriter whose writes fail, as when the client's
// connection breaks during the response.
type failingWriter struct{ h http.Header }

func (f *failingWriter) Header() http.Header       { return f.h }
func (f *failingWriter) WriteHeader(int)           {}
func (f *failingWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestLongPollWriteFailure: a unit whose poll write fails is not dropped silently:
// Send returns the error and the transport ends.
func TestLongPollWriteFailure(t *testing.T) {
	lp := NewLongPolling(transports.Options{PollTimeout: time.Hour}, func([]byte) {})
	defer lp.Close()
	lp.ServePoll(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/hub?id=x", nil))

	polled := make(chan struct{})
	go func() {
		defer close(polled)
		lp.ServePoll(&failingWriter{h: http.Header{}}, httptest.NewRequest(http.MethodGet, "/hub?id=x", nil))
	}()
	err := lp.Send(context.Background(), []byte("unit"))
	if err == nil || errors.Is(err, transports.ErrClosed) || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("Send = %v, want the write error", err)
	}
	waitClosed(t, polled, "ServePoll return")
	waitClosed(t, lp.Done(), "Done")
	if lp.Err() == nil || !strings.HasPrefix(lp.Err().Error(), "transports: ") {
		t.Errorf("Err = %v", lp.Err())
	}
}

// TestLongPollRequeue covers the race TestLongPollAbortedPoll avoids: a poll is
// handed a unit just as its client leaves. The unit must go to the next poll.
func TestLongPollRequeue(t *testing.T) {
	lp := NewLongPolling(transports.Options{PollTimeout: time.Hour}, func([]byte) {})
	defer lp.Close()
	lp.ServePoll(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/hub?id=x", nil))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		lp.ServePoll(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/hub?id=x", nil).WithContext(ctx))
	}()
	for held := false; !held; time.Sleep(time.Millisecond) {
		lp.mu.Lock()
		held = lp.current != nil
		lp.mu.Unlock()
	}
	// Both at once, as the poll sees them: its client is gone and it holds a unit.
	d := &delivery{unit: []byte("unit"), result: make(chan error, 1)}
	lp.mu.Lock()
	cancel()
	lp.handLocked(lp.current, d)
	lp.mu.Unlock()
	waitClosed(t, polled, "aborted ServePoll return")

	next := httptest.NewRecorder()
	lp.ServePoll(next, httptest.NewRequest(http.MethodGet, "/hub?id=x", nil))
	if next.Code != http.StatusOK || next.Body.String() != "unit" {
		t.Errorf("next poll = %d %q, want the requeued unit", next.Code, next.Body.String())
	}
	if err := <-d.result; err != nil {
		t.Errorf("delivery result = %v", err)
	}
}

// TestLongPollTakenOver reruns the poll tests with every held poll taken over from
// net/http a millisecond after it arrives, and checks what only taken-over polls do.
func TestLongPollTakenOver(t *testing.T) {
	takeOverPollsAfter = time.Millisecond
	defer func() { takeOverPollsAfter = 0 }()
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"FirstPoll", TestLongPollFirstPoll},
		{"Delivers", TestLongPollDelivers},
		{"Timeout", TestLongPollTimeout},
		{"End", TestLongPollEnd},
		{"PendingSendFailsOnEnd", TestLongPollPendingSendFailsOnEnd},
		{"DisconnectTimeout", TestLongPollDisconnectTimeout},
		{"SecondPoll", TestLongPollSecondPoll},
		{"SendContext", TestLongPollSendContext},
	} {
		t.Run(tc.name, tc.test)
	}

	t.Run("response", func(t *testing.T) {
		srv := newLPServer(t, transports.Options{PollTimeout: time.Hour})
		srv.firstPoll(t)
		held := srv.startPoll(t, context.Background())
		go srv.lp.Send(context.Background(), []byte("unit\x1e"))
		r := result(t, held)
		if r.status != http.StatusOK || r.body != "unit\x1e" {
			t.Errorf("poll = %d %q, want the unit", r.status, r.body)
		}
		for k, want := range map[string]string{
			"Content-Type": "application/octet-stream", "Cache-Control": "no-cache, no-store",
			"Content-Length": "5",
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		if r.header.Get("Date") == "" {
			t.Error("no Date header")
		}
		if !r.close {
			t.Error("no Connection: close")
		}
	})

	for _, overTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("a client that left (TLS %v)", overTLS), func(t *testing.T) {
			clientLeft(t, startLPServer(t, transports.Options{PollTimeout: time.Hour}, overTLS))
		})
	}
	// The taken-over counterpart of TestLongPollWriteFailure.
	t.Run("a write that fails", func(t *testing.T) {
		srv := newLPServer(t, transports.Options{PollTimeout: time.Hour})
		srv.firstPoll(t)
		held := srv.startPoll(t, context.Background())
		srv.lp.mu.Lock()
		srv.lp.current.taken.Conn.Close() // the write to come fails
		srv.lp.mu.Unlock()
		err := srv.lp.Send(context.Background(), []byte("unit"))
		if err == nil || errors.Is(err, transports.ErrClosed) || !strings.HasPrefix(err.Error(), "transports: long polling write: ") {
			t.Errorf("Send = %v, want the write error", err)
		}
		waitClosed(t, srv.lp.Done(), "Done")
		// The client's HTTP library retries the GET on a new connection, which
		// learns of the end: 204.
		if r := <-held; r.err == nil && r.status != http.StatusNoContent {
			t.Errorf("the held poll got %d %q, want an error or 204", r.status, r.body)
		}
	})

	t.Run("never when disabled", func(t *testing.T) {
		for _, opts := range []transports.Options{
			{PollTimeout: time.Hour, IdlePollTakeover: -1},
			{PollTimeout: time.Hour, DisableTakeover: true},
		} {
			srv := newLPServer(t, opts)
			srv.firstPoll(t)
			ch := make(chan pollResult, 1)
			go func() { ch <- srv.poll(context.Background()) }()
			time.Sleep(50 * time.Millisecond)
			srv.lp.mu.Lock()
			taken := srv.lp.current != nil && srv.lp.current.taken.Conn != nil
			srv.lp.mu.Unlock()
			if taken {
				t.Errorf("%+v: poll taken over", opts)
			}
			go srv.lp.Send(context.Background(), []byte("x"))
			if r := result(t, ch); r.status != http.StatusOK || r.body != "x" || r.close {
				t.Errorf("%+v: poll = %d %q (closes its connection: %v)", opts, r.status, r.body, r.close)
			}
		}
	})
}

// clientLeft: a unit meant for a taken-over poll whose client left goes to the next
// poll. The poll is watched by idleconn.WatchClose where it can be (Linux) unless
// Options.DisableCloseWatcher says not to.
func clientLeft(t *testing.T, srv *lpServer) {
	srv.firstPoll(t)
	ctx, cancel := context.WithCancel(context.Background())
	aborted := srv.startPoll(t, ctx)
	srv.lp.mu.Lock()
	conn := srv.lp.current.taken.Conn
	watched := srv.lp.current.stopWatch != nil
	srv.lp.mu.Unlock()
	if want := idleconn.CanWatchClose && !srv.lp.opts.DisableCloseWatcher; watched != want {
		t.Errorf("taken-over poll watched by the close watcher: %v, want %v", watched, want)
	}
	cancel()
	if r := <-aborted; r.err == nil {
		t.Fatalf("aborted poll answered %d", r.status)
	}
	// Where the transport watches the socket, it lets the poll go at once, as
	// the handler of a held one would. Elsewhere it learns when the poll is
	// woken, from the closed socket. Either way the unit goes to the
	// next poll.
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(time.Millisecond) {
		srv.lp.mu.Lock()
		held := srv.lp.current != nil
		srv.lp.mu.Unlock()
		if watched && !held || !watched && idleconn.PeerClosed(conn) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never saw the client leave")
		}
	}
	srv.sendToNextPoll(t, "kept\x1e")
}

// TestLongPollOnPoll: the hook runs in each poll that opens to wait (not the first
// poll), and a Send from it answers that very poll at once; a poll the hook does
// not answer waits as before, and Polled tells whether one is held.
func TestLongPollOnPoll(t *testing.T) {
	tests := []struct {
		name string
		send bool // the hook Sends
	}{
		{"hook answers its poll", true},
		{"hook leaves its poll waiting", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newLPServer(t, transports.Options{PollTimeout: time.Hour, IdlePollTakeover: -1})
			calls := make(chan error, 4)
			srv.lp.OnPoll(func() {
				var err error
				if tc.send {
					err = srv.lp.Send(context.Background(), []byte("unit"))
				}
				calls <- err
			})
			srv.firstPoll(t)
			if len(calls) != 0 {
				t.Fatal("the first poll ran the hook")
			}
			if tc.send {
				r := srv.poll(context.Background())
				if r.err != nil || r.status != http.StatusOK || r.body != "unit" {
					t.Fatalf("poll = %d %q %v, want 200 \"unit\"", r.status, r.body, r.err)
				}
				if err := <-calls; err != nil {
					t.Errorf("Send from the hook: %v", err)
				}
				if srv.lp.Polled() {
					t.Error("Polled after the poll was answered")
				}
				return
			}
			polled := srv.startPoll(t, context.Background())
			if err := <-calls; err != nil {
				t.Fatal(err)
			}
			if !srv.lp.Polled() {
				t.Error("Polled = false while a poll is held")
			}
			if err := srv.lp.Send(context.Background(), []byte("later")); err != nil {
				t.Errorf("Send: %v", err)
			}
			if r := result(t, polled); r.status != http.StatusOK || r.body != "later" {
				t.Errorf("poll = %d %q, want 200 \"later\"", r.status, r.body)
			}
		})
	}
}
