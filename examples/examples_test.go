// Package examples_test builds every example, starts it on a loopback port and
// talks to it as its users would: the page, the bundled client script, negotiate,
// a Go client and a round trip specific to the example, then SIGTERM.
package examples_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub/protocol"
)

// Generous bounds for a loaded 2-core machine; none of them measures speed.
const (
	startTimeout = 30 * time.Second // from exec to the "listening on" line
	stopTimeout  = 15 * time.Second // from SIGTERM to exit (the hubs' drain included)
	callTimeout  = 20 * time.Second // one round trip
)

// example holds what the harness knows of one example beyond the convention.
type example struct {
	args      []string                                             // flags besides -addr
	roundTrip func(t *testing.T, hubURL string, conn *client.Conn) // one exchange that shows the example works
}

// examples lists the examples that need more than the generic checks. An example
// not listed is built, started and checked generically; if its negotiate needs
// credentials (401), the client part is left to its own test.
var examples = map[string]example{
	"chat":    {roundTrip: chatRoundTrip},
	"stream":  {roundTrip: streamRoundTrip},
	"cluster": {args: []string{"-node", "solo", "-prefix", runPrefix("solo")}, roundTrip: clusterNodeRoundTrip},
}

// quiet is the Go clients' logger: what they would warn about (a hub method
// calling a client method the test has no handler for) is not the test's concern.
var quiet = slog.New(slog.DiscardHandler)

// scriptTag finds the page's <script src="{hub path}/hubbub.js">: the page loads
// the bundled client from its hub, which tells the harness the hub's path.
var scriptTag = regexp.MustCompile(`<script[^>]*\ssrc="(/[^"]*)/hubbub\.js(\?[^"]*)?"`)

// TestExamples runs every examples/*/main.go, so that an example added later is
// covered without touching this file.
func TestExamples(t *testing.T) {
	mains, err := filepath.Glob("*/main.go")
	if err != nil || len(mains) == 0 {
		t.Fatalf("no examples found (%v)", err)
	}
	bin := t.TempDir()
	for _, mainGo := range mains {
		name := filepath.Dir(mainGo)
		t.Run(name, func(t *testing.T) {
			ex := examples[name]
			srv := start(t, build(t, bin, "./"+name), ex.args...)

			page := get(t, srv.url+"/")
			m := scriptTag.FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("GET /: the page loads no <script src=\".../hubbub.js\"> from its hub:\n%s", page)
			}
			hubURL := srv.url + m[1]
			if js := get(t, hubURL+"/hubbub.js"); !strings.Contains(js, "Hubbub") {
				t.Fatalf("GET %s/hubbub.js: not the bundled client: %.200s", m[1], js)
			}

			conn := connect(t, name, hubURL)
			if conn != nil && ex.roundTrip != nil {
				ex.roundTrip(t, hubURL, conn)
			}

			srv.stop(t)
			if conn != nil {
				closedByServer(t, conn)
			}
		})
	}
}

// connect negotiates as a client does, checks the answer, and connects a Go
// client. It returns nil for an example whose hub needs credentials it does not
// know (401), after saying so.
func connect(t *testing.T, name, hubURL string) *client.Conn {
	t.Helper()
	resp, err := http.Post(hubURL+"/negotiate?negotiateVersion=1", "text/plain", nil)
	if err != nil {
		t.Fatalf("negotiate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, listed := examples[name]; resp.StatusCode == http.StatusUnauthorized && !listed {
		t.Logf("negotiate needs credentials (401): examples/%s's own test connects; add it to the examples table to connect here", name)
		return nil
	}
	var negotiated struct {
		ConnectionID        string `json:"connectionId"`
		AvailableTransports []struct {
			Transport string `json:"transport"`
		} `json:"availableTransports"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &negotiated) != nil || negotiated.ConnectionID == "" || len(negotiated.AvailableTransports) == 0 {
		t.Fatalf("negotiate: %s: %s", resp.Status, body)
	}

	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	conn, err := client.Dial(ctx, hubURL, client.Options{Logger: quiet})
	if err != nil {
		t.Fatalf("Go client: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// closedByServer checks that a client connected during shutdown was told with a
// Close message, not cut.
func closedByServer(t *testing.T, conn *client.Conn) {
	t.Helper()
	select {
	case <-conn.Done():
	case <-time.After(stopTimeout):
		t.Fatal("the Go client was still connected after the example exited")
	}
	var closed *client.CloseError
	if !errors.As(conn.Err(), &closed) {
		t.Fatalf("shutdown ended the Go client with %v, want a Close message from the server", conn.Err())
	}
}

// chatRoundTrip: two users join a room; what one says reaches the other.
func chatRoundTrip(t *testing.T, hubURL string, alice *client.Conn) {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	bob, err := client.New(hubURL, client.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	heard := make(chan [3]string, 10)
	bob.On("message", func(args []protocol.RawValue) {
		var m [3]string
		if err := bob.DecodeArgs(args, &m[0], &m[1], &m[2]); err == nil {
			heard <- m
		}
	})
	if err := bob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		conn *client.Conn
		nick string
	}{{alice, "alice"}, {bob, "bob"}} {
		for _, call := range [][]any{{"Nick", c.nick}, {"Join", "general"}} {
			if _, err := c.conn.Invoke(ctx, call[0].(string), call[1:]...); err != nil {
				t.Fatalf("%s: %v: %v", c.nick, call, err)
			}
		}
	}
	if _, err := alice.Invoke(ctx, "Say", "general", "hello from alice"); err != nil {
		t.Fatalf("Say: %v", err)
	}
	want := [3]string{"general", "alice", "hello from alice"}
	select {
	case got := <-heard:
		if got != want {
			t.Fatalf("bob heard %q, want %q", got, want)
		}
	case <-ctx.Done():
		t.Fatal("bob never heard alice")
	}
	// Talking in a room one has not joined is refused with a message.
	var refused *client.InvocationError
	if _, err := alice.Invoke(ctx, "Say", "elsewhere", "hi"); !errors.As(err, &refused) {
		t.Fatalf("Say in a room not joined: %v, want the hub's error", err)
	}
}

// streamRoundTrip reads a stream item with the harness's client, then runs the
// example's own Go client (stream/client), which streams both ways and cancels.
func streamRoundTrip(t *testing.T, hubURL string, conn *client.Conn) {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	s, err := conn.Stream(ctx, "Ticks", 50)
	if err != nil {
		t.Fatal(err)
	}
	var tick struct{ N int }
	if raw, err := s.Next(ctx); err != nil || conn.Decode(raw, &tick) != nil || tick.N != 1 {
		t.Fatalf("first tick: %s, %v", raw, err)
	}
	s.Cancel()

	out, err := exec.CommandContext(ctx, build(t, t.TempDir(), "./stream/client"), "-url", hubURL).CombinedOutput()
	if err != nil {
		t.Fatalf("stream/client: %v\n%s", err, out)
	}
	for _, want := range []string{
		"tick 3 at ",
		"canceled the ticks after 3",
		"uploaded 4 lines: the server counted 4 lines, 19 bytes",
		"canceled an upload halfway; the server said: ",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("stream/client printed no %q:\n%s", want, out)
		}
	}
}

// clusterNodeRoundTrip: a lone node says which node holds the connection (the
// cluster itself is TestCluster's).
func clusterNodeRoundTrip(t *testing.T, hubURL string, conn *client.Conn) {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	if node, err := client.InvokeAs[string](ctx, conn, "Node"); err != nil || node != "solo" {
		t.Fatalf("Node: %q, %v; want solo", node, err)
	}
}

// server is an example process started by start.
type server struct {
	url    string
	cmd    *exec.Cmd
	exited chan struct{}
	output strings.Builder // stdout and stderr but the listening line; read it once exited is closed
}

// start runs exe with -addr 127.0.0.1:0 and waits for its "listening on" line.
func start(t *testing.T, exe string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(exe, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	return run(t, cmd, "listening on http://", startTimeout)
}

// run starts cmd and waits for a line of its output that starts with prefix,
// "listening on URL"; the server's url is that URL.
func run(t *testing.T, cmd *exec.Cmd, prefix string, timeout time.Duration) *server {
	t.Helper()
	s := &server{cmd: cmd, exited: make(chan struct{})}
	// One pipe for stdout and stderr, read by one goroutine, which alone writes
	// s.output. Its end comes when every process holding it has exited.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so that a failed test can end its children too
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL) // a no-op after a clean stop
		<-s.exited
		if t.Failed() {
			t.Logf("%s's output:\n%s", filepath.Base(s.cmd.Path), s.output.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		announced := false
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), prefix) && !announced {
				found <- strings.TrimSpace(strings.TrimPrefix(sc.Text(), "listening on "))
				announced = true
				continue
			}
			fmt.Fprintln(&s.output, sc.Text())
		}
		io.Copy(&s.output, r) // past an overlong line, keep draining: a full pipe would block the process
		s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.url = <-found:
		return s
	case <-s.exited:
		t.Fatalf("%s exited before printing %q: %v", s.cmd.Path, prefix, s.cmd.ProcessState)
	case <-time.After(timeout):
		t.Fatalf("%s printed no %q within %v", s.cmd.Path, prefix, timeout)
	}
	return nil
}

// stop sends SIGTERM and checks that the process exits 0 within stopTimeout.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		t.Fatalf("still running %v after SIGTERM", stopTimeout)
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

// buildFlags are added to every go build of an example (see race_test.go).
var buildFlags []string

// build compiles the package at pkg (relative to examples/) into dir.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	exe := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(pkg, "./"), "/", "-"))
	args := append(append([]string{"build"}, buildFlags...), "-o", exe, pkg)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return exe
}

// get fetches url and fails unless it answers 200.
func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(body)
}

// runPrefix is a Redis key prefix of this test run's own, so that its nodes never
// meet those of another run or of someone's cluster/run.sh.
func runPrefix(what string) string {
	return fmt.Sprintf("hubbub-examples-test-%d-%d-%s", os.Getpid(), time.Now().UnixNano(), what)
}

// freeAddrs returns n loopback addresses with ports free at the time of the call.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}
