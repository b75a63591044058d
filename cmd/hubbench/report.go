package main

import (
	"cmp"
	"fmt"
	"html"
	"math"
	"slices"
	"sort"
	"strings"
)

func (rep *report) find(scenario, target, transport string) *result {
	for i := range rep.Best {
		r := &rep.Best[i]
		if r.Scenario == scenario && r.Target == target && r.Transport == transport && !r.Stateful {
			return r
		}
	}
	return nil
}

// perCPU is deliveries per second of server CPU time: less sensitive than
// deliveries/s to other processes taking the CPU away on a shared machine.
func perCPU(r *result) float64 {
	if r == nil || r.ServerCPU <= 0 {
		return 0
	}
	return r.DeliveriesPS / r.ServerCPU
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// markdown renders the tables of BENCHMARKS.md from this run.
func (rep *report) markdown() string {
	var b strings.Builder
	m := rep.Machine
	fmt.Fprintf(&b, "Machine: %d CPUs, %s, %s, %s; run %s, took %s.\n\n", m.CPUs, m.Model, m.GoVersion, m.OS, m.Date, rep.Took)
	raw := rep.find("broadcast", targetRaw, "ws")
	cent := rep.find("broadcast", targetCentrifuge, "ws")
	hws := rep.find("broadcast", targetHubbub, "ws")
	val := func(r *result) float64 {
		if r == nil {
			return 0
		}
		return r.DeliveriesPS
	}
	var rows []result
	for _, r := range rep.Best {
		if r.Scenario == "broadcast" {
			rows = append(rows, r)
		}
	}
	legacy := rep.legacyBroadcast()
	b.WriteString(rep.modesMarkdown())
	b.WriteString(rep.clusterMarkdown())
	b.WriteString(rep.interestMarkdown())
	if len(rows) > 0 && legacy {
		fmt.Fprintf(&b, "### Broadcast fan-out (%d subscribers, 128-byte payload, window %d, best of %d rounds)\n\n", rep.Config.Conns, rep.Config.Window, rep.Config.Rounds)
		b.WriteString("| target | transport | connected | sent | delivered / expected | deliveries/s | p50 ms | p99 ms | max ms | errors | server cores | client cores | deliveries per server CPU-s | vs raw | vs centrifuge | vs hubbub ws | per CPU-s vs raw | per CPU-s vs centrifuge |\n")
		b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, r := range rows {
			l := r.Latency
			if l == nil {
				l = &latency{}
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d / %d | %.0f | %.2f | %.2f | %.2f | %d | %.2f | %.2f | %.0f | %s | %s | %s | %s | %s |\n",
				r.Target, modeName(r), r.Connected, r.Sent, r.Delivered, r.Expected, r.DeliveriesPS, l.P50, l.P99, l.Max, r.Errors, r.ServerCPU, r.ClientCPU, perCPU(&r),
				ratio(r.DeliveriesPS, val(raw)), ratio(r.DeliveriesPS, val(cent)), ratio(r.DeliveriesPS, val(hws)),
				ratio(perCPU(&r), perCPU(raw)), ratio(perCPU(&r), perCPU(cent)))
		}
		b.WriteString("\nEvery round (deliveries/s):\n\n| target | transport |")
		for i := 1; i <= rep.Config.Rounds; i++ {
			fmt.Fprintf(&b, " round %d |", i)
		}
		b.WriteString("\n|---|---|" + strings.Repeat("--:|", rep.Config.Rounds) + "\n")
		for _, r := range rows {
			fmt.Fprintf(&b, "| %s | %s |", r.Target, modeName(r))
			for _, x := range rep.Results {
				if x.Scenario == "broadcast" && x.Target == r.Target && modeName(x) == modeName(r) {
					fmt.Fprintf(&b, " %.0f |", x.DeliveriesPS)
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	var idle []result
	for _, r := range rep.Best {
		if r.Scenario == "idle" {
			idle = append(idle, r)
		}
	}
	b.WriteString(rep.statefulMarkdown())
	if len(idle) > 0 {
		fmt.Fprintf(&b, "### Idle connections (%d per target; server after GC; per connection)\n\n", rep.Config.IdleConns)
		b.WriteString("| target | transport | connected | RSS KiB/conn | Go heap KiB/conn | stacks KiB/conn | goroutines/conn | errors |\n|---|---|--:|--:|--:|--:|--:|--:|\n")
		for _, r := range idle {
			fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %d |\n", r.Target, rep.rowName(r), r.Connected, r.RSSPer/1024, r.HeapPer/1024, r.StackPer/1024, r.GorPer, r.Errors)
		}
		b.WriteString("\n")
	}
	for _, sc := range []struct{ name, title, unit string }{
		{"group", fmt.Sprintf("Group fan-out (%d subscribers in %d groups, one group per message)", rep.Config.Conns, rep.Config.Groups), "deliveries/s"}, // legacy runs only

		{"echo", fmt.Sprintf("Echo round trip under load (%d concurrent Go clients)", rep.Config.EchoConns), "round trips/s"},
		{"churn", fmt.Sprintf("Connect/disconnect churn (%d workers: dial, Echo, close)", rep.Config.ChurnConns), "cycles/s"},
	} {
		var rs []result
		for _, r := range rep.Best {
			if r.Scenario == sc.name && (sc.name != "group" || legacy) {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "### %s\n\n| transport | %s | p50 ms | p99 ms | max ms | count | errors | note |\n|---|--:|--:|--:|--:|--:|--:|---|\n", sc.title, sc.unit)
		for _, r := range rs {
			l := r.Latency
			if l == nil {
				l = &latency{}
			}
			rate, count := r.OpsPS, r.Ops
			if sc.name == "group" {
				rate, count = r.DeliveriesPS, r.Delivered
			}
			name := rep.rowName(r)
			if r.Target != targetHubbub {
				name = r.Target + " " + name
			}
			fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %.2f | %d | %d | %s |\n", name, rate, l.P50, l.P99, l.Max, count, r.Errors, r.Note)
		}
		b.WriteString("\n")
	}
	b.WriteString(rep.protocolMarkdown())
	return b.String()
}

// svg draws the broadcast throughput, its latency percentiles, the throughput over
// time, and idle memory per connection: hand-written SVG, no dependency.
func (rep *report) svg() string {
	if !rep.legacyBroadcast() {
		return rep.matrixSVG()
	}
	const W, H = 1100, 760
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	m := rep.Machine
	fmt.Fprintf(&b, `<text x="20" y="24" font-size="16" font-weight="bold">hubbench: %s</text>`+"\n",
		html.EscapeString(fmt.Sprintf("%d subscribers, 128-byte broadcasts, %d CPUs %s, %s", rep.Config.Conns, m.CPUs, m.Model, m.GoVersion)))
	colors := chartColors

	// The broadcast panels show the first profile and size, every mode.
	var bc []result
	cells := rep.cellsOf("broadcast")
	for _, r := range rep.Best {
		if r.Scenario == "broadcast" && (cellKey{r.profileOf(), r.Conns}) == cells[0] { // cells is not empty here
			bc = append(bc, r)
		}
	}
	name := func(r result) string {
		if r.modeOf() == modeBurst {
			return r.Target + " " + modeName(r) + " burst"
		}
		return r.Target + " " + modeName(r)
	}

	// Panel 1: deliveries/s.
	bars(&b, 20, 50, 520, 320, "Broadcast deliveries/s (best round)", bc, func(r result) []float64 { return []float64{r.DeliveriesPS} }, []string{"deliveries/s"}, name, "%.0f")
	// Panel 2: latency.
	bars(&b, 560, 50, 520, 320, "Broadcast delivery latency (ms)", bc, func(r result) []float64 {
		if r.Latency == nil {
			return []float64{0, 0}
		}
		return []float64{r.Latency.P50, r.Latency.P99}
	}, []string{"p50", "p99"}, name, "%.1f")
	// Panel 3: timeline.
	timeline(&b, 20, 410, 520, 320, "Deliveries/s over time (best round)", bc, name, colors)
	// Panel 4: idle memory.
	var idle []result
	for _, r := range rep.Best {
		if r.Scenario == "idle" && r.profileOf() == rep.Best[0].profileOf() { // Best is not empty here
			idle = append(idle, r)
		}
	}
	bars(&b, 560, 410, 520, 320, fmt.Sprintf("Idle memory per connection, KiB (%d conns)", rep.Config.IdleConns), idle, func(r result) []float64 {
		return []float64{r.RSSPer / 1024, (r.HeapPer + r.StackPer) / 1024}
	}, []string{"RSS", "heap+stacks"}, name, "%.1f")
	b.WriteString("</svg>\n")
	return b.String()
}

// bars draws one group of bars per result, one bar per value vals gives it.
func bars(b *strings.Builder, x, y, w, h float64, title string, rs []result, vals func(result) []float64, series []string, name func(result) string, format string) {
	groups := make([]string, len(rs))
	values := make([][]float64, len(rs))
	for i, r := range rs {
		groups[i], values[i] = name(r), vals(r)
	}
	groupedBars(b, x, y, w, h, title, groups, series, values, format)
}

// timeline draws each result's per-second deliveries as a line.
func timeline(b *strings.Builder, x, y, w, h float64, title string, rs []result, name func(result) string, colors []string) {
	fmt.Fprintf(b, `<g transform="translate(%.0f,%.0f)">`+"\n", x, y)
	fmt.Fprintf(b, `<text x="0" y="0" font-size="14" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	top, left, bottom := 20.0, 60.0, h-40
	maxV, maxN := 0.0, 1
	for _, r := range rs {
		maxN = max(maxN, len(r.Timeline))
		for _, v := range r.Timeline {
			maxV = math.Max(maxV, v)
		}
	}
	if maxV == 0 {
		b.WriteString("</g>\n")
		return
	}
	maxV *= 1.1
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#333"/><line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#333"/>`+"\n", left, bottom, w, bottom, left, top, left, bottom)
	for k := 0; k <= 4; k++ {
		v := maxV * float64(k) / 4
		yy := bottom - (bottom-top)*float64(k)/4
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="end" font-size="10">%.0fk</text>`+"\n", left-4, yy+3, v/1000)
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="middle" font-size="10">seconds</text>`+"\n", (left+w)/2, bottom+28)
	for i, r := range rs {
		var pts []string
		for j, v := range r.Timeline {
			px := left + (w-left)*float64(j+1)/float64(maxN)
			py := bottom - (bottom-top)*v/maxV
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
		}
		c := colors[i%len(colors)]
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", c, strings.Join(pts, " "))
		fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="10" height="10" fill="%s"/><text x="%.0f" y="%.0f" font-size="10">%s</text>`+"\n", left+float64(i%4)*115, bottom+36+float64(i/4)*12-10, c, left+14+float64(i%4)*115, bottom+36+float64(i/4)*12, html.EscapeString(name(r)))
	}
	b.WriteString("</g>\n")
}

// statefulPairs pairs, per round, the hubbub measurements of one scenario and
// transport made with stateful reconnect off and on (measured back to back).
func (rep *report) statefulPairs(scenario, transport string) (off, on []result) {
	byRound := map[int]*[2]*result{}
	var rounds []int
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Scenario != scenario || r.Target != targetHubbub || r.Transport != transport || r.Seconds == 0 {
			continue
		}
		p := byRound[r.Round]
		if p == nil {
			p = &[2]*result{}
			byRound[r.Round] = p
			rounds = append(rounds, r.Round)
		}
		if r.Stateful {
			p[1] = r
		} else {
			p[0] = r
		}
	}
	for _, k := range rounds {
		if p := byRound[k]; p[0] != nil && p[1] != nil {
			off, on = append(off, *p[0]), append(on, *p[1])
		}
	}
	return off, on
}

// spread is "median (min–max)" of xs.
func spread(xs []float64, format string) string {
	if len(xs) == 0 {
		return "–"
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if len(s) == 1 {
		return fmt.Sprintf(format, med)
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", med, s[0], s[len(s)-1])
}

func each(rs []result, f func(r *result) float64) []float64 {
	out := make([]float64, len(rs))
	for i := range rs {
		out[i] = f(&rs[i])
	}
	return out
}

func ratios(on, off []result, f func(r *result) float64) []float64 {
	out := make([]float64, 0, len(on))
	for i := range on {
		if a, b := f(&on[i]), f(&off[i]); a > 0 && b > 0 {
			out = append(out, a/b)
		}
	}
	return out
}

// statefulMarkdown renders the on/off comparison of a --stateful both run: every
// figure is "median (min–max)" over the rounds; a ratio is taken within a round, of
// two measurements made one after the other.
func (rep *report) statefulMarkdown() string {
	var b strings.Builder
	kinds := rep.Config.Transports
	var bc, id strings.Builder
	for _, k := range kinds {
		off, on := rep.statefulPairs("broadcast", k)
		if len(off) > 0 {
			dps := func(r *result) float64 { return r.DeliveriesPS }
			cpu := func(r *result) float64 { return r.ServerCPU }
			p50 := func(r *result) float64 {
				if r.Latency == nil {
					return 0
				}
				return r.Latency.P50
			}
			var errs, stalls, retries int64
			for i := range off {
				errs += off[i].Errors + on[i].Errors
				stalls += off[i].Stalls + on[i].Stalls
				retries += on[i].AckRetries
			}
			fmt.Fprintf(&bc, "| %s | %d | %s | %s | **%s** | %s | %s | **%s** | %s | %s | %d / %d / %d |\n", k, len(off),
				spread(each(off, dps), "%.0f"), spread(each(on, dps), "%.0f"), spread(ratios(on, off, dps), "%.2f"),
				spread(each(off, cpu), "%.2f"), spread(each(on, cpu), "%.2f"), spread(ratios(on, off, perCPU), "%.2f"),
				spread(each(off, p50), "%.1f"), spread(each(on, p50), "%.1f"), errs, stalls, retries)
		}
		off, on = rep.statefulPairs("idle", k)
		if len(off) > 0 {
			kib := func(f func(r *result) float64) func(r *result) float64 {
				return func(r *result) float64 { return f(r) / 1024 }
			}
			rss := kib(func(r *result) float64 { return r.RSSPer })
			heap := kib(func(r *result) float64 { return r.HeapPer })
			diff := func(f func(r *result) float64) []float64 {
				out := make([]float64, len(on))
				for i := range on {
					out[i] = f(&on[i]) - f(&off[i])
				}
				return out
			}
			var errs, conns int64
			for i := range off {
				errs += off[i].Errors + on[i].Errors
				conns = max(conns, off[i].Connected, on[i].Connected)
			}
			fmt.Fprintf(&id, "| %s | %d | %d | %s | %s | **%s** | %s | %s | %s | **%s** | %s | %d |\n", k, len(off), conns,
				spread(each(off, rss), "%.2f"), spread(each(on, rss), "%.2f"), spread(diff(rss), "%+.2f"), spread(ratios(on, off, rss), "%.2f"),
				spread(each(off, heap), "%.2f"), spread(each(on, heap), "%.2f"), spread(diff(heap), "%+.2f"),
				fmt.Sprintf("%.2f / %.2f", off[0].GorPer, on[0].GorPer), errs)
		}
	}
	if bc.Len() == 0 && id.Len() == 0 {
		return ""
	}
	b.WriteString("### Stateful reconnect: on against off (hubbub; median (min–max) over rounds; ratios within a round)\n\n")
	if bc.Len() > 0 {
		fmt.Fprintf(&b, "Broadcast, %d subscribers, 128-byte payload, window %d, %s per measurement:\n\n", rep.Config.Conns, rep.Config.Window, rep.Config.Duration)
		b.WriteString("| transport | rounds | deliveries/s off | deliveries/s on | on/off | server cores off | server cores on | per server CPU-s on/off | p50 ms off | p50 ms on | errors / stalls / ack retries |\n")
		b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		b.WriteString(bc.String())
		b.WriteString("\n")
	}
	if id.Len() > 0 {
		fmt.Fprintf(&b, "Idle, %d connections, server after GC, KiB per connection:\n\n", rep.Config.IdleConns)
		b.WriteString("| transport | rounds | connected | RSS off | RSS on | RSS on−off | RSS on/off | heap off | heap on | heap on−off | goroutines/conn off / on | errors |\n")
		b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		b.WriteString(id.String())
		b.WriteString("\n")
	}
	return b.String()
}

// cellKey is a GOMAXPROCS profile and a size: the results of one cell compare.
type cellKey struct {
	profile string
	conns   int
}

// cellsOf lists the profile × size cells of a scenario's best results, in order.
func (rep *report) cellsOf(scenario string) []cellKey {
	var cells []cellKey
	for i := range rep.Best {
		r := &rep.Best[i]
		if k := (cellKey{r.profileOf(), r.Conns}); r.Scenario == scenario && !slices.Contains(cells, k) {
			cells = append(cells, k)
		}
	}
	return cells
}

// findIn is the best result of scenario, target and transport name (modeName) in
// cell k and mode.
func (rep *report) findIn(scenario, target, name string, k cellKey, mode string) *result {
	for i := range rep.Best {
		r := &rep.Best[i]
		if r.Scenario == scenario && r.Target == target && modeName(*r) == name && r.profileOf() == k.profile && r.Conns == k.conns && r.modeOf() == mode {
			return r
		}
	}
	return nil
}

// rowsOf lists the target and transport names measured in cell k, in order.
func (rep *report) rowsOf(scenario string, k cellKey) [][2]string {
	var rows [][2]string
	for i := range rep.Best {
		r := &rep.Best[i]
		row := [2]string{r.Target, modeName(*r)}
		if r.Scenario == scenario && r.profileOf() == k.profile && r.Conns == k.conns && !slices.Contains(rows, row) {
			rows = append(rows, row)
		}
	}
	return rows
}

// profileTitle says what a profile's GOMAXPROCS were.
func (cfg *config) profileTitle(profile string) string {
	if profile == profileFull {
		return "GOMAXPROCS default (every core) in every process"
	}
	server, client := cfg.procs(profile)
	return fmt.Sprintf("GOMAXPROCS=%d in each server, %d in the load generator", server, client)
}

func (rep *report) modes() []string {
	if len(rep.Config.Modes) == 0 {
		return []string{modeWindow}
	}
	return rep.Config.Modes
}

// legacyBroadcast tells whether the run's broadcast results fit the one table of
// runs before --mode, --profile and size lists: one cell, windowed only.
func (rep *report) legacyBroadcast() bool {
	return len(rep.cellsOf("broadcast")) == 1 && len(rep.cellsOf("group")) <= 1 && !slices.Contains(rep.modes(), modeBurst)
}

// rowName is a result's transport name, with its profile when the run had several.
func (rep *report) rowName(r result) string {
	if len(rep.Config.Profiles) > 1 {
		return modeName(r) + " · " + r.profileOf()
	}
	return modeName(r)
}

// modesMarkdown renders broadcast and group with every mode side by side, one
// table per profile and size, with each row's ratios to centrifuge and to raw in
// the same cell and mode. Empty for a run the legacy table covers.
func (rep *report) modesMarkdown() string {
	if rep.legacyBroadcast() {
		return ""
	}
	var b strings.Builder
	modes := rep.modes()
	for _, scenario := range []string{"broadcast", "group"} {
		cells := rep.cellsOf(scenario)
		if len(cells) == 0 {
			continue
		}
		fmt.Fprintf(&b, "### %s, %s (128-byte payload; best of %d rounds; latency from publish to receipt; deliveries per frame: per WebSocket message, SSE event or poll, by mode)\n\n", strings.ToUpper(scenario[:1])+scenario[1:], strings.Join(modes, " and "), rep.Config.Rounds)
		for _, m := range modes {
			fmt.Fprintf(&b, "- %s\n", rep.Config.modeTitle(m))
		}
		b.WriteString("\n")
		for _, k := range cells {
			fmt.Fprintf(&b, "#### %d subscribers, profile %s (%s)\n\n| target | transport |", k.conns, k.profile, rep.Config.profileTitle(k.profile))
			align := "|---|---|"
			for _, m := range modes {
				fmt.Fprintf(&b, " %s deliveries/s | p50 ms | p99 ms | max ms | vs centrifuge | vs raw |", m)
				align += "--:|--:|--:|--:|--:|--:|"
			}
			b.WriteString(" deliveries per frame | delivered / expected | errors / stalls |\n" + align + "--:|--:|--:|\n")
			for _, row := range rep.rowsOf(scenario, k) {
				fmt.Fprintf(&b, "| %s | %s |", row[0], row[1])
				var delivered, expected, errs, stalls int64
				var perUnit []string
				for _, m := range modes {
					r := rep.findIn(scenario, row[0], row[1], k, m)
					if r == nil {
						b.WriteString(" – | – | – | – | – | – |")
						continue
					}
					l := r.Latency
					if l == nil {
						l = &latency{}
					}
					cent := rep.findIn(scenario, targetCentrifuge, "ws", k, m)
					raw := rep.findIn(scenario, targetRaw, "ws", k, m)
					fmt.Fprintf(&b, " %.0f | %.2f | %.2f | %.2f | %s | %s |", r.DeliveriesPS, l.P50, l.P99, l.Max, ratio(r.DeliveriesPS, rate(cent)), ratio(r.DeliveriesPS, rate(raw)))
					delivered, expected, errs, stalls = delivered+r.Delivered, expected+r.Expected, errs+r.Errors, stalls+r.Stalls
					perUnit = append(perUnit, fmt.Sprintf("%.1f", r.PerUnit))
				}
				fmt.Fprintf(&b, " %s | %d / %d | %d / %d |\n", strings.Join(perUnit, " / "), delivered, expected, errs, stalls)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// rate is a result's deliveries/s, 0 for none.
func rate(r *result) float64 {
	if r == nil {
		return 0
	}
	return r.DeliveriesPS
}

// clusterMarkdown renders the cluster scenarios: per profile and size, each
// target, backplane and mode with its rate, latency, Redis commands per
// broadcast, CPU and inbound backplane messages of every node; against
// centrifuge's cluster (one Redis, same run), and against one node of the same
// target (the broadcast or group scenario of this run, same cell and mode).
func (rep *report) clusterMarkdown() string {
	var b strings.Builder
	for _, sc := range []struct{ name, single, title string }{
		{"cluster", "broadcast", "broadcast"},
		{"cluster-group", "group", fmt.Sprintf("group fan-out, %d groups, one group per message", rep.Config.Groups)},
	} {
		cells := rep.cellsOf(sc.name)
		if len(cells) == 0 {
			continue
		}
		nodes := rep.Config.ClusterNodes
		fmt.Fprintf(&b, "### Cluster of %d nodes: %s, hubbub on each backplane against centrifuge on one Redis (WebSockets; subscribers spread over the nodes, publisher on the first; best of %d rounds)\n\n", nodes, sc.title, rep.Config.Rounds)
		b.WriteString("Backplanes: redis is one Redis (backplane/redis, routing by interest), redis-by-hub one Redis with Options.RouteByHub (every node receives every envelope), redis-cluster a Redis Cluster of 3 masters and 3 replicas (sharded pub/sub), nats backplane/nats; centrifuge runs its Redis broker on one Redis, the baseline. Redis commands per broadcast from INFO commandstats, Redis reads per broadcast (round trips: pipelined commands share one) from INFO stats, all nodes together (a Redis Cluster: every master added up); node CPU in seconds and node inbound (envelopes each node received from the backplane, its Stats.Received) over the measurement; vs centrifuge: against centrifuge's cluster of this run, same size, profile and mode; vs one node: against the " + sc.single + " scenario of this run (one server, no backplane).\n\n")
		for _, k := range cells {
			fmt.Fprintf(&b, "#### %d subscribers, profile %s (%s)\n\n", k.conns, k.profile, rep.Config.profileTitle(k.profile))
			b.WriteString("| target | backplane | mode | deliveries/s | p50 ms | p99 ms | max ms | Redis commands / broadcast | most frequent | Redis reads / broadcast | node CPU s | node inbound | backplane server CPU µs / message | vs centrifuge | vs one node | delivered / expected | errors / stalls | note |\n")
			b.WriteString("|---|---|---|--:|--:|--:|--:|--:|---|--:|---|---|--:|--:|--:|--:|--:|---|\n")
			for _, m := range rep.modes() {
				for _, row := range rep.rowsOf(sc.name, k) {
					r := rep.findIn(sc.name, row[0], row[1], k, m)
					if r == nil {
						continue
					}
					l := r.Latency
					if l == nil {
						l = &latency{}
					}
					cmds, top, reads := "–", "–", "–"
					if r.RedisCommands > 0 {
						cmds, top, reads = fmt.Sprintf("%.2f", r.RedisCommands), topCommands(r.RedisByCommand, 3), fmt.Sprintf("%.2f", r.RedisReads)
					}
					cent := rep.findTarget(sc.name, targetCentrifuge, k, m)
					one := rep.findIn(sc.single, r.Target, "ws", k, m)
					fmt.Fprintf(&b, "| %s | %s | %s | %.0f | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s | %s | %s | %s | %d / %d | %d / %d | %s |\n",
						r.Target, r.backplaneOf(), m, r.DeliveriesPS, l.P50, l.P99, l.Max, cmds, top, reads, nodeCPUs(r), nodeInbound(r), backplaneCPU(r),
						ratio(r.DeliveriesPS, rate(cent)), ratio(r.DeliveriesPS, rate(one)), r.Delivered, r.Expected, r.Errors, r.Stalls, r.Note)
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// backplaneCPU is the backplane servers' CPU per message, or a dash when unknown.
func backplaneCPU(r *result) string {
	if r.BackplaneCPU <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", r.BackplaneCPU)
}

// backplaneOf is the result's backplane; cluster runs before issue 18 had one Redis.
func (res *result) backplaneOf() string {
	if res.Backplane == "" {
		return bpRedis
	}
	return res.Backplane
}

// findTarget is the best result of scenario and target in cell k and mode,
// whatever its transport or backplane (centrifuge's cluster has one of each).
func (rep *report) findTarget(scenario, target string, k cellKey, mode string) *result {
	for i := range rep.Best {
		r := &rep.Best[i]
		if r.Scenario == scenario && r.Target == target && r.profileOf() == k.profile && r.Conns == k.conns && r.modeOf() == mode {
			return r
		}
	}
	return nil
}

// nodeCPUs is "0.52 / 0.31 / 0.30": each node's CPU seconds.
func nodeCPUs(r *result) string {
	var cpu []string
	for _, c := range r.NodeCPU {
		cpu = append(cpu, fmt.Sprintf("%.2f", c))
	}
	if len(cpu) == 0 {
		return "–"
	}
	return strings.Join(cpu, " / ")
}

// nodeInbound is "0 / 1200 / 1200": the envelopes each node received from the
// backplane; "–" where a node's backplane keeps no stats.
func nodeInbound(r *result) string {
	var in []string
	for _, n := range r.PerNode {
		if n.Received == nil {
			in = append(in, "–")
			continue
		}
		in = append(in, fmt.Sprintf("%d", *n.Received))
	}
	if len(in) == 0 {
		return "–"
	}
	return strings.Join(in, " / ")
}

// interestMarkdown renders the interest scenario: per profile, size and mode, a
// summary per backplane (the nodes but the publisher's: mean inbound and share of
// what all published; CPU of every node against routing by hub) and the table
// "interest routing: per-node inbound", one row per backplane and node.
func (rep *report) interestMarkdown() string {
	cells := rep.cellsOf("interest")
	if len(cells) == 0 {
		return ""
	}
	var b strings.Builder
	cfg := rep.Config
	nodes, groups, _ := cfg.interestSetup()
	fmt.Fprintf(&b, "### Interest routing: %d hubbub nodes, %d groups, every member of group g on node g mod %d (WebSockets; one publisher on node 1 sending group messages round-robin over every group; best of %d rounds)\n\n", nodes, groups, nodes, cfg.Rounds)
	fmt.Fprintf(&b, "Routed by hub (redis-by-hub, before) every node but the publisher's receives every message; routed by interest (redis, nats) each receives those of its own groups, 1/%d = %.1f%%. Inbound: the envelopes a node received from the backplane over the measurement (its Stats.Received); share: inbound over the envelopes every node published; node 1 publishes and serves its groups locally, so it receives none either way. Deliveries/s per node: messages to its groups × members per group, over the measurement. CPU µs per message: the mean CPU of nodes 2–N over the messages sent (the rates differ between backplanes, so CPU seconds alone do not compare); vs by hub: against redis-by-hub's.\n\n", nodes, 100/float64(nodes))
	var modes []string // interest is windowed; results.json may say otherwise
	for _, r := range rep.Best {
		if r.Scenario == "interest" && !slices.Contains(modes, r.modeOf()) {
			modes = append(modes, r.modeOf())
		}
	}
	for _, k := range cells {
		for _, m := range modes {
			var rows []*result
			for i := range rep.Best {
				r := &rep.Best[i]
				if r.Scenario == "interest" && r.profileOf() == k.profile && r.Conns == k.conns && r.modeOf() == m {
					rows = append(rows, r)
				}
			}
			if len(rows) == 0 {
				continue
			}
			var byHub *result
			for _, r := range rows {
				if r.Routing == "hub" && byHub == nil {
					byHub = r
				}
			}
			fmt.Fprintf(&b, "#### %d subscribers, profile %s (%s), %s\n\n", k.conns, k.profile, cfg.profileTitle(k.profile), cfg.modeTitle(m))
			b.WriteString("| backplane | routing | sent | published | inbound per node, nodes 2–N (mean) | share of published (mean) | CPU s, all nodes | CPU s, nodes 2–N (mean) | CPU µs per message, nodes 2–N | vs by hub | backplane server CPU µs / message | deliveries/s | delivered / expected | errors / stalls | note |\n")
			b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
			perMsg := func(r *result) float64 {
				if _, _, others, _ := interestMeans(r); r.Sent > 0 {
					return others / float64(r.Sent) * 1e6
				}
				return 0
			}
			for _, r := range rows {
				in, share, others, all := interestMeans(r)
				pub := "–"
				if r.BackplanePublished != nil {
					pub = fmt.Sprintf("%d", *r.BackplanePublished)
				}
				vs := "–"
				if byHub != nil {
					vs = ratio(perMsg(r), perMsg(byHub))
				}
				fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %.2f | %.2f | %.1f | %s | %s | %.0f | %d / %d | %d / %d | %s |\n",
					r.backplaneOf(), orDash(r.Routing), r.Sent, pub, in, share, all, others, perMsg(r), vs, backplaneCPU(r), r.DeliveriesPS, r.Delivered, r.Expected, r.Errors, r.Stalls, r.Note)
			}
			b.WriteString("\ninterest routing: per-node inbound\n\n")
			b.WriteString("| backplane | routing | node | groups | inbound messages | share of published | CPU s | deliveries/s |\n|---|---|--:|--:|--:|--:|--:|--:|\n")
			for _, r := range rows {
				for _, n := range r.PerNode {
					in, share := "–", "–"
					if n.Received != nil {
						in = fmt.Sprintf("%d", *n.Received)
						if r.BackplanePublished != nil {
							share = fmt.Sprintf("%.1f%%", 100*n.Share)
						}
					}
					fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s | %.2f | %.0f |\n", r.backplaneOf(), orDash(n.Routing), n.Node, n.Groups, in, share, n.CPUSeconds, n.DeliveriesPS)
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// interestMeans is, over the nodes but the publisher's, the mean inbound
// envelopes and share of published ("–" without stats) and the mean CPU seconds;
// and the CPU seconds of every node added up.
func interestMeans(r *result) (inbound, share string, otherCPU, allCPU float64) {
	inbound, share = "–", "–"
	var in, sh float64
	var n int
	counted := r.BackplanePublished != nil
	for _, node := range r.PerNode {
		allCPU += node.CPUSeconds
		if node.Node == 1 {
			continue
		}
		n++
		otherCPU += node.CPUSeconds
		if node.Received != nil {
			in += float64(*node.Received)
			sh += node.Share
		} else {
			counted = false
		}
	}
	if n == 0 {
		return inbound, share, 0, allCPU
	}
	if counted {
		inbound, share = fmt.Sprintf("%.0f", in/float64(n)), fmt.Sprintf("%.1f%%", 100*sh/float64(n))
	}
	return inbound, share, otherCPU / float64(n), allCPU
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// chartColors are the Okabe-Ito colours, safe for colour-blind readers.
var chartColors = []string{"#888888", "#e69f00", "#0072b2", "#56b4e9", "#009e73", "#cc79a7", "#d55e00"}

// seriesColor keeps a target's colour the same in every panel, whichever
// targets a run measured.
func seriesColor(series string, j int) string {
	for i, bp := range []string{"/" + bpRedisByHub, "/" + bpRedisCluster, "/" + bpNATS, "/" + bpRedis} {
		if strings.HasSuffix(series, bp) || series == bp[1:] {
			return chartColors[[]int{6, 4, 3, 2}[i]]
		}
	}
	for i, name := range []string{"raw", "centrifuge", "hubbub"} {
		if series == name || strings.HasPrefix(series, name+" ws") && !strings.Contains(series, "+") {
			return chartColors[i]
		}
	}
	switch {
	case strings.HasPrefix(series, "hubbub sse"):
		return chartColors[3]
	case strings.HasPrefix(series, "hubbub lp"):
		return chartColors[4]
	}
	return chartColors[5+j%2]
}

// matrixSVG charts a run with modes, profiles or several sizes: broadcast
// deliveries/s by subscriber count, one panel per mode and profile, then the
// cluster scenario and idle memory.
func (rep *report) matrixSVG() string {
	type panel struct {
		title  string
		groups []string
		series []string
		vals   [][]float64 // [group][series]
		format string
	}
	var panels []panel
	cells := rep.cellsOf("broadcast")
	profiles := rep.Config.Profiles
	if len(profiles) == 0 {
		profiles = []string{profileOne}
	}
	for _, profile := range profiles {
		for _, mode := range rep.modes() {
			var sizes []cellKey
			for _, k := range cells {
				if k.profile == profile {
					sizes = append(sizes, k)
				}
			}
			if len(sizes) == 0 {
				continue
			}
			p := panel{title: fmt.Sprintf("Broadcast deliveries/s, %s, profile %s", mode, profile), format: "%.0fk"}
			for _, k := range sizes {
				for _, row := range rep.rowsOf("broadcast", k) {
					if name := row[0] + " " + row[1]; !slices.Contains(p.series, name) {
						p.series = append(p.series, name)
					}
				}
			}
			for _, k := range sizes {
				p.groups = append(p.groups, fmt.Sprintf("%d subscribers", k.conns))
				vals := make([]float64, len(p.series))
				for j, name := range p.series {
					target, transport, _ := strings.Cut(name, " ")
					vals[j] = rate(rep.findIn("broadcast", target, transport, k, mode)) / 1000
				}
				p.vals = append(p.vals, vals)
			}
			panels = append(panels, p)
		}
	}
	for _, scenario := range []string{"cluster", "cluster-group"} {
		ks := rep.cellsOf(scenario)
		if len(ks) == 0 {
			continue
		}
		p := panel{title: fmt.Sprintf("%s, %d nodes, deliveries/s", scenario, rep.Config.ClusterNodes), format: "%.0fk"}
		var rows [][2]string
		for _, k := range ks {
			for _, row := range rep.rowsOf(scenario, k) {
				if !slices.Contains(rows, row) {
					rows = append(rows, row)
					name := row[0]
					if row[0] == targetHubbub {
						_, bp, _ := strings.Cut(row[1], "/")
						name += "/" + cmp.Or(bp, bpRedis)
					}
					p.series = append(p.series, name)
				}
			}
		}
		// Beside it, each hubbub backplane against centrifuge's cluster (same cell).
		q := panel{title: fmt.Sprintf("%s: hubbub / centrifuge (same run)", scenario), format: "%.2f×"}
		var hubRows [][2]string
		for j, row := range rows {
			if row[0] == targetHubbub {
				hubRows = append(hubRows, row)
				q.series = append(q.series, p.series[j])
			}
		}
		for _, k := range ks {
			for _, mode := range rep.modes() {
				p.groups = append(p.groups, fmt.Sprintf("%d %s %s", k.conns, mode, k.profile))
				vals := make([]float64, len(rows))
				for j, row := range rows {
					vals[j] = rate(rep.findIn(scenario, row[0], row[1], k, mode)) / 1000
				}
				p.vals = append(p.vals, vals)
				q.groups = append(q.groups, fmt.Sprintf("%d %s %s", k.conns, mode, k.profile))
				ratios := make([]float64, len(hubRows))
				if cent := rate(rep.findTarget(scenario, targetCentrifuge, k, mode)); cent > 0 {
					for j, row := range hubRows {
						ratios[j] = rate(rep.findIn(scenario, row[0], row[1], k, mode)) / cent
					}
				}
				q.vals = append(q.vals, ratios)
			}
		}
		panels = append(panels, p)
		if hasTarget(rep.Config.Targets, targetCentrifuge) && len(hubRows) > 0 {
			panels = append(panels, q)
		}
	}
	if ks := rep.cellsOf("interest"); len(ks) > 0 {
		// The first cell: each node's inbound share, per backplane (windowed).
		k, mode := ks[0], modeWindow
		var rows []*result
		for i := range rep.Best {
			if r := &rep.Best[i]; r.Scenario == "interest" && r.profileOf() == k.profile && r.Conns == k.conns && r.modeOf() == mode {
				rows = append(rows, r)
			}
		}
		p := panel{title: fmt.Sprintf("interest routing: per-node inbound, %% of published (%d subscribers, %s)", k.conns, mode), format: "%.0f"}
		nodes := 0
		for _, r := range rows {
			p.series = append(p.series, r.backplaneOf())
			nodes = max(nodes, len(r.PerNode))
		}
		for i := range nodes {
			p.groups = append(p.groups, fmt.Sprintf("node %d", i+1))
			vals := make([]float64, len(rows))
			for j, r := range rows {
				if i < len(r.PerNode) {
					vals[j] = 100 * r.PerNode[i].Share
				}
			}
			p.vals = append(p.vals, vals)
		}
		panels = append(panels, p)
	}
	var idle []result
	for _, r := range rep.Best {
		if r.Scenario == "idle" && r.profileOf() == rep.Best[0].profileOf() { // Best is not empty here
			idle = append(idle, r)
		}
	}
	if len(idle) > 0 {
		p := panel{title: fmt.Sprintf("Idle memory per connection, KiB RSS (%d conns)", rep.Config.IdleConns), series: []string{"RSS"}, format: "%.1f"}
		for _, r := range idle {
			p.groups = append(p.groups, r.Target+" "+modeName(r))
			p.vals = append(p.vals, []float64{r.RSSPer / 1024})
		}
		panels = append(panels, p)
	}

	const W, panelW, panelH = 1100, 520, 330
	rows := (len(panels) + 1) / 2
	H := 50 + rows*(panelH+40)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	m := rep.Machine
	fmt.Fprintf(&b, `<text x="20" y="24" font-size="16" font-weight="bold">hubbench: %s</text>`+"\n",
		html.EscapeString(fmt.Sprintf("128-byte broadcasts, %d CPUs %s, %s, %s", m.CPUs, m.Model, m.GoVersion, strings.Replace(m.Date, "T", " ", 1))))
	for i, p := range panels {
		x, y := 20+float64(i%2)*(panelW+40), 60+float64(i/2)*(panelH+40)
		groupedBars(&b, x, y, panelW, panelH, p.title, p.groups, p.series, p.vals, p.format)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// groupedBars draws one group of bars per entry of groups, one bar per series,
// with a legend when there are several series.
func groupedBars(b *strings.Builder, x, y, w, h float64, title string, groups, series []string, vals [][]float64, format string) {
	fmt.Fprintf(b, `<g transform="translate(%.0f,%.0f)">`+"\n", x, y)
	fmt.Fprintf(b, `<text x="0" y="0" font-size="14" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	top, left, bottom := 36.0, 10.0, h-30
	maxV := 0.0
	for _, vs := range vals {
		for _, v := range vs {
			maxV = math.Max(maxV, v)
		}
	}
	if maxV == 0 || len(groups) == 0 {
		b.WriteString("</g>\n")
		return
	}
	maxV *= 1.12
	gw := (w - left) / float64(len(groups))
	bw := gw * 0.85 / float64(len(series))
	fmt.Fprintf(b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#333"/>`+"\n", left, bottom, w, bottom)
	for i, vs := range vals {
		for j, v := range vs {
			bh := (bottom - top) * v / maxV
			bx := left + float64(i)*gw + gw*0.075 + float64(j)*bw
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", bx, bottom-bh, math.Max(bw-1, 1), bh, seriesColor(series[j], j))
			if bw >= 14 {
				fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9">`+format+`</text>`+"\n", bx+bw/2, bottom-bh-3, v)
			}
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11">%s</text>`+"\n", left+float64(i)*gw+gw/2, bottom+16, html.EscapeString(groups[i]))
	}
	if len(series) > 1 {
		for j, s := range series {
			lx, ly := left+float64(j%4)*128, 10+float64(j/4)*13
			fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="10" height="10" fill="%s"/><text x="%.0f" y="%.0f" font-size="11">%s</text>`+"\n", lx, ly, seriesColor(s, j), lx+14, ly+9, html.EscapeString(s))
		}
	}
	b.WriteString("</g>\n")
}
