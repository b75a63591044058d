package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// How the publisher sends (--mode).
const (
	// modeWindow keeps --window messages in flight for --duration: the rate finds
	// the server's capacity without overflowing its queues.
	modeWindow = "window"
	// modeBurst sends --burst messages back to back without waiting, as a news
	// burst or a market tick does, then waits until every subscriber got all of
	// them; --burst-repeats times.
	modeBurst = "burst"
)

// GOMAXPROCS profiles of the servers and the load generator (--profile).
const (
	// profileOne pins each process to --server-procs / --client-procs (1 by
	// default): on two cores, one for the server and one for the load.
	profileOne = "one"
	// profileFull leaves every process at Go's default GOMAXPROCS, every core, as
	// users deploy servers.
	profileFull = "full"
)

// maxSize bounds one --conns size: beyond it the open-file limit and the loopback
// ports of 16 source addresses run short long before the servers do.
const maxSize = 1_000_000

// parseSizes reads a list of sizes (--conns and the like): "2000" or
// "1000,2000,5000,10000". flag names it in errors.
func parseSizes(flag, s string) ([]int, error) {
	var sizes []int
	for _, part := range splitList(s) {
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 || n > maxSize {
			return nil, fmt.Errorf("%s: %q is not a number of subscribers from 1 to %d", flag, part, maxSize)
		}
		if !slices.Contains(sizes, n) {
			sizes = append(sizes, n)
		}
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("%s: no size in %q", flag, s)
	}
	return sizes, nil
}

// prepareModes checks --mode, --profile, the burst settings and the sizes, and
// fills in what older configs (results.json of earlier runs, tests) leave out.
func (cfg *config) prepareModes() error {
	if len(cfg.Modes) == 0 {
		cfg.Modes = []string{modeWindow}
	}
	for _, m := range cfg.Modes {
		if m != modeWindow && m != modeBurst {
			return fmt.Errorf("--mode: %q is not window, burst or both", m)
		}
	}
	if len(cfg.Profiles) == 0 {
		cfg.Profiles = []string{profileOne}
	}
	for _, p := range cfg.Profiles {
		if p != profileOne && p != profileFull {
			return fmt.Errorf("--profile: %q is not one, full or both", p)
		}
	}
	if len(cfg.Sizes) == 0 {
		cfg.Sizes = []int{cfg.Conns}
	}
	cfg.Conns = cfg.Sizes[0]
	if slices.Contains(cfg.Modes, modeBurst) {
		if cfg.Burst < 1 || cfg.BurstRepeats < 1 {
			return fmt.Errorf("--burst %d, --burst-repeats %d: both must be at least 1", cfg.Burst, cfg.BurstRepeats)
		}
		if int64(cfg.Burst)*int64(cfg.BurstRepeats) > maxSeq/2 {
			return fmt.Errorf("--burst × --burst-repeats is %d, above the %d messages one measurement can count", cfg.Burst*cfg.BurstRepeats, maxSeq/2)
		}
		if cfg.BurstTimeout <= 0 {
			return fmt.Errorf("--burst-timeout %s: must be positive", cfg.BurstTimeout)
		}
	}
	if cfg.ClusterNodes == 0 {
		cfg.ClusterNodes = 3
	}
	if cfg.ClusterNodes < 2 {
		return fmt.Errorf("--cluster-nodes %d: a cluster needs at least 2", cfg.ClusterNodes)
	}
	return nil
}

// procs is the GOMAXPROCS of the servers and of the load generator under profile;
// server 0 leaves the servers at Go's default.
func (cfg *config) procs(profile string) (server, client int) {
	if profile == profileFull {
		return 0, runtime.NumCPU()
	}
	return max(1, cfg.ServerProcs), max(1, cfg.ClientProcs)
}

// serverEnv is the environment of a server process under GOMAXPROCS procs (0: Go's
// default, so any GOMAXPROCS this process was given is dropped).
func serverEnv(procs int) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") })
	if procs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	return env
}

// modeOf is the result's publishing mode; results of runs before --mode are windowed.
func (res *result) modeOf() string {
	if res.Mode == "" {
		return modeWindow
	}
	return res.Mode
}

// profileOf is the result's GOMAXPROCS profile; runs before --profile used one.
func (res *result) profileOf() string {
	if res.Profile == "" {
		return profileOne
	}
	return res.Profile
}

// cell names the conditions a result was measured under beyond its target and
// transport: publishing mode, profile and size. Results compare within a cell.
func (res *result) cell() string {
	return fmt.Sprintf("%s/%s/%d", res.modeOf(), res.profileOf(), res.Conns)
}

// sizesOf is a scenario's own sizes (GroupSizes, ClusterSizes), else Sizes.
func (cfg *config) sizesOf(own []int) []int {
	if len(own) > 0 {
		return own
	}
	return cfg.Sizes
}
