package sqlite_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/relay-server/store/storetest"
)

// TestMigrateRaw: a database from before the raw column (migration 0004)
// opens, keeps its events, and stores raw bytes from then on; 0005
// (retries) and 0006 (bodies) apply on top.
func TestMigrateRaw(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEvent(ctx, storetest.Event("evt_old", "alpha", at)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Back to the schema of an older relay.
	downgrade(t, path, undoBodies+`ALTER TABLE events DROP COLUMN raw; ALTER TABLE events DROP COLUMN retries;
		ALTER TABLE events DROP COLUMN next_attempt_at; PRAGMA user_version = 3`)

	s, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec, err := s.GetEvent(ctx, "evt_old")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Request.Raw != nil || !bytes.Equal(rec.Request.Body, []byte{0, 1, 2, 0xff, 0xfe, 'a'}) || rec.Request.Path != "/hooks/a%2Fb/c" || rec.Retries != 0 || rec.NextAttemptAt != nil {
		t.Errorf("old event read back as %+v", rec.Request)
	}
	ev := storetest.Event("evt_new", "alpha", at)
	ev.Path = "/caf\xe9"
	ev.SetRaw()
	if err := s.InsertEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.GetEvent(ctx, "evt_new"); err != nil || rec.Request.Path != "/caf\xe9" {
		t.Errorf("new event: %v, %v", rec, err)
	}
}
