package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/transports"
)

// runMainEnv makes the test binary run the server (main) instead of the tests, so
// that a test can start the real command and signal it.
const runMainEnv = "HUBBUB_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	// go-redis retries a failed dial once a second on a goroutine of its own,
	// which sees the pool closed at its next try: after a test whose Redis was
	// unreachable, it may outlive the package's last test by up to a second.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

// lockedBuffer collects the server's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer runs the command on a free loopback port and returns its base URL.
func startServer(t *testing.T, args ...string) (*exec.Cmd, string, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-lines:
		url, ok := strings.CutPrefix(line, "hubbub listening on ")
		if !ok {
			t.Fatalf("first line %q; log:\n%s", line, stderr)
		}
		return cmd, url, stderr
	case <-time.After(30 * time.Second):
		t.Fatalf("the server did not start; log:\n%s", stderr)
	}
	return nil, "", nil
}

// On SIGTERM the server drains: a stream under way finishes, a long-polling client
// gets the Close message, and the process exits 0.
func TestSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server")
	}
	cmd, base, log := startServer(t, "--drain-timeout", "20s")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, base+"/hubs/conformance", client.Options{Transports: transports.LongPolling})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Stream(ctx, "Counter", 4, 300)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(ctx); err != nil {
		t.Fatal(err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for want := 1; ; want++ {
		item, err := s.Next(ctx)
		if errors.Is(err, io.EOF) && want == 4 {
			break
		}
		if err != nil || string(item) != fmt.Sprint(want) {
			t.Fatalf("item %d = %s, %v; log:\n%s", want, item, err, log)
		}
	}
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatalf("the connection did not end; log:\n%s", log)
	}
	var ce *client.CloseError
	if err := c.Err(); !errors.As(err, &ce) || !ce.AllowReconnect || ce.Message != hub.ShutdownMessage {
		t.Errorf("Err = %v, want a *CloseError %q allowing reconnection", err, hub.ShutdownMessage)
	}

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v; log:\n%s", err, log)
		}
	case <-ctx.Done():
		t.Fatalf("the server did not exit; log:\n%s", log)
	}
}

func TestParseDrainTimeout(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    time.Duration
		wantErr bool
	}{
		{"default", nil, nil, hub.DefaultDrainTimeout, false},
		{"flag", []string{"--drain-timeout", "3s"}, nil, 3 * time.Second, false},
		{"env", nil, map[string]string{"HUBBUB_DRAIN_TIMEOUT": "45s"}, 45 * time.Second, false},
		{"flag wins", []string{"--drain-timeout", "2s"}, map[string]string{"HUBBUB_DRAIN_TIMEOUT": "45s"}, 2 * time.Second, false},
		{"bad", []string{"--drain-timeout", "soon"}, nil, 0, true},
		{"zero", []string{"--drain-timeout", "0s"}, nil, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr {
				if err == nil {
					t.Errorf("parseConfig(%q) = nil error", tc.args)
				}
				return
			}
			if err != nil || cfg.drainTimeout != tc.want {
				t.Errorf("drainTimeout = %v, %v; want %v", cfg.drainTimeout, err, tc.want)
			}
		})
	}
}

func TestTrustedProxiesConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string
		wantErr string
	}{
		{name: "none"},
		{name: "flag", args: []string{"--trusted-proxies", " 10.0.0.0/8, 127.0.0.1 ,"}, want: []string{"10.0.0.0/8", "127.0.0.1"}},
		{name: "env", env: map[string]string{"HUBBUB_TRUSTED_PROXIES": "fd00::/8"}, want: []string{"fd00::/8"}},
		{name: "flag wins over env", args: []string{"--trusted-proxies=::1"}, env: map[string]string{"HUBBUB_TRUSTED_PROXIES": "10.0.0.0/8"}, want: []string{"::1"}},
		{name: "bad CIDR refuses to start", args: []string{"--trusted-proxies", "10.0.0.0/8,10.0.0.0/33"},
			wantErr: `--trusted-proxies: hub: TrustedProxies: "10.0.0.0/33" is not a CIDR like 10.0.0.0/8`},
		{name: "host name refuses to start", env: map[string]string{"HUBBUB_TRUSTED_PROXIES": "proxy.internal"},
			wantErr: `"proxy.internal" is not an IP address or a CIDR`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(tc.args, func(name string) string { return tc.env[name] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.trustedProxies, tc.want) {
				t.Errorf("trustedProxies = %q, want %q", cfg.trustedProxies, tc.want)
			}
			if got := cfg.hubOptions("h", nil, nil).TrustedProxies; !slices.Equal(got, tc.want) {
				t.Errorf("hub options TrustedProxies = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestShutdownWithTricklingClient: clients trickling request bodies, to a hub and
// to another route, neither hold the shutdown up nor make it fail: the process
// exits 0 long before their bodies could time out.
func TestShutdownWithTricklingClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server")
	}
	// Bounds on request bodies far off: the shutdown must not wait for them.
	cmd, base, log := startServer(t, "--drain-timeout", "20s", "--body-read-timeout", "1m", "--read-timeout", "1m")
	addr := strings.TrimPrefix(base, "http://")
	for _, path := range []string{"/hubs/conformance/negotiate?negotiateVersion=1", "/healthz"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 20000\r\n\r\nx", path, addr)
		stop := make(chan struct{})
		defer close(stop)
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
	}
	time.Sleep(500 * time.Millisecond) // the requests reach their handlers

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		took := time.Since(start).Round(time.Millisecond)
		if err != nil {
			t.Errorf("exit after %v: %v; log:\n%s", took, err, log)
		}
		// A generous bound, far below the body timeouts and the drain timeout.
		if took > 30*time.Second {
			t.Errorf("exit took %v; log:\n%s", took, log)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the server did not exit; log:\n%s", log)
	}
}

// TestStreamsOutliveReadTimeout: under the HTTP server's --read-timeout and the
// hubs' --body-read-timeout, a connection over each transport (long polls held in
// their handlers) still works well past both.
func TestStreamsOutliveReadTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server")
	}
	_, base, log := startServer(t, "--read-timeout", "1s", "--body-read-timeout", "1s", "--poll-takeover", "never", "--poll-timeout", "5s")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conns := map[transports.Kind]*client.Conn{}
	var lostMu sync.Mutex
	var lost []string
	for _, kind := range transports.Kinds {
		c, err := client.Dial(ctx, base+"/hubs/conformance", client.Options{
			Transports: kind,
			OnReconnecting: func(err error) {
				lostMu.Lock()
				defer lostMu.Unlock()
				lost = append(lost, fmt.Sprintf("%v: %v", kind, err))
			},
		})
		if err != nil {
			t.Fatalf("%v: %v", kind, err)
		}
		defer c.Close()
		conns[kind] = c
	}
	// A poll with nothing to carry is held for --poll-timeout, not cut at the read
	// timeouts (which the client would not notice: it polls again).
	poll := heldPoll(t, ctx, base+"/hubs/conformance")
	time.Sleep(2500 * time.Millisecond)
	for kind, c := range conns {
		res, err := c.Invoke(ctx, "Echo", "still here")
		var got string
		if err == nil {
			err = res.Decode(&got)
		}
		if err != nil || got != "still here" {
			t.Errorf("%v: Echo = %q, %v; log:\n%s", kind, got, err, log)
		}
	}
	if took := <-poll; took < 2*time.Second {
		t.Errorf("an idle poll was answered after %v, before --poll-timeout", took)
	}
	lostMu.Lock()
	defer lostMu.Unlock()
	if len(lost) > 0 {
		t.Errorf("links lost: %q", lost)
	}
}

// heldPoll opens a long-polling connection on hubURL with raw requests and then
// sends a poll with nothing to carry; it tells how long the poll took.
func heldPoll(t *testing.T, ctx context.Context, hubURL string) <-chan time.Duration {
	t.Helper()
	do := func(method, url, body string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := do("POST", hubURL+"/negotiate?negotiateVersion=1", "")
	var n struct{ ConnectionToken string }
	if err := json.Unmarshal([]byte(body), &n); st != 200 || err != nil {
		t.Fatalf("negotiate: %d %q", st, body)
	}
	url := hubURL + "?id=" + n.ConnectionToken
	do("GET", url, "")
	if st, body := do("POST", url, `{"protocol":"json","version":1}`+"\x1e"); st != 200 {
		t.Fatalf("handshake: %d %q", st, body)
	}
	if st, body := do("GET", url, ""); st != 200 || body != "{}\x1e" {
		t.Fatalf("handshake poll: %d %q", st, body)
	}
	took := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		took <- time.Since(start)
	}()
	return took
}

func TestParseServerTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    [4]time.Duration // read header, read, idle, body read
		wantErr string
	}{
		{name: "defaults", want: [4]time.Duration{10 * time.Second, 30 * time.Second, 2 * time.Minute, transports.DefaultBodyReadTimeout}},
		{name: "flags", args: []string{"--read-header-timeout", "2s", "--read-timeout", "3s", "--idle-timeout", "4s", "--body-read-timeout", "5s"},
			want: [4]time.Duration{2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second}},
		{name: "env", env: map[string]string{"HUBBUB_READ_TIMEOUT": "7s", "HUBBUB_BODY_READ_TIMEOUT": "8s"},
			want: [4]time.Duration{10 * time.Second, 7 * time.Second, 2 * time.Minute, 8 * time.Second}},
		{name: "zero", args: []string{"--body-read-timeout", "0s"}, wantErr: "--body-read-timeout: want a positive duration"},
		{name: "bad", args: []string{"--idle-timeout", "long"}, wantErr: "--idle-timeout: want a positive duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := [4]time.Duration{cfg.readHeaderTimeout, cfg.readTimeout, cfg.idleTimeout, cfg.bodyReadTimeout}
			if got != tc.want {
				t.Errorf("timeouts = %v, want %v", got, tc.want)
			}
			if b := cfg.hubOptions("h", nil, nil).TransportOptions.BodyReadTimeout; b != tc.want[3] {
				t.Errorf("hub options BodyReadTimeout = %v, want %v", b, tc.want[3])
			}
		})
	}
}

func TestParseAccessLog(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantOff bool
		wantErr bool
	}{
		{"default is on", nil, nil, false, false},
		{"flag off", []string{"--access-log", "off"}, nil, true, false},
		{"env off", nil, map[string]string{"HUBBUB_ACCESS_LOG": "off"}, true, false},
		{"flag wins", []string{"--access-log", "on"}, map[string]string{"HUBBUB_ACCESS_LOG": "off"}, false, false},
		{"bad", []string{"--access-log", "maybe"}, nil, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(tc.args, func(k string) string { return tc.env[k] })
			if tc.wantErr {
				if err == nil {
					t.Errorf("parseConfig(%q) = nil error", tc.args)
				}
				return
			}
			if err != nil || cfg.noAccessLog != tc.wantOff {
				t.Errorf("noAccessLog = %v, %v; want %v", cfg.noAccessLog, err, tc.wantOff)
			}
		})
	}
}

// TestStartErrorsNameTheFlag: a backplane URL the backplane refuses, or an
// address that cannot be listened on, fails the start with an error that names
// the flag to fix.
func TestStartErrorsNameTheFlag(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--redis", "http://127.0.0.1:6379"}, "--redis: "},
		{[]string{"--redis", "redis://127.0.0.1:6379/abc"}, "--redis: "},
		{[]string{"--nats", "http://127.0.0.1:4222"}, "--nats: "},
		{[]string{"--addr", busy.Addr().String()}, "--addr: "},
		{[]string{"--addr", "127.0.0.1:99999"}, "--addr: "},
	} {
		cfg, err := parseConfig(tc.args, func(string) string { return "" })
		if err != nil {
			t.Fatalf("parseConfig(%q): %v", tc.args, err)
		}
		cfg.logLevel = 100 // quiet
		err = run(context.Background(), cfg, os.Stdout)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("run %q: %v; want an error starting %q", tc.args, err, tc.want)
		}
	}
}

// TestParseAllowedOrigins: an origin that can never match a browser's Origin
// header (no scheme, a path) is refused at start, not silently never allowed.
func TestParseAllowedOrigins(t *testing.T) {
	for _, tc := range []struct {
		origins string
		ok      bool
	}{
		{"", true},
		{"*", true},
		{"https://app.example.com, http://127.0.0.1:3000", true},
		{"https://*.example.com", true},
		{"https://app.example.com/", true}, // a trailing slash is forgiven by the hub
		{"app.example.com", false},
		{"https://app.example.com/path", false},
		{"https://", false},
		{"not a url", false},
		{"https://a.com?x=1", false},
	} {
		_, err := parseConfig([]string{"--allowed-origins", tc.origins}, func(string) string { return "" })
		if tc.ok && err != nil {
			t.Errorf("--allowed-origins %q: %v", tc.origins, err)
		}
		if !tc.ok && (err == nil || !strings.HasPrefix(err.Error(), "--allowed-origins: ")) {
			t.Errorf("--allowed-origins %q: %v; want an --allowed-origins error", tc.origins, err)
		}
	}
}

// TestParseAddr: an empty --addr is refused (net.Listen would take it as every
// interface on a random port), as is one with no port; ":0" is explicit and
// kept.
func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{":0", true},
		{"[::1]:9000", true},
		{"", false},
		{"127.0.0.1", false},
		{"garbage", false},
	} {
		_, err := parseConfig([]string{"--addr", tc.addr}, func(string) string { return "" })
		if tc.ok && err != nil {
			t.Errorf("--addr %q: %v", tc.addr, err)
		}
		if !tc.ok && (err == nil || !strings.HasPrefix(err.Error(), "--addr: ")) {
			t.Errorf("--addr %q: %v; want an --addr error", tc.addr, err)
		}
	}
}
