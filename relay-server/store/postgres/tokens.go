package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/hookctl/hookctl/relay-server/store"
)

// CreateToken implements store.Store.
func (s *Store) CreateToken(ctx context.Context, tok store.Token) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO tokens (id, name, hash, created_at) VALUES ($1, $2, $3, $4)",
		tok.ID, tok.Name, tok.Hash, nanos(tok.CreatedAt))
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
	err := s.pool.QueryRow(ctx, "SELECT id, name, created_at FROM tokens WHERE hash = $1", hash).Scan(&tok.ID, &tok.Name, &created)
	if errors.Is(err, pgx.ErrNoRows) {
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
	rows, err := s.pool.Query(ctx, `SELECT t.id, t.name, t.created_at,
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

// RevokeToken implements store.Store.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM tokens WHERE id = $1", id)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("token %s: %w", id, store.ErrNotFound)
	}
	return nil
}
