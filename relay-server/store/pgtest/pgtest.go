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
// its directory, hookctl-pg-* in the temporary directory, stays behind.
// The server itself is pgserver's.
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

	"github.com/hookctl/hookctl/relay-server/store/pgserver"
)

const (
	envURL     = "HOOKCTL_TEST_DATABASE_URL"
	envRequire = "HOOKCTL_REQUIRE_POSTGRES"
)

// state is the test process's one server; mu guards it.
var (
	mu    sync.Mutex
	state struct {
		inMain   bool
		tried    bool             // the server was set up, or that failed with err
		err      error            //
		admin    *url.URL         // where databases are created, and what their URLs are made from
		external bool             // admin is HOOKCTL_TEST_DATABASE_URL, not our cluster
		cluster  *pgserver.Server // nil unless we started one
		prefix   string           // database name prefix, random per process: test binaries may share a server
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
	case errors.Is(err, pgserver.ErrNoBinaries) && os.Getenv(envRequire) == "1":
		t.Fatalf("pgtest: %v, or set %s to a server on which tests may create databases (%s=1 makes this a failure)", err, envURL, envRequire)
	case errors.Is(err, pgserver.ErrNoBinaries):
		t.Skipf("pgtest: %v, or set %s to a server on which tests may create databases", err, envURL)
	case err != nil:
		t.Fatalf("pgtest: %v", err)
	}

	u, err := pgserver.CreateDatabase(ctx, admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if external {
		// A shared server must not fill up with test databases; our own
		// cluster is removed whole by Main.
		t.Cleanup(func() {
			// t.Context is done by the time cleanups run.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := pgserver.DropDatabase(ctx, admin, name); err != nil {
				t.Errorf("pgtest: %v", err)
			}
		})
	}
	return u
}

// Server starts a PostgreSQL server of t's own and returns it with the URL
// of a database on it. Unlike URL's shared server, t may stop it and start
// it again (Halt, Resume) to see a database go away and come back; it is
// removed when t ends. It needs the server binaries even when
// HOOKCTL_TEST_DATABASE_URL is set: without them t is skipped, or fails
// with HOOKCTL_REQUIRE_POSTGRES=1.
func Server(t testing.TB) (*pgserver.Server, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := pgserver.Start(ctx)
	switch {
	case errors.Is(err, pgserver.ErrNoBinaries) && os.Getenv(envRequire) == "1":
		t.Fatalf("pgtest: %v (%s=1 makes this a failure)", err, envRequire)
	case errors.Is(err, pgserver.ErrNoBinaries):
		t.Skipf("pgtest: %v", err)
	case err != nil:
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	u, err := pgserver.CreateDatabase(ctx, c.AdminURL(), "hookctl")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return c, u
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
		if err := c.Stop(); err != nil {
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
	c, err := pgserver.Start(ctx)
	if err != nil {
		return err
	}
	state.cluster = c
	state.admin = c.AdminURL()
	return nil
}
