// Package postgres is the store backend for several relay nodes sharing one
// PostgreSQL database (github.com/jackc/pgx/v5). It is store.Store,
// store.Notifier and store.Cluster.
//
// Writes that a sender waits for go through one writer goroutine per node
// that groups whatever is queued into one pipelined transaction (group
// commit, as the SQLite store does). Inserts of an endpoint hold a
// transaction-scoped advisory lock on it until they commit, so within an
// endpoint sequence numbers are handed out in commit order: a reader that
// follows a cursor never skips an event that commits late. Other nodes hear
// of new events through NOTIFY, sent after the commit and coalesced (see
// cluster.go); the database stays the queue.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookctl/hookctl/relay-server/store"
)

var (
	_ store.Store          = (*Store)(nil)
	_ store.Notifier       = (*Store)(nil)
	_ store.Cluster        = (*Store)(nil)
	_ store.CommitObserver = (*Store)(nil)
)

// maxBatch bounds one group commit.
const maxBatch = 256

// Options tune a Store; zero values mean the defaults.
type Options struct {
	// LeaseTTL is how long a lease lives without renewal: after a node
	// dies, senders on other nodes stop waiting for its CLI's answers
	// after at most this. Default 15s; leases are renewed every third.
	LeaseTTL time.Duration
	// Poll is the safety net under NOTIFY: this often, every endpoint with
	// a session on this node and pending events is woken. Default 5s.
	Poll time.Duration
	// MaxConns bounds the connection pool; default 16.
	MaxConns int32
}

// Store is a PostgreSQL-backed store.
type Store struct {
	pool *pgxpool.Pool
	node string
	opts Options

	notify  atomic.Pointer[func(store.Pending)]
	observe atomic.Pointer[func(store.Commit)] // store.CommitObserver's fn

	mu     sync.RWMutex // guards closed against sends on ops
	closed bool
	ops    chan op
	done   chan struct{}

	// bell carries wake-ups and responses for other nodes to the
	// notifier goroutine, which sends them after the commit, coalesced.
	bell     chan bellMsg
	bellDone chan struct{}

	leaseMu sync.Mutex
	leases  map[string]string // endpoint → session, the leases this node holds
}

// op is one write of the writer's batch.
type op struct {
	ins  *insert // an event insert, or
	mark *mark   // a delivery-state update, or
	exec func(b *pgx.Batch)
	// nres is how many results exec queued; check, when set, reads the
	// first (the others are discarded).
	nres  int
	check func(pgconn.CommandTag) error
	done  chan error // nil for asynchronous writes
}

// Open connects to the database at url (postgres://...), migrates it and
// starts the writer. Several nodes may open the same database at once.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 15 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", redact(cfg), err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var b [6]byte
	rand.Read(b[:])
	s := &Store{
		pool:     pool,
		node:     "node_" + hex.EncodeToString(b[:]),
		opts:     opts,
		ops:      make(chan op, 4*maxBatch),
		done:     make(chan struct{}),
		bell:     make(chan bellMsg, 4096),
		bellDone: make(chan struct{}),
		leases:   map[string]string{},
	}
	go s.writer()
	go s.ringer()
	return s, nil
}

func redact(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database)
}

// Node implements store.Cluster.
func (s *Store) Node() string { return s.node }

// Close waits for queued writes, gives up this node's leases and closes
// the pool.
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
	close(s.bell)
	<-s.bellDone
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.pool.Exec(ctx, "DELETE FROM endpoint_leases WHERE node = $1", s.node)
	s.pool.Close()
	return err
}

var errClosed = errors.New("store closed")

// Ping implements store.Store: a connection of the pool (a new one when
// none is idle) answers an empty statement.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return errClosed
	}
	return s.pool.Ping(ctx)
}

// ObserveCommits implements store.CommitObserver.
func (s *Store) ObserveCommits(fn func(store.Commit)) {
	if fn == nil {
		s.observe.Store(nil)
		return
	}
	s.observe.Store(&fn)
}

// send queues o for the writer and, when wait is set, blocks until the
// transaction holding it has committed.
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
	// Once queued the write happens: the caller learns its outcome.
	return <-o.done
}

// asyncLinger is how long a batch of asynchronous writes only (acks,
// responses, attempt counts) waits for a durable one to share its commit.
const asyncLinger = 2 * time.Millisecond

// writer is the one goroutine that writes events. It takes whatever is
// queued into one pipelined transaction: while one batch commits, the next
// accumulates.
func (s *Store) writer() {
	defer close(s.done)
	w := &batchWriter{s: s, lastOwn: map[string]int64{}}
	linger := time.NewTimer(asyncLinger)
	linger.Stop()
	batch := make([]op, 0, maxBatch)
	for first := range s.ops {
		batch = append(batch[:0], first)
		nsync := 0
		if first.done != nil {
			nsync++
		}
		open := true
	gather:
		for open && len(batch) < maxBatch {
			select {
			case o, ok := <-s.ops:
				if !ok {
					open = false
					break gather
				}
				batch = append(batch, o)
				if o.done != nil {
					nsync++
				}
			default:
				if nsync > 0 {
					break gather
				}
				linger.Reset(asyncLinger)
				select {
				case o, ok := <-s.ops:
					linger.Stop()
					if !ok {
						open = false
						break gather
					}
					batch = append(batch, o)
					if o.done != nil {
						nsync++
					}
				case <-linger.C:
					break gather
				}
			}
		}
		w.run(batch)
	}
}
