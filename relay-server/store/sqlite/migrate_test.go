package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookctl/hookctl/relay-server/store/sqlite"
)

// A database whose schema a newer relay changed is refused, not written
// to as if it were this relay's.
func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	var version int
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 9999"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = sqlite.Open(path)
	if err == nil {
		s.Close()
		t.Fatal("opened a database of schema version 9999")
	}
	if !strings.Contains(err.Error(), "newer than this relay") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
	// Back at the relay's own version, it opens again.
	db, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(fmt.Sprintf("PRAGMA user_version = %d", version))
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(path)
	if err != nil {
		t.Fatalf("open at version %d: %v", version, err)
	}
	s.Close()
}
