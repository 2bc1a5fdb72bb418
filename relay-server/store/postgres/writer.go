package postgres

import (
	"context"
	"errors"
	"hash/fnv"
	"sort"

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
	errs, notices := w.commit(batch)
	if errs == nil {
		w.finish(batch, nil, notices)
		return
	}
	if len(batch) == 1 {
		w.finish(batch, errs, nil)
		return
	}
	for i := range batch {
		e, n := w.commit(batch[i : i+1])
		w.finish(batch[i:i+1], e, n)
	}
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
	for _, e := range endpoints {
		b.Queue("SELECT pg_advisory_xact_lock($1)", lockKey(e))
	}
	// Separate statements, after the locks: each takes its snapshot when
	// it starts, so it sees what the lock's last holder committed.
	for _, e := range endpoints {
		b.Queue("SELECT coalesce(max(seq), 0) FROM events WHERE endpoint = $1", e)
	}
	for _, o := range batch {
		if o.ins != nil {
			b.Queue(insertEvent, o.ins.args...)
		} else {
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
