package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/hookctl/hookctl/relay-server/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies the embedded migrations newer than PRAGMA user_version.
func migrate(db *sql.DB) error {
	ctx := context.Background()
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	ms, err := store.Migrations(migrations, "migrations/*.sql", 0)
	if err != nil {
		return err
	}
	if latest := ms[len(ms)-1].Version; version > latest {
		// A newer relay changed the schema in ways this one does not know:
		// writing to it could break what that one relies on (its seqs
		// never reused, say).
		return fmt.Errorf("the database's schema is version %d, newer than this relay's %d: it was opened by a newer hookctl; run that version or a later one", version, latest)
	}
	for _, m := range ms {
		if m.Version <= version {
			continue
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}
