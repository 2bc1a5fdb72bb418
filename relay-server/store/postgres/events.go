package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func eventArgs(ev *capture.Request, state string, resp *capture.Response, deliveredAt *time.Time) ([]any, error) {
	headers := ev.Headers
	if headers == nil {
		headers = capture.Headers{}
	}
	hj, err := gojson.Marshal(headers)
	if err != nil {
		return nil, err
	}
	body := ev.Body
	if body == nil {
		body = []byte{}
	}
	var rj, raw *string
	var da *int64
	if ev.Raw != nil {
		b, err := gojson.Marshal(ev.Raw)
		if err != nil {
			return nil, err
		}
		s := string(b)
		raw = &s
	}
	if resp != nil {
		b, err := gojson.Marshal(resp)
		if err != nil {
			return nil, err
		}
		s := string(b)
		rj = &s
	}
	if deliveredAt != nil {
		n := nanos(*deliveredAt)
		da = &n
	}
	return []any{ev.ID, ev.Endpoint, nanos(ev.ReceivedAt), ev.Method, []byte(ev.Path), []byte(ev.Query), ev.ForceQuery,
		string(hj), body, []byte(ev.Host), ev.Proto, ev.RemoteAddr, ev.ReplayOf, state, rj, da, raw}, nil
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

func (s *Store) insertEvent(ctx context.Context, ev *capture.Request, state string, resp *capture.Response, deliveredAt *time.Time) error {
	args, err := eventArgs(ev, state, resp, deliveredAt)
	if err != nil {
		return fmt.Errorf("insert event %s: %w", ev.ID, err)
	}
	err = s.send(ctx, op{ins: &insert{ev: ev, pending: state == wire.StatePending, args: args}}, true)
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("insert event %s: %w", ev.ID, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("insert event %s: %w", ev.ID, err)
	}
	return nil
}

const eventCols = `seq, id, endpoint, received_at, method, path, query, force_query, headers, body, host, proto, remote_addr, replay_of, state, attempts, response, delivered_at, raw, retries, next_attempt_at`

func scanEvent(row pgx.Row) (int64, *wire.EventRecord, error) {
	var (
		seq, recv         int64
		attempts, retries int32
		next              *int64
		headers, state    string
		resp, raw         *string
		delivered         *int64
		path, query, host []byte
		ev                capture.Request
	)
	err := row.Scan(&seq, &ev.ID, &ev.Endpoint, &recv, &ev.Method, &path, &query, &ev.ForceQuery, &headers, &ev.Body,
		&host, &ev.Proto, &ev.RemoteAddr, &ev.ReplayOf, &state, &attempts, &resp, &delivered, &raw, &retries, &next)
	if err != nil {
		return 0, nil, err
	}
	ev.Path, ev.Query, ev.Host = string(path), string(query), string(host)
	ev.ReceivedAt = fromNanos(recv)
	if err := json.Unmarshal([]byte(headers), &ev.Headers); err != nil {
		return 0, nil, fmt.Errorf("event %s headers: %w", ev.ID, err)
	}
	if ev.Body == nil {
		ev.Body = []byte{}
	}
	if raw != nil {
		if err := json.Unmarshal([]byte(*raw), &ev.Raw); err != nil {
			return 0, nil, fmt.Errorf("event %s raw: %w", ev.ID, err)
		}
		ev.RestoreRaw()
	}
	rec := &wire.EventRecord{Request: &ev, State: state, Attempts: int(attempts)}
	if resp != nil {
		rec.Response = new(capture.Response)
		if err := json.Unmarshal([]byte(*resp), rec.Response); err != nil {
			return 0, nil, fmt.Errorf("event %s response: %w", ev.ID, err)
		}
		rec.Response.RestoreRaw()
	}
	rec.State = wire.RecordState(state, rec.Response)
	rec.Retries = int(retries)
	if next != nil {
		t := fromNanos(*next)
		rec.NextAttemptAt = &t
	}
	if delivered != nil {
		t := fromNanos(*delivered)
		rec.DeliveredAt = &t
	}
	return seq, rec, nil
}

// GetEvent implements store.Store.
func (s *Store) GetEvent(ctx context.Context, id string) (*wire.EventRecord, error) {
	_, rec, err := scanEvent(s.pool.QueryRow(ctx, "SELECT "+eventCols+" FROM events WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("event %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get event %s: %w", id, err)
	}
	return rec, nil
}

// answerOK is wire.AnswerOK in SQL: the stored response's status is 2xx.
// The response is JSON text whose only "status" key is its top-level one
// (quotes inside strings are escaped); it is not cast to jsonb, which
// refuses \u0000.
const answerOK = `coalesce(substring(response from '"status":(\d+)')::int, 0) BETWEEN 200 AND 299`

// stateWhere is the condition of a store.ListQuery State.
var stateWhere = map[string]string{
	wire.StatePending:   "state = 'pending'",
	wire.StateDelivered: "state = 'delivered' AND " + answerOK,
	wire.StateFailed:    "(state = 'failed' OR (state = 'delivered' AND NOT (" + answerOK + ")))",
}

// cursorSeq is the seq of the event a list cursor names.
func (s *Store) cursorSeq(ctx context.Context, id string) (int64, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, "SELECT seq FROM events WHERE id = $1", id).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
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
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Endpoint != "" {
		where = append(where, "endpoint = "+arg(q.Endpoint))
	}
	if q.Owner != "" {
		where = append(where, "endpoint IN (SELECT name FROM endpoints WHERE owner = "+arg(q.Owner)+")")
	}
	if q.Before != "" {
		seq, err := s.cursorSeq(ctx, q.Before)
		if err != nil {
			return nil, err
		}
		where = append(where, "seq < "+arg(seq))
	}
	if q.After != "" {
		seq, err := s.cursorSeq(ctx, q.After)
		if err != nil {
			return nil, err
		}
		where = append(where, "seq > "+arg(seq))
	}
	if q.State != "" {
		cond, ok := stateWhere[q.State]
		if !ok {
			return nil, fmt.Errorf("list events: unknown state %q", q.State)
		}
		where = append(where, cond)
	}
	if !q.Since.IsZero() {
		where = append(where, "received_at >= "+arg(nanos(q.Since)))
	}
	if !q.Until.IsZero() {
		where = append(where, "received_at < "+arg(nanos(q.Until)))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	query := "SELECT " + eventCols + " FROM events"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	if q.OldestFirst {
		query += " ORDER BY seq LIMIT " + arg(limit)
	} else {
		query += " ORDER BY seq DESC LIMIT " + arg(limit)
	}
	rows, err := s.pool.Query(ctx, query, args...)
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

// Pending implements store.Store.
func (s *Store) Pending(ctx context.Context, endpoint string, after int64, limit int, maxBytes int64) ([]store.Pending, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+eventCols+
		" FROM events WHERE endpoint = $1 AND state = 'pending' AND seq > $2 ORDER BY seq LIMIT $3", endpoint, after, limit)
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
		out = append(out, pendingOf(seq, rec))
		if size += int64(len(rec.Request.Body)); maxBytes > 0 && size >= maxBytes {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending events of %s: %w", endpoint, err)
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
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM events WHERE endpoint = $1 AND state = 'pending'", endpoint).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending events of %s: %w", endpoint, err)
	}
	return n, nil
}

// PendingByEndpoint implements store.Store, from the events_pending index.
func (s *Store) PendingByEndpoint(ctx context.Context) ([]store.EndpointCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT endpoint, count(*) AS n FROM events WHERE state = 'pending'
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
	return s.send(ctx, op{mark: &mark{endpoint: endpoint, sent: ids}}, false)
}

// SetResponse implements store.Store. It is asynchronous.
func (s *Store) SetResponse(ctx context.Context, endpoint, id string, resp *capture.Response) error {
	j, err := gojson.Marshal(resp)
	if err != nil {
		return fmt.Errorf("response of %s: %w", id, err)
	}
	return s.send(ctx, op{nres: 3, exec: func(b *pgx.Batch) {
		queueCustom(b, "UPDATE events SET response = $1 WHERE id = $2 AND endpoint = $3", string(j), id, endpoint)
	}}, false)
}

// Retry implements store.Store. It is asynchronous.
func (s *Store) Retry(ctx context.Context, endpoint, id string, resp *capture.Response, next time.Time) error {
	j, err := gojson.Marshal(resp)
	if err != nil {
		return fmt.Errorf("response of %s: %w", id, err)
	}
	return s.send(ctx, op{nres: 3, exec: func(b *pgx.Batch) {
		queueCustom(b, `UPDATE events SET response = $1, retries = retries + 1, next_attempt_at = $2
			WHERE id = $3 AND endpoint = $4 AND state = 'pending'`, string(j), nanos(next), id, endpoint)
	}}, false)
}

// Ack implements store.Store. It is asynchronous.
func (s *Store) Ack(ctx context.Context, endpoint, id string, resp *capture.Response, at time.Time, sent int) error {
	m := &mark{endpoint: endpoint, ack: id, at: nanos(at), ackSent: int32(sent)}
	if resp != nil {
		b, err := gojson.Marshal(resp)
		if err != nil {
			return fmt.Errorf("response of %s: %w", id, err)
		}
		str := string(b)
		m.resp = &str
	}
	return s.send(ctx, op{mark: m}, false)
}

// Flush implements store.Store: the writer applies ops in order, so an
// empty synchronous op commits after everything queued before it.
func (s *Store) Flush(ctx context.Context) error {
	if err := s.send(ctx, op{exec: func(*pgx.Batch) {}}, true); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// DeleteBefore implements store.Store.
func (s *Store) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM events WHERE received_at < $1 AND state != 'pending'", nanos(t))
	if err != nil {
		return 0, fmt.Errorf("delete events before %s: %w", t.Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}

// purgeChunk bounds the rows one purge transaction deletes, so a large
// purge never holds row locks for long.
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
		WHERE endpoint = $1 AND received_at < $2 AND ($3 OR state != 'pending') ORDER BY seq LIMIT $4)`
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, query, q.Endpoint, before, q.Pending, purgeChunk)
		if err != nil {
			return total, fmt.Errorf("purge events of %s: %w", q.Endpoint, err)
		}
		n := tag.RowsAffected()
		total += n
		if n < purgeChunk {
			return total, nil
		}
	}
}

// isUnique reports a unique violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
