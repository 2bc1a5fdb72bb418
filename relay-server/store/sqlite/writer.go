package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookctl/hookctl/relay-server/store"
)

// maxBatch bounds one group commit, so one transaction never holds the
// write lock for long.
const maxBatch = 256

// Fairness under large bodies. A batch takes large event inserts only up to
// maxBatchBytes of bodies; the rest wait, in order, for the next batch,
// while small writes join the batch being gathered. A flood of megabyte
// bodies therefore cannot queue ahead of a small webhook (to any endpoint)
// by more than one batch's worth of bytes. A write only overtakes large
// inserts that were in flight at the same time as it, whose order no sender
// could have relied on; Flush overtakes nothing.
const (
	maxBatchBytes = 4 << 20
	largeOp       = 64 << 10
)

// op is one write. done is nil for asynchronous writes.
type op struct {
	fn   func(x *txExec) error // whole or not at all; see commit
	done chan error
	// committed, when set, runs on the writer goroutine once fn's
	// statement is durable, before done is signalled.
	committed func()
	// written, when set, runs on the writer goroutine once fn's statement
	// has run without error, before its transaction commits; then
	// committed or aborted runs.
	written func()
	// aborted, when set, runs on the writer goroutine instead of
	// committed when fn's statement ran but its transaction failed.
	aborted func(error)
	// seq, for an insert into events, is where fn puts the new row's seq.
	seq *int64
	// size is the body bytes an insert writes, for batch bounds.
	size int64
	// barrier: commit only after every write queued before it (Flush).
	barrier bool
}

// write queues fn for the writer and, when wait is set, blocks until the
// transaction holding it has committed.
func (s *Store) write(ctx context.Context, wait bool, fn func(x *txExec) error) error {
	return s.send(ctx, op{fn: fn}, wait)
}

// send queues o; see write.
func (s *Store) send(ctx context.Context, o op, wait bool) error {
	if wait {
		o.done = make(chan error, 1)
		s.durable.Add(1) // the writer takes it off before o.done
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		if wait {
			s.durable.Add(-1)
		}
		return errClosed
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.mu.RUnlock()
		if wait {
			s.durable.Add(-1)
		}
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
// when several were waiting at once as the last commit ended (its own and
// those queued meanwhile): several senders are storing, and each commit
// costs a WAL write and an fsync whatever it holds. The wait ends as soon
// as that many durable writes are in, so it only spaces commits out while
// senders keep coming, and senders that were split between a commit and
// the queue behind it join one commit instead of alternating between two;
// a lone sender never waits. (PostgreSQL's commit_delay with
// commit_siblings, for the same reason.)
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
	x := &txExec{ctx: context.Background(), stmts: map[string]execStmt{}}
	defer func() {
		if conn == nil {
			return
		}
		conn.Raw(func(any) error {
			for _, st := range x.stmts {
				st.Close()
			}
			return nil
		})
		conn.Close()
	}()
	// Each seq follows the last one given out (insertEvent), so this
	// writer's inserts are numbered one after another unless another
	// process on the same file inserted in between: its events were not
	// announced (see store.Notifier).
	var lastSeq int64
	if connErr == nil {
		lastSeq, connErr = lastEventSeq(context.Background(), conn)
	}
	g := gathering{ops: s.ops, batch: batch, open: true}
	// senders is how many durable writes were waiting at once when the
	// last commit ended: its own and those queued meanwhile.
	var senders int64
	for {
		first, ok := g.next()
		if !ok {
			return
		}
		g.start(first)
		g.takeQueued()
		if g.nsync == 0 {
			// Only asynchronous writes: wait for a durable one to share
			// the commit with; once it is in, the batch is like any other.
			g.takeUntil(linger, asyncLinger, func() bool { return g.nsync > 0 })
		}
		if g.nsync > 0 && senders > 1 {
			g.takeUntil(linger, s.commitDelay, func() bool { return int64(g.nsync+g.laterSync()) >= senders })
		}
		batch = g.batch
		errs = errs[:0]
		if connErr != nil {
			errs = allFailed(errs, len(batch), connErr)
		} else {
			start := time.Now()
			var txErr error
			var seq int64
			executed := func(errs []error) {
				// Seqs are fixed once the statements have run.
				var foreign bool
				seq, foreign = insertedSeqs(batch, errs, lastSeq)
				if notify := s.notify.Load(); foreign && notify != nil {
					// Before this batch's notices: its events come after
					// the other process's in Seq order.
					(*notify)(store.Pending{})
				}
				for i, o := range batch {
					if o.written != nil && errs[i] == nil {
						o.written()
					}
				}
			}
			rawErr := conn.Raw(func(dc any) error {
				var ok bool
				if x.conn, ok = dc.(driver.ConnPrepareContext); !ok {
					return fmt.Errorf("driver connection %T cannot prepare with a context", dc)
				}
				errs, txErr = commit(x, batch, errs, executed)
				return nil
			})
			if rawErr != nil {
				errs, txErr = allFailed(errs, len(batch), rawErr), rawErr
			}
			if observe := s.observe.Load(); observe != nil {
				(*observe)(store.Commit{Writes: len(batch), Duration: time.Since(start), Err: txErr})
			}
			if txErr == nil {
				lastSeq = seq
			}
		}
		if g.nsync > 0 {
			// An asynchronous-only batch (its linger ran out) says
			// nothing about how many senders are storing.
			senders = s.durable.Load()
		}
		s.durable.Add(-int64(g.nsync))
		// Notices first, in commit (and so Seq) order, then the callers:
		// an event is announced before its InsertEvent returns.
		for i, o := range batch {
			switch {
			case errs[i] == nil && o.committed != nil:
				o.committed()
			case errs[i] != nil && o.aborted != nil:
				o.aborted(errs[i])
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
	nsync int   // durable writes in batch (done set)
	bytes int64 // body bytes in batch
	open  bool  // ops is not closed yet
	// later holds large inserts left for a later batch, in arrival order.
	later []op
}

// next is the first write of the next batch: the oldest one left for
// later, else the next queued (waiting for one). It reports false once ops
// is closed and everything is written.
func (g *gathering) next() (op, bool) {
	if len(g.later) > 0 {
		o := g.later[0]
		g.later = g.later[1:]
		return o, true
	}
	if !g.open {
		return op{}, false
	}
	o, ok := <-g.ops
	if !ok {
		g.open = false
	}
	return o, ok
}

// start begins a batch with first, then the writes left for later, as far
// as the byte bound allows.
func (g *gathering) start(first op) {
	g.batch, g.nsync, g.bytes = g.batch[:0], 0, 0
	g.put(first)
	for len(g.later) > 0 && len(g.batch) < maxBatch && g.bytes+g.later[0].size <= maxBatchBytes {
		g.put(g.later[0])
		g.later = g.later[1:]
	}
	if len(g.later) == 0 {
		g.later = nil // let the backing array go
	}
}

// add takes o into the batch, or leaves it for later when it is a large
// insert over the batch's byte bound. A barrier takes everything left for
// later first.
func (g *gathering) add(o op) {
	switch {
	case o.barrier:
		for _, l := range g.later {
			g.put(l)
		}
		g.later = nil
	case o.size >= largeOp && g.bytes > 0 && g.bytes+o.size > maxBatchBytes:
		g.later = append(g.later, o)
		return
	}
	g.put(o)
}

func (g *gathering) put(o op) {
	g.batch = append(g.batch, o)
	g.bytes += o.size
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

// laterSync is how many of the writes left for later are durable.
func (g *gathering) laterSync() int {
	n := 0
	for _, o := range g.later {
		if o.done != nil {
			n++
		}
	}
	return n
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
// It runs them on the writer's driver connection (sql.Conn.Raw) rather
// than through database/sql: its locking, argument checks and result
// wrapping on every statement were a visible share of the writer's CPU, for
// a connection that only the writer uses. For the same reason the
// transaction is begun and committed with SQL, not with database/sql's Tx,
// whose StmtContext re-prepared a statement prepared on a *sql.Conn on
// every call.
type txExec struct {
	ctx   context.Context
	conn  driver.ConnPrepareContext // valid only inside conn.Raw
	stmts map[string]execStmt
	args  []driver.NamedValue // reused: the driver copies what it binds
}

type execStmt interface {
	driver.Stmt
	driver.StmtExecContext
}

func (x *txExec) exec(query string, args ...any) (sql.Result, error) {
	st, ok := x.stmts[query]
	if !ok {
		ds, err := x.conn.PrepareContext(x.ctx, query)
		if err != nil {
			return nil, err
		}
		if st, ok = ds.(execStmt); !ok {
			ds.Close()
			return nil, fmt.Errorf("driver statement %T cannot exec with a context", ds)
		}
		x.stmts[query] = st
	}
	x.args = x.args[:0]
	for i, a := range args {
		if !driver.IsValue(a) { // an int, say: what database/sql would convert
			v, err := driver.DefaultParameterConverter.ConvertValue(a)
			if err != nil {
				return nil, fmt.Errorf("argument %d: %w", i+1, err)
			}
			a = v
		}
		x.args = append(x.args, driver.NamedValue{Ordinal: i + 1, Value: a})
	}
	res, err := st.ExecContext(x.ctx, x.args)
	clear(x.args) // the driver keeps nothing bound: neither does x (a body chunk pins its whole body)
	return res, err
}

// lastEventSeq is the last seq given out (0 for none), as insertEvent
// works it out.
func lastEventSeq(ctx context.Context, conn *sql.Conn) (int64, error) {
	var seq int64
	err := conn.QueryRowContext(ctx, "SELECT "+lastSeqExpr).Scan(&seq)
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

// txAbort is an op's failure that its statement rollback did not undo and
// that it could not undo itself: commit rolls the whole batch back.
type txAbort struct{ err error }

func (e *txAbort) Error() string { return e.err.Error() }

// endsTransaction reports whether err is one of the errors after which
// SQLite may have rolled back the whole transaction, not just the
// statement (https://www.sqlite.org/lang_transaction.html, "Response To
// Errors Within A Transaction"): a single-row insert that runs out of room
// (SQLITE_FULL) is undone that way. The batch's later writes would then
// run outside any transaction, each committed by itself, while their
// callers are told the batch failed.
func endsTransaction(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_INTERRUPT:
		return true
	}
	return false
}

// commit runs a batch in one transaction. Every op is a single statement,
// a savepoint, or undoes what it wrote when it fails (undoInsert), so a
// failing one (a constraint, say) leaves nothing without failing the
// others; one that cannot undo returns a txAbort. txErr is the
// transaction's own failure (nothing of the batch is durable then).
//
// The durable writes run first, in order, then the asynchronous ones
// (acks, responses, attempt counts), in order: executed runs between the
// two, with the errors so far, so an event's early notice (op.written)
// does not wait for updates to older events. The asynchronous writes
// update rows that exist; no caller waits on them or could see the batch
// before it commits, and every order of the two kinds within one
// transaction is one their callers, running concurrently, could have
// produced.
func commit(x *txExec, batch []op, errs []error, executed func([]error)) (_ []error, txErr error) {
	if _, err := x.exec("BEGIN IMMEDIATE"); err != nil {
		return allFailed(errs, len(batch), err), err
	}
	errs = allFailed(errs, len(batch), nil)
	run := func(i int) error {
		err := batch[i].fn(x)
		if err != nil && endsTransaction(err) {
			err = &txAbort{err}
		}
		if abort := (*txAbort)(nil); errors.As(err, &abort) {
			x.exec("ROLLBACK")
			// Not wrapped for the others: their callers must not take
			// this op's cause (a duplicate id, say) for theirs.
			others := fmt.Errorf("transaction rolled back: %v", abort.err)
			errs = allFailed(errs, len(batch), others)
			errs[i] = abort.err
			return others
		}
		errs[i] = err
		return nil
	}
	for _, async := range []bool{false, true} {
		for i, o := range batch {
			if (o.done == nil) != async {
				continue
			}
			if err := run(i); err != nil {
				return errs, err
			}
		}
		if !async {
			executed(errs)
		}
	}
	if _, err := x.exec("COMMIT"); err != nil {
		// A failed COMMIT may leave the transaction open; nothing of it
		// is durable, so end it and report the batch failed.
		x.exec("ROLLBACK")
		return allFailed(errs, len(batch), err), err
	}
	return errs, nil
}

// allFailed is errs holding err for each of a batch's n writes.
func allFailed(errs []error, n int, err error) []error {
	errs = errs[:0]
	for range n {
		errs = append(errs, err)
	}
	return errs
}
