// Package sqlite is the embedded store backend: pure-Go SQLite
// (modernc.org/sqlite, so CGO_ENABLED=0 builds) in WAL mode with
// synchronous=FULL, and group commit: one writer goroutine takes every
// queued write into a single transaction, so N concurrent senders cost one
// fsync, not N, and each caller returns only when its row is durable.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookctl/hookctl/relay-server/store"
)

var (
	_ store.Store          = (*Store)(nil)
	_ store.Notifier       = (*Store)(nil)
	_ store.CommitObserver = (*Store)(nil)
)

// Store is a SQLite-backed store.Store.
type Store struct {
	wdb *sql.DB // one connection, used only by the writer goroutine
	rdb *sql.DB // readers; WAL lets them run beside the writer

	// pending is prepared once: it runs for every batch delivered to a
	// CLI, and parsing its SQL each time cost a fifth of the relay's CPU
	// in passthrough.
	pending *sql.Stmt

	// notify is store.Notifier's fn; nil when unset.
	notify atomic.Pointer[func(store.Pending)]
	// early is store.EarlyNotifier's fns; nil when unset.
	early atomic.Pointer[earlyNotices]
	// observe is store.CommitObserver's fn; nil when unset.
	observe atomic.Pointer[func(store.Commit)]

	// path and file are the database file as opened (file nil when it
	// could not be looked at): Ping checks it is still there.
	path string
	file os.FileInfo

	// durable counts the durable writes sent and not yet answered, for
	// the commit delay (commitDelay; a field for tests).
	durable     atomic.Int64
	commitDelay time.Duration

	mu     sync.RWMutex // guards closed against sends on ops
	closed bool
	ops    chan op
	done   chan struct{}
}

// Open opens (creating if needed) the database file at path and migrates it.
func Open(path string) (*Store, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)&_txlock=immediate"
	wdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	if err := migrate(wdb); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(4)
	rdb.SetMaxIdleConns(4)
	pending, err := rdb.Prepare(pendingQuery)
	if err != nil {
		rdb.Close()
		wdb.Close()
		return nil, fmt.Errorf("prepare pending query: %w", err)
	}
	s := &Store{wdb: wdb, rdb: rdb, pending: pending, path: path, ops: make(chan op, 4*maxBatch), done: make(chan struct{}),
		commitDelay: commitDelay}
	if fi, err := os.Stat(path); err == nil {
		s.file = fi
	}
	go s.writer()
	return s, nil
}

// Close waits for queued writes and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ops)
	s.mu.Unlock()
	<-s.done
	return errors.Join(s.pending.Close(), s.rdb.Close(), s.wdb.Close())
}

var errClosed = errors.New("store closed")

// Ping implements store.Store. Beside a read, it checks that the database
// file at the path opened is still the one in use: removed or replaced (a
// data directory cleaned or restored under a running relay), the relay
// would go on writing events into a file that nothing will open again.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return errClosed
	}
	if s.file != nil {
		fi, err := os.Stat(s.path)
		if err != nil {
			return fmt.Errorf("database file: %w", err)
		}
		if !os.SameFile(fi, s.file) {
			return fmt.Errorf("database file %s was replaced since the store opened it", s.path)
		}
	}
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return nil
}

// ObserveCommits implements store.CommitObserver.
func (s *Store) ObserveCommits(fn func(store.Commit)) {
	if fn == nil {
		s.observe.Store(nil)
		return
	}
	s.observe.Store(&fn)
}

// marshalJSON encodes the headers, raw and response columns. It is
// json.Marshal with the same output, from github.com/goccy/go-json (as
// wire.Encode): every event's insert and ack encodes on the request path,
// and encoding/json's reflection was a visible share of the relay's CPU.
// Reads decode with encoding/json.
func marshalJSON(v any) ([]byte, error) { return gojson.Marshal(v) }

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
