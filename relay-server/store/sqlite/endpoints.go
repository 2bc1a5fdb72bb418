package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hookctl/hookctl/relay-server/store"
)

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
