package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/storetest"
)

// dumpEvents is every row of events, bodies and body_chunks, in seq order.
func dumpEvents(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT seq, id, endpoint, received_at, method, path, query, headers, host, proto, remote_addr, replay_of,
			state, attempts, response, delivered_at, force_query, raw, retries, next_attempt_at FROM events ORDER BY seq`,
		`SELECT event_seq, hex(data), size FROM bodies ORDER BY event_seq`,
		`SELECT event_seq, n, hex(data) FROM body_chunks ORDER BY event_seq, n`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}

// TestMigrateSeqFloor: a database of a relay whose seqs came from
// AUTOINCREMENT (migrations up to 0007), whose newest event was deleted,
// opens with every event, body and seq as it was, no AUTOINCREMENT left,
// and its next event numbered after the deleted one.
func TestMigrateSeqFloor(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "relay.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := store.Migrations(migrations, "migrations/*.sql", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Version > 7 {
			break
		}
		if _, err := db.Exec(m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
	}
	// What the relay before 0008 wrote: events numbered by AUTOINCREMENT,
	// a body in one row, a body in chunks, none, a delivered event.
	for i, ep := range []string{"alpha", "alpha", "alpha", "beta", "beta", "beta"} {
		_, err := db.Exec(`INSERT INTO events (id, endpoint, received_at, method, path, query, headers, host, proto,
			remote_addr, state, force_query) VALUES (?, ?, ?, 'POST', '/p', 'q=1', '[]', 'h', 'https', 'r', 'pending', ?)`,
			fmt.Sprintf("evt_%d", i+1), ep, 1000+i, i%2)
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO bodies (event_seq, data) VALUES (1, x'00ff61')`,
		`INSERT INTO bodies (event_seq, data, size) VALUES (2, x'0102', 6)`,
		`INSERT INTO body_chunks (event_seq, n, data) VALUES (2, 1, x'0304'), (2, 2, x'0506')`,
		`INSERT INTO bodies (event_seq, data) VALUES (5, x'55')`,
		`UPDATE events SET state = 'delivered', attempts = 2, retries = 1, next_attempt_at = 7, delivered_at = 9,
			response = '{"status":200}' WHERE seq = 2`,
		// A purge in the middle and of the newest: AUTOINCREMENT had
		// given out 6.
		`DELETE FROM events WHERE seq IN (4, 6)`,
		`PRAGMA user_version = 7`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	before := dumpEvents(t, db)

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if after := dumpEvents(t, db); after != before {
		t.Errorf("after migration:\n%s\nbefore:\n%s", after, before)
	}
	var schema string
	if err := db.QueryRow("SELECT sql FROM sqlite_schema WHERE name = 'events'").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToUpper(schema), "AUTOINCREMENT") {
		t.Errorf("events after migration: %s", schema)
	}
	rec, err := s.GetEvent(ctx, "evt_2")
	if err != nil || !bytes.Equal(rec.Request.Body, []byte{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("chunked body after migration: %v, %v", rec, err)
	}
	ps, err := s.Pending(ctx, "alpha", 0, 10, 0)
	if err != nil || len(ps) != 2 || ps[0].Seq != 1 || ps[1].Seq != 3 {
		t.Fatalf("pending alpha after migration: %v, %v", ps, err)
	}
	if err := s.InsertEvent(ctx, storetest.Event("evt_7", "beta", time.Unix(0, 2000))); err != nil {
		t.Fatal(err)
	}
	ps, err = s.Pending(ctx, "beta", 0, 10, 0)
	if err != nil || len(ps) != 2 || ps[0].Seq != 5 || ps[1].Seq != 7 {
		t.Fatalf("pending beta after an insert = %v, %v; want seqs 5 and 7 (6 was given out)", ps, err)
	}
	// The triggers came back with the table: a purge takes bodies along.
	if n, err := s.PurgeEvents(ctx, store.PurgeQuery{Endpoint: "alpha", Pending: true}); err != nil || n != 3 {
		t.Fatalf("purge alpha: %d, %v", n, err)
	}
	if n := countRows(t, s, "bodies"); n != 2 {
		t.Errorf("%d body rows after purging alpha, want 2 (beta's)", n)
	}
	if n := countRows(t, s, "body_chunks"); n != 0 {
		t.Errorf("%d chunk rows after purging alpha, want 0", n)
	}
}
