// Cluster is one node of a chat that runs on several nodes, joined by the Redis
// backplane, behind a load balancer without sticky sessions.
//
//	cluster/run.sh     # from examples/: three nodes on 127.0.0.1:8081-8083 and a
//	                   # round-robin proxy on 127.0.0.1:8080; open that in two windows
//	go run ./cluster -addr 127.0.0.1:8081 -node node1   # one node by hand
//
// Every request may land on any node: the negotiate on one, the WebSocket or
// event stream on another, each long poll somewhere else. The backplane makes that
// work (package backplane/redis): a transport that lands on another node claims
// the connection there, long polls and POSTs are forwarded to the node that holds
// their connection, and a message sent to All reaches every node's clients. The
// page says which node holds its connection and which node each message came from.
//
// Any proxy will do (nginx, HAProxy, Caddy...) as long as it passes WebSocket
// upgrades and does not buffer event streams; cluster/proxy is a tiny one in Go. If
// yours rewrites the Host header, list it in hub.Options.TrustedProxies so that
// the origin check sees the forwarded host.
package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	redisbackplane "github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/hub"
)

// maxTextLen bounds a message, in characters.
const maxTextLen = 500

//go:embed index.html cluster.js
var page embed.FS

// newClusterHub returns the hub of one node. Every node names it alike ("cluster"):
// the backplane routes messages by hub name.
func newClusterHub(node string, backplane hub.Backplane) *hub.Hub {
	h := hub.New(hub.Options{Name: "cluster", Backplane: backplane})
	// This runs on the node that holds the connection, wherever it negotiated.
	h.OnConnected(func(ctx *hub.Context) error {
		return ctx.Clients().Caller().Send(ctx, "welcome", node)
	})
	h.On("Node", func() string { return node })
	h.On("Say", func(ctx *hub.Context, text string) error {
		if text == "" || utf8.RuneCountInString(text) > maxTextLen {
			return hub.NewError("a message must have 1 to %d characters", maxTextLen)
		}
		// All: the clients of every node, through Redis. When Redis is down, the
		// error says that only this node's clients got it.
		return ctx.Clients().All().Send(ctx, "message", node, text)
	})
	return h
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address (host:port) or URL (redis://host:port/db)")
	node := flag.String("node", "", "this node's name, shown to clients (default: the address it listens on)")
	prefix := flag.String("prefix", "hubbub-cluster-example", "prefix of the Redis keys and channels: nodes with the same one form a cluster")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *redisAddr, *node, *prefix); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr, redisAddr, node, prefix string) error {
	url := redisAddr
	if !strings.Contains(url, "://") {
		url = "redis://" + url
	}
	// An unreachable Redis is no error here: the node serves its own clients and
	// the backplane keeps trying (it logs the outage once).
	backplane, err := redisbackplane.New(redisbackplane.Options{URL: url, Prefix: prefix})
	if err != nil {
		return err
	}
	defer backplane.Close() // after the hub has closed

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if node == "" {
		node = ln.Addr().String()
	}
	cluster := newClusterHub(node, backplane)
	mux := http.NewServeMux()
	mux.Handle("/hubs/cluster", cluster)  // negotiate and every transport...
	mux.Handle("/hubs/cluster/", cluster) // ...and the client script, /hubs/cluster/hubbub.js
	mux.Handle("/healthz", hub.HealthHandler(cluster))
	mux.Handle("/", http.FileServerFS(page))

	fmt.Printf("listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return hub.ServeListener(ctx, srv, ln, cluster)
}
