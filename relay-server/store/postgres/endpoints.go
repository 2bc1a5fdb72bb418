package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookctl/hookctl/relay-server/store"
)

// CreateEndpoint implements store.Store.
func (s *Store) CreateEndpoint(ctx context.Context, ep store.Endpoint) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO endpoints (name, owner, created_at) VALUES ($1, $2, $3)", ep.Name, ep.Owner, nanos(ep.CreatedAt))
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
	err := s.pool.QueryRow(ctx, "SELECT owner, created_at FROM endpoints WHERE name = $1", name).Scan(&ep.Owner, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Endpoint{}, fmt.Errorf("endpoint %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return store.Endpoint{}, fmt.Errorf("get endpoint %s: %w", name, err)
	}
	ep.CreatedAt = fromNanos(created)
	return ep, nil
}

// ListEndpoints implements store.Store.
func (s *Store) ListEndpoints(ctx context.Context) ([]store.EndpointInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT e.name, e.owner, e.created_at, coalesce(t.name, ''),
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
			last    *int64
		)
		if err := rows.Scan(&ep.Name, &ep.Owner, &created, &ep.OwnerName, &ep.Pending, &ep.Events, &last); err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		ep.CreatedAt = fromNanos(created)
		if last != nil {
			ep.LastEventAt = fromNanos(*last)
		}
		out = append(out, ep)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return out, nil
}
