package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookctl/hookctl/relay-server/store/pgtest"
	"github.com/hookctl/hookctl/relay-server/store/storetest"
)

// TestInsertWaitsForEarlierCommit: an insert of another node that has taken
// its seq but not committed holds the endpoint: this store's insert of the
// same endpoint waits for that commit, so its higher seq can never be
// visible before the lower one. Without the lock a cursor reader would see
// the later event first and then skip the earlier.
func TestInsertWaitsForEarlierCommit(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The other node, by hand: the same lock and insert, not committed.
	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("alpha")); err != nil {
		t.Fatal(err)
	}
	args, err := eventArgs(storetest.Event("evt_early", "alpha", time.Now()), "pending", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var early int64
	if err := tx.QueryRow(ctx, insertEvent, args...).Scan(&early); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() { done <- s.InsertEvent(ctx, storetest.Event("evt_late", "alpha", time.Now())) }()
	// Wait until the store's insert is blocked on the lock: the database
	// says so.
	for {
		var waiting int
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("InsertEvent returned (%v) while an earlier insert of the endpoint was uncommitted", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	ps, err := s.Pending(ctx, "alpha", 0, 10, 0)
	if err != nil || len(ps) != 0 {
		t.Fatalf("Pending while both are uncommitted = %d events, %v", len(ps), err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ps, err = s.Pending(ctx, "alpha", 0, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Event.ID != "evt_early" || ps[0].Seq != early || ps[1].Event.ID != "evt_late" || ps[1].Seq <= early {
		t.Fatalf("Pending = %+v, want evt_early (seq %d) then evt_late", ps, early)
	}
}
