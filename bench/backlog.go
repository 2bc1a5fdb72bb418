package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// backlog: events stored with no CLI connected, then `hookctl listen`
// starts; the time until the app has seen every one of them. Direct: the
// same number of requests sent straight to the app, at the CLI's
// concurrency.
func (b *bench) backlog(ctx context.Context, s *Scenario) error {
	relays, stopRelays, err := b.startRelays(ctx, "backlog")
	if err != nil {
		return err
	}
	defer stopRelays()
	a, err := startApp()
	if err != nil {
		return err
	}
	defer a.close()
	hc := newHTTPClient(b.o.Senders)
	defer hc.CloseIdleConnections()
	n := b.o.Backlog
	b.seq.Store(0)
	_, fill, err := b.load(ctx, hc, hookURLs(relays, "backlog"), n, b.o.Senders, http.StatusAccepted)
	if err != nil {
		return err
	}
	if got := a.count.Load(); got != 0 {
		return fmt.Errorf("app received %d requests with no CLI connected", got)
	}
	c, _, err := b.startCLI(ctx, relays[0].URL, "backlog", a.URL)
	if err != nil {
		return err
	}
	defer c.stop()
	for {
		if got, _ := a.distinct(); got >= n {
			break
		}
		select {
		case <-ctx.Done():
			got, _ := a.distinct()
			return fmt.Errorf("backlog: %d of %d delivered: %w", got, n, ctx.Err())
		case <-c.done:
			return fmt.Errorf("hookctl listen exited: %v", c.err)
		case <-time.After(2 * time.Millisecond):
		}
	}
	drain := time.Since(c.started)
	got, dups := a.distinct()
	// Direct: the same count straight to the app at the CLI's concurrency,
	// with other sequence numbers.
	dhc := newHTTPClient(b.o.CLIConcurrency)
	defer dhc.CloseIdleConnections()
	_, de, err := b.load(ctx, dhc, []string{a.URL + "/hook-direct"}, n, b.o.CLIConcurrency, 200)
	if err != nil {
		return err
	}
	// Issue 2's target for SQLite, issue 9's for PostgreSQL (10,000 events).
	target := 10.0
	if b.be.name == "postgres" {
		target = 5
	}
	s.Metrics = append(s.Metrics,
		Metric{Name: fmt.Sprintf("drain %d events", n), Unit: "s", Direct: ptr(de.Seconds()), Relay: drain.Seconds(), Target: fmt.Sprintf("relay ≤ %g", target), Met: le(drain.Seconds(), target)},
		Metric{Name: fmt.Sprintf("capture %d (no CLI, %d senders)", n, b.o.Senders), Unit: "1/s", Relay: float64(n) / fill.Seconds()},
	)
	s.Notes = append(s.Notes,
		fmt.Sprintf("%d events captured (202) with no CLI connected, then hookctl listen started: all %d distinct events reached the app (%d redeliveries)", n, got, dups),
		b.spread(len(relays)),
		"drain is timed from starting the hookctl process (exec, dial, hello included) to the app having seen the last event",
		fmt.Sprintf("direct = %d requests straight to the app at %d concurrent (the CLI's --concurrency)", n, b.o.CLIConcurrency))
	return nil
}
