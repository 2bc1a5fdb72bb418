package relaycmd_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hookctl/hookctl/relay-server/relaycmd"
)

var metricsLine = regexp.MustCompile(`metrics: (http://[0-9.:]+/metrics)`)

// serveObserved runs relay-server with args until the test ends and returns
// its address and, when it printed one, its metrics URL.
func serveObserved(t *testing.T, args ...string) (base, metrics string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lineWriter{lines: make(chan string, 100)}
	done := make(chan int, 1)
	go func() { done <- relaycmd.Run(ctx, args, io.Discard, stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("relay-server %v: exit %d after shutdown", args, code)
		}
	})
	timeout := time.After(60 * time.Second)
	for base == "" {
		select {
		case line := <-stderr.lines:
			if m := metricsLine.FindStringSubmatch(line); m != nil {
				metrics = m[1]
			}
			if m := listening.FindStringSubmatch(line); m != nil {
				base = m[1]
			}
		case <-timeout:
			t.Fatal("relay-server did not print its address")
		}
	}
	return base, metrics
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestMetricsAddr: metrics are served only with --metrics-addr, on that
// address alone, never on --addr.
func TestMetricsAddr(t *testing.T) {
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	base, metrics := serveObserved(t, "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--open")
	if metrics != "" {
		t.Errorf("metrics at %s without --metrics-addr", metrics)
	}
	if code, body := get(t, client, base+"/metrics"); code != http.StatusNotFound || strings.Contains(body, "hookctl_") {
		t.Errorf("/metrics on --addr without --metrics-addr: %d %q", code, body)
	}

	base, metrics = serveObserved(t, "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--open", "--metrics-addr", "127.0.0.1:0")
	if metrics == "" {
		t.Fatal("no metrics URL printed")
	}
	if code, body := get(t, client, base+"/metrics"); code != http.StatusNotFound || strings.Contains(body, "hookctl_") {
		t.Errorf("/metrics on --addr with --metrics-addr: %d %q", code, body)
	}
	for i := range 2 {
		resp, err := client.Post(base+"/h/alpha/"+string(rune('a'+i)), "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("webhook: %d", resp.StatusCode)
		}
	}
	code, body := get(t, client, metrics)
	if code != http.StatusOK {
		t.Fatalf("metrics: %d %q", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if f := fams["hookctl_events_stored_total"]; f == nil || f.Metric[0].Counter.GetValue() != 2 {
		t.Errorf("hookctl_events_stored_total = %v, want 2", f)
	}
	alpha := -1.0
	for _, m := range fams["hookctl_events_pending"].GetMetric() {
		if m.Label[0].GetValue() == "alpha" {
			alpha = m.Gauge.GetValue()
		}
	}
	if alpha != 2 {
		t.Errorf("alpha pending %v, want 2", alpha)
	}
	if code, _ := get(t, client, strings.TrimSuffix(metrics, "/metrics")+"/h/alpha/x"); code != http.StatusNotFound {
		t.Errorf("the metrics address answers other paths: %d", code)
	}
}
