package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// NOTIFY channels. Payloads name things; the database holds the data.
const (
	// chanEvents: "<node>\t<endpoint>\t<endpoint>..." after a commit of new
	// pending events.
	chanEvents = "hookctl_events"
	// chanLeases: "<node>\t<endpoint>\t<session>": that node's session
	// lost the endpoint to a newer claim.
	chanLeases = "hookctl_leases"
	// chanResponses: a responseMsg in JSON, for whichever node has the
	// sender waiting.
	chanResponses = "hookctl_responses"
)

// maxPayload keeps NOTIFY payloads under PostgreSQL's 8,000 bytes.
const maxPayload = 7800

// bellMsg is one thing for the ringer to tell the other nodes.
type bellMsg struct {
	events []string // endpoints with newly committed pending events
	resp   *responseMsg
}

type responseMsg struct {
	Endpoint string            `json:"e"`
	ID       string            `json:"i"`
	Response *capture.Response `json:"r,omitempty"`
	// Ref: the response was too large for a payload; it is in the row.
	Ref bool `json:"ref,omitempty"`
}

// ring queues a wake-up for other nodes. It never blocks the writer: when
// the queue is full the wake-up is dropped, and the other nodes' safety
// poll (Options.Poll) finds the events instead.
func (s *Store) ring(m bellMsg) {
	select {
	case s.bell <- m:
	default:
	}
}

// ringer sends what is queued on bell, coalesced: each round sends every
// endpoint once, in one transaction with the responses queued with it.
func (s *Store) ringer() {
	defer close(s.bellDone)
	for first := range s.bell {
		msgs := []bellMsg{first}
	more:
		for len(msgs) < maxBatch {
			select {
			case m, ok := <-s.bell:
				if !ok {
					break more
				}
				msgs = append(msgs, m)
			default:
				break more
			}
		}
		s.sendBell(msgs)
	}
}

func (s *Store) sendBell(msgs []bellMsg) error {
	b := &pgx.Batch{}
	seen := map[string]bool{}
	payload := s.node
	for _, m := range msgs {
		for _, e := range m.events {
			if seen[e] {
				continue
			}
			seen[e] = true
			if len(payload)+1+len(e) > maxPayload {
				b.Queue("SELECT pg_notify($1, $2)", chanEvents, payload)
				payload = s.node
			}
			payload += "\t" + e
		}
		if m.resp != nil {
			j, err := gojson.Marshal(m.resp)
			if err != nil {
				return err
			}
			if len(j) > maxPayload {
				// In the row first; the notice, delivered at commit, points
				// at it.
				rj, err := gojson.Marshal(m.resp.Response)
				if err != nil {
					return err
				}
				queueCustom(b, "UPDATE events SET response = $1 WHERE id = $2 AND endpoint = $3", string(rj), m.resp.ID, m.resp.Endpoint)
				j, _ = gojson.Marshal(responseMsg{Endpoint: m.resp.Endpoint, ID: m.resp.ID, Ref: true})
			}
			b.Queue("SELECT pg_notify($1, $2)", chanResponses, string(j))
		}
	}
	if payload != s.node {
		b.Queue("SELECT pg_notify($1, $2)", chanEvents, payload)
	}
	if b.Len() == 0 {
		return nil
	}
	// Notifications need no durability, and NOTIFY gives its transaction
	// an id, so a synchronous commit would wait for a WAL flush on the way
	// of every cross-node answer. A large response's row update rides
	// along: the sender has its answer either way.
	b.Queue("SET LOCAL synchronous_commit = off")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.pool.SendBatch(ctx, b).Close()
}

// PublishResponse implements store.Cluster. It queues the response for
// the ringer and returns: a sender whose answer is lost (the database
// unreachable) gets its 202 at the reply timeout, as with a slow app.
func (s *Store) PublishResponse(ctx context.Context, endpoint, id string, resp *capture.Response) error {
	m := bellMsg{resp: &responseMsg{Endpoint: endpoint, ID: id, Response: resp}}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	select {
	case s.bell <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Claim implements store.Cluster.
func (s *Store) Claim(ctx context.Context, l store.Lease) (store.Lease, error) {
	reply, err := gojson.Marshal(l.Reply)
	if err != nil {
		return l, err
	}
	l.Node = s.node
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Serialises claims of the endpoint, including its first.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("lease\x00"+l.Endpoint)); err != nil {
			return err
		}
		var oldSession, oldNode string
		err := tx.QueryRow(ctx, "SELECT session, node FROM endpoint_leases WHERE endpoint = $1", l.Endpoint).Scan(&oldSession, &oldNode)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		err = tx.QueryRow(ctx, `INSERT INTO endpoint_leases (endpoint, session, node, epoch, reply, expires_at)
			VALUES ($1, $2, $3, 1, $4, now() + $5::interval)
			ON CONFLICT (endpoint) DO UPDATE SET session = excluded.session, node = excluded.node,
				epoch = endpoint_leases.epoch + 1, reply = excluded.reply, expires_at = excluded.expires_at
			RETURNING epoch, expires_at`,
			l.Endpoint, l.Session, s.node, string(reply), s.opts.LeaseTTL.String()).Scan(&l.Epoch, &l.Expires)
		if err != nil {
			return err
		}
		if oldSession != "" && oldSession != l.Session {
			_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", chanLeases, oldNode+"\t"+l.Endpoint+"\t"+oldSession)
		}
		return err
	})
	if err != nil {
		return l, fmt.Errorf("claim endpoint %s: %w", l.Endpoint, err)
	}
	s.leaseMu.Lock()
	s.leases[l.Endpoint] = l.Session
	s.leaseMu.Unlock()
	return l, nil
}

// Release implements store.Cluster.
func (s *Store) Release(ctx context.Context, endpoint, session string) error {
	s.leaseMu.Lock()
	if s.leases[endpoint] == session {
		delete(s.leases, endpoint)
	}
	s.leaseMu.Unlock()
	if _, err := s.pool.Exec(ctx, "DELETE FROM endpoint_leases WHERE endpoint = $1 AND session = $2", endpoint, session); err != nil {
		return fmt.Errorf("release endpoint %s: %w", endpoint, err)
	}
	return nil
}

// Lease implements store.Cluster.
func (s *Store) Lease(ctx context.Context, endpoint string) (store.Lease, error) {
	l := store.Lease{Endpoint: endpoint}
	var reply string
	err := s.pool.QueryRow(ctx, `SELECT session, node, epoch, reply, expires_at FROM endpoint_leases
		WHERE endpoint = $1 AND expires_at > now()`, endpoint).Scan(&l.Session, &l.Node, &l.Epoch, &reply, &l.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, fmt.Errorf("lease of %s: %w", endpoint, store.ErrNotFound)
	}
	if err != nil {
		return l, fmt.Errorf("lease of %s: %w", endpoint, err)
	}
	if err := gojson.Unmarshal([]byte(reply), &l.Reply); err != nil {
		return l, fmt.Errorf("lease of %s: reply: %w", endpoint, err)
	}
	return l, nil
}

// RunCluster implements store.Cluster: one goroutine listens, one renews
// leases, one polls.
func (s *Store) RunCluster(ctx context.Context, h store.ClusterHandler) error {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); s.listen(ctx, h) }()
	go func() { defer wg.Done(); s.renew(ctx, h) }()
	go func() { defer wg.Done(); s.poll(ctx) }()
	wg.Wait()
	return ctx.Err()
}

func (s *Store) notice(p store.Pending) {
	if notify := s.notify.Load(); notify != nil {
		(*notify)(p)
	}
}

// listen holds the LISTEN connection, reconnecting with backoff. After a
// reconnection every endpoint is notified: what was sent meanwhile is lost.
func (s *Store) listen(ctx context.Context, h store.ClusterHandler) {
	backoff := 50 * time.Millisecond
	connected := false
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, h, func() {
			if connected {
				s.notice(store.Pending{})
			}
			connected = true
			backoff = 50 * time.Millisecond
		})
		if ctx.Err() != nil {
			return
		}
		_ = err
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, h store.ClusterHandler, up func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, c := range []string{chanEvents, chanLeases, chanResponses} {
		if _, err := conn.Exec(ctx, "LISTEN "+c); err != nil {
			return err
		}
	}
	up()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case chanEvents:
			node, eps, _ := strings.Cut(n.Payload, "\t")
			if node == s.node {
				continue
			}
			for _, e := range strings.Split(eps, "\t") {
				s.notice(store.Pending{Endpoint: e})
			}
		case chanLeases:
			parts := strings.Split(n.Payload, "\t")
			if len(parts) == 3 && parts[0] == s.node {
				s.leaseMu.Lock()
				if s.leases[parts[1]] == parts[2] {
					delete(s.leases, parts[1])
				}
				s.leaseMu.Unlock()
				h.Replaced(parts[1], parts[2])
			}
		case chanResponses:
			var m responseMsg
			if gojson.Unmarshal([]byte(n.Payload), &m) != nil {
				continue
			}
			if m.Ref {
				rec, err := s.GetEvent(ctx, m.ID)
				if err != nil || rec.Response == nil {
					continue
				}
				m.Response = rec.Response
			} else if m.Response != nil {
				m.Response.RestoreRaw()
			}
			if m.Response != nil {
				h.Response(m.Endpoint, m.ID, m.Response)
			}
		}
	}
}

// renew extends this node's leases every third of their life. A lease that
// another session took, or that could not be renewed before it expired,
// ends its session here (Replaced): a node that lost its lease stops
// delivering.
func (s *Store) renew(ctx context.Context, h store.ClusterHandler) {
	t := time.NewTicker(s.opts.LeaseTTL / 3)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.leaseMu.Lock()
		held := make(map[string]string, len(s.leases))
		for e, ses := range s.leases {
			held[e] = ses
		}
		s.leaseMu.Unlock()
		if len(held) == 0 {
			lastOK = time.Now()
			continue
		}
		alive, err := s.renewOnce(ctx)
		if err != nil {
			if time.Since(lastOK) < s.opts.LeaseTTL {
				continue
			}
			alive = nil // expired: every lease is lost
		} else {
			lastOK = time.Now()
		}
		for e, ses := range held {
			if alive[e] == ses {
				continue
			}
			s.leaseMu.Lock()
			if s.leases[e] == ses {
				delete(s.leases, e)
			}
			s.leaseMu.Unlock()
			h.Replaced(e, ses)
		}
	}
}

func (s *Store) renewOnce(ctx context.Context) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `UPDATE endpoint_leases SET expires_at = now() + $2::interval
		WHERE node = $1 RETURNING endpoint, session`, s.node, s.opts.LeaseTTL.String())
	if err != nil {
		return nil, err
	}
	alive := map[string]string{}
	var e, ses string
	_, err = pgx.ForEachRow(rows, []any{&e, &ses}, func() error {
		alive[e] = ses
		return nil
	})
	return alive, err
}

// poll wakes, every Options.Poll, each endpoint held here that has pending
// events: the backstop for a lost wake-up.
func (s *Store) poll(ctx context.Context) {
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.leaseMu.Lock()
		eps := make([]string, 0, len(s.leases))
		for e := range s.leases {
			eps = append(eps, e)
		}
		s.leaseMu.Unlock()
		if len(eps) == 0 {
			continue
		}
		rows, err := s.pool.Query(ctx, `SELECT DISTINCT endpoint FROM events WHERE state = 'pending' AND endpoint = ANY($1)`, eps)
		if err != nil {
			continue
		}
		var e string
		pgx.ForEachRow(rows, []any{&e}, func() error {
			s.notice(store.Pending{Endpoint: e})
			return nil
		})
	}
}
