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

	redisbackplane "github.com/hubbub-go/hubbub/backplane/redis"
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
	fs.StringVar(&opts.redis, "redis", "", "host:port of a Redis (loopback only) to run as a cluster node on: hubbub with backplane/redis, centrifuge with its Redis broker")
	fs.StringVar(&opts.redisPrefix, "redis-prefix", "hubbench", "prefix of every Redis key and channel of this cluster")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server to this file until it stops (go tool pprof FILE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := checkLoopback(*addr); err != nil {
		return err
	}
	if opts.redis != "" {
		if err := checkLoopback(opts.redis); err != nil {
			return fmt.Errorf("--redis: %w", err)
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

// serveOptions make a bench server a cluster node.
type serveOptions struct {
	redis       string // host:port of the cluster's Redis; "" is a server of its own
	redisPrefix string // prefix of the cluster's keys and channels
	cpuProfile  string // a child server's --cpuprofile; "" for none
}

// args are the serve flags for opts.
func (o serveOptions) args() []string {
	if o.redis == "" {
		return nil
	}
	return []string{"--redis", o.redis, "--redis-prefix", o.redisPrefix}
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
	switch target {
	case targetHubbub:
		shutdown, err = mountHubbub(mux, opts)
	case targetRaw:
		if opts.redis != "" {
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
// With opts.redis, the hub is a cluster node on backplane/redis (its defaults).
func mountHubbub(mux *http.ServeMux, opts serveOptions) (func(), error) {
	var bp *redisbackplane.Backplane
	var backplane hub.Backplane
	if opts.redis != "" {
		var err error
		bp, err = redisbackplane.New(redisbackplane.Options{
			URL: "redis://" + opts.redis + "/0", Prefix: opts.redisPrefix,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		})
		if err != nil {
			return nil, fmt.Errorf("redis backplane: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = bp.Ready(ctx)
		cancel()
		if err != nil {
			bp.Close()
			return nil, err
		}
		backplane = bp
	}
	h := conformance.NewHub(hub.Options{
		Backplane:            backplane,
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
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		h.Close(ctx)
		if bp != nil {
			bp.Close()
		}
	}, nil
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
// on that Redis, as a centrifuge cluster does.
func mountCentrifuge(mux *http.ServeMux, opts serveOptions) (func(), error) {
	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelNone})
	if err != nil {
		return nil, err
	}
	if opts.redis != "" {
		shard, err := centrifuge.NewRedisShard(node, centrifuge.RedisShardConfig{Address: opts.redis})
		if err != nil {
			return nil, fmt.Errorf("centrifuge redis shard: %w", err)
		}
		broker, err := centrifuge.NewRedisBroker(node, centrifuge.RedisBrokerConfig{Prefix: opts.redisPrefix, Shards: []*centrifuge.RedisShard{shard}})
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
