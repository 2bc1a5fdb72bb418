package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hookctl/hookctl/relay-server/store"
)

// CreateToken implements store.Store.
func (s *Store) CreateToken(ctx context.Context, tok store.Token) error {
	err := s.write(ctx, true, func(x *txExec) error {
		_, err := x.exec("INSERT INTO tokens (id, name, hash, created_at) VALUES (?, ?, ?, ?)", tok.ID, tok.Name, tok.Hash, nanos(tok.CreatedAt))
		return err
	})
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
	err := s.rdb.QueryRowContext(ctx, "SELECT id, name, created_at FROM tokens WHERE hash = ?", hash).Scan(&tok.ID, &tok.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
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
	rows, err := s.rdb.QueryContext(ctx, `SELECT t.id, t.name, t.created_at,
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

// RevokeToken implements store.Store. The row is deleted: TokenByHash,
// which every hello and API call goes through, then finds nothing.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	var n int64
	err := s.write(ctx, true, func(x *txExec) error {
		res, err := x.exec("DELETE FROM tokens WHERE id = ?", id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("token %s: %w", id, store.ErrNotFound)
	}
	return nil
}
