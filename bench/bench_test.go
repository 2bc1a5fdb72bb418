package main

import (
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store/pgserver"
)

// TestScenarios runs every scenario at a tiny size, so the program keeps
// compiling and working. It asserts that everything was delivered and
// counted (run returns an error otherwise), never speed: `met` is not
// checked.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts relay-server and hookctl")
	}
	opts, err := parseFlags(append([]string{
		"-latency-n", "50", "-warmup", "5", "-throughput-n", "50",
		"-idle", "20", "-backlog", "100", "-scenario-timeout", "60s",
	}, smallBig...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := run(ctx, opts, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scenarios) != len(defaultScenarios) {
		t.Fatalf("ran %d scenarios, want %d", len(res.Scenarios), len(defaultScenarios))
	}
	for _, s := range res.Scenarios {
		if len(s.Metrics) == 0 {
			t.Errorf("%s: no metrics", s.Name)
		}
		for _, m := range s.Metrics {
			if m.Relay <= 0 && (m.Unit == "1/s" || m.Unit == "s") {
				t.Errorf("%s: %s = %v, want a positive figure", s.Name, m.Name, m.Relay)
			}
		}
	}
	// The rows judged against the product's targets carry them.
	for _, c := range []struct{ scenario, metric, target string }{
		{"latency", "latency p50", "added ≤ 0.6"},
		{"latency", "latency p99", "added ≤ 2"},
		{"latency", "delivery p50", "added ≤ 0.3"},
		{"latency", "delivery p99", ""},
		{"throughput", "events/s", "relay ≥ 8000"},
		{"throughput", "CPU per relayed event, relay-server", "relay ≤ 80"},
		{"throughput", "CPU per relayed event, hookctl listen", "relay ≤ 50"},
		{"largebody", "2.9 MiB send → app read all, p50", "relay ≤ 300"},
		{"largebody", "relay peak RSS", "relay ≤ 80"},
		{"flood", "(a) relay peak RSS", "relay ≤ 256"},
		{"flood", "(b) 1-byte webhook to B during the flood, p50", "relay ≤ 50"},
	} {
		m := findMetric(t, res, c.scenario, c.metric)
		if m.Target != c.target || (m.Met == nil) != (c.target == "") {
			t.Errorf("%s: %s: target %q, met %v; want %q", c.scenario, m.Name, m.Target, m.Met, c.target)
		}
	}
	for _, name := range []string{"delivery p50", "delivery p99"} {
		if m := findMetric(t, res, "latency", name); m.Relay <= 0 || m.Direct == nil || *m.Direct <= 0 {
			t.Errorf("latency: %s = %+v, want positive figures", name, m)
		}
	}
}

// findMetric is the first metric of the scenario labelled label whose name
// starts with prefix.
func findMetric(t *testing.T, res *Results, label, prefix string) *Metric {
	t.Helper()
	for _, s := range res.Scenarios {
		if s.label() != label {
			continue
		}
		for i, m := range s.Metrics {
			if strings.HasPrefix(m.Name, prefix) {
				return &s.Metrics[i]
			}
		}
	}
	t.Fatalf("%s: no metric %q", label, prefix)
	return nil
}

func TestParseFlagsRefusesUnknownScenario(t *testing.T) {
	if _, err := parseFlags([]string{"-scenarios", "latency,nope"}, io.Discard); err == nil {
		t.Fatal("want an error for an unknown scenario")
	}
}

func TestParseGCTrace(t *testing.T) {
	line := "gc 13 @4.508s 3%: 2.1+151+0.004 ms clock, 4.2+2.8/81/146+0.008 ms cpu, 130->131->70 MB, 136 MB goal, 50 MB stacks, 0 MB globals, 2 P"
	live, stacks, ok := parseGCTrace(line)
	if !ok || live != 70 || stacks != 50 {
		t.Errorf("parseGCTrace = %v, %v, %v; want 70, 50, true", live, stacks, ok)
	}
	if _, _, ok := parseGCTrace("relay-server listening"); ok {
		t.Error("parsed a line that is not a gctrace")
	}
}

// TestScenariosPostgres runs the PostgreSQL scenarios at a tiny size on two
// nodes sharing a throwaway server, beside SQLite: every event delivered,
// the answers of requests sent to the node without the CLI included.
func TestScenariosPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts relay-server, hookctl and PostgreSQL")
	}
	opts, err := parseFlags([]string{
		"-postgres", "-scenarios", "latency,throughput,backlog,idle",
		"-latency-n", "40", "-warmup", "4", "-throughput-n", "60",
		"-idle", "10", "-backlog", "100", "-scenario-timeout", "60s",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := run(ctx, opts, io.Discard)
	if errors.Is(err, pgserver.ErrNoBinaries) {
		if os.Getenv("HOOKCTL_REQUIRE_POSTGRES") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.PostgreSQL, "PostgreSQL ") {
		t.Errorf("PostgreSQL = %q, want the server's version", res.PostgreSQL)
	}
	var got []string
	for _, s := range res.Scenarios {
		got = append(got, s.label())
	}
	want := []string{"latency", "latency [postgres×2]", "throughput", "throughput [postgres×2]", "backlog", "backlog [postgres×2]", "idle"}
	if !slices.Equal(got, want) {
		t.Fatalf("scenarios %q, want %q", got, want)
	}
	metric := func(label, prefix string) *Metric { return findMetric(t, res, label, prefix) }
	// One sender alternates between the nodes; both got the app's answer.
	for _, node := range []string{"latency p50 via node 0", "latency p50 via node 1"} {
		if m := metric("latency [postgres×2]", node); m.Relay <= 0 {
			t.Errorf("%s = %v ms", node, m.Relay)
		}
	}
	sqlite := metric("throughput", "events/s").Relay
	if m := metric("throughput [postgres×2]", "events/s"); m.Relay <= 0 || m.Target != "relay ≥ SQLite's "+fmtNum(sqlite) || m.Met == nil {
		t.Errorf("postgres throughput %+v: want a rate judged against SQLite's %v", m, sqlite)
	}
	// Delivery and CPU are measured on PostgreSQL too, with no targets (CPU
	// time comes in 10 ms ticks: a small run may show none).
	for _, c := range []struct {
		scenario, metric string
		positive         bool
	}{
		{"latency [postgres×2]", "delivery p50", true},
		{"latency [postgres×2]", "delivery p99", true},
		{"throughput [postgres×2]", "CPU per relayed event, relay-server (2 nodes together)", false},
		{"throughput [postgres×2]", "CPU per relayed event, hookctl listen", false},
	} {
		if m := metric(c.scenario, c.metric); (c.positive && m.Relay <= 0) || m.Target != "" || m.Met != nil {
			t.Errorf("%s: %+v, want no target", c.scenario, m)
		}
	}
}

func TestParseFlagsPostgres(t *testing.T) {
	for _, args := range [][]string{
		{"-postgres", "-database", "postgres://127.0.0.1/x"},
		{"-database", "mysql://127.0.0.1/x"},
		{"-postgres", "-nodes", "0"},
		{"-postgres", "extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q): want an error", args)
		}
	}
	o, err := parseFlags([]string{"-database", "postgres://u@127.0.0.1:5432/postgres", "-nodes", "3"}, io.Discard)
	if err != nil || o.Database == "" || o.Nodes != 3 || o.Postgres {
		t.Fatalf("parseFlags: %+v, %v", o, err)
	}
}
