// Command hubbub is the Hubbub demo and conformance server. With no outside service
// it serves the conformance hub that outside clients are tested against
// (/hubs/conformance), the bundled JS client, and /healthz; with --admin-password
// (or --admin-jwt-secret), the admin dashboard at /admin (package admin).
//
// Every flag has an environment variable of the same meaning (HUBBUB_ADDR for
// --addr, …); a flag given on the command line wins.
//
// "hubbub gen ts [-o DIR]" serves nothing: it writes TypeScript declarations and
// typed connections for the server's hubs (package tsgen), by default to
// internal/demo/types, where the demo pages take their types from.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hubbub-go/hubbub/admin"
	"github.com/hubbub-go/hubbub/auth/jwtauth"
	natsbackplane "github.com/hubbub-go/hubbub/backplane/nats"
	redisbackplane "github.com/hubbub-go/hubbub/backplane/redis"
	"github.com/hubbub-go/hubbub/clientjs"
	"github.com/hubbub-go/hubbub/ginhub"
	"github.com/hubbub-go/hubbub/hub"
	"github.com/hubbub-go/hubbub/internal/conformance"
	"github.com/hubbub-go/hubbub/internal/demo"
	"github.com/hubbub-go/hubbub/metrics"
	"github.com/hubbub-go/hubbub/transports"
)

// config is everything the flags set.
type config struct {
	addr              string
	transports        transports.Kind
	jwtSecret         string
	adminPassword     string // the dashboard at /admin; "" and no adminJWTSecret: no dashboard (404)
	adminJWTSecret    string // HS256 secret of the admin tokens the dashboard's login also takes
	redisURL          string
	natsURL           string
	backplane         hub.Backplane // the Redis or NATS backplane when one URL is set; nil: in memory
	allowedOrigins    []string
	trustedProxies    []string
	keepAliveInterval time.Duration
	clientTimeout     time.Duration
	pollTimeout       time.Duration
	pollTakeover      time.Duration // negative: never
	drainTimeout      time.Duration
	noAccessLog       bool
	// The HTTP server's bounds on reading requests (hub routes bound their
	// bodies with bodyReadTimeout instead) and on idle keep-alive connections.
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	idleTimeout       time.Duration
	bodyReadTimeout   time.Duration
	chatAuthTimeout   time.Duration
	newsInterval      time.Duration
	logLevel          slog.Level
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "gen" {
		// "hubbub gen ts": typed clients for these hubs (gen.go).
		err := gen(os.Args[2:], os.Stdout)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) // -h or --help: the usage was printed
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "hubbub:", err)
			os.Exit(2)
		}
		return
	}
	cfg, err := parseConfig(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0) // -h or --help: the flag set printed the usage
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubbub:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// The first signal starts the drain; a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hubbub:", err)
		os.Exit(1)
	}
}

func parseConfig(args []string, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("hubbub", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hubbub [flags]\n       hubbub gen ts [-o DIR]   (TypeScript for the hubs; see hubbub gen ts -h)\n\nFlags:\n")
		fs.PrintDefaults()
	}
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	addr := fs.String("addr", env("HUBBUB_ADDR", "127.0.0.1:8080"), "where to listen (env HUBBUB_ADDR)")
	kinds := fs.String("transports", env("HUBBUB_TRANSPORTS", "websockets,sse,longpolling"), "transports negotiate offers (env HUBBUB_TRANSPORTS)")
	adminPassword := fs.String("admin-password", "", "password of the admin dashboard at /admin; unset: no dashboard, /admin is 404 (env HUBBUB_ADMIN_PASSWORD)")
	adminJWTSecret := fs.String("admin-jwt-secret", "", "HS256 secret of admin tokens the dashboard's login takes, beside or instead of --admin-password (env HUBBUB_ADMIN_JWT_SECRET)")
	jwtSecret := fs.String("jwt-secret", "", "HS256 secret for /hubs/secure; unset refuses every token (env HUBBUB_JWT_SECRET)")
	redisURL := fs.String("redis", "", "Redis backplane URL: redis://127.0.0.1:6379/0, redis+sentinel://HOST:PORT,…/MASTER or redis+cluster://HOST:PORT,… (env HUBBUB_REDIS_URL)")
	natsURL := fs.String("nats", "", "NATS backplane URL, e.g. nats://127.0.0.1:4222; not with --redis (env HUBBUB_NATS_URL)")
	origins := fs.String("allowed-origins", env("HUBBUB_ALLOWED_ORIGINS", ""), "comma list of origins for CORS and WebSocket; * allows all, without credentials (env HUBBUB_ALLOWED_ORIGINS)")
	proxies := fs.String("trusted-proxies", env("HUBBUB_TRUSTED_PROXIES", ""), "comma list of CIDRs or addresses of reverse proxies whose Forwarded/X-Forwarded-* headers are believed, e.g. 10.0.0.0/8,127.0.0.1 (env HUBBUB_TRUSTED_PROXIES)")
	keepAlive := fs.String("keepalive-interval", env("HUBBUB_KEEPALIVE_INTERVAL", hub.DefaultKeepAliveInterval.String()), "ping interval (env HUBBUB_KEEPALIVE_INTERVAL)")
	clientTimeout := fs.String("client-timeout", env("HUBBUB_CLIENT_TIMEOUT", hub.DefaultClientTimeout.String()), "close clients silent this long (env HUBBUB_CLIENT_TIMEOUT)")
	pollTimeout := fs.String("poll-timeout", env("HUBBUB_POLL_TIMEOUT", transports.DefaultPollTimeout.String()), "long-poll hold time (env HUBBUB_POLL_TIMEOUT)")
	pollTakeover := fs.String("poll-takeover", env("HUBBUB_POLL_TAKEOVER", transports.DefaultIdlePollTakeover.String()), "take a waiting long poll's connection over from net/http after this long, or never (env HUBBUB_POLL_TAKEOVER)")
	drainTimeout := fs.String("drain-timeout", env("HUBBUB_DRAIN_TIMEOUT", hub.DefaultDrainTimeout.String()), "on SIGTERM/SIGINT, let invocations and streams under way finish for up to this long before closing every connection (env HUBBUB_DRAIN_TIMEOUT)")
	readHeaderTimeout := fs.String("read-header-timeout", env("HUBBUB_READ_HEADER_TIMEOUT", "10s"), "time a client has to send a request's headers (env HUBBUB_READ_HEADER_TIMEOUT)")
	readTimeout := fs.String("read-timeout", env("HUBBUB_READ_TIMEOUT", "30s"), "time a client has to send a whole request to a route other than a hub's; WebSockets, SSE streams and polls are not cut by it (env HUBBUB_READ_TIMEOUT)")
	idleTimeout := fs.String("idle-timeout", env("HUBBUB_IDLE_TIMEOUT", "2m"), "close a keep-alive connection idle this long between requests (env HUBBUB_IDLE_TIMEOUT)")
	bodyReadTimeout := fs.String("body-read-timeout", env("HUBBUB_BODY_READ_TIMEOUT", transports.DefaultBodyReadTimeout.String()), "time a client has to send a request body to a hub; a POST past it gets 408 (env HUBBUB_BODY_READ_TIMEOUT)")
	chatAuthTimeout := fs.String("chat-auth-timeout", env("HUBBUB_CHAT_AUTH_TIMEOUT", "10s"), "chat demo: close connections not signed in by then (env HUBBUB_CHAT_AUTH_TIMEOUT)")
	newsInterval := fs.String("news-interval", env("HUBBUB_NEWS_INTERVAL", "5s"), "news demo: time between two articles of a company (env HUBBUB_NEWS_INTERVAL)")
	accessLog := fs.String("access-log", env("HUBBUB_ACCESS_LOG", "on"), "one Info line per connection when it ends, with its transport, user, true duration, bytes and messages each way and close reason: on or off (env HUBBUB_ACCESS_LOG)")
	logLevel := fs.String("log-level", env("HUBBUB_LOG_LEVEL", "info"), "debug, info, warn or error (env HUBBUB_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q: every setting is a flag (see --help)", fs.Arg(0))
	}
	// Secrets (URLs may hold passwords) are not the flags' defaults, which
	// --help would print: their env variables apply after parsing, unless
	// the flag was given, even empty.
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range []struct {
		flag, env string
		into      *string
	}{
		{"admin-password", "HUBBUB_ADMIN_PASSWORD", adminPassword},
		{"admin-jwt-secret", "HUBBUB_ADMIN_JWT_SECRET", adminJWTSecret},
		{"jwt-secret", "HUBBUB_JWT_SECRET", jwtSecret},
		{"redis", "HUBBUB_REDIS_URL", redisURL},
		{"nats", "HUBBUB_NATS_URL", natsURL},
	} {
		if !given[s.flag] {
			*s.into = getenv(s.env)
		}
	}
	// "" would listen on every interface, on a random port.
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return config{}, fmt.Errorf("--addr: want HOST:PORT like 127.0.0.1:8080, got %q", *addr)
	}
	cfg := config{addr: *addr, jwtSecret: *jwtSecret, adminPassword: *adminPassword, adminJWTSecret: *adminJWTSecret, redisURL: *redisURL, natsURL: *natsURL}
	switch *accessLog {
	case "on":
	case "off":
		cfg.noAccessLog = true
	default:
		return config{}, fmt.Errorf("--access-log: %q: want on or off", *accessLog)
	}
	for _, name := range strings.Split(*kinds, ",") {
		k, ok := transports.ParseKind(name)
		if !ok {
			return config{}, fmt.Errorf("--transports: unknown transport %q (want websockets, sse, longpolling)", name)
		}
		cfg.transports |= k
	}
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			if err := checkOrigin(o); err != nil {
				return config{}, fmt.Errorf("--allowed-origins: %w", err)
			}
			cfg.allowedOrigins = append(cfg.allowedOrigins, o)
		}
	}
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.trustedProxies = append(cfg.trustedProxies, p)
		}
	}
	if _, err := hub.ParseTrustedProxies(cfg.trustedProxies); err != nil {
		return config{}, fmt.Errorf("--trusted-proxies: %w", err)
	}
	for _, d := range []struct {
		flag string
		text string
		into *time.Duration
	}{
		{"keepalive-interval", *keepAlive, &cfg.keepAliveInterval},
		{"client-timeout", *clientTimeout, &cfg.clientTimeout},
		{"poll-timeout", *pollTimeout, &cfg.pollTimeout},
		{"drain-timeout", *drainTimeout, &cfg.drainTimeout},
		{"read-header-timeout", *readHeaderTimeout, &cfg.readHeaderTimeout},
		{"read-timeout", *readTimeout, &cfg.readTimeout},
		{"idle-timeout", *idleTimeout, &cfg.idleTimeout},
		{"body-read-timeout", *bodyReadTimeout, &cfg.bodyReadTimeout},
		{"chat-auth-timeout", *chatAuthTimeout, &cfg.chatAuthTimeout},
		{"news-interval", *newsInterval, &cfg.newsInterval},
	} {
		v, err := time.ParseDuration(d.text)
		if err != nil || v <= 0 {
			return config{}, fmt.Errorf("--%s: want a positive duration like 15s, got %q", d.flag, d.text)
		}
		*d.into = v
	}
	if *pollTakeover == "never" {
		cfg.pollTakeover = -1
	} else if v, err := time.ParseDuration(*pollTakeover); err != nil || v <= 0 {
		return config{}, fmt.Errorf("--poll-takeover: want a positive duration like 500ms, or never; got %q", *pollTakeover)
	} else {
		cfg.pollTakeover = v
	}
	if err := cfg.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return config{}, fmt.Errorf("--log-level: %w", err)
	}
	if cfg.redisURL != "" && !strings.Contains(cfg.redisURL, "://") {
		return config{}, errors.New("--redis: want a URL like redis://127.0.0.1:6379/0")
	}
	if cfg.natsURL != "" && !strings.Contains(cfg.natsURL, "://") {
		return config{}, errors.New("--nats: want a URL like nats://127.0.0.1:4222")
	}
	if cfg.natsURL != "" && cfg.redisURL != "" {
		return config{}, errors.New("--nats and --redis: one backplane at a time")
	}
	return cfg, nil
}

// checkOrigin refuses an --allowed-origins entry that no browser's Origin
// header can ever match, which would otherwise refuse its page silently: an
// origin is "*", "null" or scheme://host[:port], the host maybe "*.domain".
func checkOrigin(o string) error {
	if o == "*" || o == "null" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || u.User != nil ||
		strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an origin like https://app.example.com, https://*.example.com or *", o)
	}
	return nil
}

// hubOptions are the options every hub of the server shares.
func (cfg config) hubOptions(name string, logger *slog.Logger, observer hub.Observer) hub.Options {
	return hub.Options{
		Name:              name,
		Transports:        cfg.transports,
		AllowedOrigins:    cfg.allowedOrigins,
		TrustedProxies:    cfg.trustedProxies,
		KeepAliveInterval: cfg.keepAliveInterval,
		ClientTimeout:     cfg.clientTimeout,
		DrainTimeout:      cfg.drainTimeout,
		DisableAccessLog:  cfg.noAccessLog,
		TransportOptions:  transports.Options{PollTimeout: cfg.pollTimeout, IdlePollTakeover: cfg.pollTakeover, BodyReadTimeout: cfg.bodyReadTimeout},
		Logger:            logger,
		Observer:          observer,
		Backplane:         cfg.backplane,
	}
}

func run(ctx context.Context, cfg config, stdout *os.File) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	if cfg.redisURL != "" {
		// Every hub shares one Redis backplane; it is closed after the hubs.
		bp, err := redisbackplane.New(redisbackplane.Options{URL: cfg.redisURL, Logger: logger})
		if err != nil {
			return fmt.Errorf("--redis: %w", err)
		}
		defer bp.Close()
		cfg.backplane = bp
	}
	if cfg.natsURL != "" {
		// Likewise on NATS.
		bp, err := natsbackplane.New(natsbackplane.Options{URL: cfg.natsURL, Logger: logger})
		if err != nil {
			return fmt.Errorf("--nats: %w", err)
		}
		defer bp.Close()
		cfg.backplane = bp
	}
	gin.SetMode(gin.ReleaseMode)
	router := gin.New()
	router.Use(gin.Recovery())

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var observer hub.Observer = metrics.New(registry)
	var dash *admin.Dashboard
	if cfg.adminPassword != "" || cfg.adminJWTSecret != "" {
		// The dashboard observes every hub beside the metrics; its own hub
		// shares the backplane, so the page shows every node.
		adminOpts := cfg.hubOptions(admin.DefaultHubName, logger, nil) // the dashboard's own hub is not on it, nor in the metrics
		dopts := admin.Options{Password: cfg.adminPassword, Backplane: cfg.backplane, Logger: logger, HubOptions: adminOpts}
		if cfg.adminJWTSecret != "" {
			dopts.Authenticate = jwtauth.Authenticate(jwtauth.Options{Secret: []byte(cfg.adminJWTSecret)})
			dopts.CookieSecret = []byte(cfg.adminPassword + "\x00" + cfg.adminJWTSecret)
		}
		d, err := admin.New(dopts)
		if err != nil {
			return err
		}
		dash = d
		observer = hub.Observers(observer, dash)
	}
	router.GET("/metrics", gin.WrapH(promhttp.HandlerFor(registry, promhttp.HandlerOpts{})))

	hubs := []*hub.Hub{}
	conf := conformance.NewHub(cfg.hubOptions("conformance", logger, observer))
	hubs = append(hubs, conf)
	ginhub.Mount(router, "/hubs/conformance", conf, ginhub.Options{})

	secureOpts := cfg.hubOptions("secure", logger, observer)
	secureOpts.Authenticate = jwtauth.Authenticate(jwtauth.Options{Secret: []byte(cfg.jwtSecret)})
	secure := conformance.NewHub(secureOpts)
	hubs = append(hubs, secure)
	ginhub.Mount(router, "/hubs/secure", secure, ginhub.Options{})

	// The demos: chat and news hubs, their pages (/, /chat, /news) and /api/news.
	app, err := demo.New(demo.Options{
		Hub:             func(name string) hub.Options { return cfg.hubOptions(name, logger, observer) },
		ChatAuthTimeout: cfg.chatAuthTimeout,
		NewsInterval:    cfg.newsInterval,
	})
	if err != nil {
		return err
	}
	for _, m := range app.Hubs() {
		hubs = append(hubs, m.Hub)
		ginhub.Mount(router, m.Path, m.Hub, ginhub.Options{})
	}
	for _, rt := range app.Routes() {
		router.Match([]string{http.MethodGet, http.MethodHead}, rt.Path, gin.WrapH(rt.Handler))
	}
	app.Start(ctx) // the news publisher
	defer app.Stop()

	if dash != nil {
		dash.Watch(hubs...)
		hubs = append(hubs, dash.Hub()) // drained with the others
		dash.Start()
		defer dash.Close()
		router.Any("/admin", gin.WrapH(dash))
		router.Any("/admin/*rest", gin.WrapH(dash))
	}
	for _, name := range clientjs.Names() {
		router.Match([]string{http.MethodGet, http.MethodHead}, "/"+name, gin.WrapH(clientjs.Handler()))
	}
	// 503 while a hub's backplane is down or the hubs are draining.
	router.Match([]string{http.MethodGet, http.MethodHead}, "/healthz", gin.WrapH(hub.HealthHandler(hubs...)))

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	// ReadTimeout bounds whole requests; it does not cut WebSockets, SSE streams or
	// held polls: net/http lifts it once a request's body has been read, as do
	// the hubs (TransportOptions.BodyReadTimeout bounds their bodies instead).
	srv := &http.Server{
		Handler:           router,
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		ReadTimeout:       cfg.readTimeout,
		IdleTimeout:       cfg.idleTimeout,
	}
	fmt.Fprintf(stdout, "hubbub listening on http://%s\n", ln.Addr())
	// On SIGTERM/SIGINT: drain the hubs while the server still serves, then shut
	// the server down (taken-over connections escape http.Server.Shutdown).
	return hub.ServeListener(ctx, srv, ln, hubs...)
}
