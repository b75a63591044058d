package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Topology is how the backplane reaches Redis, as [Options.URL] says.
type Topology int

// Topologies.
const (
	// Single is one Redis server (redis://).
	Single Topology = iota
	// Sentinel is the master a set of Redis Sentinels names (redis+sentinel://).
	Sentinel
	// Cluster is a Redis Cluster, with sharded pub/sub (redis+cluster://).
	Cluster
)

func (t Topology) String() string {
	switch t {
	case Sentinel:
		return "sentinel"
	case Cluster:
		return "cluster"
	default:
		return "single"
	}
}

// ErrBadURL means [Options.URL] cannot be understood.
var ErrBadURL = errors.New("redis backplane: bad URL")

// newClient makes the client Options.URL describes. Every kind gets the same
// limits: no retries (a PUBLISH is not idempotent: the caller learns of the
// failure instead), every command bounded by OpTimeout.
func newClient(opts Options) (goredis.UniversalClient, Topology, error) {
	scheme, rest, ok := strings.Cut(opts.URL, "://")
	if !ok {
		return nil, 0, fmt.Errorf("%w %q: no scheme", ErrBadURL, opts.URL)
	}
	if scheme == "redis" || scheme == "rediss" {
		ro, err := goredis.ParseURL(opts.URL)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %w", ErrBadURL, err)
		}
		if err := checkAddr(ro.Addr); err != nil {
			return nil, 0, fmt.Errorf("%w %q: %w", ErrBadURL, opts.URL, err)
		}
		ro.DialTimeout = opts.DialTimeout
		ro.DialerRetries = 1
		ro.ReadTimeout = opts.OpTimeout
		ro.WriteTimeout = opts.OpTimeout
		ro.PoolTimeout = opts.OpTimeout
		ro.ContextTimeoutEnabled = true
		ro.MaxRetries = -1
		ro.DisableIdentity = true
		ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
		return goredis.NewClient(ro), Single, nil
	}
	var topology Topology
	base, found := strings.CutSuffix(scheme, "+sentinel")
	if found {
		topology = Sentinel
	} else if base, found = strings.CutSuffix(scheme, "+cluster"); found {
		topology = Cluster
	}
	if !found || (base != "redis" && base != "rediss") {
		return nil, 0, fmt.Errorf("%w %q: scheme %q is none of redis, rediss, redis+sentinel, redis+cluster (rediss+…)", ErrBadURL, opts.URL, scheme)
	}
	uo := &goredis.UniversalOptions{
		DialTimeout:           opts.DialTimeout,
		DialerRetries:         1,
		ReadTimeout:           opts.OpTimeout,
		WriteTimeout:          opts.OpTimeout,
		PoolTimeout:           opts.OpTimeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DisableIdentity:       true,
		IsClusterMode:         topology == Cluster,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	}
	if base == "rediss" {
		uo.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if err := parseMultiHost(rest, topology, uo); err != nil {
		return nil, 0, fmt.Errorf("%w %q: %w", ErrBadURL, opts.URL, err)
	}
	return goredis.NewUniversalClient(uo), topology, nil
}

// parseMultiHost reads [user:password@]host:port,…[/master][?query] into uo.
func parseMultiHost(rest string, topology Topology, uo *goredis.UniversalOptions) error {
	rest, rawQuery, _ := strings.Cut(rest, "?")
	hosts, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(hosts, "@"); at >= 0 {
		// Split before decoding, so that a ':' written %3A stays in its part.
		user, password, hasPassword := strings.Cut(hosts[:at], ":")
		if !hasPassword {
			user, password = "", user // redis+…://password@host
		}
		var err error
		if uo.Username, err = url.PathUnescape(user); err != nil {
			return err
		}
		if uo.Password, err = url.PathUnescape(password); err != nil {
			return err
		}
		hosts = hosts[at+1:]
	}
	for _, h := range strings.Split(hosts, ",") {
		if err := checkAddr(h); err != nil {
			return err
		}
		uo.Addrs = append(uo.Addrs, h)
	}
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return err
	}
	switch topology {
	case Sentinel:
		if uo.MasterName, err = url.PathUnescape(path); err != nil || uo.MasterName == "" || strings.Contains(uo.MasterName, "/") {
			return errors.New("a Sentinel URL ends with /master-name")
		}
		if db := query.Get("db"); db != "" {
			if uo.DB, err = strconv.Atoi(db); err != nil || uo.DB < 0 {
				return fmt.Errorf("db %q is not a database number", db)
			}
		}
		uo.SentinelPassword = query.Get("sentinel_password")
		query.Del("db")
		query.Del("sentinel_password")
	case Cluster:
		if path != "" {
			return errors.New("a Redis Cluster has no database or master name: remove the path")
		}
	}
	for k := range query {
		return fmt.Errorf("unknown parameter %q", k)
	}
	return nil
}

// checkAddr refuses an address whose port no TCP connection can have, which would
// otherwise be an outage that never ends instead of an error from New.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return fmt.Errorf("address %q is not host:port", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("address %q: port %q is not a number from 1 to 65535", addr, port)
	}
	return nil
}
