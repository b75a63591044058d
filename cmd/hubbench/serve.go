package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge"
	"github.com/gorilla/websocket"

	"github.com/hubbub-go/hubbub/admin"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/transports"
)

// Targets: the server under test and the two baselines.
const (
	targetHubbub     = "hubbub"
	targetRaw        = "raw"
	targetCentrifuge = "centrifuge"
)

// Paths every bench server answers.
const (
	hubPath        = "/hubs/conformance"
	rawPath        = "/ws"
	centrifugePath = "/connection/websocket"
	statsPath      = "/_bench/stats"
	benchChannel   = "bench"
)

// serveCmd runs one bench server until SIGINT/SIGTERM or stdin closes. It prints
// "listening <addr>" on stdout once it accepts connections (the parent reads it).
func serveCmd(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	target := fs.String("target", targetHubbub, "hubbub, raw or centrifuge")
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	var opts serveOptions
	fs.StringVar(&opts.redis, "redis", "", "Redis (loopback only) to run as a cluster node on, host:port or a URL backplane/redis takes (redis://H:P/0, redis+cluster://H1:P1,H2:P2, redis+sentinel://H1:P1/MASTER): hubbub with backplane/redis, centrifuge with its Redis broker (single Redis only)")
	fs.BoolVar(&opts.routeByHub, "redis-route-by-hub", false, "backplane/redis with Options.RouteByHub: every envelope on one channel per hub, every node receives everything (the routing before issue 18)")
	fs.StringVar(&opts.nats, "nats", "", "NATS URL (loopback only) to run hubbub as a cluster node on, with backplane/nats")
	fs.StringVar(&opts.prefix, "prefix", "hubbench", "prefix of every key, channel and subject of this cluster (NATS: one subject token, [A-Za-z0-9_-])")
	fs.StringVar(&opts.prefix, "redis-prefix", "hubbench", "the same as --prefix")
	fs.BoolVar(&opts.admin, "admin", false, "hubbub with the admin dashboard (package admin) as its hub's Observer and mounted at /admin, sampling every second: to measure what it costs")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server to this file until it stops (go tool pprof FILE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*addr); err != nil {
		return err
	}
	if opts.redis != "" {
		if err := checkLoopbackURL(opts.redis); err != nil {
			return fmt.Errorf("--redis: %w", err)
		}
	}
	if opts.nats != "" {
		if err := checkLoopbackURL(opts.nats); err != nil {
			return fmt.Errorf("--nats: %w", err)
		}
		if opts.redis != "" {
			return errors.New("--redis and --nats: a node has one backplane")
		}
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if rate, err := strconv.Atoi(os.Getenv("HUBBENCH_MEMPROFILERATE")); err == nil {
		runtime.MemProfileRate = rate // exact heap profiles: 1
	}
	raiseFileLimit()
	srv, err := startServer(*target, *addr, opts)
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", srv.addr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { io.Copy(io.Discard, os.Stdin); stop() }() // parent gone: exit
	<-ctx.Done()
	srv.close()
	return nil
}

// benchServer is a running bench server.
type benchServer struct {
	target string
	addr   string
	close  func()
}

// serveOptions make a bench server a cluster node, on Redis or on NATS.
type serveOptions struct {
	redis      string // the cluster's Redis: host:port or a backplane/redis URL; "" for none
	routeByHub bool   // backplane/redis with Options.RouteByHub
	nats       string // the cluster's NATS URL; "" for none
	prefix     string // prefix of the cluster's keys, channels and subjects
	cpuProfile string // a child server's --cpuprofile; "" for none
	admin      bool   // hubbub with the admin dashboard observing its hub
}

// clustered tells whether opts make a cluster node.
func (o serveOptions) clustered() bool { return o.redis != "" || o.nats != "" }

// args are the serve flags for opts.
func (o serveOptions) args() []string {
	var args []string
	switch {
	case o.redis != "":
		args = []string{"--redis", o.redis}
		if o.routeByHub {
			args = append(args, "--redis-route-by-hub")
		}
	case o.nats != "":
		args = []string{"--nats", o.nats}
	}
	if args != nil {
		args = append(args, "--prefix", o.prefix)
	}
	if o.admin {
		args = append(args, "--admin")
	}
	return args
}

// startServer starts a bench server for target on addr, in this process.
func startServer(target, addr string, opts serveOptions) (*benchServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc(statsPath, serveStats)
	// Profiles of the server under load: go tool pprof http://ADDR/debug/pprof/heap
	// (or /debug/pprof/profile?seconds=5 for CPU)
	mux.HandleFunc("/debug/pprof/", httppprof.Index)
	mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
	var shutdown func()
	var err error
	var bpStats func() (backplaneStats, error)
	switch target {
	case targetHubbub:
		shutdown, bpStats, err = mountHubbub(mux, opts)
	case targetRaw:
		if opts.clustered() {
			return nil, errors.New("the raw baseline has no cluster mode")
		}
		shutdown = mountRaw(mux)
	case targetCentrifuge:
		shutdown, err = mountCentrifuge(mux, opts)
	default:
		return nil, fmt.Errorf("unknown target %q (want hubbub, raw or centrifuge)", target)
	}
	if err != nil {
		return nil, err
	}
	mux.HandleFunc(backplaneStatsPath, serveBackplaneStats(bpStats))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		shutdown()
		return nil, err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go hs.Serve(ln)
	return &benchServer{target: target, addr: ln.Addr().String(), close: func() {
		shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		hs.Close()
	}}, nil
}

// mountHubbub serves the conformance hub (the same hub cmd/hubbub serves) on a plain
// net/http mux. Options are the library defaults except: ClientTimeout 10 min (the
// lean subscribers send no pings, the server's 15 s keep-alive still runs), and the
// inbound rate limit and per-IP caps raised for the publisher and for 10k+ connections.
// With opts.redis or opts.nats, the hub is a cluster node on backplane/redis or
// backplane/nats (their defaults, but RouteByHub when opts say so); stats reads
// that backplane's counters (nil without one).
func mountHubbub(mux *http.ServeMux, opts serveOptions) (shutdown func(), stats func() (backplaneStats, error), err error) {
	var bp *nodeBackplane
	var backplane hub.Backplane
	if opts.clustered() {
		if bp, err = newNodeBackplane(opts); err != nil {
			return nil, nil, err
		}
		backplane, stats = bp.bp, bp.stats
	}
	var dash *admin.Dashboard
	var observer hub.Observer
	if opts.admin {
		if dash, err = admin.New(admin.Options{Password: "hubbench", Backplane: backplane}); err != nil {
			return nil, nil, err
		}
		observer = dash
	}
	h := conformance.NewHub(hub.Options{
		Backplane:            backplane,
		Observer:             observer,
		ClientTimeout:        10 * time.Minute,
		MaxMessagesPerSecond: 1e6,
		MessageBurst:         1e6,
		MaxConnectionsPerIP:  1 << 20,
		// All from one address, opening many connections at once.
		MaxPendingNegotiationsPerIP: 1 << 20,
		Logger:                      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		TransportOptions:            transports.Options{},
	})
	mux.Handle(hubPath, h)
	mux.Handle(hubPath+"/", h)
	if dash != nil {
		dash.Watch(h)
		dash.Start()
		mux.Handle("/admin", dash)
		mux.Handle("/admin/", dash)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		h.Close(ctx)
		if dash != nil {
			dash.Close()
			dash.Hub().Close(ctx)
		}
		if bp != nil {
			bp.close()
		}
	}, stats, nil
}

// mountRaw is the raw baseline: a minimal gorilla/websocket broadcast server. Each
// connection has a reader (the handler's goroutine) and one writer goroutine fed by
// a channel; every message any client sends is wrapped once in a PreparedMessage
// and queued to every connection. A full queue (256) drops the connection.
func mountRaw(mux *http.ServeMux) func() {
	type rawConn struct {
		ws   *websocket.Conn
		send chan *websocket.PreparedMessage
	}
	var (
		mu    sync.RWMutex
		conns = map[*rawConn]struct{}{}
	)
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux.HandleFunc(rawPath, func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &rawConn{ws: ws, send: make(chan *websocket.PreparedMessage, 256)}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		go func() {
			for pm := range c.send {
				ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if ws.WritePreparedMessage(pm) != nil {
					ws.Close()
					for range c.send {
					}
					return
				}
			}
		}()
		defer func() {
			mu.Lock()
			if _, ok := conns[c]; ok {
				delete(conns, c)
				close(c.send)
			}
			mu.Unlock()
			ws.Close()
		}()
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			pm, err := websocket.NewPreparedMessage(websocket.TextMessage, msg)
			if err != nil {
				return
			}
			var slow []*rawConn
			mu.RLock()
			for rc := range conns {
				select {
				case rc.send <- pm:
				default:
					slow = append(slow, rc)
				}
			}
			mu.RUnlock()
			for _, rc := range slow {
				rc.ws.Close()
			}
		}
	})
	return func() {}
}

// mountCentrifuge is the peer baseline: centrifuge v0.40.1 with its defaults, every
// connection subscribed server-side at connect to one channel (the bench channel,
// or the one its connect data names: {"channel":"g3"}), client publishes allowed
// into any. With opts.redis, the node uses centrifuge's Redis broker (its defaults)
// on that Redis, as a centrifuge cluster does: a single Redis only, the baseline.
func mountCentrifuge(mux *http.ServeMux, opts serveOptions) (func(), error) {
	if opts.nats != "" {
		return nil, errors.New("centrifuge runs on a single Redis only, not NATS")
	}
	var redisAddr string
	if opts.redis != "" {
		var err error
		if redisAddr, err = singleRedisAddr(opts.redis); err != nil {
			return nil, err
		}
	}
	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelNone})
	if err != nil {
		return nil, err
	}
	if redisAddr != "" {
		shard, err := centrifuge.NewRedisShard(node, centrifuge.RedisShardConfig{Address: redisAddr})
		if err != nil {
			return nil, fmt.Errorf("centrifuge redis shard: %w", err)
		}
		broker, err := centrifuge.NewRedisBroker(node, centrifuge.RedisBrokerConfig{Prefix: opts.prefix, Shards: []*centrifuge.RedisShard{shard}})
		if err != nil {
			return nil, fmt.Errorf("centrifuge redis broker: %w", err)
		}
		node.SetBroker(broker)
	}
	node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		channel := benchChannel
		var data struct {
			Channel string `json:"channel"`
		}
		if len(e.Data) > 0 && json.Unmarshal(e.Data, &data) == nil && data.Channel != "" {
			channel = data.Channel
		}
		return centrifuge.ConnectReply{
			Credentials:   &centrifuge.Credentials{UserID: ""},
			Subscriptions: map[string]centrifuge.SubscribeOptions{channel: {}},
		}, nil
	})
	node.OnConnect(func(c *centrifuge.Client) {
		c.OnPublish(func(e centrifuge.PublishEvent, cb centrifuge.PublishCallback) {
			cb(centrifuge.PublishReply{}, nil)
		})
	})
	if err := node.Run(); err != nil {
		return nil, err
	}
	mux.Handle(centrifugePath, centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{
		CheckOrigin: func(*http.Request) bool { return true },
	}))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		node.Shutdown(ctx)
	}, nil
}

// serverStats is what /_bench/stats reports about the server process.
type serverStats struct {
	RSS        int64   `json:"rssBytes"`
	HeapInuse  uint64  `json:"heapInuseBytes"`
	HeapAlloc  uint64  `json:"heapAllocBytes"`
	StackInuse uint64  `json:"stackInuseBytes"`
	Sys        uint64  `json:"sysBytes"`
	Goroutines int     `json:"goroutines"`
	CPUSeconds float64 `json:"cpuSeconds"` // user+system time of the process so far
}

// serveStats reports memory; ?gc=1 first runs a GC and returns freed memory to the
// OS, so that two readings differ by what is live.
func serveStats(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("gc") == "1" {
		runtime.GC()
		debug.FreeOSMemory()
	}
	json.NewEncoder(w).Encode(readStats())
}

func readStats() serverStats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return serverStats{
		RSS: readRSS(), HeapInuse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc,
		StackInuse: ms.StackInuse, Sys: ms.Sys, Goroutines: runtime.NumGoroutine(),
		CPUSeconds: cpuSeconds(),
	}
}

// readRSS reads VmRSS of this process from /proc (0 where there is none).
func readRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// raiseFileLimit lifts the soft open-file limit to the hard one.
func raiseFileLimit() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur
}

// checkLoopback refuses any address outside 127.0.0.0/8.
func checkLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("address %q: %w", hostport, err)
	}
	ip := net.ParseIP(host)
	if host == "localhost" {
		return nil
	}
	if ip == nil || ip.To4() == nil || ip.To4()[0] != 127 {
		return fmt.Errorf("address %q is not in 127.0.0.0/8: hubbench is loopback only", hostport)
	}
	return nil
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// startCPUProfile writes a CPU profile to path until stop is called (--cpuprofile).
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
