package redis_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/backplane/redis/internal/clustertest"
	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/clustertest/suite"
	"github.com/hubbub-go/hubbub/transports"
)

// crashHeartbeat is the HeartbeatInterval of the crash tests: short, so that the
// tests are fast. A relay to a crashed owner must be answered within two of them;
// crashSlack is added for a loaded machine, and is still far below what a relay
// waited for before (ForwardTimeout, 60 s, or the hub's PollTimeout, 20 s here).
const (
	crashHeartbeat = 200 * time.Millisecond
	crashSlack     = 2 * time.Second
	crashBound     = 2*crashHeartbeat + crashSlack
)

// startCrashCluster starts two nodes, node 0 to crash and node 1 to relay, with a
// short heartbeat and a poll timeout far over the bound.
func startCrashCluster(t *testing.T) *clustertest.Cluster {
	t.Helper()
	url := redisURL(t)
	return startClusterConfig(t, clustertest.Config{
		RedisURL: url, Prefix: testPrefix(t, url), Nodes: 2,
		Backplane: func(o *redis.Options) {
			fastBackplane(o)
			o.HeartbeatInterval = crashHeartbeat
		},
		Hub: func(o *hub.Options) { o.TransportOptions.PollTimeout = 20 * time.Second },
	})
}

// TestOwnerCrash runs the shared suite.OwnerCrash on Redis (a relay to a crashed
// owner answered within two heartbeats, plus slack), and the Go client's view.
func TestOwnerCrash(t *testing.T) {
	suite.OwnerCrash(t, startCrashCluster, crashBound)

	t.Run("Go client", func(t *testing.T) {
		c := startCrashCluster(t)
		front := splitProxy(t, c.Nodes[0].URL, c.Nodes[1].URL)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		conn, err := client.New(front+"/hubs/conformance", client.Options{Transports: transports.LongPolling})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		if got := c.Owner(conn.ConnectionID()); got != 0 {
			t.Fatalf("the connection lives on node %d, want 0", got)
		}
		if sum, err := client.InvokeAs[int](ctx, conn, "Add", 2, 3); err != nil || sum != 5 {
			t.Fatalf("Add through the relay: %v %v", sum, err)
		}
		waitFor(t, "a poll relayed to the owner", func() bool { return c.Nodes[1].Backplane.PendingCalls() > 0 })
		crashed := time.Now()
		c.Nodes[0].Backplane.Crash()
		select {
		case <-conn.Done():
		case <-ctx.Done():
			t.Fatalf("the connection did not end within %s of the crash", waitTimeout)
		}
		took := time.Since(crashed)
		err = conn.Err()
		t.Logf("Go client's connection ended %v after the crash: %v", took.Round(time.Millisecond), err)
		var httpErr *client.HTTPError
		if !errors.As(err, &httpErr) || httpErr.StatusCode != http.StatusNotFound {
			t.Errorf("connection ended with %v, want an HTTP 404 error", err)
		}
		if took > crashBound {
			t.Errorf("connection ended %v after the crash, want within %v", took, crashBound)
		}
	})
}

// splitProxy sends negotiate requests to one node and every other request to
// another: the worst case a load balancer can produce for long polling.
func splitProxy(t *testing.T, negotiateNode, otherNode string) string {
	t.Helper()
	neg, _ := url.Parse(negotiateNode)
	other, _ := url.Parse(otherNode)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	rp := &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			if strings.HasSuffix(pr.In.URL.Path, "/negotiate") {
				pr.SetURL(neg)
			} else {
				pr.SetURL(other)
			}
			pr.Out.Host = pr.In.Host
		},
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	return srv.URL
}

// fakeNode is a node that listens on its channel and has a liveness key, but never
// answers: a frozen process, or one cut off with its connections half open.
type fakeNode struct {
	id string
	ps *goredis.PubSub
}

// startFakeNode subscribes to the channel of a made-up node under prefix and
// writes its liveness key, which expires after ttl.
func startFakeNode(t *testing.T, url, prefix string, ttl time.Duration) *fakeNode {
	t.Helper()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	n := &fakeNode{id: "frozenNode0"} // a node ID's length: 11
	ctx := context.Background()
	n.ps = rdb.Subscribe(ctx, prefix+":node:"+n.id)
	if _, err := n.ps.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ps.Close() })
	if err := rdb.Set(ctx, prefix+":node:"+n.id+":alive", time.Now().UnixMilli(), ttl).Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// relay sends a request for a connection of the fake node to node and returns
// its status, body and how long it took.
func relay(t *testing.T, node, method, token string) (int, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, node+"/hubs/conformance?id="+token, nil)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, strings.TrimSpace(string(body)), time.Since(start)
}

// TestOwnerFrozen relays requests to a node that still listens on its channel
// but never answers and stopped heartbeating: a poll waits no longer than the
// hub's PollTimeout and a Redis round trip (then 504: the client may poll again),
// and once the node's liveness key has expired, a relay in flight and every new
// one are answered 404.
func TestOwnerFrozen(t *testing.T) {
	url := redisURL(t)
	prefix := testPrefix(t, url)
	const pollTimeout = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := clustertest.Start(ctx, clustertest.Config{
		RedisURL: url, Prefix: prefix, Nodes: 1,
		Backplane: func(o *redis.Options) {
			fastBackplane(o)
			o.HeartbeatInterval = crashHeartbeat
		},
		Hub: func(o *hub.Options) { o.TransportOptions.PollTimeout = pollTimeout },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close cluster: %v", err)
		}
		http.DefaultClient.CloseIdleConnections()
	}()
	node := c.Nodes[0].URL

	t.Run("poll waits PollTimeout and OpTimeout at most", func(t *testing.T) {
		frozen := startFakeNode(t, url, prefix, time.Minute)
		status, body, took := relay(t, node, http.MethodGet, frozen.id+transports.NewToken())
		t.Logf("poll answered %d %q after %v", status, body, took.Round(time.Millisecond))
		if status != http.StatusGatewayTimeout {
			t.Errorf("poll: %d %q, want 504", status, body)
		}
		if bound := pollTimeout + redis.DefaultOpTimeout + crashSlack; took > bound {
			t.Errorf("poll answered after %v, want within %v", took, bound)
		}
	})

	t.Run("liveness key expired", func(t *testing.T) {
		const nodeTTL = 600 * time.Millisecond
		frozen := startFakeNode(t, url, prefix, nodeTTL)
		token := frozen.id + transports.NewToken()
		lastBeat := time.Now()
		status, body, _ := relay(t, node, http.MethodPost, token)
		took := time.Since(lastBeat)
		t.Logf("POST in flight answered %d %q %v after the last heartbeat", status, body, took.Round(time.Millisecond))
		if status != http.StatusNotFound || body != "No Connection with that ID" {
			t.Errorf("POST in flight: %d %q, want 404 No Connection with that ID", status, body)
		}
		if bound := nodeTTL + 2*crashHeartbeat + crashSlack; took > bound {
			t.Errorf("POST in flight answered %v after the last heartbeat, want within %v", took, bound)
		}
		// The node is known dead now: new relays are answered at once, though it
		// still listens.
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			status, body, took := relay(t, node, method, token)
			t.Logf("%s after: %d %q in %v", method, status, body, took.Round(time.Millisecond))
			if status != http.StatusNotFound {
				t.Errorf("%s after the node was declared dead: %d %q, want 404", method, status, body)
			}
			if took > crashSlack {
				t.Errorf("%s after the node was declared dead answered in %v, want at once", method, took)
			}
		}
	})
}

// TestOwnerKilled is TestOwnerCrash's poll with a real crash: the owner is a
// clusterdemo process, killed with SIGKILL while a poll of its connection is
// relayed to it by a node of this process.
func TestOwnerKilled(t *testing.T) {
	url := redisURL(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the node program: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "clusterdemo")
	if out, err := exec.Command(goBin, "build", "-o", bin, "../../internal/clusterdemo").CombinedOutput(); err != nil {
		t.Fatalf("build clusterdemo: %v\n%s", err, out)
	}
	prefix := testPrefix(t, url)
	owner := exec.Command(bin, "--addr", "127.0.0.1:0", "--nodes", "1", "--redis", url, "--prefix", prefix,
		"--heartbeat-interval", crashHeartbeat.String(), "--poll-timeout", "20s")
	stdout, err := owner.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			owner.Process.Kill()
			owner.Wait()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	_, ownerURL, found := strings.Cut(strings.TrimSpace(line), "listening on ")
	if err != nil || !found {
		t.Fatalf("clusterdemo said %q (%v)", line, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := clustertest.Start(ctx, clustertest.Config{
		RedisURL: url, Prefix: prefix, Nodes: 1,
		Backplane: func(o *redis.Options) {
			fastBackplane(o)
			o.HeartbeatInterval = crashHeartbeat
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	}()

	cl, err := tryDialSplit(t, ownerURL+"/hubs/conformance", c.Nodes[0].URL+"/hubs/conformance", "", transports.LongPolling)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer cl.Close()
	cl.MustInvoke(t, "Add", 1, 2)
	waitFor(t, "a poll relayed to the owner", func() bool { return c.Nodes[0].Backplane.PendingCalls() > 0 })
	crashed := time.Now()
	owner.Process.Signal(syscall.SIGKILL)
	owner.Wait()
	killed = true
	suite.WantPollGone(t, cl, crashed, "SIGKILL", crashBound)
}
