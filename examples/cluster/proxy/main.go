// Proxy is a round-robin reverse proxy without sticky sessions, for the cluster
// example: each request goes to the next backend, whatever connection it belongs
// to. It passes WebSocket upgrades through and flushes event streams at once, as
// net/http/httputil.ReverseProxy does, and keeps the Host header, so that the
// nodes' origin check sees the address the browser used.
//
//	go run ./cluster/proxy -addr 127.0.0.1:8080 -backends http://127.0.0.1:8081,http://127.0.0.1:8082
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// shutdownGrace is how long requests under way may finish on SIGINT or SIGTERM.
// Upgraded WebSockets are not among them: their nodes' clients reconnect.
const shutdownGrace = 5 * time.Second

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (port 0: any free port)")
	backends := flag.String("backends", "http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083", "comma-separated backend URLs")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *backends); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr, backendList string) error {
	var targets []*url.URL
	for _, b := range strings.Split(backendList, ",") {
		u, err := url.Parse(strings.TrimSpace(b))
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("proxy: backend %q: want a URL like http://127.0.0.1:8081", b)
		}
		targets = append(targets, u)
	}
	var next atomic.Uint64
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(targets[(next.Add(1)-1)%uint64(len(targets))])
			r.Out.Host = r.In.Host // SetURL sets the backend's; the nodes check the origin against it
			r.SetXForwarded()
		},
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
