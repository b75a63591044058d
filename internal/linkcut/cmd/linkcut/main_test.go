package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitTimeout = 10 * time.Second

// TestCommand builds linkcut, runs it in front of a server, reads its LISTEN line,
// uses the proxy and its control API, and stops it the two ways a parent does.
func TestCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "linkcut")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-target", "http://127.0.0.1:1", "-listen", "0.0.0.0:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not loopback") {
		t.Errorf("-listen 0.0.0.0:0: %v, %s; want a refusal", err, out)
	}

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from upstream")
	}))
	defer up.Close()

	tests := []struct {
		name string
		stop func(cmd *exec.Cmd, stdin io.Closer)
	}{
		{"stdin EOF", func(_ *exec.Cmd, stdin io.Closer) { stdin.Close() }},
		{"SIGTERM", func(cmd *exec.Cmd, _ io.Closer) { cmd.Process.Signal(syscall.SIGTERM) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, "-target", up.URL, "-every", "1h", "-kinds", "reset,504", "-seed", "3")
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			listen, exited := make(chan string, 1), make(chan error, 1)
			go func() {
				// Read the whole of stdout before Wait: it must hold just the one line.
				lines := bufio.NewScanner(stdout)
				var got []string
				for lines.Scan() {
					if got = append(got, lines.Text()); len(got) == 1 {
						listen <- lines.Text()
					}
				}
				err := cmd.Wait()
				if len(got) != 1 {
					t.Errorf("stdout: %q, want one LISTEN line", got)
				}
				exited <- err
			}()
			timer := time.AfterFunc(waitTimeout, func() { cmd.Process.Kill() })
			defer timer.Stop()
			waited := false
			defer func() { // on failure, take the process down before the test ends
				if !waited {
					cmd.Process.Kill()
					<-exited
				}
			}()
			var base string
			select {
			case line := <-listen:
				var ok bool
				if base, ok = strings.CutPrefix(line, "LISTEN "); !ok || !strings.HasPrefix(base, "http://127.0.0.1:") {
					t.Fatalf("first line %q, want LISTEN http://127.0.0.1:PORT", line)
				}
			case err := <-exited:
				waited = true
				t.Fatalf("exited before listening: %v", err)
			}

			client := &http.Client{Timeout: waitTimeout, Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			call := func(method, path string) string {
				req, _ := http.NewRequest(method, base+path, nil)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					t.Fatalf("%s %s: %s %s", method, path, resp.Status, body)
				}
				return strings.TrimSpace(string(body))
			}
			if got := call("GET", "/hello"); got != "hello from upstream" {
				t.Errorf("through the proxy: %q", got)
			}
			client.CloseIdleConnections()
			if got := call("POST", "/__linkcut/cut?kind=reset"); got != `{"cut":0}` {
				t.Errorf("cut: %s", got)
			}
			call("POST", "/__linkcut/pause")
			var stats struct {
				Cuts     map[string]int
				Requests int
				Paused   bool
			}
			if err := json.Unmarshal([]byte(call("GET", "/__linkcut/stats")), &stats); err != nil {
				t.Fatal(err)
			}
			if stats.Requests != 1 || !stats.Paused || len(stats.Cuts) != 4 {
				t.Errorf("stats: %+v, want 1 request, paused, 4 kinds", stats)
			}
			call("POST", "/__linkcut/resume")

			tc.stop(cmd, stdin)
			err := <-exited
			waited = true
			if err != nil {
				t.Errorf("exit: %v, want a clean exit", err)
			}
		})
	}
}
