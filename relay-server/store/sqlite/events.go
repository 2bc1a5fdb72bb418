package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// insertEvent gives the event the seq after every seq given out before,
// including those of events deleted since (migrations/0008_seq_floor.sql):
// two lookups of a b-tree's last cell, in pages the insert is about to
// write anyway. It is worked out in the statement, not kept by the writer,
// so it holds for whatever another process sharing the file inserted or
// deleted.
const insertEvent = `INSERT INTO events
	(seq, id, endpoint, received_at, method, path, query, force_query, headers, host, proto, remote_addr, replay_of, state, response, delivered_at, raw)
	VALUES (` + lastSeqExpr + ` + 1,
	?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// lastSeqExpr is the last seq given out (0 for none): that of the newest event,
// or of a newer one deleted since.
const lastSeqExpr = `max(coalesce((SELECT max(seq) FROM events), 0), (SELECT seq FROM event_seq_floor))`

func eventArgs(ev *capture.Request, state string, resp *capture.Response, deliveredAt *time.Time) ([]any, error) {
	headers := ev.Headers
	if headers == nil {
		headers = capture.Headers{}
	}
	hj, err := marshalJSON(headers)
	if err != nil {
		return nil, err
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
	return []any{ev.ID, ev.Endpoint, nanos(ev.ReceivedAt), ev.Method, ev.Path, ev.Query, ev.ForceQuery, string(hj),
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

// earlyNotices are store.EarlyNotifier's fns.
type earlyNotices struct {
	written func(store.Pending)
	failed  func(store.Pending, error)
}

// NotifyWritten implements store.EarlyNotifier.
func (s *Store) NotifyWritten(written func(store.Pending), failed func(store.Pending, error)) {
	if written == nil || failed == nil {
		s.early.Store(nil)
		return
	}
	s.early.Store(&earlyNotices{written: written, failed: failed})
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
	// insertRow writes the event's row; wrote reports it was written even
	// when its seq could not be read.
	insertRow := func(x *txExec) (wrote bool, err error) {
		res, err := x.exec(insertEvent, args...)
		if err != nil {
			return false, err
		}
		seq, err = res.LastInsertId()
		return true, err
	}
	// The event and its body rows take effect together or not at all: an
	// event without its body must never be stored.
	o := op{seq: &seq, size: int64(len(ev.Body)), fn: func(x *txExec) error {
		_, err := insertRow(x)
		return err
	}}
	switch {
	case len(ev.Body) > chunkSize:
		o.fn = func(x *txExec) error {
			return savepoint(x, func() error {
				if _, err := insertRow(x); err != nil {
					return err
				}
				return insertBodyRows(x, seq, ev.Body)
			})
		}
	case len(ev.Body) > 0:
		// One body row: its failed insert is undone by SQLite's statement
		// rollback, which leaves only the event's row to undo. A savepoint
		// around the two cost two more statements, and a copy of every
		// page they touched, on every event.
		o.fn = func(x *txExec) error {
			if wrote, err := insertRow(x); err != nil {
				if wrote {
					return &txAbort{err} // a row whose seq is unknown
				}
				return err
			}
			if err := insertBodyRows(x, seq, ev.Body); err != nil {
				return undoInsert(x, seq, err)
			}
			return nil
		}
	}
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
		if early := s.early.Load(); early != nil {
			var wrote bool // on the writer goroutine, like both calls
			o.written = func() {
				if seq > 0 {
					wrote = true
					early.written(store.Pending{Seq: seq, Event: ev})
				}
			}
			o.aborted = func(err error) {
				if wrote {
					early.failed(store.Pending{Seq: seq, Event: ev}, err)
				}
			}
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

// eventCols are read from eventsFrom, which joins each event's body.
const eventCols = `seq, id, endpoint, received_at, method, path, query, force_query, headers, data, host, proto, remote_addr, replay_of, state, attempts, response, delivered_at, raw, retries, next_attempt_at, bodies.size`

const eventsFrom = ` FROM events LEFT JOIN bodies ON event_seq = seq`

type scanner interface{ Scan(...any) error }

// scanEvent reads one event. A chunked body is read only up to its first
// chunk: size, then, is the whole body's, for readChunks.
func scanEvent(row scanner) (seq int64, _ *wire.EventRecord, size int64, _ error) {
	var (
		recv, attempts, retries int64
		headers, state          string
		resp, raw               sql.NullString
		delivered, next, whole  sql.NullInt64
		ev                      capture.Request
	)
	err := row.Scan(&seq, &ev.ID, &ev.Endpoint, &recv, &ev.Method, &ev.Path, &ev.Query, &ev.ForceQuery, &headers, &ev.Body,
		&ev.Host, &ev.Proto, &ev.RemoteAddr, &ev.ReplayOf, &state, &attempts, &resp, &delivered, &raw, &retries, &next, &whole)
	if err != nil {
		return 0, nil, 0, err
	}
	if whole.Valid && whole.Int64 > int64(len(ev.Body)) {
		size = whole.Int64
	}
	ev.ReceivedAt = fromNanos(recv)
	if err := json.Unmarshal([]byte(headers), &ev.Headers); err != nil {
		return 0, nil, 0, fmt.Errorf("event %s headers: %w", ev.ID, err)
	}
	if ev.Body == nil {
		ev.Body = []byte{}
	}
	if raw.Valid {
		if err := json.Unmarshal([]byte(raw.String), &ev.Raw); err != nil {
			return 0, nil, 0, fmt.Errorf("event %s raw: %w", ev.ID, err)
		}
		ev.RestoreRaw()
	}
	rec := &wire.EventRecord{Request: &ev, State: state, Attempts: int(attempts)}
	if resp.Valid {
		rec.Response = new(capture.Response)
		if err := json.Unmarshal([]byte(resp.String), rec.Response); err != nil {
			return 0, nil, 0, fmt.Errorf("event %s response: %w", ev.ID, err)
		}
		rec.Response.RestoreRaw() // the response's Raw is inside its JSON
	}
	rec.State = wire.RecordState(state, rec.Response)
	rec.Retries = int(retries)
	if next.Valid {
		t := fromNanos(next.Int64)
		rec.NextAttemptAt = &t
	}
	if delivered.Valid {
		t := fromNanos(delivered.Int64)
		rec.DeliveredAt = &t
	}
	return seq, rec, size, nil
}

// GetEvent implements store.Store.
func (s *Store) GetEvent(ctx context.Context, id string) (*wire.EventRecord, error) {
	seq, rec, size, err := scanEvent(s.rdb.QueryRowContext(ctx, "SELECT "+eventCols+eventsFrom+" WHERE id = ?", id))
	if err == nil && size > 0 {
		err = s.readRest(ctx, chunked{seq: seq, ev: rec.Request, size: size})
	}
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, errGone) {
		return nil, fmt.Errorf("event %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get event %s: %w", id, err)
	}
	return rec, nil
}

// answerOK is wire.AnswerOK in SQL: the stored response's status is 2xx.
const answerOK = "coalesce(json_extract(response, '$.status'), 0) BETWEEN 200 AND 299"

// stateWhere is the condition of a store.ListQuery State.
var stateWhere = map[string]string{
	wire.StatePending:   "state = 'pending'",
	wire.StateDelivered: "state = 'delivered' AND " + answerOK,
	wire.StateFailed:    "(state = 'failed' OR (state = 'delivered' AND NOT (" + answerOK + ")))",
}

// cursorSeq is the seq of the event a list cursor names.
func (s *Store) cursorSeq(ctx context.Context, id string) (int64, error) {
	var seq int64
	err := s.rdb.QueryRowContext(ctx, "SELECT seq FROM events WHERE id = ?", id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("list events: cursor %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("list events: cursor %s: %w", id, err)
	}
	return seq, nil
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
		seq, err := s.cursorSeq(ctx, q.Before)
		if err != nil {
			return nil, err
		}
		where = append(where, "seq < ?")
		args = append(args, seq)
	}
	if q.After != "" {
		seq, err := s.cursorSeq(ctx, q.After)
		if err != nil {
			return nil, err
		}
		where = append(where, "seq > ?")
		args = append(args, seq)
	}
	if q.State != "" {
		cond, ok := stateWhere[q.State]
		if !ok {
			return nil, fmt.Errorf("list events: unknown state %q", q.State)
		}
		where = append(where, cond)
	}
	if !q.Since.IsZero() {
		where = append(where, "received_at >= ?")
		args = append(args, nanos(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "received_at < ?")
		args = append(args, nanos(q.Until))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	query := "SELECT " + eventCols + eventsFrom
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	if q.OldestFirst {
		query += " ORDER BY seq LIMIT ?"
	} else {
		query += " ORDER BY seq DESC LIMIT ?"
	}
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	out := []wire.EventRecord{}
	var (
		cs   []chunked
		seqs []int64
	)
	for rows.Next() {
		seq, rec, size, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		if size > 0 {
			cs = append(cs, chunked{seq: seq, ev: rec.Request, size: size})
		}
		out = append(out, *rec)
		seqs = append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	rows.Close()
	gone, err := s.readChunks(ctx, cs)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if gone != nil {
		kept := out[:0]
		for i, rec := range out {
			if !gone[seqs[i]] {
				kept = append(kept, rec)
			}
		}
		out = kept
	}
	return out, nil
}

// pendingQuery reads through the partial index of pending events: without
// statistics SQLite prefers events_endpoint, which steps over every delivered
// row of the endpoint after the cursor (all its history for a session that
// starts from seq 0).
const pendingQuery = "SELECT " + eventCols + " FROM events INDEXED BY events_pending LEFT JOIN bodies ON event_seq = seq" +
	" WHERE endpoint = ? AND state = 'pending' AND seq > ? ORDER BY seq LIMIT ?"

// Pending implements store.Store.
func (s *Store) Pending(ctx context.Context, endpoint string, after int64, limit int, maxBytes int64) ([]store.Pending, error) {
	rows, err := s.pending.QueryContext(ctx, endpoint, after, limit)
	if err != nil {
		return nil, fmt.Errorf("pending events of %s: %w", endpoint, err)
	}
	defer rows.Close()
	var (
		out   []store.Pending
		cs    []chunked
		total int64
	)
	for rows.Next() {
		seq, rec, size, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("pending events of %s: %w", endpoint, err)
		}
		out = append(out, pendingOf(seq, rec))
		if size > 0 {
			cs = append(cs, chunked{seq: seq, ev: rec.Request, size: size})
		} else {
			size = int64(len(rec.Request.Body))
		}
		if total += size; maxBytes > 0 && total >= maxBytes {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending events of %s: %w", endpoint, err)
	}
	rows.Close()
	gone, err := s.readChunks(ctx, cs)
	if err != nil {
		return nil, fmt.Errorf("pending events of %s: %w", endpoint, err)
	}
	if gone != nil {
		out = slices.DeleteFunc(out, func(p store.Pending) bool { return gone[p.Seq] })
	}
	return out, nil
}

// pendingOf is a pending event's record as Pending reports it.
func pendingOf(seq int64, rec *wire.EventRecord) store.Pending {
	p := store.Pending{Seq: seq, Event: rec.Request, Retries: rec.Retries}
	if rec.NextAttemptAt != nil {
		p.NextAttempt = *rec.NextAttemptAt
	}
	return p
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

// PendingByEndpoint implements store.Store, from the events_pending index.
func (s *Store) PendingByEndpoint(ctx context.Context) ([]store.EndpointCount, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT endpoint, count(*) AS n FROM events WHERE state = 'pending'
		GROUP BY endpoint ORDER BY n DESC, endpoint`)
	if err != nil {
		return nil, fmt.Errorf("count pending events: %w", err)
	}
	defer rows.Close()
	out := []store.EndpointCount{}
	for rows.Next() {
		var c store.EndpointCount
		if err := rows.Scan(&c.Endpoint, &c.Count); err != nil {
			return nil, fmt.Errorf("count pending events: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count pending events: %w", err)
	}
	return out, nil
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

// Retry implements store.Store. It is asynchronous.
func (s *Store) Retry(ctx context.Context, endpoint, id string, resp *capture.Response, next time.Time) error {
	b, err := marshalJSON(resp)
	if err != nil {
		return fmt.Errorf("response of %s: %w", id, err)
	}
	return s.write(ctx, false, func(x *txExec) error {
		_, err := x.exec(`UPDATE events SET response = ?, retries = retries + 1, next_attempt_at = ?
			WHERE id = ? AND endpoint = ? AND state = 'pending'`, string(b), nanos(next), id, endpoint)
		return err
	})
}

// ackQuery marks a pending event delivered. With attempts to count (?1 >
// 0) it updates an event already delivered too, its attempts only; the
// CASEs read the row as it was.
const ackQuery = `UPDATE events SET attempts = attempts + ?1, state = 'delivered',
	delivered_at = CASE WHEN state = 'pending' THEN ?2 ELSE delivered_at END,
	response = CASE WHEN state = 'pending' THEN coalesce(?3, response) ELSE response END
	WHERE id = ?4 AND endpoint = ?5 AND (state = 'pending' OR ?1 > 0)`

// Ack implements store.Store. It is asynchronous.
func (s *Store) Ack(ctx context.Context, endpoint, id string, resp *capture.Response, at time.Time, sent int) error {
	var rj any
	if resp != nil {
		b, err := marshalJSON(resp)
		if err != nil {
			return fmt.Errorf("response of %s: %w", id, err)
		}
		rj = string(b)
	}
	return s.write(ctx, false, func(x *txExec) error {
		_, err := x.exec(ackQuery, sent, nanos(at), rj, id, endpoint)
		return err
	})
}

// Flush implements store.Store: an empty synchronous barrier, which
// commits after everything queued before it (gathering.add).
func (s *Store) Flush(ctx context.Context) error {
	if err := s.send(ctx, op{barrier: true, fn: func(*txExec) error { return nil }}, true); err != nil {
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
