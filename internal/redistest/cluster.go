package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ClusterConfig describes a Redis Cluster. Zero fields take the defaults written
// beside them.
type ClusterConfig struct {
	Masters           int           // 3, the fewest redis-cli --cluster create accepts
	ReplicasPerMaster int           // 1; a negative number for none
	NodeTimeout       time.Duration // 1s (cluster-node-timeout): a failover takes about 2 of them
}

func (cfg ClusterConfig) withDefaults() ClusterConfig {
	if cfg.Masters == 0 {
		cfg.Masters = 3
	}
	switch {
	case cfg.ReplicasPerMaster == 0:
		cfg.ReplicasPerMaster = 1
	case cfg.ReplicasPerMaster < 0:
		cfg.ReplicasPerMaster = 0
	}
	if cfg.NodeTimeout == 0 {
		cfg.NodeTimeout = time.Second
	}
	return cfg
}

// Cluster is a Redis Cluster of redis-server processes.
type Cluster struct {
	// Nodes are the cluster's servers in the order given to redis-cli, which
	// made the first Masters of them masters at the start. Roles change with
	// failovers: ask Masters, MasterOf, ReplicasOf.
	Nodes []*Server

	cfg ClusterConfig
}

// queryTimeout bounds the queries of the methods that take no context.
const queryTimeout = 10 * time.Second

// StartCluster starts Masters×(1+ReplicasPerMaster) cluster-enabled servers,
// joins them with redis-cli --cluster create, and waits until every node says
// cluster_state:ok with every slot served, knows every other node in its role,
// and every replica is in sync with its master. ctx bounds the start.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if cfg.Masters < 3 {
		return nil, fmt.Errorf("redistest: a cluster of %d masters: redis-cli --cluster create needs at least 3", cfg.Masters)
	}
	cli, err := lookPath(CLIPath)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Nodes: make([]*Server, cfg.Masters*(1+cfg.ReplicasPerMaster)), cfg: cfg}
	args := []string{
		"--cluster-enabled", "yes",
		"--cluster-node-timeout", strconv.FormatInt(cfg.NodeTimeout.Milliseconds(), 10),
		// A replica may always take over, however long its master has been gone.
		"--cluster-replica-validity-factor", "0",
	}
	errs := make([]error, len(c.Nodes))
	var wg sync.WaitGroup
	for i := range c.Nodes {
		wg.Go(func() { c.Nodes[i], errs[i] = StartServer(ctx, args...) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.Close()
		return nil, fmt.Errorf("redistest: start cluster nodes: %w", err)
	}

	create := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		create = append(create, n.Addr)
	}
	create = append(create, "--cluster-replicas", strconv.Itoa(cfg.ReplicasPerMaster), "--cluster-yes")
	cmd := exec.CommandContext(ctx, cli, create...)
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "All 16384 slots covered") {
		c.Close()
		return nil, fmt.Errorf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := poll(ctx, "the cluster to form", c.formed); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// poll calls cond until it returns nil, and otherwise returns its last error
// when ctx ends.
func poll(ctx context.Context, what string, cond func(context.Context) error) error {
	for {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		err := cond(qctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redistest: waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(pollInterval * 4):
		}
	}
}

// formed says why the cluster is not yet ready to use, or nil.
func (c *Cluster) formed(ctx context.Context) error {
	for _, n := range c.Nodes {
		if err := clusterOK(ctx, n, len(c.Nodes)); err != nil {
			return err
		}
		nodes, err := clusterNodes(ctx, n)
		if err != nil {
			return err
		}
		var masters, replicas int
		for _, e := range nodes {
			switch {
			case e.has("handshake", "noaddr", "fail", "fail?"):
				return fmt.Errorf("%s sees %s as %s", n.Addr, e.addr, strings.Join(e.flags, ","))
			case e.has("master") && e.slots > 0:
				masters++
			case e.has("slave") && e.master != "-":
				replicas++
			}
			if e.has("myself") && e.has("slave") {
				info, err := n.Do(ctx, "INFO", "replication")
				if err != nil {
					return err
				}
				if st := infoField(info, "master_link_status"); st != "up" {
					return fmt.Errorf("replica %s: master_link_status:%s", n.Addr, st)
				}
			}
		}
		if masters != c.cfg.Masters || replicas != c.cfg.Masters*c.cfg.ReplicasPerMaster {
			return fmt.Errorf("%s sees %d masters with slots and %d replicas", n.Addr, masters, replicas)
		}
	}
	return nil
}

// clusterOK says why n does not report cluster_state:ok with every slot served
// (and, if known > 0, that many nodes known), or nil.
func clusterOK(ctx context.Context, n *Server, known int) error {
	info, err := n.Do(ctx, "CLUSTER", "INFO")
	if err != nil {
		return fmt.Errorf("%s: CLUSTER INFO: %w", n.Addr, err)
	}
	if st := infoField(info, "cluster_state"); st != "ok" {
		return fmt.Errorf("%s: cluster_state:%s", n.Addr, st)
	}
	if ok := infoField(info, "cluster_slots_ok"); ok != strconv.Itoa(Slots) {
		return fmt.Errorf("%s: cluster_slots_ok:%s", n.Addr, ok)
	}
	if k := infoField(info, "cluster_known_nodes"); known > 0 && k != strconv.Itoa(known) {
		return fmt.Errorf("%s: cluster_known_nodes:%s, want %d", n.Addr, k, known)
	}
	return nil
}

// nodeEntry is one line of CLUSTER NODES.
type nodeEntry struct {
	id, addr string
	flags    []string
	master   string // the master's id, or "-"
	slots    int    // how many slots it serves
}

func (e nodeEntry) has(flags ...string) bool {
	return slices.ContainsFunc(e.flags, func(f string) bool { return slices.Contains(flags, f) })
}

// clusterNodes returns n's view of the cluster.
func clusterNodes(ctx context.Context, n *Server) ([]nodeEntry, error) {
	text, err := n.Do(ctx, "CLUSTER", "NODES")
	if err != nil {
		return nil, fmt.Errorf("%s: CLUSTER NODES: %w", n.Addr, err)
	}
	var nodes []nodeEntry
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		e := nodeEntry{id: f[0], addr: addr, flags: strings.Split(f[2], ","), master: f[3]}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") { // a slot being migrated
				continue
			}
			lo, hi, isRange := strings.Cut(r, "-")
			a, _ := strconv.Atoi(lo)
			b := a
			if isRange {
				b, _ = strconv.Atoi(hi)
			}
			e.slots += b - a + 1
		}
		nodes = append(nodes, e)
	}
	return nodes, nil
}

// slotRange is a range of slots and the address of its master (CLUSTER SLOTS).
type slotRange struct {
	from, to int
	master   string
}

// clusterSlots returns n's view of which master serves which slots.
func clusterSlots(ctx context.Context, n *Server) ([]slotRange, error) {
	reply, err := n.DoReply(ctx, "CLUSTER", "SLOTS")
	if err != nil {
		return nil, fmt.Errorf("%s: CLUSTER SLOTS: %w", n.Addr, err)
	}
	bad := fmt.Errorf("%s: CLUSTER SLOTS: unexpected reply %#v", n.Addr, reply)
	arr, ok := reply.([]any)
	if !ok {
		return nil, bad
	}
	ranges := make([]slotRange, 0, len(arr))
	for _, r := range arr {
		r, _ := r.([]any)
		if len(r) < 3 {
			return nil, bad
		}
		from, ok1 := r[0].(int64)
		to, ok2 := r[1].(int64)
		m, _ := r[2].([]any)
		if !ok1 || !ok2 || len(m) < 2 {
			return nil, bad
		}
		ip, ok1 := m[0].(string)
		port, ok2 := m[1].(int64)
		if !ok1 || !ok2 {
			return nil, bad
		}
		ranges = append(ranges, slotRange{int(from), int(to), net.JoinHostPort(ip, strconv.FormatInt(port, 10))})
	}
	slices.SortFunc(ranges, func(a, b slotRange) int { return a.from - b.from })
	return ranges, nil
}

// live returns the nodes that are running.
func (c *Cluster) live() []*Server {
	var live []*Server
	for _, n := range c.Nodes {
		if n.Running() {
			live = append(live, n)
		}
	}
	return live
}

// Node returns the node listening on addr, or nil.
func (c *Cluster) Node(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// view returns the first answer of a running node to query.
func view[T any](ctx context.Context, c *Cluster, query func(context.Context, *Server) (T, error)) (T, error) {
	var errs []error
	for _, n := range c.live() {
		v, err := query(ctx, n)
		if err == nil {
			return v, nil
		}
		errs = append(errs, err)
	}
	var zero T
	if len(errs) == 0 {
		return zero, errors.New("redistest: no cluster node is running")
	}
	return zero, errors.Join(errs...)
}

// MasterOfSlot returns the master serving slot, as the first running node that
// answers CLUSTER SLOTS sees it.
func (c *Cluster) MasterOfSlot(slot int) (*Server, error) {
	if slot < 0 || slot >= Slots {
		return nil, fmt.Errorf("redistest: slot %d out of range", slot)
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	ranges, err := view(ctx, c, clusterSlots)
	if err != nil {
		return nil, err
	}
	for _, r := range ranges {
		if r.from <= slot && slot <= r.to {
			if n := c.Node(r.master); n != nil {
				return n, nil
			}
			return nil, fmt.Errorf("redistest: slot %d is served by %s, not a node of this cluster", slot, r.master)
		}
	}
	return nil, fmt.Errorf("redistest: slot %d is served by no master", slot)
}

// MasterOf returns the master serving a key or a sharded channel (its Slot).
func (c *Cluster) MasterOf(channelOrKey string) (*Server, error) {
	return c.MasterOfSlot(Slot(channelOrKey))
}

// Masters returns the masters serving slots, as the first running node that
// answers sees them, in the order of Nodes.
func (c *Cluster) Masters(ctx context.Context) ([]*Server, error) {
	nodes, err := view(ctx, c, clusterNodes)
	if err != nil {
		return nil, err
	}
	var masters []*Server
	for _, n := range c.Nodes {
		if i := slices.IndexFunc(nodes, func(e nodeEntry) bool { return e.addr == n.Addr }); i >= 0 &&
			nodes[i].has("master") && !nodes[i].has("fail") && nodes[i].slots > 0 {
			masters = append(masters, n)
		}
	}
	return masters, nil
}

// ReplicasOf returns the replicas of master, as the first running node that
// answers sees them, in the order of Nodes.
func (c *Cluster) ReplicasOf(ctx context.Context, master *Server) ([]*Server, error) {
	nodes, err := view(ctx, c, clusterNodes)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(nodes, func(e nodeEntry) bool { return e.addr == master.Addr })
	if i < 0 {
		return nil, fmt.Errorf("redistest: %s is not a node of the cluster", master.Addr)
	}
	var replicas []*Server
	for _, n := range c.Nodes {
		if j := slices.IndexFunc(nodes, func(e nodeEntry) bool { return e.addr == n.Addr }); j >= 0 && nodes[j].master == nodes[i].id {
			replicas = append(replicas, n)
		}
	}
	return replicas, nil
}

// WaitFailover waits, after killed was killed (Kill), until every running node
// says cluster_state:ok with every slot served, and all of them agree that
// running nodes, none of them killed, serve every slot. Killing a master fails
// its slots over to a replica within about two NodeTimeouts.
func (c *Cluster) WaitFailover(ctx context.Context, killed *Server) error {
	return poll(ctx, "the failover from "+killed.Addr, func(ctx context.Context) error {
		var first []slotRange
		var firstNode *Server
		for _, n := range c.live() {
			if n == killed {
				continue
			}
			if err := clusterOK(ctx, n, 0); err != nil {
				return err
			}
			ranges, err := clusterSlots(ctx, n)
			if err != nil {
				return err
			}
			for _, r := range ranges {
				if m := c.Node(r.master); r.master == killed.Addr || m == nil || !m.Running() {
					return fmt.Errorf("%s: slots %d-%d are served by %s", n.Addr, r.from, r.to, r.master)
				}
			}
			if first == nil {
				first, firstNode = ranges, n
			} else if !slices.Equal(first, ranges) {
				return fmt.Errorf("%s and %s disagree on the slots' masters", firstNode.Addr, n.Addr)
			}
		}
		if first == nil {
			return errors.New("no cluster node is running")
		}
		return nil
	})
}

// URL lists every node as a seed, as backplane/redis takes it:
// redis+cluster://host:port,host:port,...
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return "redis+cluster://" + strings.Join(addrs, ",")
}

// Close kills every node and removes their directories. It may be called more
// than once.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		if n != nil {
			wg.Go(n.Close)
		}
	}
	wg.Wait()
}
