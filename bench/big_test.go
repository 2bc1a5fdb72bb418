package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// smallBig are the flags that make largebody, slowapp and flood small.
var smallBig = []string{
	"-largebody-bytes", "3000000", "-largebody-n", "2",
	"-slowapp-n", "64", "-slowapp-bytes", "4096", "-slowapp-delay", "20ms",
	"-flood-uploads", "48", "-flood-n", "80", "-flood-senders", "40", "-flood-every", "10ms",
}

// TestBigScenarios runs largebody, slowapp and flood at a reduced size:
// every large body reached the app intact (sha256), every upload got 2xx or
// 503 with Retry-After, and every flooded body was stored and answered
// (run returns an error otherwise). Speed and memory are not checked.
func TestBigScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts relay-server and hookctl")
	}
	opts, err := parseFlags(append([]string{"-scenarios", "largebody,slowapp,flood", "-scenario-timeout", "60s"}, smallBig...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := run(ctx, opts, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	metric := func(scenario, prefix string) Metric { return *findMetric(t, res, scenario, prefix) }
	for _, c := range []struct{ scenario, metric string }{
		{"largebody", "2.9 MiB send → app read all, p50"},
		{"largebody", "relay peak RSS"},
		{"largebody", "CLI peak RSS"},
		{"slowapp", "64 × 4 KiB to a 20ms app"},
		{"flood", "(a) relay peak RSS"},
		{"flood", "(b) 1-byte webhook to B during the flood, p50"},
	} {
		if m := metric(c.scenario, c.metric); m.Relay <= 0 {
			t.Errorf("%s: %s = %v, want a positive figure", c.scenario, m.Name, m.Relay)
		}
	}
	if m := metric("slowapp", "non-2xx"); m.Relay != 0 || *m.Direct != 0 {
		t.Errorf("slowapp: non-2xx answers %v direct, %v relayed", *m.Direct, m.Relay)
	}
	stored, busy := metric("flood", "(a) uploads stored"), metric("flood", "(a) uploads answered 503")
	if stored.Relay+busy.Relay != 48 || stored.Relay < 1 {
		t.Errorf("flood (a): %v stored, %v answered 503, want 48 in all", stored.Relay, busy.Relay)
	}
	if m := metric("flood", "(a) uploads with any other"); m.Relay != 0 {
		t.Errorf("flood (a): %v uploads with another answer", m.Relay)
	}
}

func TestStatusCounts(t *testing.T) {
	c := statusCounts{}
	c.add(answer{Status: 200}, nil)
	c.add(answer{Status: 200}, nil)
	c.add(answer{Status: 202}, nil)
	c.add(answer{Status: 503, RetryAfter: "1"}, nil)
	c.add(answer{Status: 503}, nil)
	c.add(answer{}, errors.New("reset"))
	c.add(answer{Status: 413}, nil)
	if c.ok() != 3 || c.total() != 7 {
		t.Errorf("ok %d, total %d; want 3, 7", c.ok(), c.total())
	}
	want := "200 ×2, 202 ×1, 413 ×1, 503 with Retry-After ×1, 503 without Retry-After ×1, no answer (error) ×1"
	if got := c.String(); got != want {
		t.Errorf("String() = %q\nwant %q", got, want)
	}
	if got := (statusCounts{}).String(); got != "none" {
		t.Errorf("empty: %q", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		v    string
		want time.Duration
	}{
		{"", time.Second},
		{"1", time.Second},
		{" 3 ", 3 * time.Second},
		{"0", 0},
		{"-4", 0},
		{"3600", 30 * time.Second},
		{"soon", time.Second},
		{now.Add(2 * time.Second).Format(http.TimeFormat), 2 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := retryAfter(c.v, now); got != c.want {
			t.Errorf("retryAfter(%q) = %v, want %v", c.v, got, c.want)
		}
	}
}

func TestSizeName(t *testing.T) {
	for n, want := range map[int]string{20 << 20: "20 MiB", 1 << 20: "1 MiB", 32 << 10: "32 KiB", 3000000: "2.9 MiB", 1000: "1000 B", 1: "1 B"} {
		if got := sizeName(n); got != want {
			t.Errorf("sizeName(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseGCHeap(t *testing.T) {
	h, ok := parseGCHeap("gc 13 @4.508s 3%: 2.1+151+0.004 ms clock, 4.2+2.8/81/146+0.008 ms cpu, 130->131->70 MB, 136 MB goal, 50 MB stacks, 0 MB globals, 2 P")
	if !ok || h != (gcHeap{130, 131, 70, 136}) {
		t.Errorf("parseGCHeap = %+v, %v", h, ok)
	}
	if got := h.max(gcHeap{140, 1, 80, 2}); got != (gcHeap{140, 131, 80, 136}) {
		t.Errorf("max = %+v", got)
	}
	if _, ok := parseGCHeap("relay-server listening on http://127.0.0.1:1"); ok {
		t.Error("parsed a line that is not a gctrace")
	}
}

func TestParseSmaps(t *testing.T) {
	const smaps = `00400000-00c7a000 r-xp 00000000 fe:00 1234                       /tmp/relay-server
Size:               8680 kB
Rss:                7208 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
0153e000-015f2000 rw-p 00000000 00:00 0
Size:                720 kB
Rss:                 524 kB
Anonymous:           524 kB
2a7c00000-2a8400000 rw-p 00000000 00:00 0
Size:               8192 kB
Rss:                2040 kB
Anonymous:          2040 kB
THPeligible:           0
7fa4ca7e0000-7fa4ca8e0000 rw-p 00000000 00:00 0
Size:               1024 kB
Rss:                 732 kB
Anonymous:           700 kB
`
	m, err := parseSmaps(strings.NewReader(smaps))
	if err != nil {
		t.Fatal(err)
	}
	want := smapsSplit{GoArena: 2040 << 10, OtherAnon: (524 + 700) << 10, File: (7208 + 32) << 10}
	if m != want {
		t.Errorf("parseSmaps = %+v, want %+v", m, want)
	}
}

func TestParseFlagsRefusesNonPositiveSizes(t *testing.T) {
	for _, f := range []string{"-largebody-bytes", "-slowapp-n", "-flood-senders", "-flood-every"} {
		if _, err := parseFlags([]string{f, "0"}, io.Discard); err == nil {
			t.Errorf("%s 0: want an error", f)
		}
	}
}
