package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/relay-server/store/storetest"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// BenchmarkInsert measures a durable insert (one fsync'd commit per group)
// with 1 and 16 concurrent callers.
func BenchmarkInsert(b *testing.B) {
	for _, par := range []int{1, 16} {
		b.Run(fmt.Sprintf("callers=%d", par), func(b *testing.B) {
			s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var n atomic.Int64
			b.SetParallelism((par + 1) / 2) // GOMAXPROCS=2 on the reference machine
			if par == 1 {
				b.SetParallelism(1)
			}
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ev := storetest.Event(fmt.Sprintf("evt_%d", n.Add(1)), "bench", time.Now())
					if err := s.InsertEvent(context.Background(), ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "inserts/s")
		})
	}
}

// BenchmarkFsync is the floor under a durable insert: append 1 KiB to a
// file in the test's temporary directory and fsync it.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1024)
	for b.Loop() {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCycle models what the relay does per event through the store: 16
// senders insert 1 KiB events (durably), and one session, taking them in
// batches of up to 16, acks each with a small response and its delivery
// attempt in the same write, as the relay does once the CLI answers. It reports the process CPU per event (user +
// sys, everything in the process: the writer goroutine dominates), the
// throughput, and the commits' shape: writes per commit (how well 16
// senders share an fsync) and the mean commit time, which bounds the
// events/s one writer can reach; and the pages each commit writes to the
// WAL (two pwrite calls each) and reads from the file (a pread each).
func BenchmarkCycle(b *testing.B) {
	const senders = 16
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	written0, missed0, err := sqlite.WriterPages(s)
	if err != nil {
		b.Fatal(err)
	}
	var commits, writes, commitTime atomic.Int64
	s.ObserveCommits(func(c store.Commit) {
		commits.Add(1)
		writes.Add(int64(c.Writes))
		commitTime.Add(int64(c.Duration))
	})
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 1024)
	resp := &capture.Response{
		Status:   200,
		Headers:  capture.Headers{{Name: "Content-Length", Value: "2"}, {Name: "Content-Type", Value: "text/plain; charset=utf-8"}},
		Body:     []byte("ok"),
		Duration: 350 * time.Microsecond,
	}
	var seq atomic.Int64
	inserted := make(chan string, b.N)
	var wg sync.WaitGroup
	before := cpuTime(b)
	start := time.Now()
	b.ResetTimer()
	for w := range senders {
		wg.Go(func() {
			for i := w; i < b.N; i += senders {
				// Relay ids sort in creation order; so do these.
				ev := storetest.Event(fmt.Sprintf("evt_%020d", seq.Add(1)), "bench", time.Now())
				ev.Body = body
				if err := s.InsertEvent(ctx, ev); err != nil {
					b.Error(err)
					return
				}
				inserted <- ev.ID
			}
		})
	}
	ids := make([]string, 0, 16)
	for n := 0; n < b.N; {
		ids = append(ids[:0], <-inserted)
	more:
		for len(ids) < 16 {
			select {
			case id := <-inserted:
				ids = append(ids, id)
			default:
				break more
			}
		}
		for _, id := range ids {
			resp.At = time.Now()
			if err := s.Ack(ctx, "bench", id, resp, resp.At, 1); err != nil {
				b.Fatal(err)
			}
		}
		n += len(ids)
	}
	wg.Wait()
	if err := s.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	cpu := cpuTime(b) - before
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	if n := commits.Load(); n > 0 {
		b.ReportMetric(float64(writes.Load())/float64(n), "writes/commit")
		b.ReportMetric(float64(commitTime.Load())/float64(n)/1e3, "commit-µs")
		written, missed, err := sqlite.WriterPages(s)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(written-written0)/float64(n), "wal-pages/commit")
		b.ReportMetric(float64(missed-missed0)/float64(n), "page-reads/commit")
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
