package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SentinelConfig describes a master, its replica and the sentinels watching them.
// Zero fields take the defaults written beside them.
type SentinelConfig struct {
	MasterName      string        // "mymaster"
	Sentinels       int           // 3
	Quorum          int           // a majority of Sentinels: 2 of 3
	DownAfter       time.Duration // 1s (down-after-milliseconds)
	FailoverTimeout time.Duration // 3s (failover-timeout)
}

func (cfg SentinelConfig) withDefaults() SentinelConfig {
	if cfg.MasterName == "" {
		cfg.MasterName = "mymaster"
	}
	if cfg.Sentinels == 0 {
		cfg.Sentinels = 3
	}
	if cfg.Quorum == 0 {
		cfg.Quorum = cfg.Sentinels/2 + 1
	}
	if cfg.DownAfter == 0 {
		cfg.DownAfter = time.Second
	}
	if cfg.FailoverTimeout == 0 {
		cfg.FailoverTimeout = 3 * time.Second
	}
	return cfg
}

// Sentinel is a master and its replica watched by sentinels (redis-server
// --sentinel). Master and Replica are the roles at the start: after a failover,
// ask CurrentMaster.
type Sentinel struct {
	Master, Replica *Server
	Sentinels       []*Server
	MasterName      string

	cfg SentinelConfig
}

// sentinelConf is the configuration a sentinel starts from, in a file of its
// own it rewrites as it learns the topology.
const sentinelConf = `sentinel announce-ip 127.0.0.1
sentinel monitor %[1]s 127.0.0.1 %[2]d %[3]d
sentinel down-after-milliseconds %[1]s %[4]d
sentinel failover-timeout %[1]s %[5]d
sentinel parallel-syncs %[1]s 1
`

// StartSentinel starts a master, a replica of it and the sentinels, and waits
// until the replica is in sync and every sentinel knows the master, the replica
// and the other sentinels. ctx bounds the start.
func StartSentinel(ctx context.Context, cfg SentinelConfig) (*Sentinel, error) {
	cfg = cfg.withDefaults()
	s := &Sentinel{MasterName: cfg.MasterName, cfg: cfg}
	var err error
	if s.Master, err = StartServer(ctx); err != nil {
		return nil, err
	}
	if s.Replica, err = StartServer(ctx, "--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port)); err != nil {
		s.Close()
		return nil, err
	}
	// In sync before the sentinels start: a sentinel learns the replicas from the
	// master's INFO, which it reads at once, then every 10 s.
	if err := poll(ctx, "the replica to sync", func(ctx context.Context) error { return linkUp(ctx, s.Replica) }); err != nil {
		s.Close()
		return nil, err
	}
	conf := fmt.Sprintf(sentinelConf, cfg.MasterName, s.Master.Port, cfg.Quorum, cfg.DownAfter.Milliseconds(), cfg.FailoverTimeout.Milliseconds())
	for range cfg.Sentinels {
		sn, err := start(ctx, ServerPath, func(port, _ int, dir string) ([]string, error) {
			path := filepath.Join(dir, "sentinel.conf")
			// Written once: on Restart the sentinel reads what it rewrote.
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
					return nil, fmt.Errorf("redistest: %w", err)
				}
			}
			return []string{path, "--sentinel",
				"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
				"--daemonize", "no", "--logfile", "", "--loglevel", "notice"}, nil
		})
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Sentinels = append(s.Sentinels, sn)
	}
	if err := poll(ctx, "the sentinels to know the master and the replica", s.known); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// linkUp says why replica is not in sync with its master, or nil.
func linkUp(ctx context.Context, replica *Server) error {
	info, err := replica.Do(ctx, "INFO", "replication")
	if err != nil {
		return fmt.Errorf("%s: INFO replication: %w", replica.Addr, err)
	}
	if st := infoField(info, "master_link_status"); st != "up" {
		return fmt.Errorf("replica %s: master_link_status:%s", replica.Addr, st)
	}
	return nil
}

// known says why a sentinel does not yet know the master, the replica in sync
// and the other sentinels, or nil.
func (s *Sentinel) known(ctx context.Context) error {
	if err := linkUp(ctx, s.Replica); err != nil {
		return err
	}
	for _, sn := range s.Sentinels {
		reply, err := sn.DoReply(ctx, "SENTINEL", "MASTER", s.MasterName)
		if err != nil {
			return fmt.Errorf("sentinel %s: SENTINEL MASTER: %w", sn.Addr, err)
		}
		m := fields(reply)
		if addr := net.JoinHostPort(m["ip"], m["port"]); m["flags"] != "master" || addr != s.Master.Addr {
			return fmt.Errorf("sentinel %s sees master %s as %q", sn.Addr, addr, m["flags"])
		}
		if m["num-slaves"] != "1" || m["num-other-sentinels"] != strconv.Itoa(len(s.Sentinels)-1) {
			return fmt.Errorf("sentinel %s knows %s replicas and %s other sentinels", sn.Addr, m["num-slaves"], m["num-other-sentinels"])
		}
		reply, err = sn.DoReply(ctx, "SENTINEL", "REPLICAS", s.MasterName)
		if err != nil {
			return fmt.Errorf("sentinel %s: SENTINEL REPLICAS: %w", sn.Addr, err)
		}
		replicas, _ := reply.([]any)
		if len(replicas) != 1 {
			return fmt.Errorf("sentinel %s lists %d replicas", sn.Addr, len(replicas))
		}
		r := fields(replicas[0])
		if addr := net.JoinHostPort(r["ip"], r["port"]); addr != s.Replica.Addr || r["flags"] != "slave" || r["master-link-status"] != "ok" {
			return fmt.Errorf("sentinel %s sees replica %s as %q, link %q", sn.Addr, addr, r["flags"], r["master-link-status"])
		}
	}
	return nil
}

// fields turns a flat reply of names and values (SENTINEL MASTER) into a map.
func fields(reply any) map[string]string {
	arr, _ := reply.([]any)
	m := make(map[string]string, len(arr)/2)
	for i := 0; i+1 < len(arr); i += 2 {
		m[flatten(arr[i])] = flatten(arr[i+1])
	}
	return m
}

// masterAddr asks sn for the master's address.
func (s *Sentinel) masterAddr(ctx context.Context, sn *Server) (string, error) {
	reply, err := sn.DoReply(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName)
	if err != nil {
		return "", fmt.Errorf("sentinel %s: %w", sn.Addr, err)
	}
	arr, _ := reply.([]any)
	if len(arr) != 2 {
		return "", fmt.Errorf("sentinel %s: get-master-addr-by-name: unexpected reply %#v", sn.Addr, reply)
	}
	return net.JoinHostPort(flatten(arr[0]), flatten(arr[1])), nil
}

// CurrentMaster returns the master's address as the first running sentinel that
// answers sees it (SENTINEL get-master-addr-by-name).
func (s *Sentinel) CurrentMaster(ctx context.Context) (string, error) {
	var errs []error
	for _, sn := range s.Sentinels {
		if sn.Running() {
			addr, err := s.masterAddr(ctx, sn)
			if err == nil {
				return addr, nil
			}
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return "", errors.New("redistest: no sentinel is running")
	}
	return "", errors.Join(errs...)
}

// WaitFailover waits, after the master at oldMasterAddr was killed, until every
// running sentinel names the same other master and that server says it is a
// master (ROLE), and returns its address. With the defaults a failover takes a
// few seconds.
func (s *Sentinel) WaitFailover(ctx context.Context, oldMasterAddr string) (string, error) {
	var addr string
	err := poll(ctx, "the sentinels' failover from "+oldMasterAddr, func(ctx context.Context) error {
		addr = ""
		for _, sn := range s.Sentinels {
			if !sn.Running() {
				continue
			}
			a, err := s.masterAddr(ctx, sn)
			if err != nil {
				return err
			}
			if a == oldMasterAddr || (addr != "" && a != addr) {
				return fmt.Errorf("sentinel %s names master %s", sn.Addr, a)
			}
			addr = a
		}
		if addr == "" {
			return errors.New("no sentinel is running")
		}
		c, err := Dial(ctx, addr)
		if err != nil {
			return err
		}
		defer c.Close()
		role, err := c.Do(ctx, "ROLE")
		if err != nil {
			return fmt.Errorf("%s: ROLE: %w", addr, err)
		}
		if r, _ := role.([]any); len(r) == 0 || r[0] != "master" {
			return fmt.Errorf("the new master %s says ROLE %s", addr, strings.ReplaceAll(flatten(role), "\n", " "))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return addr, nil
}

// Server returns the master, the replica or the sentinel listening on addr, or
// nil.
func (s *Sentinel) Server(addr string) *Server {
	for _, sv := range s.servers() {
		if sv.Addr == addr {
			return sv
		}
	}
	return nil
}

func (s *Sentinel) servers() []*Server {
	var all []*Server
	for _, sv := range append([]*Server{s.Master, s.Replica}, s.Sentinels...) {
		if sv != nil {
			all = append(all, sv)
		}
	}
	return all
}

// URL lists the sentinels, then the master's name, as backplane/redis takes it:
// redis+sentinel://host:port,host:port,host:port/mastername
func (s *Sentinel) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		addrs[i] = sn.Addr
	}
	return "redis+sentinel://" + strings.Join(addrs, ",") + "/" + s.MasterName
}

// Close kills the sentinels first (so they start no failover meanwhile), then
// the servers, and removes their directories. It may be called more than once.
func (s *Sentinel) Close() {
	for _, sn := range s.Sentinels {
		sn.Close()
	}
	for _, sv := range []*Server{s.Replica, s.Master} {
		if sv != nil {
			sv.Close()
		}
	}
}
