package relay_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store/pgtest"
	"github.com/hookctl/hookctl/relay-server/store/postgres"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// probe answers GET path: the status and the body's status and reason.
func (tr *testRelay) probe(t *testing.T, path string) (code int, status, reason string) {
	t.Helper()
	c, _, body := tr.send(t, http.MethodGet, path, nil, nil)
	var s struct{ Status, Reason string }
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("%s answered %d %q: %v", path, c, body, err)
	}
	return c, s.Status, s.Reason
}

// waitReady waits until /readyz answers want (200 or 503) and returns the
// reason it gave.
func (tr *testRelay) waitReady(t *testing.T, want int) string {
	t.Helper()
	var reason string
	waitFor(t, "/readyz to answer "+http.StatusText(want), func() bool {
		var code int
		code, _, reason = tr.probe(t, relay.ReadyzPath)
		return code == want
	})
	return reason
}

// checkLive checks /healthz: liveness does not depend on the store.
func (tr *testRelay) checkLive(t *testing.T) {
	t.Helper()
	if code, status, _ := tr.probe(t, wire.HealthzPath); code != http.StatusOK || status != "ok" {
		t.Errorf("healthz %d %q, want 200 ok", code, status)
	}
}

// TestReadySQLite: a relay whose SQLite data directory is moved away from
// under it (so that what it writes would be lost to the next start) is not
// ready, and is ready again once the directory is back. Moving a directory
// fails the check for root too, unlike a chmod.
func TestReadySQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(dir, "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	r := startRelayOn(t, relay.Config{Open: true, Logger: slog.New(slog.NewTextHandler(logs, nil))}, st)
	if code, status, _ := r.probe(t, relay.ReadyzPath); code != http.StatusOK || status != "ready" {
		t.Fatalf("readyz %d %q, want 200 ready", code, status)
	}

	if err := os.Rename(dir, dir+".moved"); err != nil {
		t.Fatal(err)
	}
	reason := r.waitReady(t, http.StatusServiceUnavailable)
	if !strings.Contains(reason, "store") {
		t.Errorf("not ready because %q, want the store named", reason)
	}
	r.checkLive(t)
	if err := os.Rename(dir+".moved", dir); err != nil {
		t.Fatal(err)
	}
	r.waitReady(t, http.StatusOK)
	r.checkLive(t)

	log := logs.String()
	if n := strings.Count(log, "not ready"); n != 1 || !strings.Contains(log, "database file") {
		t.Errorf("want one not-ready line naming the database file, got:\n%s", log)
	}
	if !strings.Contains(log, "store answers again; ready") {
		t.Errorf("no line for the recovery:\n%s", log)
	}
}

// TestReadyPostgres: a relay on PostgreSQL is not ready while the server
// is down, and ready again once it is back up; liveness holds throughout.
func TestReadyPostgres(t *testing.T) {
	srv, url := pgtest.Server(t)
	st, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := startRelayOn(t, relay.Config{Open: true}, st)
	r.waitReady(t, http.StatusOK)

	if err := srv.Halt(); err != nil {
		t.Fatal(err)
	}
	reason := r.waitReady(t, http.StatusServiceUnavailable)
	if !strings.Contains(reason, "store") || strings.Contains(reason, "127.0.0.1") || strings.Contains(reason, "postgres") {
		t.Errorf("not ready because %q, want the store named and not the database's address or user", reason)
	}
	r.checkLive(t)
	if err := srv.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.waitReady(t, http.StatusOK)
	r.checkLive(t)
}

// TestReadyzAnswersJSON: a ready relay's answer, never cached.
func TestReadyzAnswersJSON(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	code, hdr, body := r.send(t, http.MethodGet, relay.ReadyzPath, nil, nil)
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" || hdr.Get("Cache-Control") != "no-store" ||
		string(body) != `{"status":"ready"}`+"\n" {
		t.Errorf("readyz %d %v %q", code, hdr, body)
	}
}
