package pgtest_test

import (
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hookctl/hookctl/relay-server/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Each URL is a database of its own: what one test writes, another does
// not see.
func TestURLsAreSeparateDatabases(t *testing.T) {
	ctx := t.Context()
	a, b := pgtest.URL(t), pgtest.URL(t)
	if a == b {
		t.Fatalf("two calls gave one URL: %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)

	if _, err := ca.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := ca.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 7 {
		t.Fatalf("read back: %d, %v", v, err)
	}
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 't'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("the second database sees the first one's table")
	}
	// The server is the real thing, durable: fsync stays on.
	var fsync string
	if err := ca.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil {
		t.Fatal(err)
	}
	if fsync != "on" && os.Getenv("HOOKCTL_TEST_DATABASE_URL") == "" {
		t.Errorf("fsync = %s, want on", fsync)
	}
}

// A server of the test's own goes away with Halt and comes back, with its
// data, on the same address with Resume.
func TestServerHaltResume(t *testing.T) {
	ctx := t.Context()
	srv, url := pgtest.Server(t)
	exec := func(sql string) error {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE TABLE t (v int); INSERT INTO t VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Halt(); err != nil {
		t.Fatal(err)
	}
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("a halted server answered")
	}
	if err := srv.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := exec("INSERT INTO t VALUES (8)"); err != nil {
		t.Fatalf("after Resume: %v", err)
	}
}
