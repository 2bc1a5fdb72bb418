package main

import (
	"context"
	"io"
	"testing"
	"time"
)

// TestScenarios runs every scenario at a tiny size, so the program keeps
// compiling and working. It asserts that everything was delivered and
// counted (run returns an error otherwise), never speed: `met` is not
// checked.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts relay-server and hookctl")
	}
	opts, err := parseFlags([]string{
		"-latency-n", "50", "-warmup", "5", "-throughput-n", "50",
		"-idle", "20", "-backlog", "100", "-scenario-timeout", "60s",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := run(ctx, opts, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Scenarios) != len(allScenarios) {
		t.Fatalf("ran %d scenarios, want %d", len(res.Scenarios), len(allScenarios))
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
