// Package pgtest gives tests a real, private PostgreSQL database.
//
// URL returns the address of a fresh, empty database. The databases live on
// a throwaway cluster that the test binary starts on first use (initdb into a
// temporary directory, postgres on a free loopback port, fsync on) and stops
// when its tests end. With HOOKCTL_TEST_DATABASE_URL set, they are created on
// that server instead and dropped when their test ends. Without PostgreSQL,
// tests that call URL are skipped; with HOOKCTL_REQUIRE_POSTGRES=1 (as CI
// sets it) they fail instead.
//
// A package that calls URL must run its tests through Main, so that the
// cluster is stopped and its directory removed:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// If the test binary dies without returning from Main (a -timeout panic, a
// kill), the kernel stops the server on Linux (a parent-death signal), but
// its directory, hookctl-pgtest-* in the temporary directory, stays behind.
//
// The package reads its environment itself, as the testing package reads
// its flags: it is only ever linked into test binaries.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	envURL     = "HOOKCTL_TEST_DATABASE_URL"
	envRequire = "HOOKCTL_REQUIRE_POSTGRES"
)

// errNoPostgres is the one failure that skips instead of failing.
var errNoPostgres = errors.New("no PostgreSQL server binaries (initdb, postgres) on PATH or under " +
	"/usr/lib/postgresql/*/bin; install the PostgreSQL server package, or set " + envURL +
	" to a server on which tests may create databases")

// state is the test process's one server; mu guards it.
var (
	mu    sync.Mutex
	state struct {
		inMain   bool
		tried    bool     // the server was set up, or that failed with err
		err      error    //
		admin    *url.URL // where databases are created, and what their URLs are made from
		external bool     // admin is HOOKCTL_TEST_DATABASE_URL, not our cluster
		cluster  *cluster // nil unless we started one
		prefix   string   // database name prefix, random per process: test binaries may share a server
		seq      int
	}
)

// URL returns a postgres:// URL of a new, empty database that belongs to t.
// Each call makes another database. A package that calls URL must run its
// tests through Main.
func URL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	admin, external, name, err := next(ctx)
	switch {
	case errors.Is(err, errNoPostgres) && os.Getenv(envRequire) == "1":
		t.Fatalf("pgtest: %v (%s=1 makes this a failure)", err, envRequire)
	case errors.Is(err, errNoPostgres):
		t.Skipf("pgtest: %v", err)
	case err != nil:
		t.Fatalf("pgtest: %v", err)
	}

	quoted := pgx.Identifier{name}.Sanitize()
	if err := execAdmin(ctx, admin, "CREATE DATABASE "+quoted); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if external {
		// A shared server must not fill up with test databases; our own
		// cluster is removed whole by Main.
		t.Cleanup(func() {
			// t.Context is done by the time cleanups run.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := execAdmin(ctx, admin, "DROP DATABASE IF EXISTS "+quoted+" WITH (FORCE)"); err != nil {
				t.Errorf("pgtest: %v", err)
			}
		})
	}
	u := *admin
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// Main runs the tests of m, then stops the cluster URL started, if any, and
// removes its directory. It returns the exit code for os.Exit.
func Main(m *testing.M) int {
	mu.Lock()
	state.inMain = true
	mu.Unlock()

	code := m.Run()

	mu.Lock()
	defer mu.Unlock()
	state.inMain = false
	if c := state.cluster; c != nil {
		state.cluster = nil
		if err := c.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// next sets up the server on first use and names the next database.
func next(ctx context.Context) (admin *url.URL, external bool, name string, err error) {
	mu.Lock()
	defer mu.Unlock()
	if !state.inMain {
		return nil, false, "", errors.New("pgtest.Main is not running the tests: call it from TestMain " +
			"(func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }) so the PostgreSQL server is stopped")
	}
	if !state.tried {
		state.tried = true
		state.err = setUp(ctx)
	}
	if state.err != nil {
		return nil, false, "", state.err
	}
	state.seq++
	name = fmt.Sprintf("hk_%s_%d", state.prefix, state.seq)
	return state.admin, state.external, name, nil
}

// setUp fills in state: the server from the environment, else our cluster.
// The caller holds mu.
func setUp(ctx context.Context) error {
	var b [4]byte
	rand.Read(b[:])
	state.prefix = hex.EncodeToString(b[:])

	if raw := os.Getenv(envURL); raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return fmt.Errorf("%s must be a postgres:// URL", envURL)
		}
		state.admin, state.external = u, true
		return nil
	}
	c, err := startCluster(ctx)
	if err != nil {
		return err
	}
	state.cluster = c
	state.admin = c.adminURL()
	return nil
}

// execAdmin runs one statement on a connection of its own to admin.
func execAdmin(ctx context.Context, admin *url.URL, sql string) error {
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", admin.Redacted(), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}
