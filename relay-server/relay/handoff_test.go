package relay_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// countingStore counts reads of pending events; it passes the store's
// commit notices through.
type countingStore struct {
	store.Store
	pendingReads atomic.Int64
}

func (s *countingStore) Pending(ctx context.Context, endpoint string, after int64, limit int, maxBytes int64) ([]store.Pending, error) {
	s.pendingReads.Add(1)
	return s.Store.Pending(ctx, endpoint, after, limit, maxBytes)
}

func (s *countingStore) NotifyCommitted(fn func(store.Pending)) {
	s.Store.(store.Notifier).NotifyCommitted(fn)
}

func (s *countingStore) NotifyWritten(written func(store.Pending), failed func(store.Pending, error)) {
	s.Store.(store.EarlyNotifier).NotifyWritten(written, failed)
}

// seqOrder is the ids of endpoint's events in capture (Seq) order.
func seqOrder(t *testing.T, st store.Store, endpoint string) []string {
	t.Helper()
	recs, err := st.ListEvents(context.Background(), store.ListQuery{Endpoint: endpoint, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[len(recs)-1-i] = rec.Request.ID
	}
	return ids
}

// TestCaughtUpSessionDoesNotReadBack: once a session has read everything
// pending, events stored later reach it as the store commits them, without
// a read of the store each.
func TestCaughtUpSessionDoesNotReadBack(t *testing.T) {
	st := &countingStore{Store: openStore(t)}
	r := startRelayOn(t, relay.Config{Open: true}, st)
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	c.barrier()
	before := st.pendingReads.Load()
	const n = 50
	for i := range n {
		s, _, b := r.send(t, "POST", fmt.Sprintf("/h/alpha/%d", i), []byte("x"), nil)
		id := queuedID(t, s, b)
		if ev := c.expect(wire.TypeEvent).Event; ev.ID != id {
			t.Fatalf("event %d = %s, want %s", i, ev.ID, id)
		}
		c.send(wire.Message{Type: wire.TypeAck, ID: id})
	}
	if reads := st.pendingReads.Load() - before; reads > 2 {
		t.Errorf("%d reads of pending events for %d events sent one at a time; want them handed over", reads, n)
	}
}

// TestHandoffOverflowKeepsOrder drives a session through every path: a
// backlog read, events handed over as they commit, a handoff that
// overflows (by count while the window is full, by size with large bodies)
// and reads that catch up again. Every event arrives once, in Seq order,
// whether events are handed over while their commit is in flight or after.
func TestHandoffOverflowKeepsOrder(t *testing.T) {
	t.Run("early", func(t *testing.T) { testHandoffOverflowKeepsOrder(t, false) })
	t.Run("after-commit", func(t *testing.T) { testHandoffOverflowKeepsOrder(t, true) })
}

func testHandoffOverflowKeepsOrder(t *testing.T, afterCommit bool) {
	st := &countingStore{Store: openStore(t)}
	r := startRelayOn(t, relay.Config{Open: true, Window: 8, HandoffAfterCommit: afterCommit}, st)
	// A backlog before the CLI connects.
	for i := range 20 {
		s, _, b := r.send(t, "POST", fmt.Sprintf("/h/alpha/backlog/%d", i), []byte("x"), nil)
		queuedID(t, s, b)
	}
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})

	var got []string
	recv := func(k int) []string {
		var ids []string
		for range k {
			ev := c.expect(wire.TypeEvent).Event
			ids = append(ids, ev.ID)
		}
		got = append(got, ids...)
		return ids
	}
	ack := func(ids []string) {
		for _, id := range ids {
			c.send(wire.Message{Type: wire.TypeAck, ID: id})
		}
	}
	// Take a full window and hold the acks while 16 senders store 400
	// more: the handoff (256 events) overflows while the window is full.
	held := recv(8)
	send := func(senders, each int, body []byte) {
		var wg sync.WaitGroup
		for g := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					req, _ := http.NewRequest("POST", fmt.Sprintf("%s/h/alpha/%d/%d", r.URL, g, i), strings.NewReader(string(body)))
					resp, err := r.client.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						t.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	send(16, 25, []byte("y"))
	ack(held)
	for len(got) < 20+400 {
		ack(recv(1))
	}
	// Caught up again: events now arrive while the CLI keeps up, some
	// large enough to overflow the handoff by size.
	big := make([]byte, 700<<10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		send(4, 3, big)
		send(8, 10, []byte("z"))
	}()
	for len(got) < 20+400+12+80 {
		ack(recv(1))
	}
	<-done
	if extra := c.barrier(); len(extra) != 0 {
		t.Fatalf("%d messages after every event was acked", len(extra))
	}
	want := seqOrder(t, r.Store, "alpha")
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %d events, stored %d: order or set differs (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestEndingSessionDoesNotBlockCommits: a session that ends stores the
// responses it got without acks. While it waits for room in the store's
// queue it must not hold what the store's commit notice needs (offer), or
// the store's writer, announcing an event for that endpoint, waits for the
// session, which waits for the writer: every later write hangs.
func TestEndingSessionDoesNotBlockCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r := startRelayOn(t, relay.Config{Open: true}, st)
	c1 := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	s, _, b := r.send(t, "POST", "/h/alpha/1", []byte("one"), nil)
	id := queuedID(t, s, b)
	c1.expect(wire.TypeEvent)
	c1.send(wire.Message{Type: wire.TypeResponse, ID: id, Response: &capture.Response{Status: 200}})
	c1.barrier() // the response is in flight with its event, not acked
	c2 := mustListen(t, r.URL, wire.Message{Endpoint: "beta", Reply: ackMode})

	// Another connection holds SQLite's write lock (within busy_timeout):
	// the store's writer waits in BEGIN with the next webhook's insert.
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	lock, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Error(err)
			}
		}
	}
	defer unlock()
	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", r.URL+"/h/alpha/2", strings.NewReader("two"))
		resp, err := r.client.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond) // the insert reaches the writer
	// Fill the store's queue with asynchronous writes (acks of unknown ids).
	go func() {
		for i := range 3000 {
			if websocket.JSON.Send(c2.conn, wire.Message{Type: wire.TypeAck, ID: fmt.Sprintf("evt_none%d", i)}) != nil {
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	// alpha's CLI leaves: its session stores the response, waiting for
	// room in the full queue.
	c1.conn.Close()
	time.Sleep(300 * time.Millisecond)
	unlock()
	select {
	case status := <-answered:
		if status != http.StatusAccepted {
			t.Fatalf("second webhook answered %d, want 202", status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second webhook not answered: the store's writer is stuck announcing it to the ending session")
	}
	waitFor(t, "response stored", func() bool {
		rec, err := r.Store.GetEvent(ctx, id)
		return err == nil && rec.Response != nil && rec.Response.Status == 200 && rec.State == wire.StatePending
	})
}

// TestEventsOfAnotherRelayOnTheStore: two relays share one SQLite file (two
// `hookctl listen` with the same --endpoint: the second's embedded relay
// runs on another port). A caught-up session hears only its own relay's
// commits; an event the other relay stored before one of its own must still
// be sent, in Seq order, on the live connection, not skipped by the cursor
// until the CLI reconnects.
func TestEventsOfAnotherRelayOnTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	stA, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	stB, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	a := startRelayOn(t, relay.Config{Open: true}, stA)
	b := startRelayOn(t, relay.Config{Open: true}, stB)
	c := mustListen(t, b.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	c.barrier() // caught up
	var want []string
	for i := range 3 {
		s, _, body := a.send(t, "POST", fmt.Sprintf("/h/alpha/a%d", i), nil, nil)
		want = append(want, queuedID(t, s, body))
		s, _, body = b.send(t, "POST", fmt.Sprintf("/h/alpha/b%d", i), nil, nil)
		want = append(want, queuedID(t, s, body))
	}
	var got []string
	for len(got) < len(want) {
		m, err := c.tryRecv()
		if err != nil {
			t.Fatalf("after %v (want %v): %v", got, want, err)
		}
		switch m.Type {
		case wire.TypePing:
			c.send(wire.Message{Type: wire.TypePong})
		case wire.TypeEvent:
			got = append(got, m.Event.ID)
			c.send(wire.Message{Type: wire.TypeAck, ID: m.Event.ID})
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}

// TestResponseWithAckIsResponseThenAck: a response with ack set is handled
// exactly as the response followed by the ack (wire.FeatureResponseAck),
// also for an event already delivered: the response is stored either way.
func TestResponseWithAckIsResponseThenAck(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode, Features: wire.NewFeatures(wire.FeatureResponseAck)})
	var ids []string
	for range 2 {
		s, _, b := r.send(t, "POST", "/h/alpha", nil, nil)
		ids = append(ids, queuedID(t, s, b))
		c.expect(wire.TypeEvent)
	}
	c.send(wire.Message{Type: wire.TypeResponse, ID: ids[0], Ack: true, Response: &capture.Response{Status: 500}})
	c.send(wire.Message{Type: wire.TypeResponse, ID: ids[1], Response: &capture.Response{Status: 500}})
	c.send(wire.Message{Type: wire.TypeAck, ID: ids[1]})
	c.barrier()
	// The same event answered again (a second delivery): both forms keep
	// the later response.
	c.send(wire.Message{Type: wire.TypeResponse, ID: ids[0], Ack: true, Response: &capture.Response{Status: 200}})
	c.send(wire.Message{Type: wire.TypeResponse, ID: ids[1], Response: &capture.Response{Status: 200}})
	c.send(wire.Message{Type: wire.TypeAck, ID: ids[1]})
	c.barrier()
	if err := r.Store.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		rec, err := r.Store.GetEvent(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != wire.StateDelivered || rec.Response == nil || rec.Response.Status != 200 {
			t.Errorf("%s: state %s, response %+v; want delivered with the later response (200)", id, rec.State, rec.Response)
		}
	}
}

// TestLargeEventHandedOver: an event too large for the handoff still
// reaches a caught-up session as it commits, without a read of the store,
// while the relay-wide budget (MaxInflight) has room; beyond it the session
// reads the store, and nothing is lost. What a handoff holds is given back
// when it is sent and when its session ends.
func TestLargeEventHandedOver(t *testing.T) {
	const size = 3 << 20 // over handoffBytes (2 MiB)
	st := &countingStore{Store: openStore(t)}
	r := startRelayOn(t, relay.Config{Open: true, MaxBody: size, MaxInflight: size}, st)
	body := []byte(strings.Repeat("L", size))

	// A paused session holds one large event, which takes the budget.
	paused := mustListen(t, r.URL, wire.Message{Endpoint: "paused", Reply: ackMode})
	paused.send(wire.Message{Type: wire.TypePause})
	paused.barrier()
	s, _, b := r.send(t, "POST", "/h/paused", body, nil)
	heldID := queuedID(t, s, b)
	waitFor(t, "the paused session's handoff to hold it", func() bool { return r.HandoffLargeBytes() == size })

	// Another session gets its large event from the store: no budget left.
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	c.barrier()
	before := st.pendingReads.Load()
	s, _, b = r.send(t, "POST", "/h/alpha/1", body, nil)
	id := queuedID(t, s, b)
	if ev := c.expect(wire.TypeEvent).Event; ev.ID != id || len(ev.Body) != size {
		t.Fatalf("got %s (%d bytes), want %s", ev.ID, len(ev.Body), id)
	}
	if st.pendingReads.Load() == before {
		t.Errorf("no read of the store, but the budget was taken")
	}
	c.send(wire.Message{Type: wire.TypeAck, ID: id})

	// The paused session ends with the event still held: the budget is back
	// (and the event is still pending for the next CLI).
	paused.conn.Close()
	waitFor(t, "the budget given back", func() bool { return r.HandoffLargeBytes() == 0 })

	// Now the large event is handed over as it commits.
	c.barrier()
	before = st.pendingReads.Load()
	s, _, b = r.send(t, "POST", "/h/alpha/2", body, nil)
	id = queuedID(t, s, b)
	if ev := c.expect(wire.TypeEvent).Event; ev.ID != id || len(ev.Body) != size {
		t.Fatalf("got %s (%d bytes), want %s", ev.ID, len(ev.Body), id)
	}
	if reads := st.pendingReads.Load() - before; reads != 0 {
		t.Errorf("%d reads of the store for a large event handed over", reads)
	}
	if n := r.HandoffLargeBytes(); n != 0 {
		t.Errorf("%d bytes still charged after the event was sent", n)
	}
	next := mustListen(t, r.URL, wire.Message{Endpoint: "paused", Reply: ackMode})
	if ev := next.expect(wire.TypeEvent).Event; ev.ID != heldID {
		t.Errorf("next CLI for the paused endpoint got %s, want %s", ev.ID, heldID)
	}
}
