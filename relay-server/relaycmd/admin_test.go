package relaycmd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/relay-server/relaycmd"
	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/pgtest"
	"github.com/hookctl/hookctl/relay-server/store/postgres"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/relay-server/store/storetest"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// run runs relay-server in process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := relaycmd.Run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// mustRun runs relay-server and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := run(t, args...)
	if code != 0 {
		t.Fatalf("relay-server %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// openData opens the store of a data directory, as a running relay would.
func openData(t *testing.T, data string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(data, "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// backend is where the admin commands find a relay's state: a data
// directory (SQLite) or a PostgreSQL database.
type backend struct {
	name  string
	flags []string // --data DIR or --database URL
	open  func(t *testing.T) store.Store
}

// args is a command line of words followed by the backend's flags.
func (b backend) args(words ...string) []string {
	return append(slices.Clip(words), b.flags...)
}

// eachBackend runs fn on a new, empty SQLite data directory and on a new,
// empty PostgreSQL database.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) {
		data := t.TempDir()
		fn(t, backend{name: "sqlite", flags: []string{"--data", data}, open: func(t *testing.T) store.Store {
			return &closeOnce{Store: openData(t, data)}
		}})
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		fn(t, backend{name: "postgres", flags: []string{"--database", url}, open: func(t *testing.T) store.Store {
			st, err := postgres.Open(context.Background(), url, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			c := &closeOnce{Store: st}
			t.Cleanup(func() { c.Close() })
			return c
		}})
	})
}

// closeOnce lets a test close a store early that a cleanup closes again.
type closeOnce struct {
	store.Store
	once sync.Once
	err  error
}

func (c *closeOnce) Close() error {
	c.once.Do(func() { c.err = c.Store.Close() })
	return c.err
}

// jsonKeys decodes a JSON array of objects and returns each one's sorted keys.
func jsonKeys(t *testing.T, out string) ([]map[string]any, string) {
	t.Helper()
	var objs []map[string]any
	if err := json.Unmarshal([]byte(out), &objs); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out)
	}
	var keys []string
	if len(objs) > 0 {
		for k := range objs[0] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
	}
	return objs, strings.Join(keys, ",")
}

func TestTokenListAndRevoke(t *testing.T) { eachBackend(t, testTokenListAndRevoke) }

func testTokenListAndRevoke(t *testing.T, b backend) {
	if b.name == "sqlite" {
		if code, _, stderr := run(t, b.args("token", "list")...); code != 1 ||
			!strings.Contains(stderr, "Error: no relay database in ") || !strings.Contains(stderr, "\nHint: point --data at") {
			t.Errorf("list without a database: exit %d, %s", code, stderr)
		}
	}
	b.open(t).Close()
	if out := mustRun(t, b.args("token", "list", "--json")...); strings.TrimSpace(out) != "[]" {
		t.Errorf("no tokens as JSON = %q, want []", out)
	}
	alice := strings.TrimSpace(mustRun(t, b.args("token", "create", "--name", "alice")...))
	mustRun(t, b.args("token", "create", "--name", "bob")...)
	mustRun(t, b.args("token", "create", "--name", "bob")...)

	out := mustRun(t, b.args("token", "list", "--json")...)
	objs, keys := jsonKeys(t, out)
	if keys != "created_at,endpoints,id,name" || len(objs) != 3 || objs[0]["name"] != "alice" {
		t.Fatalf("token list --json: keys %s\n%s", keys, out)
	}
	aliceID := objs[0]["id"].(string)
	if strings.Contains(out, alice) || strings.Contains(out, "hkt_") {
		t.Errorf("token list shows a secret:\n%s", out)
	}
	st := b.open(t)
	ctx := context.Background()
	for _, name := range []string{"alpha", "beta"} {
		if err := st.CreateEndpoint(ctx, store.Endpoint{Name: name, Owner: aliceID, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	out = mustRun(t, b.args("token", "list")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^ID +NAME +CREATED +ENDPOINTS$`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^`+aliceID+` +alice +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +2$`).MatchString(lines[1]) {
		t.Errorf("token list:\n%s", out)
	}

	code, _, stderr := run(t, b.args("token", "revoke", "bob")...)
	if code != 1 || !strings.Contains(stderr, `Error: 2 tokens are named "bob"`) || !strings.Contains(stderr, "Hint: revoke one by id: relay-server token revoke tok_") {
		t.Errorf("revoking an ambiguous name: exit %d\n%s", code, stderr)
	}
	if out := mustRun(t, b.args("token", "revoke", "alice")...); out != "revoked token "+aliceID+" (alice)\n" {
		t.Errorf("revoke output %q", out)
	}
	h := sha256Sum(alice)
	if _, err := st.TokenByHash(ctx, h); err == nil {
		t.Error("revoked token still authenticates")
	}
	code, _, stderr = run(t, b.args("token", "revoke", aliceID)...)
	if code != 1 || !strings.Contains(stderr, "Error: no token with id or name") || !strings.Contains(stderr, "Hint: relay-server token list") {
		t.Errorf("revoking twice: exit %d\n%s", code, stderr)
	}
	if code, _, _ := run(t, b.args("token", "revoke")...); code != relaycmd.ExitUsage {
		t.Errorf("revoke without an argument: exit %d", code)
	}
	objs, _ = jsonKeys(t, mustRun(t, b.args("token", "list", "--json")...))
	if len(objs) != 2 || objs[0]["name"] != "bob" {
		t.Errorf("tokens after revoking alice: %v", objs)
	}
}

// fillEndpoints stores: alpha (alice: one delivered event, two pending),
// beta (bob, revoked: one pending), quiet (open mode: no events).
func fillEndpoints(t *testing.T, st store.Store, at time.Time) {
	t.Helper()
	ctx := context.Background()
	for _, tok := range []store.Token{{ID: "tok_a", Name: "alice"}, {ID: "tok_b", Name: "bob"}} {
		h := sha256Sum(tok.ID)
		tok.Hash, tok.CreatedAt = h, at
		if err := st.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	for _, ep := range []store.Endpoint{{Name: "alpha", Owner: "tok_a"}, {Name: "beta", Owner: "tok_b"}, {Name: "quiet"}} {
		ep.CreatedAt = at
		if err := st.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []*storetestEvent{
		{"evt_1", "alpha", at.Add(-3 * time.Hour)}, {"evt_2", "alpha", at.Add(-2 * time.Hour)},
		{"evt_3", "alpha", at.Add(-time.Minute)}, {"evt_4", "beta", at.Add(-3 * time.Hour)},
	} {
		if err := st.InsertEvent(ctx, storetest.Event(ev.id, ev.endpoint, ev.at)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Ack(ctx, "alpha", "evt_1", nil, at, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeToken(ctx, "tok_b"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

type storetestEvent struct {
	id, endpoint string
	at           time.Time
}

func TestEndpointsList(t *testing.T) { eachBackend(t, testEndpointsList) }

func testEndpointsList(t *testing.T, b backend) {
	b.open(t).Close()
	if out := mustRun(t, b.args("endpoints", "list", "--json")...); strings.TrimSpace(out) != "[]" {
		t.Errorf("no endpoints as JSON = %q, want []", out)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	fillEndpoints(t, b.open(t), at)

	out := mustRun(t, b.args("endpoints", "list")...)
	want := `NAME   OWNER            PENDING  EVENTS  LAST EVENT
alpha  alice            2        3       2026-03-04T05:05:07Z
beta   (revoked tok_b)  1        1       2026-03-04T02:06:07Z
quiet  -                0        0       -
`
	if out != want {
		t.Errorf("endpoints list =\n%s\nwant\n%s", out, want)
	}
	out = mustRun(t, b.args("endpoints", "list", "--json")...)
	objs, keys := jsonKeys(t, out)
	if keys != "created_at,events,last_event_at,name,owner,owner_id,owner_revoked,pending" || len(objs) != 3 {
		t.Fatalf("endpoints list --json: keys %s\n%s", keys, out)
	}
	if objs[1]["owner_id"] != "tok_b" || objs[1]["owner"] != "" || objs[1]["owner_revoked"] != true ||
		objs[0]["last_event_at"] != "2026-03-04T05:05:07Z" || objs[2]["last_event_at"] != nil || objs[0]["pending"] != 2.0 {
		t.Errorf("endpoints list --json:\n%s", out)
	}
}

func TestEventsPurge(t *testing.T) { eachBackend(t, testEventsPurge) }

func testEventsPurge(t *testing.T, b backend) {
	fillEndpoints(t, b.open(t), time.Now().Add(-time.Hour))
	remaining := func() string {
		t.Helper()
		st := b.open(t)
		defer st.Close()
		recs, err := st.ListEvents(context.Background(), store.ListQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.Request.ID)
		}
		return strings.Join(ids, " ")
	}
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--pending"}, 1, "Error: --pending deletes undelivered events, and stdin is not a terminal to confirm\nHint: add --yes"},
		{[]string{"--before", "soon"}, 2, "Error: --before \"soon\""},
		{[]string{"--endpoint", "nope"}, 1, "Error: no endpoint \"nope\"\nHint: relay-server endpoints list"},
	} {
		args := b.args(append([]string{"events", "purge"}, tc.args...)...)
		if !slices.Contains(tc.args, "--endpoint") {
			args = append(args, "--endpoint", "alpha")
		}
		code, stdout, stderr := run(t, args...)
		if code != tc.code || !strings.HasPrefix(stderr, tc.err) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
	}
	if code, _, _ := run(t, b.args("events", "purge")...); code != relaycmd.ExitUsage {
		t.Errorf("purge without --endpoint: exit %d", code)
	}
	if got := remaining(); got != "evt_4 evt_3 evt_2 evt_1" {
		t.Fatalf("refused purges deleted events: left %s", got)
	}
	// Pending events received before a time: only evt_2 (evt_1 is
	// delivered and old too, evt_3 is recent).
	if out := mustRun(t, b.args("events", "purge", "--endpoint", "alpha", "--before", "2h", "--pending", "--yes")...); out != "deleted 2 events of endpoint alpha\n" {
		t.Errorf("purge --before 2h --pending: %q", out)
	}
	if got := remaining(); got != "evt_4 evt_3" {
		t.Errorf("after purge --before 2h --pending: left %s", got)
	}
	// By default only delivered events go: none left on alpha.
	if out := mustRun(t, b.args("events", "purge", "--endpoint", "alpha")...); out != "deleted 0 delivered events of endpoint alpha\n" {
		t.Errorf("purge delivered: %q", out)
	}
	if out := mustRun(t, b.args("events", "purge", "--endpoint", "beta", "--pending", "--yes", "--before", time.Now().UTC().Format(time.RFC3339))...); out != "deleted 1 events of endpoint beta\n" {
		t.Errorf("purge beta: %q", out)
	}
	if got := remaining(); got != "evt_3" {
		t.Errorf("after purging beta: left %s", got)
	}
}

// TestRevokeWhileServing revokes, with the CLI command, the token of a CLI
// connected to a running relay: the relay ends the session with a
// permanent unauthorized error.
func TestRevokeWhileServing(t *testing.T) {
	data := t.TempDir()
	secret := strings.TrimSpace(mustRun(t, "token", "create", "--data", data, "--name", "alice"))
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lineWriter{lines: make(chan string, 100)}
	done := make(chan int, 1)
	go func() {
		done <- relaycmd.Run(ctx, []string{"--addr", "127.0.0.1:0", "--data", data, "--revoke-check", "100ms"}, io.Discard, stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("relay exit %d", code)
		}
	}()
	base := waitURL(t, stderr.lines)
	cfg, err := websocket.NewConfig(strings.Replace(base, "http", "ws", 1)+wire.ListenPath, base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(20 * time.Second)
	recv := func() wire.Message {
		t.Helper()
		for {
			conn.SetReadDeadline(deadline)
			var m wire.Message
			if err := websocket.JSON.Receive(conn, &m); err != nil {
				t.Fatalf("receive: %v", err)
			}
			if m.Type != wire.TypePing {
				return m
			}
			websocket.JSON.Send(conn, wire.Message{Type: wire.TypePong})
		}
	}
	if err := websocket.JSON.Send(conn, wire.Message{Type: wire.TypeHello, Version: wire.Version, Token: secret, Endpoint: "alpha"}); err != nil {
		t.Fatal(err)
	}
	if m := recv(); m.Type != wire.TypeWelcome {
		t.Fatalf("hello answered with %+v", m)
	}
	mustRun(t, "token", "revoke", "--data", data, "alice")
	if m := recv(); m.Type != wire.TypeError || m.Code != wire.CodeUnauthorized || !m.Permanent {
		t.Errorf("after revoke the session got %+v, want permanent unauthorized", m)
	}
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
