package examples_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hubbub-go/hubbub/client"
	"github.com/hubbub-go/hubbub/hub/protocol"
	"github.com/hubbub-go/hubbub/transports"
)

// redisAddr is the shared Redis the cluster test uses, under a key prefix of its
// own; it is never flushed.
const redisAddr = "127.0.0.1:6379"

// runScriptTimeout bounds cluster/run.sh's start, which builds the node and the proxy.
const runScriptTimeout = 3 * time.Minute

// TestCluster runs cluster/run.sh as its users do (on free ports, with a Redis key
// prefix of its own), then, through its round-robin proxy, connects a client on
// each transport, and checks that a message said on one node reaches every one
// of them, one at least on another node.
func TestCluster(t *testing.T) {
	requireRedis(t)
	addrs := freeAddrs(t, 4)
	cmd := exec.Command("bash", "cluster/run.sh")
	cmd.Env = append(os.Environ(),
		"REDIS="+redisAddr,
		"PREFIX="+runPrefix("cluster"),
		"PROXY_ADDR="+addrs[0],
		"NODE_ADDRS="+strings.Join(addrs[1:], " "))
	cluster := run(t, cmd, "listening on http://"+addrs[0], runScriptTimeout)
	proxy := cluster.url
	for _, node := range addrs[1:] {
		awaitHealthy(t, "http://"+node+"/healthz")
	}
	get(t, proxy+"/")
	hubURL := proxy + "/hubs/cluster"

	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	sender, senderNode, _ := join(t, ctx, hubURL, transports.WebSockets)
	var receivers []receiver
	for _, kind := range []transports.Kind{transports.ServerSentEvents, transports.LongPolling, transports.WebSockets} {
		_, node, heard := join(t, ctx, hubURL, kind)
		receivers = append(receivers, receiver{kind, node, heard})
	}
	// Round robin puts connections on every node; make sure one receiver is on
	// another node than the sender's, whatever the order requests came in.
	for tries := 0; !acrossNodes(senderNode, receivers); tries++ {
		if tries == 6 {
			t.Fatalf("every connection landed on %s: is the proxy round-robin?", senderNode)
		}
		_, node, heard := join(t, ctx, hubURL, transports.WebSockets)
		receivers = append(receivers, receiver{transports.WebSockets, node, heard})
	}

	if _, err := sender.Invoke(ctx, "Say", "across nodes"); err != nil {
		t.Fatalf("Say: %v", err)
	}
	want := [2]string{senderNode, "across nodes"}
	for _, r := range receivers {
		select {
		case got := <-r.heard:
			if got != want {
				t.Errorf("%v client on %s heard %q, want %q", r.transport, r.node, got, want)
			}
		case <-ctx.Done():
			t.Fatalf("%v client on %s never heard the sender on %s", r.transport, r.node, senderNode)
		}
	}

	cluster.stop(t)
	for _, addr := range addrs {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after run.sh exited", addr)
		}
	}
}

// join connects a client over one transport through the proxy, and returns it,
// the node that holds it (its welcome) and the messages it hears.
func join(t *testing.T, ctx context.Context, hubURL string, kind transports.Kind) (*client.Conn, string, chan [2]string) {
	t.Helper()
	conn, err := client.New(hubURL, client.Options{Transports: kind, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	welcome := make(chan string, 1)
	conn.On("welcome", func(args []protocol.RawValue) {
		var node string
		if conn.DecodeArgs(args, &node) == nil {
			welcome <- node
		}
	})
	heard := make(chan [2]string, 10)
	conn.On("message", func(args []protocol.RawValue) {
		var m [2]string
		if conn.DecodeArgs(args, &m[0], &m[1]) == nil {
			heard <- m
		}
	})
	if err := conn.Start(ctx); err != nil {
		t.Fatalf("%v through the proxy: %v", kind, err)
	}
	select {
	case node := <-welcome:
		// The welcome comes from the node holding the connection, as Node answers.
		if asked, err := client.InvokeAs[string](ctx, conn, "Node"); err != nil || asked != node {
			t.Fatalf("%v: welcomed by %s, but Node says %q (%v)", kind, node, asked, err)
		}
		return conn, node, heard
	case <-ctx.Done():
		t.Fatalf("%v: no welcome", kind)
		return nil, "", nil
	}
}

// receiver is a client of TestCluster that listens for the sender's message.
type receiver struct {
	transport transports.Kind
	node      string
	heard     chan [2]string
}

// acrossNodes reports whether a receiver is held by a node other than the sender's.
func acrossNodes(senderNode string, receivers []receiver) bool {
	for _, r := range receivers {
		if r.node != senderNode {
			return true
		}
	}
	return false
}

// awaitHealthy waits until a node's /healthz answers 200: its hub serves and its
// backplane is connected to Redis.
func awaitHealthy(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not healthy within %v (%v)", url, startTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// requireRedis skips the test when Redis does not answer a PING, unless
// HUBBUB_REQUIRE_REDIS=1 (as CI sets), which makes that a failure.
func requireRedis(t *testing.T) {
	t.Helper()
	err := pingRedis()
	if err == nil {
		return
	}
	if os.Getenv("HUBBUB_REQUIRE_REDIS") == "1" {
		t.Fatalf("Redis at %s: %v (HUBBUB_REQUIRE_REDIS=1)", redisAddr, err)
	}
	t.Skipf("Redis at %s is unreachable (%v): skipping the cluster; set HUBBUB_REQUIRE_REDIS=1 to fail instead", redisAddr, err)
}

func pingRedis() error {
	c, err := net.DialTimeout("tcp", redisAddr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}
