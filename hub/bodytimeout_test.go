package hub_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/transports"
)

// trickle opens a connection to srv and sends a request for path whose body is
// announced as 20,000 bytes and sent one byte a second (first byte now), until stop
// is closed or the server closes the connection.
func trickle(t *testing.T, srv *httptest.Server, path string, stop <-chan struct{}) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 20000\r\n\r\nx", path, srv.Listener.Addr())
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	return conn
}

// trickleResult is what a trickling client saw.
type trickleResult struct {
	status int
	body   string
	closed bool // the server closed the connection after its answer
	err    error
}

// await reads the server's answer on conn and then waits for it to close the
// connection, for at most wait.
func awaitAnswer(conn net.Conn, wait time.Duration) trickleResult {
	conn.SetReadDeadline(time.Now().Add(wait))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return trickleResult{err: fmt.Errorf("no answer: %w", err)}
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	res := trickleResult{status: resp.StatusCode, body: strings.TrimSpace(string(body))}
	_, err = br.ReadByte()
	// A reset is a close too: the server closed with the client's bytes unread.
	res.closed = err == io.EOF || errors.Is(err, syscall.ECONNRESET)
	if !res.closed {
		res.err = fmt.Errorf("answered %d %q, then the connection stayed open: %v", res.status, res.body, err)
	}
	return res
}

// TestSlowRequestBodiesTimeOut: clients that announce a body and trickle it are
// answered once TransportOptions.BodyReadTimeout passes (negotiate, which reads no
// body, with its answer; an SSE or long-polling POST with 408), their connections
// are closed while they are still trickling, and the goroutines they held are gone.
func TestSlowRequestBodiesTimeOut(t *testing.T) {
	const perRoute = 30
	srv, _ := server(t, hub.Options{
		// Nothing but the bodies times out during the test: no goroutines come
		// and go besides theirs.
		TransportOptions: transports.Options{BodyReadTimeout: time.Second, DisconnectTimeout: time.Minute},
		HandshakeTimeout: time.Minute,
		Logger:           slog.New(slog.DiscardHandler),
	})
	// Connections to POST on, one per trickling client: a second POST at once on
	// one connection is refused 409 without reading anything.
	var lpTokens, sseTokens []string
	for range perRoute {
		n := negotiate(t, srv)
		if st, body, _ := doURL(t, "GET", srv.URL+"/hub?id="+n.ConnectionToken, nil, ""); st != 200 {
			t.Fatalf("first poll: %d %q", st, body)
		}
		lpTokens = append(lpTokens, n.ConnectionToken)
		n = negotiate(t, srv)
		openEventStream(t, srv, n.ConnectionToken)
		sseTokens = append(sseTokens, n.ConnectionToken)
	}
	time.Sleep(100 * time.Millisecond) // let the helpers' connections settle
	baseline := runtime.NumGoroutine()

	stop := make(chan struct{})
	defer close(stop)
	type attempt struct {
		route, path string
		status      int
		conn        net.Conn
	}
	var attempts []*attempt
	for i := range perRoute {
		attempts = append(attempts,
			&attempt{route: "negotiate", path: "/hub/negotiate?negotiateVersion=1", status: http.StatusOK},
			&attempt{route: "long-polling POST", path: "/hub?id=" + lpTokens[i], status: http.StatusRequestTimeout},
			&attempt{route: "SSE POST", path: "/hub?id=" + sseTokens[i], status: http.StatusRequestTimeout},
		)
	}
	for _, a := range attempts {
		a.conn = trickle(t, srv, a.path, stop)
	}
	var wg sync.WaitGroup
	results := make([]trickleResult, len(attempts))
	for i, a := range attempts {
		wg.Go(func() { results[i] = awaitAnswer(a.conn, 30*time.Second) })
	}
	wg.Wait()
	failed := 0
	for i, a := range attempts {
		res := results[i]
		if res.err != nil || res.status != a.status {
			if failed++; failed <= 5 {
				t.Errorf("%s: got %d %q, %v; want %d and the connection closed", a.route, res.status, res.body, res.err, a.status)
			}
		}
	}
	if failed > 5 {
		t.Errorf("… %d failed in all", failed)
	}
	if t.Failed() {
		return
	}
	// Each client's trickler goroutine ends at its next write; the server's are gone.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before the trickling clients", runtime.NumGoroutine(), baseline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openEventStream opens an SSE stream on token and does the handshake; the stream
// is closed at the end of the test.
func openEventStream(t *testing.T, srv *httptest.Server, token string) *bufio.Reader {
	t.Helper()
	events := openSSE(t, srv, token, nil)
	events.ReadString('\n') // the event's blank line
	return events
}

// TestStreamsOutliveReadTimeouts: an http.Server ReadTimeout and the hub's own
// BodyReadTimeout bound request bodies, not the streams a request turns into: a
// WebSocket, an SSE stream and an idle long poll held past both still carry
// messages, whether their connections are taken over or stay in their handlers.
func TestStreamsOutliveReadTimeouts(t *testing.T) {
	const readTimeout = time.Second
	for _, disableTakeover := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisableTakeover=%v", disableTakeover), func(t *testing.T) {
			h := conformance.NewHub(hub.Options{
				TransportOptions: transports.Options{
					BodyReadTimeout: readTimeout,
					PollTimeout:     4 * readTimeout,
					DisableTakeover: disableTakeover,
				},
				Logger: slog.New(slog.DiscardHandler),
			})
			mux := http.NewServeMux()
			mux.Handle("/hub", h)
			mux.Handle("/hub/", h)
			srv := httptest.NewUnstartedServer(mux)
			srv.Config.ReadTimeout = readTimeout
			srv.Start()
			t.Cleanup(func() {
				ctx, cancel := contextWithTimeout(time.Second)
				defer cancel()
				h.Close(ctx)
				srv.CloseClientConnections()
				srv.Close()
			})

			ws := handshakeWS(t, wsURL(srv, ""), nil)
			n := negotiate(t, srv)
			events := openEventStream(t, srv, n.ConnectionToken)
			sseURL := srv.URL + "/hub?id=" + n.ConnectionToken
			lp := &lpConn{url: srv.URL + "/hub?id=" + negotiate(t, srv).ConnectionToken}
			if st, body := lp.poll(t); st != 200 {
				t.Fatalf("first poll: %d %q", st, body)
			}
			if st, body := lp.post(t, `{"protocol":"json","version":1}`+rs); st != 200 {
				t.Fatalf("handshake POST: %d %q", st, body)
			}
			if st, body := lp.poll(t); st != 200 || body != "{}"+rs {
				t.Fatalf("handshake poll: %d %q", st, body)
			}
			// A poll is held, idle, past both timeouts; a broadcast then answers it.
			type answer struct {
				status int
				body   string
			}
			polled := make(chan answer, 1)
			go func() {
				st, body, _ := doURL(t, "GET", lp.url, nil, "")
				polled <- answer{st, body}
			}()

			time.Sleep(2*readTimeout + readTimeout/2)
			ctx, cancel := contextWithTimeout(hostileWaitFor)
			defer cancel()
			if err := h.Clients().All().Send(ctx, "Late", "after the read timeouts"); err != nil {
				t.Fatal(err)
			}
			select {
			case a := <-polled:
				if a.status != 200 || !strings.Contains(a.body, `"target":"Late"`) {
					t.Errorf("held poll answered %d %q, want the broadcast", a.status, a.body)
				}
			case <-ctx.Done():
				t.Fatal("the held poll was not answered")
			}
			if got := read(t, ws); !strings.Contains(got, `"target":"Late"`) {
				t.Errorf("WebSocket got %q, want the broadcast", got)
			}
			echo := `{"type":1,"invocationId":"1","target":"Echo","arguments":["still here"]}` + rs
			write(t, ws, echo)
			if got := read(t, ws); !strings.Contains(got, `"result":"still here"`) {
				t.Errorf("WebSocket Echo: got %q", got)
			}
			if st, body, _ := doURL(t, "POST", sseURL, nil, echo); st != 200 {
				t.Fatalf("SSE POST after the read timeouts: %d %q", st, body)
			}
			// Should the stream hang, end it rather than the test run.
			watchdog := time.AfterFunc(hostileWaitFor, srv.CloseClientConnections)
			defer watchdog.Stop()
			sawLate, sawEcho := false, false
			for !sawLate || !sawEcho {
				line, err := events.ReadString('\n')
				if err != nil {
					t.Fatalf("SSE stream ended (late %v, echo %v): %v", sawLate, sawEcho, err)
				}
				sawLate = sawLate || strings.Contains(line, `"target":"Late"`)
				sawEcho = sawEcho || strings.Contains(line, `"result":"still here"`)
			}
		})
	}
}
