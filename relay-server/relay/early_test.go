package relay_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// gatedStore is a SQLite store whose writer, once it has announced an
// event of path early (store.EarlyNotifier), waits for the gate before it
// commits: a commit in flight for as long as a test needs.
type gatedStore struct {
	*sqlite.Store
	path string
	gate chan struct{}
}

func openGated(t *testing.T, path string) (*gatedStore, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "relay.db")
	st, err := sqlite.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedStore{Store: st, path: path, gate: make(chan struct{})}
	t.Cleanup(g.open) // before the store closes
	return g, file
}

func (s *gatedStore) open() {
	select {
	case <-s.gate:
	default:
		close(s.gate)
	}
}

func (s *gatedStore) NotifyWritten(written func(store.Pending), failed func(store.Pending, error)) {
	s.Store.NotifyWritten(func(p store.Pending) {
		written(p)
		if p.Event.Path == s.path {
			<-s.gate
		}
	}, failed)
}

var passthroughHello = wire.Message{Endpoint: "alpha", Reply: &wire.ReplyOptions{Mode: wire.ReplyPassthrough},
	Features: wire.NewFeatures(wire.FeatureResponseAck)}

// sendAsync sends a webhook and delivers its status and body on the
// returned channel.
func sendAsync(r *testRelay, path string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		resp, err := r.client.Post(r.URL+path, "text/plain", strings.NewReader("payload"))
		if err != nil {
			ch <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		ch <- answer{status: resp.StatusCode, body: string(b), err: err}
	}()
	return ch
}

type answer struct {
	status int
	body   string
	err    error
}

func notAnswered(t *testing.T, ch <-chan answer, when string) {
	t.Helper()
	select {
	case a := <-ch:
		t.Fatalf("sender answered %d %q %s", a.status, a.body, when)
	default:
	}
}

// TestHandoffBeforeCommit: an event reaches the CLI while its commit is
// still in flight. The app's answer reaches the sender only once the event
// is durable, and the ack that came with it is applied only then.
func TestHandoffBeforeCommit(t *testing.T) {
	st, _ := openGated(t, "/held")
	r := startRelayOn(t, relay.Config{Open: true, PingInterval: time.Hour}, st)
	metricsURL := serveMetrics(t, r)
	c := mustListen(t, r.URL, passthroughHello)
	c.barrier()

	answered := sendAsync(r, "/h/alpha/held")
	ev := c.expect(wire.TypeEvent).Event // the gate is shut: not committed yet
	c.send(wire.Message{Type: wire.TypeResponse, ID: ev.ID, Ack: true,
		Response: &capture.Response{Status: 201, Body: []byte("made")}})
	c.barrier() // the relay has read the response and its ack
	notAnswered(t, answered, "before its event was durable")
	if v, _ := scrape(t, r, metricsURL).get("hookctl_deliveries_total"); v != 0 {
		t.Errorf("%v deliveries counted before the event was durable, want the ack held", v)
	}

	st.open()
	a := <-answered
	if a.err != nil || a.status != 201 || a.body != "made" {
		t.Fatalf("sender got %d %q (%v), want the app's 201 made", a.status, a.body, a.err)
	}
	waitFor(t, "ack stored", func() bool {
		rec, err := r.Store.GetEvent(context.Background(), ev.ID)
		return err == nil && rec.State == wire.StateDelivered && rec.Response != nil && rec.Response.Status == 201
	})
	if v, _ := scrape(t, r, metricsURL).get("hookctl_deliveries_total"); v != 1 {
		t.Errorf("%v deliveries counted, want 1", v)
	}
	if extra := c.barrier(); len(extra) != 0 {
		t.Errorf("%d messages after the one event was acked: %+v", len(extra), extra)
	}
}

// TestHandoffBeforeFailedCommit: an event reaches the CLI while its commit
// is in flight, and the commit then fails (a deferred foreign key, checked
// only at COMMIT, that a trigger attaches to its row). The sender gets 503
// though the app answered, nothing is stored, the CLI's ack is not applied,
// and the relay says so. The store gives the failed Seq to the next event,
// which is still sent, once.
func TestHandoffBeforeFailedCommit(t *testing.T) {
	st, file := openGated(t, "/doomed")
	logs := &logBuffer{}
	r := startRelayOn(t, relay.Config{Open: true, PingInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(logs, nil))}, st)
	metricsURL := serveMetrics(t, r)
	c := mustListen(t, r.URL, passthroughHello)
	first := sendAsync(r, "/h/alpha/first")
	ev := c.expect(wire.TypeEvent).Event
	c.send(wire.Message{Type: wire.TypeResponse, ID: ev.ID, Ack: true, Response: &capture.Response{Status: 200}})
	if a := <-first; a.status != 200 {
		t.Fatalf("first webhook: %d %v", a.status, a.err)
	}

	// Another process on the file (as admin commands are) sets the trap.
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE TABLE nowhere (id INTEGER PRIMARY KEY)",
		"CREATE TABLE doomed (seq INTEGER REFERENCES nowhere (id) DEFERRABLE INITIALLY DEFERRED)",
		"CREATE TRIGGER doom AFTER INSERT ON events WHEN NEW.path = '/doomed' BEGIN INSERT INTO doomed VALUES (NEW.seq); END",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}

	answered := sendAsync(r, "/h/alpha/doomed")
	doomed := c.expect(wire.TypeEvent).Event
	if doomed.Path != "/doomed" {
		t.Fatalf("got event %s, want /doomed", doomed.Path)
	}
	c.send(wire.Message{Type: wire.TypeResponse, ID: doomed.ID, Ack: true, Response: &capture.Response{Status: 200}})
	c.barrier() // the relay has read the response and its ack
	st.open()
	if a := <-answered; a.err != nil || a.status != http.StatusServiceUnavailable {
		t.Fatalf("sender of the unstored event got %d %q (%v), want 503", a.status, a.body, a.err)
	}
	if _, err := r.Store.GetEvent(context.Background(), doomed.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unstored event: GetEvent = %v, want not found", err)
	}
	m := scrape(t, r, metricsURL)
	if v, _ := m.get("hookctl_handoff_unstored_total"); v != 1 {
		t.Errorf("hookctl_handoff_unstored_total = %v, want 1", v)
	}
	if v, _ := m.get("hookctl_deliveries_total"); v != 1 {
		t.Errorf("hookctl_deliveries_total = %v, want 1 (the first event; not the unstored one)", v)
	}
	if !strings.Contains(logs.String(), "not stored") || !strings.Contains(logs.String(), doomed.ID) {
		t.Errorf("log does not name the unstored event %s:\n%s", doomed.ID, logs)
	}

	// The next event takes the failed Seq; it must not be skipped.
	next := sendAsync(r, "/h/alpha/next")
	ev = c.expect(wire.TypeEvent).Event
	if ev.Path != "/next" {
		t.Fatalf("got event %s, want /next", ev.Path)
	}
	c.send(wire.Message{Type: wire.TypeResponse, ID: ev.ID, Ack: true, Response: &capture.Response{Status: 202}})
	if a := <-next; a.status != 202 {
		t.Fatalf("next webhook: %d %v", a.status, a.err)
	}
	if extra := c.barrier(); len(extra) != 0 {
		t.Errorf("%d messages after every event was answered: %+v", len(extra), extra)
	}
	waitFor(t, "next event delivered", func() bool {
		rec, err := r.Store.GetEvent(context.Background(), ev.ID)
		return err == nil && rec.State == wire.StateDelivered
	})
}
