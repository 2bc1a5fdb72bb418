package tunnel

// Benchmarks of the whole path (sender → relay → websocket → this client →
// local app → back), next to the same requests sent straight to the app.
// Run with, e.g.:
//
//	go test -run '^$' -bench . -benchtime 2000x ./tunnel/
//	go test -run '^$' -bench BacklogDrain -benchtime 1x ./tunnel/

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// benchEnv is a relay, a fast app and a connected client.
type benchEnv struct {
	relay *testRelay
	app   *testApp
	hc    *http.Client
	rec   *recorder
	stop  func() error
}

func newBenchEnv(b *testing.B, connect bool) *benchEnv {
	b.Helper()
	e := &benchEnv{}
	e.relay = startRelay(b, b.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	e.app = newTestApp(b, nil)
	e.hc = &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}}
	b.Cleanup(e.hc.CloseIdleConnections)
	if connect {
		e.connect(b)
	}
	return e
}

func (e *benchEnv) connect(b *testing.B) {
	target, err := capture.ParseTarget(e.app.srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	fwd, err := NewForwarder(ForwarderConfig{Target: target})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(fwd.Close)
	e.rec = newRecorder()
	c, err := NewClient(Config{RelayURL: e.relay.URL, Endpoint: "bench", Forwarder: fwd, Observer: e.rec, Concurrency: benchConcurrency})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	e.stop = func() error { cancel(); return <-done }
	b.Cleanup(func() { e.stop() })
	for {
		e.rec.mu.Lock()
		ok := slices.ContainsFunc(e.rec.states, func(s Status) bool { return s.State == StateConnected })
		e.rec.mu.Unlock()
		if ok {
			return
		}
		<-e.rec.changed
	}
}

func post(b *testing.B, hc *http.Client, url string, body []byte) int {
	res, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkLatency sends 1 KiB bodies one at a time, in passthrough mode,
// through the relay and straight to the app, and reports p50/p99 of both.
func BenchmarkLatency(b *testing.B) {
	e := newBenchEnv(b, true)
	body := bytes.Repeat([]byte("x"), 1024)
	via := e.relay.URL + "/h/bench/hook"
	direct := e.app.srv.URL + "/hook"
	for range 50 { // warm up connections
		post(b, e.hc, via, body)
		post(b, e.hc, direct, body)
	}
	relayed := make([]time.Duration, 0, b.N)
	straight := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if st := post(b, e.hc, via, body); st != 200 {
			b.Fatalf("status %d", st)
		}
		t1 := time.Now()
		post(b, e.hc, direct, body)
		straight = append(straight, time.Since(t1))
		relayed = append(relayed, t1.Sub(t0))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(percentile(relayed, .5)), "relay-p50-ms")
	b.ReportMetric(ms(percentile(relayed, .99)), "relay-p99-ms")
	b.ReportMetric(ms(percentile(straight, .5)), "direct-p50-ms")
	b.ReportMetric(ms(percentile(straight, .99)), "direct-p99-ms")
	b.ReportMetric(ms(percentile(relayed, .5)-percentile(straight, .5)), "added-p50-ms")
	b.ReportMetric(ms(percentile(relayed, .99)-percentile(straight, .99)), "added-p99-ms")
}

// BenchmarkThroughput16 sends 1 KiB bodies from 16 concurrent senders in
// passthrough mode and reports events/s end to end, and directly.
func BenchmarkThroughput16(b *testing.B) {
	e := newBenchEnv(b, true)
	body := bytes.Repeat([]byte("x"), 1024)
	run := func(url string) float64 {
		var next atomic.Int64
		var g errgroup.Group
		t0 := time.Now()
		for range 16 {
			g.Go(func() error {
				for next.Add(1) <= int64(b.N) {
					res, err := e.hc.Post(url, "application/json", bytes.NewReader(body))
					if err != nil {
						return err
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != 200 {
						return fmt.Errorf("status %d", res.StatusCode)
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		return float64(b.N) / time.Since(t0).Seconds()
	}
	b.ResetTimer()
	relayed := run(e.relay.URL + "/h/bench/hook")
	direct := run(e.app.srv.URL + "/hook")
	b.StopTimer()
	b.ReportMetric(relayed, "relay-events/s")
	b.ReportMetric(direct, "direct-events/s")
}

// BenchmarkBacklogDrain stores 10,000 1 KiB events with no CLI connected,
// then connects and reports how long delivering all of them takes.
func BenchmarkBacklogDrain(b *testing.B) {
	const n = 10000
	for range b.N {
		b.StopTimer()
		e := newBenchEnv(b, false)
		body := bytes.Repeat([]byte("x"), 1024)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for next.Add(1) <= n {
					if st := post(b, e.hc, e.relay.URL+"/h/bench/hook", body); st != 202 {
						b.Errorf("status %d", st)
						return
					}
				}
			})
		}
		wg.Wait()
		b.StartTimer()
		t0 := time.Now()
		e.connect(b)
		for {
			e.rec.mu.Lock()
			got := len(e.rec.delivered)
			e.rec.mu.Unlock()
			if got >= n {
				break
			}
			<-e.rec.changed
		}
		b.ReportMetric(time.Since(t0).Seconds(), "drain-s")
	}
}

// benchConcurrency is the client's delivery concurrency in the benchmarks:
// 16, one per sender; the default (4) is measured by changing it here.
var benchConcurrency = 16
