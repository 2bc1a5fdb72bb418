package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/relay-server/store/storetest"
	"github.com/hookctl/hookctl/tunnel/capture"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestContract(t *testing.T) {
	var mu sync.Mutex
	dirs := map[*testing.T]string{}
	storetest.Run(t, func(t *testing.T) store.Store {
		mu.Lock()
		dir, ok := dirs[t]
		if !ok {
			dir = t.TempDir()
			dirs[t] = dir
		}
		mu.Unlock()
		s, err := sqlite.Open(filepath.Join(dir, "relay.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestNotifyForeignCommit: events another store (process) commits to the
// same file are not announced; the next write of this store announces that
// with an event-less notice, before its own events.
func TestNotifyForeignCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	a, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var (
		mu      sync.Mutex
		notices []string
	)
	a.NotifyCommitted(func(p store.Pending) {
		mu.Lock()
		defer mu.Unlock()
		if p.Event == nil {
			notices = append(notices, "-")
		} else {
			notices = append(notices, p.Event.ID)
		}
	})
	ctx := context.Background()
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, step := range []struct {
		st *sqlite.Store
		id string
	}{{a, "evt_a1"}, {a, "evt_a2"}, {b, "evt_b1"}, {a, "evt_a3"}, {a, "evt_a4"}} {
		if err := step.st.InsertEvent(ctx, storetest.Event(step.id, "alpha", at)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := strings.Join(notices, " "), "evt_a1 evt_a2 - evt_a3 evt_a4"; got != want {
		t.Fatalf("notices %q, want %q", got, want)
	}
}

// TestSeqAfterForeignPurge: a purge of the newest events by another store
// (an admin command's process) on the same file, while this store is open,
// does not let this store's next event take a purged seq.
func TestSeqAfterForeignPurge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	a, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, ev := range []*capture.Request{storetest.Event("evt_a1", "alpha", at), storetest.Event("evt_b1", "beta", at)} {
		if err := a.InsertEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	seqOf := func(endpoint string) int64 {
		t.Helper()
		ps, err := a.Pending(ctx, endpoint, 0, 10, 0)
		if err != nil || len(ps) != 1 {
			t.Fatalf("pending on %s: %v, %v", endpoint, ps, err)
		}
		return ps[0].Seq
	}
	purged := seqOf("beta")
	b, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.PurgeEvents(ctx, store.PurgeQuery{Endpoint: "beta", Pending: true}); err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.InsertEvent(ctx, storetest.Event("evt_b2", "beta", at)); err != nil {
		t.Fatal(err)
	}
	if seq := seqOf("beta"); seq <= purged {
		t.Fatalf("event after another store's purge has seq %d, want more than the purged %d", seq, purged)
	}
}

// TestPingFileReplaced: a database file removed or replaced under the
// store fails Ping, though every open connection still reads the old one;
// put back, it passes again.
func TestPingFileReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "relay.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "database file") {
		t.Errorf("Ping with the file moved away = %v, want a database file error", err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Errorf("Ping with another file in its place = %v, want replaced", err)
	}
	if err := os.Rename(path+".moved", path); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping with the file back: %v", err)
	}
}
