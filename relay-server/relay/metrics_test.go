package relay_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// serveMetrics serves r's metrics on a loopback port of their own until
// the test ends and returns their URL.
func serveMetrics(t *testing.T, r *testRelay) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ServeMetrics(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeMetrics: %v", err)
		}
	})
	return "http://" + ln.Addr().String() + relay.MetricsPath
}

// scrapeOf is one scrape, parsed.
type scrapeOf map[string]*dto.MetricFamily

func scrape(t *testing.T, r *testRelay, url string) scrapeOf {
	t.Helper()
	resp, err := r.client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return fams
}

// get is the value of the series of name with the label pairs given: a
// counter's or gauge's value, a histogram's sample count. A series that is
// not there is 0; found reports whether it was.
func (s scrapeOf) get(name string, labels ...string) (v float64, found bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		if len(have) != len(labels)/2 {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func (s scrapeOf) value(name string, labels ...string) float64 {
	v, _ := s.get(name, labels...)
	return v
}

// histogramSum is the sum of a histogram's samples.
func (s scrapeOf) histogramSum(name string) float64 {
	if f := s[name]; f != nil && len(f.Metric) == 1 && f.Metric[0].Histogram != nil {
		return f.Metric[0].Histogram.GetSampleSum()
	}
	return 0
}

// TestMetricsAfterTraffic sends webhooks to a connected CLI that acks them
// and to an endpoint without one, and checks that every counter moved by
// exactly what happened.
func TestMetricsAfterTraffic(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	url := serveMetrics(t, r)
	before := scrape(t, r, url)
	if v := before.value("hookctl_sessions"); v != 0 {
		t.Fatalf("%v sessions before any CLI", v)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if _, ok := before.get(name); !ok {
			t.Errorf("no %s", name)
		}
	}

	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	const delivered, queued = 5, 3
	for i := range delivered {
		s, _, b := r.send(t, "POST", fmt.Sprintf("/h/alpha/%d", i), []byte(`{"n":1}`), nil)
		id := queuedID(t, s, b)
		if ev := c.expect(wire.TypeEvent).Event; ev.ID != id {
			t.Fatalf("got %s, want %s", ev.ID, id)
		}
		c.send(wire.Message{Type: wire.TypeAck, ID: id})
	}
	for i := range queued {
		s, _, b := r.send(t, "POST", fmt.Sprintf("/h/beta/%d", i), nil, nil)
		queuedID(t, s, b)
	}
	if s, _, _ := r.send(t, "POST", "/h/-bad/x", nil, nil); s != http.StatusBadRequest {
		t.Fatalf("bad endpoint name: %d", s)
	}
	// Acks are applied after the reader takes them; a barrier is a ping
	// the reader answers after every ack before it.
	c.barrier()
	if err := r.Store.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	after := scrape(t, r, url)
	delta := func(name string, labels ...string) float64 {
		return after.value(name, labels...) - before.value(name, labels...)
	}
	for _, d := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"hookctl_ingress_requests_total", []string{"code", "202"}, delivered + queued},
		{"hookctl_ingress_requests_total", []string{"code", "400"}, 1},
		{"hookctl_ingress_requests_total", []string{"code", "503"}, 0},
		{"hookctl_events_stored_total", nil, delivered + queued},
		{"hookctl_deliveries_total", nil, delivered},
		{"hookctl_delivery_seconds", nil, delivered},
		{"hookctl_handoff_overflows_total", []string{"reason", "events"}, 0},
	} {
		if got := delta(d.name, d.labels...); got != d.want {
			t.Errorf("%s%v moved by %v, want %v", d.name, d.labels, got, d.want)
		}
	}
	for _, g := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"hookctl_sessions", nil, 1},
		{"hookctl_events_pending", []string{"endpoint", "beta"}, queued},
		{"hookctl_events_pending", []string{"endpoint", "_other"}, 0},
		{"hookctl_ingress_inflight_bytes", nil, 0},
		{"hookctl_ingress_inflight_limit_bytes", nil, relay.DefaultMaxInflight},
		{"hookctl_handoff_large_bytes", nil, 0},
	} {
		if got, ok := after.get(g.name, g.labels...); got != g.want || !ok {
			t.Errorf("%s%v = %v (present: %v), want %v", g.name, g.labels, got, ok, g.want)
		}
	}
	if _, ok := after.get("hookctl_events_pending", "endpoint", "alpha"); ok {
		t.Errorf("alpha, with nothing pending, has a pending series")
	}
	// Each insert is one write of some group commit (endpoints, acks and
	// attempt counts are others).
	if n, sum := delta("hookctl_store_commit_writes"), after.histogramSum("hookctl_store_commit_writes")-before.histogramSum("hookctl_store_commit_writes"); n < 1 || sum < delivered+queued {
		t.Errorf("%v commits of %v writes, want at least the %d inserts", n, sum, delivered+queued)
	}
	if n := delta("hookctl_store_commit_seconds"); n != delta("hookctl_store_commit_writes") {
		t.Errorf("%v commit durations for %v commits", n, delta("hookctl_store_commit_writes"))
	}

	c.conn.Close()
	waitFor(t, "the session to end", func() bool { return scrape(t, r, url).value("hookctl_sessions") == 0 })
}

// TestMetricsPendingTop: the pending gauge names the endpoints with the
// most pending events and sums the rest.
func TestMetricsPendingTop(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	url := serveMetrics(t, r)
	// Endpoint e<i> gets i+1 events: e11, e10 ... e2 are the top ten;
	// e0 and e1 hold 1 + 2.
	for i := range 12 {
		for j := 0; j <= i; j++ {
			s, _, b := r.send(t, "POST", fmt.Sprintf("/h/e%d/%d", i, j), nil, nil)
			queuedID(t, s, b)
		}
	}
	got := scrape(t, r, url)
	if n := len(got["hookctl_events_pending"].GetMetric()); n != 11 {
		t.Errorf("%d pending series, want 11", n)
	}
	for i := 2; i < 12; i++ {
		if v := got.value("hookctl_events_pending", "endpoint", "e"+strconv.Itoa(i)); v != float64(i+1) {
			t.Errorf("e%d: %v pending, want %d", i, v, i+1)
		}
	}
	if v := got.value("hookctl_events_pending", "endpoint", "_other"); v != 3 {
		t.Errorf("_other: %v pending, want 3", v)
	}
}

// TestMetricsHandoffAndInflight: a paused CLI's handoff overflows by
// bytes and by a second large event, each counted once; a body being
// received is counted in flight until it is stored.
func TestMetricsHandoffAndInflight(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	url := serveMetrics(t, r)
	overflows := func(reason string) float64 {
		return scrape(t, r, url).value("hookctl_handoff_overflows_total", "reason", reason)
	}

	paused := mustListen(t, r.URL, wire.Message{Endpoint: "paused", Reply: ackMode})
	paused.send(wire.Message{Type: wire.TypePause})
	paused.barrier()
	mib := []byte(strings.Repeat("m", 1<<20))
	for i := range 2 { // 2 MiB: the handoff is full, not over
		sendQueued(t, r, fmt.Sprintf("/h/paused/%d", i), mib)
	}
	if n := overflows("bytes"); n != 0 {
		t.Fatalf("%v overflows at 2 MiB", n)
	}
	sendQueued(t, r, "/h/paused/2", mib)
	if n := overflows("bytes"); n != 1 {
		t.Errorf("%v byte overflows after a third MiB, want 1", n)
	}

	large := []byte(strings.Repeat("L", 3<<20))
	sendQueued(t, r, "/h/paused/large1", large)
	waitFor(t, "the large event held", func() bool {
		return scrape(t, r, url).value("hookctl_handoff_large_bytes") == float64(len(large))
	})
	sendQueued(t, r, "/h/paused/large2", large)
	if n := overflows("large"); n != 1 {
		t.Errorf("%v large overflows after a second large event, want 1", n)
	}
	if got := scrape(t, r, url); got.value("hookctl_handoff_large_bytes") != 0 || got.value("hookctl_handoff_overflows_total", "reason", "events") != 0 {
		t.Errorf("after the overflow: %v large bytes held, %v event-count overflows; want 0, 0",
			got.value("hookctl_handoff_large_bytes"), got.value("hookctl_handoff_overflows_total", "reason", "events"))
	}

	// A sender that declared 1000 bytes and sent 10 holds 1000.
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /h/slow/x HTTP/1.1\r\nHost: relay\r\nContent-Length: 1000\r\n\r\n%s", strings.Repeat("s", 10))
	waitFor(t, "the body's bytes in flight", func() bool {
		return scrape(t, r, url).value("hookctl_ingress_inflight_bytes") == 1000
	})
	conn.Write([]byte(strings.Repeat("s", 990)))
	if line, err := readStatusLine(conn); err != nil || !strings.Contains(line, " 202 ") {
		t.Fatalf("slow sender: %q, %v", line, err)
	}
	if v := scrape(t, r, url).value("hookctl_ingress_inflight_bytes"); v != 0 {
		t.Errorf("%v bytes in flight after the answer", v)
	}
}

// sendQueued posts body to path and checks the answer is 202.
func sendQueued(t *testing.T, r *testRelay, path string, body []byte) string {
	t.Helper()
	s, _, b := r.send(t, "POST", path, body, nil)
	return queuedID(t, s, b)
}

// readStatusLine reads an HTTP answer's first line.
func readStatusLine(conn net.Conn) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < 200 {
		if _, err := conn.Read(one); err != nil {
			return string(b), err
		}
		if one[0] == '\n' {
			return string(b), nil
		}
		b = append(b, one[0])
	}
	return string(b), nil
}

// TestMetricsNotOnPublicListener: the relay's own listener has no metrics.
func TestMetricsNotOnPublicListener(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	serveMetrics(t, r) // even with a metrics listener beside it
	for _, path := range []string{relay.MetricsPath, relay.MetricsPath + "/", "/debug/metrics"} {
		s, _, b := r.send(t, "GET", path, nil, nil)
		if s != http.StatusNotFound || strings.Contains(string(b), "hookctl_") {
			t.Errorf("GET %s on the public listener: %d %q", path, s, b)
		}
	}
}
