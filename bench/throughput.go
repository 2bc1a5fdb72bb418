package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"
)

// throughput: senders concurrent senders, direct first, then through the
// relay.
func (b *bench) throughput(ctx context.Context, s *Scenario) error {
	relays, a, c, stop, err := b.setup(ctx, "throughput")
	if err != nil {
		return err
	}
	defer stop()
	hc := newHTTPClient(b.o.Senders)
	defer hc.CloseIdleConnections()
	vias, direct := hookURLs(relays, "throughput"), []string{a.URL + "/hook"}
	if _, _, err := b.load(ctx, hc, direct, b.o.Warmup, b.o.Senders, 200); err != nil {
		return err
	}
	if _, _, err := b.load(ctx, hc, vias, b.o.Warmup, b.o.Senders, 200); err != nil {
		return err
	}
	n := b.o.Throughput
	before := a.count.Load()
	dl, de, err := b.load(ctx, hc, direct, n, b.o.Senders, 200)
	if err != nil {
		return err
	}
	evBefore := c.events.Load()
	procs := pids(relays, c)
	cpu0, pg0 := cpuTimes(procs), b.pgCPU()
	rl, re, err := b.load(ctx, hc, vias, n, b.o.Senders, 200)
	if err != nil {
		return err
	}
	cpu1, pg1 := cpuTimes(procs), b.pgCPU()
	if got := a.count.Load() - before; got != int64(2*n) {
		return fmt.Errorf("app received %d requests, want %d", got, 2*n)
	}
	slices.Sort(dl)
	slices.Sort(rl)
	drate, rrate := float64(n)/de.Seconds(), float64(n)/re.Seconds()
	// Issue 10's target for one SQLite relay.
	rate := Metric{Name: fmt.Sprintf("events/s, %d senders", b.o.Senders), Unit: "1/s", Direct: ptr(drate), Relay: rrate, Target: "relay ≥ 8000", Met: ge(rrate, 8000)}
	switch {
	case b.be.name != "postgres":
		b.sqliteRate = rrate
	case b.sqliteRate > 0:
		// Issue 9: several nodes on PostgreSQL are no slower than one on
		// SQLite, measured in the same run.
		rate.Target, rate.Met = fmt.Sprintf("relay ≥ SQLite's %s", fmtNum(b.sqliteRate)), ge(rrate, b.sqliteRate)
	default:
		rate.Target, rate.Met = "", nil
	}
	s.Metrics = append(s.Metrics,
		rate,
		Metric{Name: "latency p50", Unit: "ms", Direct: ptr(ms(pct(dl, .5))), Relay: ms(pct(rl, .5)), Added: ptr(ms(pct(rl, .5) - pct(dl, .5)))},
		Metric{Name: "latency p99", Unit: "ms", Direct: ptr(ms(pct(dl, .99))), Relay: ms(pct(rl, .99)), Added: ptr(ms(pct(rl, .99) - pct(dl, .99)))},
	)
	// The CLI prints its event line after acking; give it a moment.
	deadline := time.Now().Add(5 * time.Second)
	for c.events.Load()-evBefore < int64(n) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.Notes = append(s.Notes, fmt.Sprintf("%d requests each way (plus %d warm-up); all reached the app and every relayed one got the app's 200 \"ok\"; hookctl printed %d event lines for them",
		n, b.o.Warmup, c.events.Load()-evBefore), b.spread(len(relays)))
	if cpu0 != nil && cpu1 != nil {
		us := func(d time.Duration) float64 { return perEventUS(d, n) }
		var relayCPU, total time.Duration
		for i := range procs {
			total += cpu1[i] - cpu0[i]
			if i < len(relays) {
				relayCPU += cpu1[i] - cpu0[i]
			}
		}
		k := len(relays)
		s.Metrics = append(s.Metrics, cpuMetrics(relayCPU, cpu1[k]-cpu0[k], n, k, b.be.name != "postgres")...)
		line := fmt.Sprintf("CPU per relayed event: relay-server %.0f µs", us(relayCPU))
		if k > 1 {
			line += fmt.Sprintf(" (%d nodes together)", k)
		}
		line += fmt.Sprintf(", hookctl listen %.0f µs, this process (senders and app) %.0f µs", us(cpu1[k]-cpu0[k]), us(cpu1[k+1]-cpu0[k+1]))
		if b.be.pgPID != 0 {
			line += fmt.Sprintf(", PostgreSQL %.0f µs", us(pg1-pg0))
			total += pg1 - pg0
		}
		line += fmt.Sprintf("; %.0f%% of %d cores busy", 100*float64(total)/float64(re)/float64(runtime.NumCPU()), runtime.NumCPU())
		s.Notes = append(s.Notes, line)
	}
	return nil
}

// perEventUS is d spread over n events, in µs.
func perEventUS(d time.Duration, n int) float64 {
	return float64(d) / float64(time.Microsecond) / float64(n)
}

// cpuMetrics are the CPU time per relayed event of the relay-server
// processes (nodes of them, together) and of hookctl listen, judged against
// issue 10's targets for one SQLite relay when judge is set.
func cpuMetrics(relay, cli time.Duration, n, nodes int, judge bool) []Metric {
	name := "CPU per relayed event, relay-server"
	if nodes > 1 {
		name += fmt.Sprintf(" (%d nodes together)", nodes)
	}
	out := []Metric{
		{Name: name, Unit: "µs", Relay: perEventUS(relay, n)},
		{Name: "CPU per relayed event, hookctl listen", Unit: "µs", Relay: perEventUS(cli, n)},
	}
	if judge {
		for i, target := range []float64{80, 50} {
			out[i].Target, out[i].Met = fmt.Sprintf("relay ≤ %g", target), le(out[i].Relay, target)
		}
	}
	return out
}
