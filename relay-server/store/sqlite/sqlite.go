// Package sqlite is the embedded store backend: pure-Go SQLite
// (modernc.org/sqlite, so CGO_ENABLED=0 builds) in WAL mode with
// synchronous=FULL, and group commit: one writer goroutine takes every
// queued write into a single transaction, so N concurrent senders cost one
// fsync, not N, and each caller returns only when its row is durable.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gojson "github.com/goccy/go-json"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxBatch bounds one group commit, so one transaction never holds the
// write lock for long.
const maxBatch = 256

var (
	_ store.Store    = (*Store)(nil)
	_ store.Notifier = (*Store)(nil)
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

	mu     sync.RWMutex // guards closed against sends on ops
	closed bool
	ops    chan op
	done   chan struct{}
}

// op is one write. done is nil for asynchronous writes.
type op struct {
	fn   func(x *txExec) error // exactly one statement
	done chan error
	// committed, when set, runs on the writer goroutine once fn's
	// statement is durable, before done is signalled.
	committed func()
	// seq, for an insert into events, is where fn puts the new row's seq.
	seq *int64
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
	s := &Store{wdb: wdb, rdb: rdb, pending: pending, ops: make(chan op, 4*maxBatch), done: make(chan struct{})}
	go s.writer()
	return s, nil
}

// migrate applies the embedded migrations newer than PRAGMA user_version.
func migrate(db *sql.DB) error {
	ctx := context.Background()
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		n, err := strconv.Atoi(strings.SplitN(path.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: bad name", name)
		}
		if n <= version {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", n)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
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

// write queues fn for the writer and, when wait is set, blocks until the
// transaction holding it has committed.
func (s *Store) write(ctx context.Context, wait bool, fn func(x *txExec) error) error {
	return s.send(ctx, op{fn: fn}, wait)
}

// send queues o; see write.
func (s *Store) send(ctx context.Context, o op, wait bool) error {
	if wait {
		o.done = make(chan error, 1)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	if !wait {
		return nil
	}
	// Once queued the write happens; waiting for it is not optional, or a
	// caller could report failure for a row that is then committed.
	return <-o.done
}

// asyncLinger is how long a batch holding only asynchronous writes (acks,
// responses, attempt counts) waits for a synchronous one to share its
// commit: those writes lose nothing by waiting, and each commit is an fsync.
const asyncLinger = 2 * time.Millisecond

// commitDelay is how long a batch holding durable writes waits for more
// when the last commit carried several: several senders are storing at
// once, and each commit costs a WAL write and an fsync whatever it holds.
// The wait ends as soon as as many durable writes as last time are in, so
// it only spaces commits out while senders keep coming; a lone sender never
// waits. (PostgreSQL's commit_delay with commit_siblings, for the same
// reason.)
const commitDelay = 500 * time.Microsecond

// writer is the one goroutine that writes. It takes whatever is queued
// (up to maxBatch) into one transaction: while one batch commits, the next
// accumulates, so concurrency turns into batching instead of fsyncs.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]op, 0, maxBatch)
	errs := make([]error, 0, maxBatch)
	linger := time.NewTimer(asyncLinger)
	linger.Stop()
	// One connection for the writer's whole life, so statements are
	// prepared once on it.
	conn, connErr := s.wdb.Conn(context.Background())
	stmts := map[string]*sql.Stmt{}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
		if conn != nil {
			conn.Close()
		}
	}()
	// Seqs come from AUTOINCREMENT, so this writer's inserts are numbered
	// one after another unless another process on the same file inserted
	// in between: its events were not announced (see store.Notifier).
	var lastSeq int64
	if connErr == nil {
		lastSeq, connErr = lastEventSeq(context.Background(), conn)
	}
	g := gathering{ops: s.ops, batch: batch}
	lastSync := 0
	for first := range s.ops {
		g.start(first)
		g.takeQueued()
		if g.nsync == 0 {
			// Only asynchronous writes: wait for a durable one to share
			// the commit with; once it is in, the batch is like any other.
			g.takeUntil(linger, asyncLinger, func() bool { return g.nsync > 0 })
		}
		if g.nsync > 0 && lastSync > 1 {
			g.takeUntil(linger, commitDelay, func() bool { return g.nsync >= lastSync })
		}
		if g.nsync > 0 {
			// An asynchronous-only batch (its linger ran out) says
			// nothing about how many senders are storing.
			lastSync = g.nsync
		}
		batch = g.batch
		errs = errs[:0]
		if connErr != nil {
			for range batch {
				errs = append(errs, connErr)
			}
		} else {
			errs = commit(conn, batch, errs, stmts)
			var foreign bool
			lastSeq, foreign = insertedSeqs(batch, errs, lastSeq)
			if notify := s.notify.Load(); foreign && notify != nil {
				// Before this batch's notices: its events come after the
				// other process's in Seq order.
				(*notify)(store.Pending{})
			}
		}
		// Notices first, in commit (and so Seq) order, then the callers:
		// an event is announced before its InsertEvent returns.
		for i, o := range batch {
			if o.committed != nil && errs[i] == nil {
				o.committed()
			}
		}
		for i, o := range batch {
			if o.done != nil {
				o.done <- errs[i]
			}
		}
	}
}

// gathering is the batch the writer is filling.
type gathering struct {
	ops   chan op
	batch []op
	nsync int  // durable writes in batch (done set)
	open  bool // ops is not closed yet
}

// start begins a batch with first.
func (g *gathering) start(first op) {
	g.batch, g.nsync, g.open = g.batch[:0], 0, true
	g.add(first)
}

func (g *gathering) add(o op) {
	g.batch = append(g.batch, o)
	if o.done != nil {
		g.nsync++
	}
}

// takeQueued adds the writes queued now, up to a full batch.
func (g *gathering) takeQueued() {
	for g.open && len(g.batch) < maxBatch {
		select {
		case o, ok := <-g.ops:
			g.receive(o, ok)
		default:
			return
		}
	}
}

// takeUntil waits up to d, on timer, for more writes, until enough reports
// true, the batch is full or ops closes.
func (g *gathering) takeUntil(timer *time.Timer, d time.Duration, enough func() bool) {
	timer.Reset(d)
	defer timer.Stop()
	for g.open && len(g.batch) < maxBatch && !enough() {
		select {
		case o, ok := <-g.ops:
			g.receive(o, ok)
		case <-timer.C:
			return
		}
	}
}

func (g *gathering) receive(o op, ok bool) {
	if !ok {
		g.open = false
		return
	}
	g.add(o)
}

// txExec runs statements of one transaction, preparing each query once per
// store.
//
// The transaction is begun and committed with SQL on the writer's
// connection rather than with database/sql's Tx: Tx.StmtContext re-prepares
// a statement that was prepared on a *sql.Conn every time it is called, so
// every write was parsed again, on the writer's critical path.
type txExec struct {
	ctx   context.Context
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

func (x *txExec) exec(query string, args ...any) (sql.Result, error) {
	st, ok := x.stmts[query]
	if !ok {
		var err error
		if st, err = x.conn.PrepareContext(x.ctx, query); err != nil {
			return nil, err
		}
		x.stmts[query] = st
	}
	return st.ExecContext(x.ctx, args...)
}

// lastEventSeq is the last seq AUTOINCREMENT gave out (0 for none).
func lastEventSeq(ctx context.Context, conn *sql.Conn) (int64, error) {
	var seq int64
	err := conn.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = 'events'").Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return seq, err
}

// insertedSeqs returns the seq of the batch's last committed insert (last
// when there is none) and whether another process inserted events since
// last: a batch is one transaction, so the gap can only be before its
// first insert.
func insertedSeqs(batch []op, errs []error, last int64) (_ int64, foreign bool) {
	first := true
	for i, o := range batch {
		if o.seq == nil || errs[i] != nil {
			continue
		}
		if first && *o.seq != last+1 {
			foreign = true
		}
		first = false
		last = *o.seq
	}
	return last, foreign
}

// commit runs a batch in one transaction. Every op is a single statement,
// so a failing one (a constraint, say) is undone by SQLite's statement
// rollback without failing the others.
func commit(conn *sql.Conn, batch []op, errs []error, stmts map[string]*sql.Stmt) []error {
	ctx := context.Background()
	x := &txExec{ctx: ctx, conn: conn, stmts: stmts}
	if _, err := x.exec("BEGIN IMMEDIATE"); err != nil {
		for range batch {
			errs = append(errs, err)
		}
		return errs
	}
	for _, o := range batch {
		errs = append(errs, o.fn(x))
	}
	if _, err := x.exec("COMMIT"); err != nil {
		// A failed COMMIT may leave the transaction open; nothing of it
		// is durable, so end it and report the batch failed.
		x.exec("ROLLBACK")
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
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

const insertEvent = `INSERT INTO events
	(id, endpoint, received_at, method, path, query, force_query, headers, body, host, proto, remote_addr, replay_of, state, response, delivered_at, raw)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func eventArgs(ev *capture.Request, state string, resp *capture.Response, deliveredAt *time.Time) ([]any, error) {
	headers := ev.Headers
	if headers == nil {
		headers = capture.Headers{}
	}
	hj, err := marshalJSON(headers)
	if err != nil {
		return nil, err
	}
	body := ev.Body
	if body == nil {
		body = []byte{}
	}
	var rj, da, raw any
	if ev.Raw != nil {
		b, err := marshalJSON(ev.Raw)
		if err != nil {
			return nil, err
		}
		raw = string(b)
	}
	if resp != nil {
		b, err := marshalJSON(resp)
		if err != nil {
			return nil, err
		}
		rj = string(b)
	}
	if deliveredAt != nil {
		da = nanos(*deliveredAt)
	}
	return []any{ev.ID, ev.Endpoint, nanos(ev.ReceivedAt), ev.Method, ev.Path, ev.Query, ev.ForceQuery, string(hj), body,
		ev.Host, ev.Proto, ev.RemoteAddr, ev.ReplayOf, state, rj, da, raw}, nil
}

// NotifyCommitted implements store.Notifier.
func (s *Store) NotifyCommitted(fn func(store.Pending)) {
	if fn == nil {
		s.notify.Store(nil)
		return
	}
	s.notify.Store(&fn)
}

// InsertEvent implements store.Store.
func (s *Store) InsertEvent(ctx context.Context, ev *capture.Request) error {
	return s.insertEvent(ctx, ev, wire.StatePending, nil, nil)
}

// InsertDelivered implements store.Store.
func (s *Store) InsertDelivered(ctx context.Context, ev *capture.Request, resp *capture.Response, at time.Time) error {
	return s.insertEvent(ctx, ev, wire.StateDelivered, resp, &at)
}

// insertEvent writes one event row and returns once it is durable.
func (s *Store) insertEvent(ctx context.Context, ev *capture.Request, state string, resp *capture.Response, deliveredAt *time.Time) error {
	args, err := eventArgs(ev, state, resp, deliveredAt)
	if err != nil {
		return fmt.Errorf("insert event %s: %w", ev.ID, err)
	}
	var seq int64
	o := op{seq: &seq, fn: func(x *txExec) error {
		res, err := x.exec(insertEvent, args...)
		if err == nil {
			// The row is in; only its announcement needs the seq.
			seq, _ = res.LastInsertId()
		}
		return err
	}}
	if notify := s.notify.Load(); notify != nil && state == wire.StatePending {
		o.committed = func() {
			if seq <= 0 {
				// Unannounceable: say the store changed unseen, so
				// sessions read it.
				(*notify)(store.Pending{})
				return
			}
			(*notify)(store.Pending{Seq: seq, Event: ev})
		}
	}
	err = s.send(ctx, o, true)
	if isUnique(err) {
		return fmt.Errorf("insert event %s: %w", ev.ID, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("insert event %s: %w", ev.ID, err)
	}
	return nil
}

const eventCols = `seq, id, endpoint, received_at, method, path, query, force_query, headers, body, host, proto, remote_addr, replay_of, state, attempts, response, delivered_at, raw`

type scanner interface{ Scan(...any) error }

func scanEvent(row scanner) (int64, *wire.EventRecord, error) {
	var (
		seq, recv, attempts int64
		headers, state      string
		resp, raw           sql.NullString
		delivered           sql.NullInt64
		ev                  capture.Request
	)
	err := row.Scan(&seq, &ev.ID, &ev.Endpoint, &recv, &ev.Method, &ev.Path, &ev.Query, &ev.ForceQuery, &headers, &ev.Body,
		&ev.Host, &ev.Proto, &ev.RemoteAddr, &ev.ReplayOf, &state, &attempts, &resp, &delivered, &raw)
	if err != nil {
		return 0, nil, err
	}
	ev.ReceivedAt = fromNanos(recv)
	if err := json.Unmarshal([]byte(headers), &ev.Headers); err != nil {
		return 0, nil, fmt.Errorf("event %s headers: %w", ev.ID, err)
	}
	if ev.Body == nil {
		ev.Body = []byte{}
	}
	if raw.Valid {
		if err := json.Unmarshal([]byte(raw.String), &ev.Raw); err != nil {
			return 0, nil, fmt.Errorf("event %s raw: %w", ev.ID, err)
		}
		ev.RestoreRaw()
	}
	rec := &wire.EventRecord{Request: &ev, State: state, Attempts: int(attempts)}
	if resp.Valid {
		rec.Response = new(capture.Response)
		if err := json.Unmarshal([]byte(resp.String), rec.Response); err != nil {
			return 0, nil, fmt.Errorf("event %s response: %w", ev.ID, err)
		}
		rec.Response.RestoreRaw() // the response's Raw is inside its JSON
	}
	if delivered.Valid {
		t := fromNanos(delivered.Int64)
		rec.DeliveredAt = &t
	}
	return seq, rec, nil
}

// GetEvent implements store.Store.
func (s *Store) GetEvent(ctx context.Context, id string) (*wire.EventRecord, error) {
	_, rec, err := scanEvent(s.rdb.QueryRowContext(ctx, "SELECT "+eventCols+" FROM events WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("event %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get event %s: %w", id, err)
	}
	return rec, nil
}

// ListEvents implements store.Store.
func (s *Store) ListEvents(ctx context.Context, q store.ListQuery) ([]wire.EventRecord, error) {
	var (
		where []string
		args  []any
	)
	if q.Endpoint != "" {
		where = append(where, "endpoint = ?")
		args = append(args, q.Endpoint)
	}
	if q.Owner != "" {
		where = append(where, "endpoint IN (SELECT name FROM endpoints WHERE owner = ?)")
		args = append(args, q.Owner)
	}
	if q.Before != "" {
		where = append(where, "seq < (SELECT seq FROM events WHERE id = ?)")
		args = append(args, q.Before)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	query := "SELECT " + eventCols + " FROM events"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY seq DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	out := []wire.EventRecord{}
	for rows.Next() {
		_, rec, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		out = append(out, *rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

const pendingQuery = "SELECT " + eventCols +
	" FROM events WHERE endpoint = ? AND state = 'pending' AND seq > ? ORDER BY seq LIMIT ?"

// Pending implements store.Store.
func (s *Store) Pending(ctx context.Context, endpoint string, after int64, limit int, maxBytes int64) ([]store.Pending, error) {
	rows, err := s.pending.QueryContext(ctx, endpoint, after, limit)
	if err != nil {
		return nil, fmt.Errorf("pending events of %s: %w", endpoint, err)
	}
	defer rows.Close()
	var (
		out  []store.Pending
		size int64
	)
	for rows.Next() {
		seq, rec, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("pending events of %s: %w", endpoint, err)
		}
		out = append(out, store.Pending{Seq: seq, Event: rec.Request})
		if size += int64(len(rec.Request.Body)); maxBytes > 0 && size >= maxBytes {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending events of %s: %w", endpoint, err)
	}
	return out, nil
}

// CountPending implements store.Store.
func (s *Store) CountPending(ctx context.Context, endpoint string) (int, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE endpoint = ? AND state = 'pending'", endpoint).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending events of %s: %w", endpoint, err)
	}
	return n, nil
}

// MarkSent implements store.Store. It is asynchronous.
func (s *Store) MarkSent(ctx context.Context, endpoint string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	// "+endpoint" keeps the planner on the id index: without statistics
	// it would otherwise scan the endpoint's events.
	query := "UPDATE events SET attempts = attempts + 1 WHERE +endpoint = ? AND id IN (?" + strings.Repeat(", ?", len(ids)-1) + ")"
	args := make([]any, 0, len(ids)+1)
	args = append(args, endpoint)
	for _, id := range ids {
		args = append(args, id)
	}
	return s.write(ctx, false, func(x *txExec) error {
		_, err := x.exec(query, args...)
		return err
	})
}

// SetResponse implements store.Store. It is asynchronous.
func (s *Store) SetResponse(ctx context.Context, endpoint, id string, resp *capture.Response) error {
	b, err := marshalJSON(resp)
	if err != nil {
		return fmt.Errorf("response of %s: %w", id, err)
	}
	return s.write(ctx, false, func(x *txExec) error {
		_, err := x.exec("UPDATE events SET response = ? WHERE id = ? AND endpoint = ?", string(b), id, endpoint)
		return err
	})
}

// Ack implements store.Store. It is asynchronous.
func (s *Store) Ack(ctx context.Context, endpoint, id string, resp *capture.Response, at time.Time) error {
	var rj any
	if resp != nil {
		b, err := marshalJSON(resp)
		if err != nil {
			return fmt.Errorf("response of %s: %w", id, err)
		}
		rj = string(b)
	}
	return s.write(ctx, false, func(x *txExec) error {
		_, err := x.exec(`UPDATE events SET state = 'delivered', delivered_at = ?, response = coalesce(?, response)
			WHERE id = ? AND endpoint = ? AND state = 'pending'`, nanos(at), rj, id, endpoint)
		return err
	})
}

// Flush implements store.Store: the writer applies ops in order, so an
// empty synchronous op commits after everything queued before it.
func (s *Store) Flush(ctx context.Context) error {
	if err := s.write(ctx, true, func(*txExec) error { return nil }); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// DeleteBefore implements store.Store.
func (s *Store) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, true, func(x *txExec) error {
		res, err := x.exec("DELETE FROM events WHERE received_at < ? AND state != 'pending'", nanos(t))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete events before %s: %w", t.Format(time.RFC3339), err)
	}
	return n, nil
}

// CreateEndpoint implements store.Store.
func (s *Store) CreateEndpoint(ctx context.Context, ep store.Endpoint) error {
	err := s.write(ctx, true, func(x *txExec) error {
		_, err := x.exec("INSERT INTO endpoints (name, owner, created_at) VALUES (?, ?, ?)", ep.Name, ep.Owner, nanos(ep.CreatedAt))
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("endpoint %s: %w", ep.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create endpoint %s: %w", ep.Name, err)
	}
	return nil
}

// GetEndpoint implements store.Store.
func (s *Store) GetEndpoint(ctx context.Context, name string) (store.Endpoint, error) {
	ep := store.Endpoint{Name: name}
	var created int64
	err := s.rdb.QueryRowContext(ctx, "SELECT owner, created_at FROM endpoints WHERE name = ?", name).Scan(&ep.Owner, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Endpoint{}, fmt.Errorf("endpoint %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Endpoint{}, fmt.Errorf("get endpoint %s: %w", name, err)
	}
	ep.CreatedAt = fromNanos(created)
	return ep, nil
}

// CreateToken implements store.Store.
func (s *Store) CreateToken(ctx context.Context, tok store.Token) error {
	err := s.write(ctx, true, func(x *txExec) error {
		_, err := x.exec("INSERT INTO tokens (id, name, hash, created_at) VALUES (?, ?, ?, ?)", tok.ID, tok.Name, tok.Hash, nanos(tok.CreatedAt))
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("token %s: %w", tok.ID, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", tok.Name, err)
	}
	return nil
}

// TokenByHash implements store.Store.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	tok := store.Token{Hash: hash}
	var created int64
	err := s.rdb.QueryRowContext(ctx, "SELECT id, name, created_at FROM tokens WHERE hash = ?", hash).Scan(&tok.ID, &tok.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("find token: %w", err)
	}
	tok.CreatedAt = fromNanos(created)
	return tok, nil
}

// ListTokens implements store.Store.
func (s *Store) ListTokens(ctx context.Context) ([]store.TokenInfo, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT t.id, t.name, t.created_at,
		(SELECT count(*) FROM endpoints e WHERE e.owner = t.id)
		FROM tokens t ORDER BY t.created_at, t.id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []store.TokenInfo{}
	for rows.Next() {
		var (
			tok     store.TokenInfo
			created int64
		)
		if err := rows.Scan(&tok.ID, &tok.Name, &created, &tok.Endpoints); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		tok.CreatedAt = fromNanos(created)
		out = append(out, tok)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken implements store.Store. The row is deleted: TokenByHash,
// which every hello and API call goes through, then finds nothing.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	var n int64
	err := s.write(ctx, true, func(x *txExec) error {
		res, err := x.exec("DELETE FROM tokens WHERE id = ?", id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("token %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// ListEndpoints implements store.Store. The counts use the events_endpoint
// and events_pending indexes; it is an operator's command, not a hot path.
func (s *Store) ListEndpoints(ctx context.Context) ([]store.EndpointInfo, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT e.name, e.owner, e.created_at, coalesce(t.name, ''),
		(SELECT count(*) FROM events v WHERE v.endpoint = e.name AND v.state = 'pending'),
		(SELECT count(*) FROM events v WHERE v.endpoint = e.name),
		(SELECT v.received_at FROM events v WHERE v.endpoint = e.name ORDER BY v.seq DESC LIMIT 1)
		FROM endpoints e LEFT JOIN tokens t ON t.id = e.owner ORDER BY e.name`)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	defer rows.Close()
	out := []store.EndpointInfo{}
	for rows.Next() {
		var (
			ep      store.EndpointInfo
			created int64
			last    sql.NullInt64
		)
		if err := rows.Scan(&ep.Name, &ep.Owner, &created, &ep.OwnerName, &ep.Pending, &ep.Events, &last); err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		ep.CreatedAt = fromNanos(created)
		if last.Valid {
			ep.LastEventAt = fromNanos(last.Int64)
		}
		out = append(out, ep)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return out, nil
}

// purgeChunk bounds the rows one purge transaction deletes, so a purge of
// millions of events never holds the write lock for long: the relay's
// writer (in this process or another sharing the file) gets its turn
// between chunks instead of waiting out its busy timeout.
const purgeChunk = 500

// PurgeEvents implements store.Store, one chunk per transaction.
func (s *Store) PurgeEvents(ctx context.Context, q store.PurgeQuery) (int64, error) {
	if q.Endpoint == "" {
		return 0, errors.New("purge events: no endpoint")
	}
	before := int64(1<<63 - 1)
	if !q.Before.IsZero() {
		before = nanos(q.Before)
	}
	const query = `DELETE FROM events WHERE seq IN (SELECT seq FROM events
		WHERE endpoint = ? AND received_at < ? AND (? OR state != 'pending') ORDER BY seq LIMIT ?)`
	var total int64
	for {
		var n int64
		err := s.write(ctx, true, func(x *txExec) error {
			res, err := x.exec(query, q.Endpoint, before, q.Pending, purgeChunk)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("purge events of %s: %w", q.Endpoint, err)
		}
		total += n
		if n < purgeChunk {
			return total, nil
		}
	}
}
