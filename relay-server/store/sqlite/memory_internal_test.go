package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store/storetest"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// resetPeakRSS sets VmHWM to the current resident set (Linux 4.0 and
// later), so peakRSS then measures what follows.
func resetPeakRSS(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak resident set: %v", err)
	}
}

func heapAllocs() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// measure runs fn with the collector off and returns the bytes it
// allocated on the Go heap and how much the peak resident set grew beyond
// them: memory outside the Go heap, such as SQLite's.
func measure(t *testing.T, fn func()) (goHeap, other int64) {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS(t)
	rss, allocs := peakRSS(t), heapAllocs()
	fn()
	goHeap = heapAllocs() - allocs
	return goHeap, peakRSS(t) - rss - goHeap
}

// TestLargeBodyMemoryBounded: storing a 24 MiB body and reading it back
// costs memory outside the Go heap on the order of a chunk, not of the
// body; storing it allocates next to nothing on the Go heap (the driver
// copies each chunk into C memory), and a read allocates the body once for
// the result and once more, chunk by chunk, in short-lived copies.
func TestLargeBodyMemoryBounded(t *testing.T) {
	if _, err := os.Stat("/proc/self/clear_refs"); err != nil {
		t.Skip("needs Linux's /proc/self/clear_refs")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory is resident too")
	}
	const size = 24 << 20
	// Generous: SQLite's page caches (2 MiB per connection) and a few
	// chunks in flight, a quarter of the body.
	const bound = 6 << 20
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gc := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(gc)
	// Statements prepared, caches warm.
	warm := storetest.Event("evt_warm", "big", time.Now())
	warm.Body = bytes.Repeat([]byte("w"), 3*chunkSize)
	if err := s.InsertEvent(ctx, warm); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetEvent(ctx, warm.ID); err != nil {
		t.Fatal(err)
	}

	body := storetest.RandomBody(size, 1)
	sum := sha256.Sum256(body)
	ev := &capture.Request{ID: "evt_big", Endpoint: "big", Method: "POST", Path: "/", ReceivedAt: time.Now(), Body: body}
	goHeap, other := measure(t, func() {
		if err := s.InsertEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("insert of %d bytes: Go heap %d bytes allocated, %d more resident at the peak", size, goHeap, other)
	if goHeap > 4*chunkSize {
		t.Errorf("insert of %d bytes allocated %d bytes on the Go heap, want at most %d", size, goHeap, 4*chunkSize)
	}
	if other > bound {
		t.Errorf("insert of %d bytes: peak resident set %d bytes over the Go heap's growth, want at most %d", size, other, bound)
	}

	var got []byte
	goHeap, other = measure(t, func() {
		rec, err := s.GetEvent(ctx, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		got = rec.Request.Body
	})
	t.Logf("read of %d bytes: Go heap %d bytes allocated, %d more resident at the peak", size, goHeap, other)
	if sha256.Sum256(got) != sum {
		t.Fatalf("read back %d bytes that differ from the %d stored", len(got), size)
	}
	if goHeap > 2*size+4*chunkSize {
		t.Errorf("read of %d bytes allocated %d bytes on the Go heap, want at most %d", size, goHeap, 2*size+4*chunkSize)
	}
	if other > bound {
		t.Errorf("read of %d bytes: peak resident set %d bytes over the Go heap's growth, want at most %d", size, other, bound)
	}
}
