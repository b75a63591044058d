package main

import (
	"context"
	"fmt"

	"github.com/hubbub-go/hubbub/transports"
)

// The interest scenario shows what routing by interest saves (issue 18):
// --interest-nodes hubbub nodes (6), --interest-groups groups (600), every member
// of group g on node g mod nodes, --interest-conns WebSocket subscribers (3000: 5
// per group). One publisher, on node 1, sends group messages round-robin over all
// groups (--cluster-publishers connections), windowed whatever --mode says: a
// burst of a few hundred messages to 600 groups is over before the nodes' CPU
// says anything. It runs on each of
// --interest-backplanes in turn (default redis-by-hub, redis, nats: before, after,
// and NATS), and records per node the envelopes received from the backplane (in
// all and as a share of every node's publishes), CPU seconds and deliveries/s.
//
// Routed by hub, every node but the publisher's receives every message and drops
// those for groups it has no member in; routed by interest, each receives the
// messages of its own groups, 1/nodes of them. The publisher stays on one node so
// that the two read plainly: each other node's share goes from 1 to 1/nodes. With
// a publisher on every node, a node would get (nodes-1)/nodes of the messages by
// hub and (nodes-1)/nodes² by interest, the same ratio blurred by the publishers'
// own CPU on every node; and spreading the publishes by group would make them all
// local. Node 1 serves its groups locally and is the control: it receives nothing
// either way.

// Defaults of the interest scenario.
const (
	defaultInterestNodes  = 6
	defaultInterestGroups = 600
	defaultInterestConns  = 3000
)

// defaultInterestBackplanes is --interest-backplanes' default: before, after, NATS.
var defaultInterestBackplanes = []string{bpRedisByHub, bpRedis, bpNATS}

// interest runs the interest scenario under the current profile: every round
// measures each backplane in turn.
func (r *runner) interest(ctx context.Context) {
	defer r.stopBackplanes()
	if !hasTarget(r.cfg.Targets, targetHubbub) {
		r.skip("interest: skipped: it measures hubbub, and --targets lacks it")
		return
	}
	nodes, groups, conns := r.cfg.interestSetup()
	var envs []*backplaneEnv
	for _, name := range r.cfg.interestBackplanes() {
		env, err := r.backplane(name)
		if err != nil {
			r.skip(fmt.Sprintf("interest on %s: skipped: %v", name, err))
			continue
		}
		envs = append(envs, env)
	}
	for round := 1; round <= r.cfg.Rounds && ctx.Err() == nil; round++ {
		for _, env := range envs {
			spec := fanOutSpec{scenario: "interest", fanOutPair: fanOutPair{target: targetHubbub, kind: transports.WebSockets}, round: round,
				conns: conns, groups: groups, nodes: nodes, env: env, byGroup: true, modes: []string{modeWindow}}
			for _, res := range r.fanOut(ctx, spec) {
				r.add(res)
			}
		}
	}
}

// interestSetup is the scenario's nodes, groups and subscribers, defaults filled in.
func (cfg *config) interestSetup() (nodes, groups, conns int) {
	nodes, groups, conns = cfg.InterestNodes, cfg.InterestGroups, cfg.InterestConns
	if nodes == 0 {
		nodes = defaultInterestNodes
	}
	if groups == 0 {
		groups = defaultInterestGroups
	}
	if conns == 0 {
		conns = defaultInterestConns
	}
	return nodes, groups, conns
}

func (cfg *config) interestBackplanes() []string {
	if len(cfg.InterestBackplanes) == 0 {
		return defaultInterestBackplanes
	}
	return cfg.InterestBackplanes
}

// checkInterest checks the interest scenario's set-up: at least 2 nodes, a group
// per node, a subscriber per group, known backplanes.
func (cfg *config) checkInterest() error {
	nodes, groups, conns := cfg.interestSetup()
	switch {
	case nodes < 2:
		return fmt.Errorf("--interest-nodes %d: a cluster needs at least 2", nodes)
	case groups < nodes:
		return fmt.Errorf("--interest-groups %d: below --interest-nodes %d, a node would hold no group", groups, nodes)
	case conns < groups:
		return fmt.Errorf("--interest-conns %d: below --interest-groups %d, a group would have no member", conns, groups)
	}
	for _, list := range [][]string{cfg.interestBackplanes(), cfg.clusterBackplanes()} {
		for _, name := range list {
			if !isBackplane(name) {
				return fmt.Errorf("unknown backplane %q (want %v)", name, backplaneNames)
			}
		}
	}
	return nil
}

func isBackplane(name string) bool {
	for _, n := range backplaneNames {
		if n == name {
			return true
		}
	}
	return false
}
