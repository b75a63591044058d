package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	goleak.VerifyTestMain(m)
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
