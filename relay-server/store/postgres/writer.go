package postgres

import (
	"context"
	"errors"
	"hash/fnv"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// insert is an event insert queued for the writer.
type insert struct {
	ev      *capture.Request
	pending bool // announced once committed (InsertEvent, not InsertDelivered)
	args    []any
	seq     int64 // set by the writer
}

// mark is a delivery-state update: attempts counted (MarkSent) or an ack.
// The writer merges a batch's marks into one statement per endpoint, so an
// event sent and acked within one batch gets one new row version, and a
// batch of a hundred acks is one statement rather than a hundred.
type mark struct {
	endpoint string
	sent     []string // one delivery attempt each
	ack      string   // delivered, when not ""
	ackSent  int32    // delivery attempts of ack, counted with it
	at       int64    // ack time, Unix nanoseconds
	resp     *string  // the ack's response, JSON capture.Response
}

// markRow is one event's merged marks within a batch.
type markRow struct {
	sent  int32
	acked bool
	at    int64
	resp  *string
}

// updateMarks applies merged marks: attempts added, and an ack to a
// pending event sets it delivered with its time and (when given) its
// response, as ack did alone. The endpoint condition keeps a session to its
// own endpoint's events; the id index finds the rows.
const updateMarks = `UPDATE events e SET
	attempts = e.attempts + v.sent,
	state = CASE WHEN v.acked AND e.state = 'pending' THEN 'delivered' ELSE e.state END,
	delivered_at = CASE WHEN v.acked AND e.state = 'pending' THEN v.at ELSE e.delivered_at END,
	response = CASE WHEN v.acked AND e.state = 'pending' THEN coalesce(v.resp, e.response) ELSE e.response END
	FROM unnest($1::text[], $2::int[], $3::bool[], $4::bigint[], $5::text[]) AS v(id, sent, acked, at, resp)
	WHERE e.id = v.id AND e.endpoint = $6`

// queueMarks queues batch's marks, merged per endpoint and event, and
// returns how many results it queued. An event's first ack in the batch
// is the one applied (a second finds the event delivered already). Marks
// run before the batch's other updates: a SetResponse queued before an ack
// of the same event in one batch lands after it, which changes nothing as
// the relay uses them, since SetResponse is for events not in flight and
// the acks of those carry no response.
func queueMarks(b *pgx.Batch, batch []op) (n int) {
	type group struct {
		ids  []string
		rows map[string]*markRow
	}
	var order []string
	groups := map[string]*group{}
	row := func(endpoint, id string) *markRow {
		g := groups[endpoint]
		if g == nil {
			g = &group{rows: map[string]*markRow{}}
			groups[endpoint] = g
			order = append(order, endpoint)
		}
		r := g.rows[id]
		if r == nil {
			r = &markRow{}
			g.rows[id] = r
			g.ids = append(g.ids, id)
		}
		return r
	}
	for _, o := range batch {
		m := o.mark
		if m == nil {
			continue
		}
		for _, id := range m.sent {
			row(m.endpoint, id).sent++
		}
		if m.ack != "" {
			r := row(m.endpoint, m.ack)
			r.sent += m.ackSent
			if !r.acked {
				r.acked, r.at, r.resp = true, m.at, m.resp
			}
		}
	}
	for _, endpoint := range order {
		g := groups[endpoint]
		k := len(g.ids)
		sent, acked, at, resp := make([]int32, k), make([]bool, k), make([]int64, k), make([]*string, k)
		for i, id := range g.ids {
			r := g.rows[id]
			sent[i], acked[i], at[i], resp[i] = r.sent, r.acked, r.at, r.resp
		}
		n += queueCustom(b, updateMarks, g.ids, sent, acked, at, resp, endpoint)
	}
	return n
}

// queueCustom queues query to run with a plan made for its arguments, and
// returns how many results it queued (the query's is the second).
//
// A prepared statement switches to a generic plan after five runs and keeps
// it. For a condition on an event id and its endpoint, a generic plan made
// while the events table was small reads the endpoint's index, that is
// every event of the endpoint, and stays that way at a million events (an
// update by id took 1.5 ms at 20,000 events). Custom plans for every
// statement would cost more than they save: planning the reads of pending
// events took 120 µs a run, and their generic plans are sound.
func queueCustom(b *pgx.Batch, query string, args ...any) int {
	b.Queue("SET LOCAL plan_cache_mode = force_custom_plan")
	b.Queue(query, args...)
	b.Queue("SET LOCAL plan_cache_mode = DEFAULT")
	return 3
}

// batchWriter runs the writer's batches.
type batchWriter struct {
	s *Store
	// lastOwn is, per endpoint, the seq of this store's last insert: an
	// endpoint whose newest event before an insert is another one was
	// written to by another node, and its sessions must read the store
	// (store.Notifier).
	lastOwn map[string]int64
}

// lockKey is the advisory lock of an endpoint's inserts.
func lockKey(endpoint string) int64 {
	h := fnv.New64a()
	h.Write([]byte(endpoint))
	return int64(h.Sum64())
}

// run commits batch in one pipelined transaction, or, when it fails, each
// op in a transaction of its own, so one bad write fails only itself.
func (w *batchWriter) run(batch []op) {
	errs, notices := w.timedCommit(batch)
	if errs == nil {
		w.finish(batch, nil, notices)
		return
	}
	if len(batch) == 1 {
		w.finish(batch, errs, nil)
		return
	}
	for i := range batch {
		e, n := w.timedCommit(batch[i : i+1])
		w.finish(batch[i:i+1], e, n)
	}
}

// timedCommit is commit, reported to the store's CommitObserver fn.
func (w *batchWriter) timedCommit(batch []op) ([]error, []store.Pending) {
	observe := w.s.observe.Load()
	if observe == nil {
		return w.commit(batch)
	}
	start := time.Now()
	errs, notices := w.commit(batch)
	c := store.Commit{Writes: len(batch), Duration: time.Since(start)}
	if errs != nil {
		c.Err = errs[0]
	}
	(*observe)(c)
	return errs, notices
}

// finish announces what committed, then answers the callers: an event is
// announced before its InsertEvent returns.
func (w *batchWriter) finish(batch []op, errs []error, notices []store.Pending) {
	if notify := w.s.notify.Load(); notify != nil {
		for _, p := range notices {
			(*notify)(p)
		}
	}
	for i, o := range batch {
		if o.done == nil {
			continue
		}
		var err error
		if errs != nil {
			err = errs[i]
		}
		o.done <- err
	}
}

const insertEvent = `INSERT INTO events
	(id, endpoint, received_at, method, path, query, force_query, headers, body, host, proto, remote_addr, replay_of, state, response, delivered_at, raw)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
	ON CONFLICT (id) DO NOTHING RETURNING seq`

// commit runs batch as one transaction: the locks of the endpoints it
// inserts into (in key order, so two nodes never deadlock), each one's
// newest seq, then the ops in order. It returns nil errs when everything
// committed (an insert of an existing id is then store.ErrExists in its
// own done), or one error per op when nothing did.
func (w *batchWriter) commit(batch []op) (errs []error, notices []store.Pending) {
	ctx := context.Background()
	var endpoints []string
	seen := map[string]bool{}
	for _, o := range batch {
		if o.ins != nil && !seen[o.ins.ev.Endpoint] {
			seen[o.ins.ev.Endpoint] = true
			endpoints = append(endpoints, o.ins.ev.Endpoint)
		}
	}
	sort.Slice(endpoints, func(i, j int) bool { return lockKey(endpoints[i]) < lockKey(endpoints[j]) })
	b := &pgx.Batch{}
	// Marks touch committed events only (an event is delivered after its
	// insert commits), so they go first, before the locks: the locks are
	// then held for the inserts alone.
	nmarks := queueMarks(b, batch)
	for _, e := range endpoints {
		b.Queue("SELECT pg_advisory_xact_lock($1)", lockKey(e))
	}
	// Separate statements, after the locks: each takes its snapshot when
	// it starts, so it sees what the lock's last holder committed.
	for _, e := range endpoints {
		b.Queue("SELECT coalesce(max(seq), 0) FROM events WHERE endpoint = $1", e)
	}
	for _, o := range batch {
		switch {
		case o.ins != nil:
			b.Queue(insertEvent, o.ins.args...)
		case o.mark == nil:
			o.exec(b)
		}
	}
	fail := func(err error) ([]error, []store.Pending) {
		errs := make([]error, len(batch))
		for i := range errs {
			errs[i] = err
		}
		return errs, nil
	}
	conn, err := w.s.pool.Acquire(ctx)
	if err != nil {
		return fail(err)
	}
	defer conn.Release()
	br := conn.SendBatch(ctx, b)
	for range nmarks {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fail(err)
		}
	}
	for range endpoints {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fail(err)
		}
	}
	newest := make([]int64, len(endpoints))
	for i := range endpoints {
		if err := br.QueryRow().Scan(&newest[i]); err != nil {
			br.Close()
			return fail(err)
		}
	}
	exists := make([]bool, len(batch))
	for i, o := range batch {
		if o.ins != nil {
			err := br.QueryRow().Scan(&o.ins.seq)
			if errors.Is(err, pgx.ErrNoRows) {
				exists[i] = true
				continue
			}
			if err != nil {
				br.Close()
				return fail(err)
			}
			continue
		}
		if o.mark != nil {
			continue // applied first
		}
		var tag pgconn.CommandTag
		for k := 0; k < o.nres; k++ {
			t, err := br.Exec()
			if err != nil {
				br.Close()
				return fail(err)
			}
			if k == 0 {
				tag = t
			}
		}
		if o.check != nil {
			if err := o.check(tag); err != nil {
				br.Close()
				return fail(err)
			}
		}
	}
	// Close ends the implicit transaction: only now is the batch durable.
	if err := br.Close(); err != nil {
		return fail(err)
	}

	var wake []string
	for i, e := range endpoints {
		if last, ok := w.lastOwn[e]; !ok || last != newest[i] {
			notices = append(notices, store.Pending{Endpoint: e})
		}
	}
	for i, o := range batch {
		if o.ins == nil {
			continue
		}
		if exists[i] {
			o.done <- store.ErrExists
			batch[i].done = nil // answered
			continue
		}
		w.lastOwn[o.ins.ev.Endpoint] = o.ins.seq
		if o.ins.pending {
			notices = append(notices, store.Pending{Seq: o.ins.seq, Event: o.ins.ev})
			wake = append(wake, o.ins.ev.Endpoint)
		}
	}
	if len(wake) > 0 {
		w.s.ring(bellMsg{events: wake})
	}
	return nil, notices
}
