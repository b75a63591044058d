package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startOwnRedis runs a redis-server of this test's own on a free loopback port
// and returns its URL and a function that kills it (only it, by its process).
func startOwnRedis(t *testing.T) (url string, kill func()) {
	t.Helper()
	const bin = "/usr/bin/redis-server"
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s not found: %v", bin, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	kill = func() {
		if !done {
			done = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	t.Cleanup(kill)
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port), kill
}

// TestHealthzReportsBackplaneOutage: /healthz answers 200 while the Redis
// backplane works and 503, naming the hubs and why, once Redis is gone (it
// answered "ok" throughout an outage).
func TestHealthzReportsBackplaneOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server")
	}
	redisURL, killRedis := startOwnRedis(t)
	_, base, log := startServer(t, "--redis", redisURL)
	healthz := func() (int, string) {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitHealth := func(want int) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, body := healthz()
			if st == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/healthz: %d %q, want %d; log:\n%s", st, body, want, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if body := waitHealth(200); !strings.Contains(body, `"conformance":{"status":"ok","backplane":"ok"}`) {
		t.Errorf("healthy: %q", body)
	}
	killRedis()
	body := waitHealth(503)
	if !strings.Contains(body, `"conformance":{"status":"unavailable","backplane":"redis backplane: Redis unavailable`) {
		t.Errorf("during the outage: %q, want each hub's backplane error", body)
	}
}

// TestNATSBackplaneFlag: --nats URL puts the hubs on the NATS backplane, whose
// health /healthz reports.
func TestNATSBackplaneFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server")
	}
	const natsAddr = "127.0.0.1:4222"
	if c, err := net.DialTimeout("tcp", natsAddr, time.Second); err != nil {
		t.Skipf("NATS at %s is unreachable (%v)", natsAddr, err)
	} else {
		c.Close()
	}
	_, base, log := startServer(t, "--nats", "nats://"+natsAddr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && strings.Contains(string(b), `"conformance":{"status":"ok","backplane":"ok"}`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz: %d %q, want 200 with the backplane ok; log:\n%s", resp.StatusCode, b, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
