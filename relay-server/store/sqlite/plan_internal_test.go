package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// The session's read of pending events walks the partial index of pending
// events, so a long-lived endpoint's delivered history is not scanned on
// every read (a session starting from seq 0 would otherwise step over every
// delivered row).
func TestPendingUsesPendingIndex(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.rdb.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+pendingQuery, "e", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(plan, "; ")
	if !strings.Contains(all, "INDEX events_pending") {
		t.Fatalf("pending read does not use events_pending: %s", all)
	}
	if strings.Contains(all, "TEMP B-TREE") {
		t.Fatalf("pending read sorts: %s", all)
	}
}

// BenchmarkPendingAfterHistory reads the pending events of an endpoint whose
// 50,000 earlier events are delivered, from seq 0, as a new session does.
func BenchmarkPendingAfterHistory(b *testing.B) {
	const delivered, pending = 50000, 3
	s, err := Open(filepath.Join(b.TempDir(), "relay.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("sqlite", "file:"+s.path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	ins, err := tx.Prepare(`INSERT INTO events (id, endpoint, received_at, method, path, query, headers, host, proto, remote_addr, state)
		VALUES (?, 'e', 0, 'POST', '/', '', '[]', 'h', 'HTTP/1.1', '127.0.0.1:1', ?)`)
	if err != nil {
		b.Fatal(err)
	}
	for i := range delivered + pending {
		state := "delivered"
		if i >= delivered {
			state = "pending"
		}
		if _, err := ins.Exec(fmt.Sprintf("evt_%d", i), state); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		got, err := s.Pending(ctx, "e", 0, 256, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != pending {
			b.Fatalf("%d pending events, want %d", len(got), pending)
		}
	}
}
