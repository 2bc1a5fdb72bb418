package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// walSize is the size of the store's write-ahead log.
func walSize(t *testing.T, s *Store) int64 {
	t.Helper()
	fi, err := os.Stat(s.path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// Marking large events sent and acking them writes a few pages per event,
// not their bodies again: the log (never checkpointed here, so it only
// grows) takes far less than one body per write.
func TestAckDoesNotRewriteBody(t *testing.T) {
	const (
		n    = 8
		size = 1 << 20
	)
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// On the writer's one connection (the writer goroutine holds it for
	// its whole life, so it must run there, not through s.wdb, which
	// would wait for that connection forever): with no automatic
	// checkpoint the log is never restarted, so its size counts every
	// page written.
	err = s.write(ctx, true, func(x *txExec) error {
		_, err := x.exec("PRAGMA wal_autocheckpoint = 0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("b"), size)
	var ids []string
	for i := range n {
		ev := &capture.Request{ID: fmt.Sprintf("ev%d", i), Endpoint: "big", ReceivedAt: time.Now(),
			Method: "POST", Path: "/", Body: body}
		if err := s.InsertEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	before := walSize(t, s)
	if before < n*size {
		t.Fatalf("log holds %d bytes after %d inserts of %d: not counting pages", before, n, size)
	}
	for range 3 { // attempts 0 → 3 changes the integer's stored width
		if err := s.MarkSent(ctx, "big", ids); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		resp := &capture.Response{Status: 200, Body: []byte("ok")}
		if err := s.Ack(ctx, "big", id, resp, time.Now(), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	grew := walSize(t, s) - before
	t.Logf("%d inserts of %d bytes: log %d bytes; 3 mark-sent rounds and %d acks: %d more", n, size, before, n, grew)
	if grew >= size {
		t.Errorf("mark-sent and acks of %d events of %d bytes wrote %d bytes of log: bodies rewritten", n, size, grew)
	}
	for _, id := range ids {
		rec, err := s.GetEvent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rec.Request.Body, body) || rec.State != "delivered" || rec.Attempts != 3 {
			t.Fatalf("event %s after acks: state %s, attempts %d, body %d bytes", id, rec.State, rec.Attempts, len(rec.Request.Body))
		}
	}
}
