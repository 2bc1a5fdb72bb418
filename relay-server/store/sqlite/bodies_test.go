package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/relay-server/store/storetest"
)

// undoBodies takes a database back to before migration 0006: bodies
// inline in events (undoChunks first).
const undoBodies = undoChunks + `ALTER TABLE events ADD COLUMN body BLOB NOT NULL DEFAULT x'';
	UPDATE events SET body = coalesce((SELECT data FROM bodies WHERE event_seq = seq), x'');
	DROP TRIGGER events_delete_body; DROP TABLE bodies; `

// downgrade runs sql on the closed database at path, to take it back to the
// schema of an older relay (undo migrations, set its user_version) before a
// test opens it with the store and checks the migrations bring it forward.
func downgrade(t *testing.T, path, sql string) {
	t.Helper()
	db, err := openRaw(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	version := func() (v int) {
		if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version()
	if _, err := db.Exec(sql); err != nil {
		t.Fatalf("downgrade %s: %v", path, err)
	}
	// Without a lower version the store would not migrate again, and the
	// test would check nothing.
	if after := version(); after >= before {
		t.Fatalf("downgrade %s: user_version %d → %d, want lower", path, before, after)
	}
}

// openRaw opens the database at path with database/sql, beside the store.
func openRaw(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
}

// bodyRows counts the rows of the bodies table.
func bodyRows(t *testing.T, path string) int {
	t.Helper()
	db, err := openRaw(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM bodies").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMigrateBodies: a database with bodies inline (before 0006) opens
// with every body moved to the bodies table, empty ones included as
// empty; deleting events, by retention or purge, deletes their bodies.
func TestMigrateBodies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	large := bytes.Repeat([]byte{0, 'x', 0xff}, 200_000)
	bodies := map[string][]byte{"evt_a": []byte("a"), "evt_empty": {}, "evt_large": large}
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"evt_a", "evt_empty", "evt_large"} {
		ev := storetest.Event(id, "alpha", at)
		ev.Body = bodies[id]
		if err := s.InsertEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	downgrade(t, path, undoBodies+`PRAGMA user_version = 5`)

	s, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id, want := range bodies {
		rec, err := s.GetEvent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rec.Request.Body, want) || rec.Request.Body == nil {
			t.Errorf("%s: body %d bytes after migration, want %d", id, len(rec.Request.Body), len(want))
		}
	}
	if n := bodyRows(t, path); n != 2 {
		t.Fatalf("%d body rows after migration, want 2 (none for the empty body)", n)
	}
	// Retention removes delivered events and their bodies; purge the rest.
	if err := s.Ack(ctx, "alpha", "evt_large", nil, at, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteBefore(ctx, at.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("delete before: %d, %v", n, err)
	}
	if n := bodyRows(t, path); n != 1 {
		t.Fatalf("%d body rows after retention deleted the large event, want 1", n)
	}
	if n, err := s.PurgeEvents(ctx, store.PurgeQuery{Endpoint: "alpha", Pending: true}); err != nil || n != 2 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if n := bodyRows(t, path); n != 0 {
		t.Fatalf("%d body rows after purging every event, want 0", n)
	}
}
