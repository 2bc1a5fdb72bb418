package main

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDeliveryMetrics pairs each request with the app's read time by seq,
// not by position: the read times are handed out in another order than the
// requests were sent.
func TestDeliveryMetrics(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	// Relayed seqs 1, 3, 5 take 500, 900, 700 µs; direct 2, 4, 6 take 600, 100, 200 µs.
	relay := []sent{{1, at(0)}, {3, at(2000)}, {5, at(4000)}}
	direct := []sent{{2, at(1000)}, {4, at(3000)}, {6, at(5000)}}
	reads := map[int64]time.Time{6: at(5200), 5: at(4700), 4: at(3100), 3: at(2900), 2: at(1600), 1: at(500)}
	read := func(seq int64) (time.Time, bool) { t, ok := reads[seq]; return t, ok }

	rows, err := deliveryMetrics(relay, direct, read, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Metric{}
	for _, m := range rows {
		byName[m.Name] = m
	}
	p50, p99, paired := byName["delivery p50"], byName["delivery p99"], byName["paired delivery added p50"]
	if p50.Direct == nil || *p50.Direct != 0.2 || p50.Relay != 0.7 || p50.Added == nil || !near(*p50.Added, 0.5) {
		t.Errorf("delivery p50 = %+v, want direct 0.2, relay 0.7, added 0.5 ms", p50)
	}
	if p50.Target != "added ≤ 0.3" || p50.Met == nil || *p50.Met {
		t.Errorf("delivery p50: target %q, met %v; want added ≤ 0.3, not met", p50.Target, p50.Met)
	}
	if *p99.Direct != 0.6 || p99.Relay != 0.9 || p99.Target != "" || p99.Met != nil {
		t.Errorf("delivery p99 = %+v, want direct 0.6, relay 0.9, no target", p99)
	}
	// Pairs: 500−600, 900−100, 700−200 µs; the percentiles' difference
	// would be 0.4 ms.
	if !near(paired.Relay, 0.5) || paired.Direct != nil {
		t.Errorf("paired delivery added p50 = %+v, want 0.5 ms", paired)
	}

	// The added figure is judged, not the relayed one.
	rows, err = deliveryMetrics(relay, direct, read, 0.6)
	if err != nil {
		t.Fatal(err)
	}
	if m := rows[0]; m.Name != "delivery p50" || m.Target != "added ≤ 0.6" || m.Met == nil || !*m.Met {
		t.Errorf("target 0.6: %+v, want met", m)
	}

	rows, err = deliveryMetrics(relay, direct, read, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rows {
		if m.Target != "" || m.Met != nil {
			t.Errorf("target 0: %s has target %q", m.Name, m.Target)
		}
	}
}

// TestDeliveryMetricsRefuses: a request the app has no read time for, a
// read time before the send, or unpaired requests are errors.
func TestDeliveryMetricsRefuses(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	reads := map[int64]time.Time{1: t0.Add(time.Millisecond), 2: t0.Add(-time.Millisecond)}
	read := func(seq int64) (time.Time, bool) { t, ok := reads[seq]; return t, ok }
	for _, c := range []struct {
		name          string
		relay, direct []sent
		want          string
	}{
		{"direct never read", []sent{{1, t0}}, []sent{{3, t0}}, "direct: the app has no read time for request 3"},
		{"relayed never read", []sent{{3, t0}}, []sent{{1, t0}}, "relayed: the app has no read time for request 3"},
		{"read before send", []sent{{1, t0}}, []sent{{2, t0}}, "request 2: the app's read time is 1ms before its send"},
		{"unpaired", []sent{{1, t0}, {1, t0}}, []sent{{1, t0}}, "2 relayed requests and 1 direct"},
	} {
		rows, err := deliveryMetrics(c.relay, c.direct, read, 0.3)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, %v; want an error %q", c.name, rows, err, c.want)
		}
	}
}

func TestCPUMetrics(t *testing.T) {
	rows := cpuMetrics(90*time.Millisecond, 40*time.Millisecond, 1000, 1, true)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	relay, cli := rows[0], rows[1]
	if relay.Name != "CPU per relayed event, relay-server" || relay.Unit != "µs" || relay.Relay != 90 || relay.Target != "relay ≤ 80" || relay.Met == nil || *relay.Met {
		t.Errorf("relay row %+v, want 90 µs against relay ≤ 80, not met", relay)
	}
	if cli.Name != "CPU per relayed event, hookctl listen" || cli.Relay != 40 || cli.Target != "relay ≤ 50" || cli.Met == nil || !*cli.Met {
		t.Errorf("CLI row %+v, want 40 µs against relay ≤ 50, met", cli)
	}
	rows = cpuMetrics(300*time.Millisecond, 100*time.Millisecond, 1000, 2, false)
	if rows[0].Name != "CPU per relayed event, relay-server (2 nodes together)" || rows[0].Relay != 300 {
		t.Errorf("two nodes: %+v", rows[0])
	}
	for _, m := range rows {
		if m.Target != "" || m.Met != nil {
			t.Errorf("not judged: %s has target %q", m.Name, m.Target)
		}
	}
}

// TestAppStamps: with stamp set the app keeps when it first read each body
// and its length, by X-Bench-Seq, without hashing it; with neither stamp
// nor hash it keeps nothing.
func TestAppStamps(t *testing.T) {
	a, err := startApp()
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	b := &bench{body: []byte("hello")}
	hc := newHTTPClient(1)
	defer hc.CloseIdleConnections()
	ctx := context.Background()
	_, plain, err := b.postSeq(ctx, hc, a.URL+"/hook", http.StatusOK)
	if err != nil {
		t.Fatal(err)
	}
	a.stamp.Store(true)
	ans, stamped, err := b.postSeq(ctx, hc, a.URL+"/hook", http.StatusOK)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.digest(plain); ok {
		t.Errorf("request %d, sent before stamp was set, was kept", plain)
	}
	d, ok := a.digest(stamped)
	switch {
	case !ok:
		t.Fatalf("request %d: not kept", stamped)
	case d.Len != 5 || d.Sum != [sha256.Size]byte{}:
		t.Errorf("request %d: length %d, sum %x; want 5 and no hash", stamped, d.Len, d.Sum[:4])
	case d.Read.Before(ans.Sent) || d.Read.After(ans.Sent.Add(ans.Latency)):
		t.Errorf("request %d: read at %v, not between its send %v and answer", stamped, d.Read, ans.Sent)
	}
	// A redelivery leaves the first delivery's figures.
	if _, err := b.send(ctx, hc, a.URL+"/hook", []byte("hello again"), stamped); err != nil {
		t.Fatal(err)
	}
	if again, _ := a.digest(stamped); again != d {
		t.Errorf("request %d again: kept %+v, want the first read %+v", stamped, again, d)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
