// Package clustertest starts a cluster of hub nodes sharing one backplane (Redis,
// NATS: whatever NewBackplane makes) behind a round-robin reverse proxy with no
// stickiness: the setup the backplanes' tests (and the shared ones of package
// suite) and the clusterdemo program run the conformance scenarios through.
package clustertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/hubbub-go/hubbub/auth/jwtauth"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
)

// Backplane is what the cluster needs of a backplane: a hub.Backplane that
// forwards sessions between nodes (hub.SessionForwarder), says when it is
// connected, and closes.
type Backplane interface {
	hub.Backplane
	hub.SessionForwarder
	// NodeID identifies the node in the cluster (and starts its tokens).
	NodeID() string
	// Ready waits until the backplane is connected.
	Ready(ctx context.Context) error
	Close() error
}

// Config describes a cluster of nodes on backplanes of type B. Zero fields take
// the defaults written beside them.
type Config[B Backplane] struct {
	// NewBackplane makes node i's backplane; logger is the node's. Required.
	NewBackplane func(i int, logger *slog.Logger) (B, error)
	// Nodes is the number of hub nodes. Default 3.
	Nodes int
	// ProxyAddr is where the proxy listens. Default 127.0.0.1:0.
	ProxyAddr string
	// JWTSecret, when set, is the HS256 secret of /hubs/secure; unset refuses every token.
	JWTSecret string
	// Hub is applied to the options of every hub before it is made (timeouts…).
	Hub func(*hub.Options)
	// Logger receives the nodes' logs. Default: discarded.
	Logger *slog.Logger
}

// Node is one hub node: the conformance hub at /hubs/conformance and its secure
// copy at /hubs/secure, on its own listener, with its own backplane.
type Node[B Backplane] struct {
	Conformance *hub.Hub
	Secure      *hub.Hub
	Backplane   B
	URL         string
	server      *http.Server
}

// Cluster is the running nodes and the proxy in front of them.
type Cluster[B Backplane] struct {
	Nodes []*Node[B]
	// URL is the proxy's: clients connect here.
	URL       string
	proxy     *http.Server
	transport *http.Transport
	// Requests counts the requests the proxy has passed on.
	Requests atomic.Int64
}

// Start starts the nodes and the proxy and waits until every backplane is
// connected.
func Start[B Backplane](ctx context.Context, cfg Config[B]) (*Cluster[B], error) {
	if cfg.Nodes <= 0 {
		cfg.Nodes = 3
	}
	if cfg.ProxyAddr == "" {
		cfg.ProxyAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Cluster[B]{}
	var targets []*url.URL
	for i := range cfg.Nodes {
		n, err := startNode(cfg, i)
		if err != nil {
			c.Close(ctx)
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
		u, _ := url.Parse(n.URL)
		targets = append(targets, u)
	}
	for _, n := range c.Nodes {
		if err := n.Backplane.Ready(ctx); err != nil {
			c.Close(ctx)
			return nil, err
		}
	}
	c.transport = http.DefaultTransport.(*http.Transport).Clone()
	c.transport.MaxIdleConnsPerHost = 100
	rp := &httputil.ReverseProxy{
		Transport: c.transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := targets[int(c.Requests.Add(1))%len(targets)]
			pr.SetURL(t)
			pr.Out.Host = pr.In.Host // the origin checks compare with the Host clients used
		},
		FlushInterval: -1, // Server-Sent Events
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	ln, err := net.Listen("tcp", cfg.ProxyAddr)
	if err != nil {
		c.Close(ctx)
		return nil, fmt.Errorf("clustertest: proxy: %w", err)
	}
	c.proxy = &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go c.proxy.Serve(ln)
	c.URL = "http://" + ln.Addr().String()
	return c, nil
}

func startNode[B Backplane](cfg Config[B], i int) (*Node[B], error) {
	bp, err := cfg.NewBackplane(i, cfg.Logger.With("node", i))
	if err != nil {
		return nil, err
	}
	opts := func(name string) hub.Options {
		o := hub.Options{Name: name, Backplane: bp, Logger: cfg.Logger.With("node", i)}
		if cfg.Hub != nil {
			cfg.Hub(&o)
		}
		return o
	}
	n := &Node[B]{Backplane: bp, Conformance: conformance.NewHub(opts("conformance"))}
	secure := opts("secure")
	secure.Authenticate = jwtauth.Authenticate(jwtauth.Options{Secret: []byte(cfg.JWTSecret)})
	n.Secure = conformance.NewHub(secure)
	mux := http.NewServeMux()
	for path, h := range map[string]*hub.Hub{"/hubs/conformance": n.Conformance, "/hubs/secure": n.Secure} {
		mux.Handle(path, h)
		mux.Handle(path+"/", h)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		bp.Close()
		return nil, fmt.Errorf("clustertest: node %d: %w", i, err)
	}
	n.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go n.server.Serve(ln)
	n.URL = "http://" + ln.Addr().String()
	return n, nil
}

// Owner returns the index of the node holding the connection, or -1.
func (c *Cluster[B]) Owner(connectionID string) int {
	for i, n := range c.Nodes {
		if _, ok := n.Conformance.Conn(connectionID); ok {
			return i
		}
	}
	return -1
}

// Close stops everything: hubs first (their clients are told to reconnect), then
// the proxy, the nodes' servers and the backplanes.
func (c *Cluster[B]) Close(ctx context.Context) error {
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.Conformance.Close(ctx), n.Secure.Close(ctx))
	}
	if c.proxy != nil {
		errs = append(errs, c.proxy.Shutdown(ctx))
	}
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
	for _, n := range c.Nodes {
		errs = append(errs, n.server.Shutdown(ctx), n.Backplane.Close())
	}
	return errors.Join(errs...)
}
