package sqlite

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/storetest"
	"github.com/hookctl/hookctl/tunnel/capture"
)

func countRows(t *testing.T, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestChunkBoundaries: bodies one byte either side of a whole number of
// chunks are stored in as many rows as they need and come back exactly;
// deleting their events deletes every chunk.
func TestChunkBoundaries(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var sizes []int
	for k := 1; k <= 3; k++ {
		sizes = append(sizes, k*chunkSize-1, k*chunkSize, k*chunkSize+1)
	}
	rows := 0 // in body_chunks
	for i, n := range sizes {
		ev := storetest.Event(fmt.Sprintf("evt_%d", i), "alpha", time.Now())
		ev.Body = storetest.RandomBody(n, uint64(i))
		if err := s.InsertEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		rows += (n+chunkSize-1)/chunkSize - 1
		rec, err := s.GetEvent(ctx, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(rec.Request.Body) != sha256.Sum256(ev.Body) {
			t.Errorf("%d bytes: read back %d bytes that differ", n, len(rec.Request.Body))
		}
	}
	if got := countRows(t, s, "bodies"); got != len(sizes) {
		t.Errorf("%d rows in bodies, want %d", got, len(sizes))
	}
	if got := countRows(t, s, "body_chunks"); got != rows {
		t.Errorf("%d rows in body_chunks, want %d", got, rows)
	}
	if n, err := s.PurgeEvents(ctx, store.PurgeQuery{Endpoint: "alpha", Pending: true}); err != nil || n != int64(len(sizes)) {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if got := countRows(t, s, "body_chunks") + countRows(t, s, "bodies"); got != 0 {
		t.Errorf("%d body rows left after purging every event", got)
	}
}

// strayWrite runs query on the database at path from another store, as
// admin commands write to a relay's file.
func strayWrite(t *testing.T, path, query string) {
	t.Helper()
	other, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.write(context.Background(), true, func(x *txExec) error { _, err := x.exec(query); return err }); err != nil {
		t.Fatal(err)
	}
}

// openWithStray opens a store with one event, evt_1, and then runs the
// stray write query on its file.
func openWithStray(t *testing.T, query string) (_ *Store, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "relay.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.InsertEvent(context.Background(), storetest.Event("evt_1", "alpha", time.Now())); err != nil {
		t.Fatal(err)
	}
	strayWrite(t, path, query)
	return s, path
}

// TestChunkedInsertAllOrNothing: a chunked body that fails part way (here
// a chunk that collides with a stray row) leaves neither its event nor any
// of its rows, and the store goes on.
func TestChunkedInsertAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s, path := openWithStray(t, "INSERT INTO body_chunks (event_seq, n, data) VALUES (2, 2, x'00')")
	big := storetest.Event("evt_big", "alpha", time.Now())
	big.Body = storetest.RandomBody(3*chunkSize+1, 1)
	if err := s.InsertEvent(ctx, big); err == nil {
		t.Fatal("insert over a colliding chunk succeeded")
	}
	if rec, err := s.GetEvent(ctx, big.ID); err == nil {
		t.Errorf("failed insert left its event, with %d body bytes", len(rec.Request.Body))
	}
	if n := countRows(t, s, "bodies"); n != 1 {
		t.Errorf("%d rows in bodies, want 1 (evt_1's)", n)
	}
	if n := countRows(t, s, "body_chunks"); n != 1 {
		t.Errorf("%d rows in body_chunks, want 1 (the stray one)", n)
	}
	strayWrite(t, path, "DELETE FROM body_chunks")
	big.ID = "evt_big2"
	if err := s.InsertEvent(ctx, big); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.GetEvent(ctx, big.ID); err != nil || sha256.Sum256(rec.Request.Body) != sha256.Sum256(big.Body) {
		t.Errorf("insert after the failed one: %v", err)
	}
}

// TestSmallInsertAllOrNothing: an event whose body row cannot be written
// (here it collides with a stray row at the seq the event gets) is not
// stored either: no event without its body, and the store goes on.
func TestSmallInsertAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s, path := openWithStray(t, "INSERT INTO bodies (event_seq, data) VALUES (2, x'00')")
	ev := storetest.Event("evt_2", "alpha", time.Now())
	if err := s.InsertEvent(ctx, ev); err == nil {
		t.Fatal("insert over a colliding body row succeeded")
	}
	if rec, err := s.GetEvent(ctx, ev.ID); err == nil {
		t.Errorf("failed insert left its event, with body %q", rec.Request.Body)
	}
	if n := countRows(t, s, "events"); n != 1 {
		t.Errorf("%d rows in events, want 1 (evt_1)", n)
	}
	strayWrite(t, path, "DELETE FROM bodies WHERE event_seq = 2")
	ev.ID = "evt_3"
	if err := s.InsertEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.GetEvent(ctx, ev.ID); err != nil || string(rec.Request.Body) != string(ev.Body) {
		t.Errorf("insert after the failed one: %v", err)
	}
	// The failed event's seq is given out again, as by a rollback.
	var seq int64
	if err := s.rdb.QueryRow("SELECT seq FROM events WHERE id = ?", ev.ID).Scan(&seq); err != nil || seq != 2 {
		t.Errorf("insert after the failed one got seq %d (%v), want 2", seq, err)
	}
}

// TestSmallInsertUndoFailure: when the event row of a failed body insert
// cannot be deleted again (here a trigger refuses), the whole batch fails:
// neither that event nor the one committed with it is stored.
func TestSmallInsertUndoFailure(t *testing.T) {
	ctx := context.Background()
	s, path := openWithStray(t, "INSERT INTO bodies (event_seq, data) VALUES (2, x'00')")
	strayWrite(t, path, "CREATE TRIGGER no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'no deletes'); END")
	// Hold the writer in a write of its own while both inserts queue, so
	// they share the next batch, the failing one first.
	entered, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.write(ctx, true, func(*txExec) error { close(entered); <-release; return nil })
	}()
	<-entered
	errs := make(chan error, 2)
	ids := []string{"evt_bad", "evt_good"}
	for i, id := range ids {
		go func() { errs <- s.InsertEvent(ctx, storetest.Event(id, "alpha", time.Now())) }()
		for len(s.ops) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	for range ids {
		if err := <-errs; err == nil {
			t.Error("an insert in the failed batch succeeded")
		}
	}
	for _, id := range ids {
		if _, err := s.GetEvent(ctx, id); err == nil {
			t.Errorf("event %s of the failed batch is stored", id)
		}
	}
	if n := countRows(t, s, "events"); n != 1 {
		t.Errorf("%d rows in events, want 1 (evt_1)", n)
	}
}

// TestSmallInsertDiskFull: a body row that does not fit (SQLITE_FULL,
// here the writer connection's max_page_count) makes SQLite roll back the
// whole transaction, not just the statement. The writes queued behind it
// in the batch must not then run outside any transaction: none of them is
// stored, and each caller hears it failed.
func TestSmallInsertDiskFull(t *testing.T) {
	ctx := context.Background()
	s, _ := openWithStray(t, "SELECT 1")
	var pages int
	if err := s.rdb.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// Room for a few more pages: an event row, not a 200 KiB body.
	limit := fmt.Sprintf("PRAGMA max_page_count = %d", pages+8)
	entered, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.write(ctx, true, func(x *txExec) error {
			_, err := x.exec(limit)
			close(entered)
			<-release
			return err
		})
	}()
	<-entered
	big := storetest.Event("evt_big", "alpha", time.Now())
	big.Body = storetest.RandomBody(200<<10, 1)
	small := storetest.Event("evt_small", "alpha", time.Now())
	errs := make(map[string]chan error)
	for i, ev := range []*capture.Request{big, small} {
		ch := make(chan error, 1)
		errs[ev.ID] = ch
		go func() { ch <- s.InsertEvent(ctx, ev) }()
		for len(s.ops) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if err := <-errs[big.ID]; err == nil {
		t.Fatal("a body over max_page_count was stored")
	}
	smallErr := <-errs[small.ID]
	_, getErr := s.GetEvent(ctx, small.ID)
	if (smallErr == nil) != (getErr == nil) {
		t.Errorf("InsertEvent(%s) = %v, but GetEvent finds it: %v", small.ID, smallErr, getErr == nil)
	}
	if _, err := s.GetEvent(ctx, big.ID); err == nil {
		t.Errorf("event %s is stored without its body", big.ID)
	}
}
