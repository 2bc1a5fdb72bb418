package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// Benchmarks run against a real relay on loopback with the durable SQLite
// store (WAL, synchronous=FULL) in a temporary directory, 1 KiB bodies.
//
//	go test -run '^$' -bench 'Direct|Ingress|Passthrough' -benchtime 3000x ./relay-server/relay/
//	go test -run '^$' -bench 'BacklogDrain|IdleSessions' -benchtime 1x ./relay-server/relay/
//
// BacklogDrain and IdleSessions measure one fixed scenario whatever b.N is
// (their ns/op means nothing; read their own metrics).

var benchBody = bytes.Repeat([]byte("x"), 1024)

// echoCLI answers every event at once with 200 and acks it, like a
// `hookctl listen` in front of a fast app.
func echoCLI(tb testing.TB, base, endpoint string) {
	tb.Helper()
	cfg, err := websocket.NewConfig("ws"+base[len("http"):]+wire.ListenPath, base)
	if err != nil {
		tb.Fatal(err)
	}
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := websocket.JSON.Send(conn, wire.Message{Type: wire.TypeHello, Version: wire.Version, Endpoint: endpoint}); err != nil {
		tb.Fatal(err)
	}
	var welcome wire.Message
	if err := websocket.JSON.Receive(conn, &welcome); err != nil || welcome.Type != wire.TypeWelcome {
		tb.Fatalf("welcome: %+v %v", welcome, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var m wire.Message
			if err := websocket.JSON.Receive(conn, &m); err != nil {
				return
			}
			switch m.Type {
			case wire.TypePing:
				websocket.JSON.Send(conn, wire.Message{Type: wire.TypePong})
			case wire.TypeEvent:
				websocket.JSON.Send(conn, wire.Message{Type: wire.TypeResponse, ID: m.Event.ID,
					Response: &capture.Response{Status: 200, Body: []byte("ok"), At: time.Now()}})
				websocket.JSON.Send(conn, wire.Message{Type: wire.TypeAck, ID: m.Event.ID})
			}
		}
	}()
	tb.Cleanup(func() {
		conn.Close()
		<-done
	})
}

// direct is the baseline: a plain net/http server that reads the body and
// answers, with no relay in between.
func direct(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	})}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// run sends b.N requests from `senders` goroutines and reports events/s,
// latency percentiles and the process's CPU per request (user + sys:
// senders, relay and CLI together, since they share the process).
func run(b *testing.B, url string, senders int, want int) {
	tr := &http.Transport{MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var (
		mu   sync.Mutex
		lats = make([]time.Duration, 0, b.N)
		next = make(chan struct{}, b.N)
		wg   sync.WaitGroup
	)
	for i := 0; i < b.N; i++ {
		next <- struct{}{}
	}
	close(next)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	start := time.Now()
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, b.N/senders+1)
			for range next {
				t0 := time.Now()
				resp, err := client.Post(url, "application/octet-stream", bytes.NewReader(benchBody))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				if resp.StatusCode != want {
					b.Errorf("status %d, want %d", resp.StatusCode, want)
					return
				}
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	slices.Sort(lats)
	if len(lats) > 0 {
		b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "events/s")
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(lats)), "cpu-µs/event")
	}
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkDirect(b *testing.B) {
	for _, senders := range []int{1, 16} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			run(b, direct(b)+"/", senders, 200)
		})
	}
}

// BenchmarkIngress: capture only (no CLI connected): durable insert, then 202.
func BenchmarkIngress(b *testing.B) {
	for _, senders := range []int{1, 16} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			r := startRelay(b, relay.Config{Open: true})
			run(b, r.URL+"/h/bench/hook", senders, 202)
		})
	}
}

// BenchmarkPassthrough: end to end: capture, deliver to a connected CLI,
// its response back to the sender, ack.
func BenchmarkPassthrough(b *testing.B) {
	for _, senders := range []int{1, 16} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			r := startRelay(b, relay.Config{Open: true})
			echoCLI(b, r.URL, "bench")
			run(b, r.URL+"/h/bench/hook", senders, 200)
		})
	}
}

// BenchmarkBacklogDrain: 10,000 stored events delivered to a CLI that
// connects afterwards and acks each at once.
func BenchmarkBacklogDrain(b *testing.B) {
	const backlog = 10000
	{
		b.StopTimer()
		r := startRelay(b, relay.Config{Open: true})
		ctx := context.Background()
		var wg sync.WaitGroup
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := g; j < backlog; j += 16 {
					ev := &capture.Request{ID: fmt.Sprintf("evt_%05d", j), Endpoint: "drain", Method: "POST", Path: "/",
						Body: benchBody, ReceivedAt: time.Now()}
					if err := r.Store.InsertEvent(ctx, ev); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StartTimer()
		start := time.Now()
		echoCLI(b, r.URL, "drain")
		for {
			n, err := r.Store.CountPending(ctx, "drain")
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.ReportMetric(time.Since(start).Seconds(), "drain-s")
	}
}

// BenchmarkIdleSessions connects 2,000 idle CLIs and reports the memory
// (heap in use + goroutine stacks) per session. Client and server share the
// process, so the figure is an upper bound for the relay's side.
func BenchmarkIdleSessions(b *testing.B) {
	const n = 2000
	{
		r := startRelay(b, relay.Config{Open: true})
		before := memInUse()
		conns := make([]*websocket.Conn, 0, n)
		for j := 0; j < n; j++ {
			cfg, err := websocket.NewConfig("ws"+r.URL[len("http"):]+wire.ListenPath, r.URL)
			if err != nil {
				b.Fatal(err)
			}
			conn, err := websocket.DialConfig(cfg)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, conn)
			websocket.JSON.Send(conn, wire.Message{Type: wire.TypeHello, Version: wire.Version, Endpoint: fmt.Sprintf("idle-%d", j)})
			var m wire.Message
			if err := websocket.JSON.Receive(conn, &m); err != nil || m.Type != wire.TypeWelcome {
				b.Fatalf("welcome %d: %+v %v", j, m, err)
			}
		}
		after := memInUse()
		b.ReportMetric(float64(after-before)/n, "bytes/session")
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.StackInuse)/n, "stack-bytes/session")
		b.ReportMetric(float64(runtime.NumGoroutine())/n, "goroutines/session")
		for _, c := range conns {
			c.Close()
		}
	}
}

func memInUse() uint64 {
	for i := 0; i < 5; i++ {
		runtime.GC() // each GC may halve an oversized stack
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}
