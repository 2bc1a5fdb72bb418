// Package storetest is the contract every store.Store backend must meet. A
// backend's test calls Run with a function that opens a fresh store.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// Run runs the contract suite. open(t) must return an empty store for t;
// called a second time with the same t after the first store was closed, it
// must reopen the same data (that is how durability is checked). The suite
// closes the stores it opens.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"InsertGet", testInsertGet},
		{"DuplicateID", testDuplicateID},
		{"ListNewestFirst", testList},
		{"ListOwner", testListOwner},
		{"ListPaging", testListPaging},
		{"ListState", testListState},
		{"ListTime", testListTime},
		{"Retry", testRetry},
		{"PendingOldestFirst", testPending},
		{"AckAndResponse", testAckResponse},
		{"AckCountsAttempts", testAckCountsAttempts},
		{"InsertDelivered", testInsertDelivered},
		{"Retention", testRetention},
		{"Endpoints", testEndpoints},
		{"Tokens", testTokens},
		{"ConcurrentInserts", testConcurrent},
		{"DurableAcrossReopen", testReopen},
		{"NotifyCommitted", testNotify},
		{"ListRevokeTokens", testListRevokeTokens},
		{"ListEndpoints", testListEndpoints},
		{"PurgeEvents", testPurge},
		{"PurgeMany", testPurgeMany},
		{"SeqsNeverReused", testSeqsNeverReused},
		{"NotUTF8", testNotUTF8},
		{"PendingByEndpoint", testPendingByEndpoint},
		{"Ping", testPing},
		{"ObserveCommits", testObserveCommits},
		{"LargeBodies", testLargeBodies},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

var base = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

// Event returns a test event with every field set, including a body that is
// not valid UTF-8 and repeated headers.
func Event(id, endpoint string, at time.Time) *capture.Request {
	return &capture.Request{
		ID:       id,
		Endpoint: endpoint,
		Method:   "POST",
		Path:     "/hooks/a%2Fb/c",
		Query:    "x=1&x=2&y=%20",
		Headers: capture.Headers{
			{Name: "Content-Type", Value: "application/octet-stream"},
			{Name: "X-Multi", Value: "one"},
			{Name: "X-Multi", Value: "two"},
		},
		Body:       []byte{0, 1, 2, 0xff, 0xfe, 'a'},
		Host:       "relay.example",
		Proto:      "https",
		RemoteAddr: "192.0.2.1:4242",
		ReceivedAt: at,
	}
}

func mustOpen(t *testing.T, open func(t *testing.T) store.Store) store.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() { s.Close() })
	return s
}

func insert(t *testing.T, s store.Store, evs ...*capture.Request) {
	t.Helper()
	for _, ev := range evs {
		if err := s.InsertEvent(context.Background(), ev); err != nil {
			t.Fatalf("InsertEvent(%s): %v", ev.ID, err)
		}
	}
}

func sameRequest(t *testing.T, got, want *capture.Request) {
	t.Helper()
	if got.ID != want.ID || got.Endpoint != want.Endpoint || got.Method != want.Method || got.Path != want.Path ||
		got.Query != want.Query || got.Host != want.Host || got.Proto != want.Proto || got.RemoteAddr != want.RemoteAddr ||
		got.ReplayOf != want.ReplayOf || !got.ReceivedAt.Equal(want.ReceivedAt) || !bytes.Equal(got.Body, want.Body) ||
		got.ForceQuery != want.ForceQuery {
		t.Errorf("request = %+v\nwant      %+v", got, want)
	}
	if fmt.Sprint(got.Headers) != fmt.Sprint(want.Headers) {
		t.Errorf("headers = %v, want %v", got.Headers, want.Headers)
	}
}

func testInsertGet(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	ev := Event("evt_1", "alpha", base)
	insert(t, s, ev)
	rec, err := s.GetEvent(ctx, "evt_1")
	if err != nil {
		t.Fatal(err)
	}
	sameRequest(t, rec.Request, ev)
	// "/path?" with nothing after the "?"
	evq := Event("evt_q", "alpha", base)
	evq.Query, evq.ForceQuery = "", true
	insert(t, s, evq)
	if recq, err := s.GetEvent(ctx, "evt_q"); err != nil {
		t.Error(err)
	} else {
		sameRequest(t, recq.Request, evq)
	}
	if rec.State != wire.StatePending || rec.Attempts != 0 || rec.Response != nil || rec.DeliveredAt != nil {
		t.Errorf("new event record = %+v", rec)
	}
	empty := &capture.Request{ID: "evt_2", Endpoint: "alpha", Method: "GET", Path: "/", ReceivedAt: base}
	insert(t, s, empty)
	rec, err = s.GetEvent(ctx, "evt_2")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Request.Body) != 0 || len(rec.Request.Headers) != 0 {
		t.Errorf("empty event read back as %+v", rec.Request)
	}
	if _, err := s.GetEvent(ctx, "evt_missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetEvent(missing) error = %v, want ErrNotFound", err)
	}
}

func testDuplicateID(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	insert(t, s, Event("evt_1", "alpha", base))
	err := s.InsertEvent(context.Background(), Event("evt_1", "alpha", base))
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate insert error = %v, want ErrExists", err)
	}
}

func ids(recs []wire.EventRecord) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.Request.ID)
	}
	return out
}

func testList(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		ep := "alpha"
		if i%2 == 0 {
			ep = "beta"
		}
		insert(t, s, Event(fmt.Sprintf("evt_%d", i), ep, base.Add(time.Duration(i)*time.Second)))
	}
	check := func(q store.ListQuery, want string) {
		t.Helper()
		recs, err := s.ListEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(ids(recs)); got != want {
			t.Errorf("ListEvents(%+v) = %s, want %s", q, got, want)
		}
	}
	check(store.ListQuery{}, "[evt_5 evt_4 evt_3 evt_2 evt_1]")
	check(store.ListQuery{Limit: 2}, "[evt_5 evt_4]")
	check(store.ListQuery{Before: "evt_4", Limit: 2}, "[evt_3 evt_2]")
	check(store.ListQuery{Endpoint: "alpha"}, "[evt_5 evt_3 evt_1]")
	check(store.ListQuery{Endpoint: "nobody"}, "[]")
}

func testListOwner(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	for _, ep := range []store.Endpoint{{Name: "alpha", Owner: "tok_a", CreatedAt: base}, {Name: "beta", Owner: "tok_b", CreatedAt: base}} {
		if err := s.CreateEndpoint(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	insert(t, s, Event("evt_1", "alpha", base), Event("evt_2", "beta", base), Event("evt_3", "alpha", base))
	recs, err := s.ListEvents(ctx, store.ListQuery{Owner: "tok_a"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ids(recs)); got != "[evt_3 evt_1]" {
		t.Errorf("events of tok_a = %s", got)
	}
	recs, err = s.ListEvents(ctx, store.ListQuery{Owner: "tok_a", Endpoint: "beta"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("tok_a sees beta's events: %v", ids(recs))
	}
}

func pendingIDs(t *testing.T, s store.Store, endpoint string, after int64, limit int) ([]string, int64) {
	t.Helper()
	ps, err := s.Pending(context.Background(), endpoint, after, limit, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	last := after
	for _, p := range ps {
		if p.Seq <= last {
			t.Errorf("pending cursors not increasing: %d after %d", p.Seq, last)
		}
		last = p.Seq
		out = append(out, p.Event.ID)
	}
	return out, last
}

func testPending(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	// Received-at order differs from insertion order on purpose: delivery
	// follows capture (insertion) order.
	insert(t, s,
		Event("evt_c", "alpha", base.Add(3*time.Second)),
		Event("evt_b", "alpha", base.Add(1*time.Second)),
		Event("evt_x", "beta", base),
		Event("evt_a", "alpha", base.Add(2*time.Second)),
	)
	got, cur := pendingIDs(t, s, "alpha", 0, 2)
	if fmt.Sprint(got) != "[evt_c evt_b]" {
		t.Errorf("first page = %v", got)
	}
	got, _ = pendingIDs(t, s, "alpha", cur, 10)
	if fmt.Sprint(got) != "[evt_a]" {
		t.Errorf("second page = %v", got)
	}
	// A byte budget stops the page early but never returns nothing.
	ps, err := s.Pending(context.Background(), "alpha", 0, 10, 1)
	if err != nil || len(ps) != 1 || ps[0].Event.ID != "evt_c" {
		t.Errorf("Pending with a 1-byte budget = %d events, %v; want [evt_c]", len(ps), err)
	}
	n, err := s.CountPending(context.Background(), "alpha")
	if err != nil || n != 3 {
		t.Errorf("CountPending = %d, %v; want 3", n, err)
	}
}

func testAckResponse(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	insert(t, s, Event("evt_1", "alpha", base), Event("evt_2", "alpha", base))
	if err := s.MarkSent(ctx, "alpha", []string{"evt_1", "evt_2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSent(ctx, "alpha", []string{"evt_1"}); err != nil {
		t.Fatal(err)
	}
	resp := &capture.Response{Status: 201, Headers: capture.Headers{{Name: "X-App", Value: "1"}}, Body: []byte("ok"),
		Duration: 1500 * time.Microsecond, At: base.Add(time.Second)}
	if err := s.SetResponse(ctx, "alpha", "evt_1", resp); err != nil {
		t.Fatal(err)
	}
	// An ack naming another endpoint must not touch the event.
	if err := s.Ack(ctx, "beta", "evt_1", nil, base, 0); err != nil {
		t.Fatal(err)
	}
	at := base.Add(2 * time.Second)
	if err := s.Ack(ctx, "alpha", "evt_1", nil, at, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := s.GetEvent(ctx, "evt_1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != wire.StateDelivered {
		t.Errorf("state after ack and flush = %s", rec.State)
	}
	if rec.Attempts != 2 {
		t.Errorf("attempts = %d, want 2", rec.Attempts)
	}
	if rec.DeliveredAt == nil || !rec.DeliveredAt.Equal(at) {
		t.Errorf("delivered at = %v, want %v", rec.DeliveredAt, at)
	}
	if rec.Response == nil || rec.Response.Status != 201 || string(rec.Response.Body) != "ok" ||
		rec.Response.Duration != resp.Duration || rec.Response.Headers.Get("x-app") != "1" {
		t.Errorf("response = %+v", rec.Response)
	}
	got, _ := pendingIDs(t, s, "alpha", 0, 10)
	if fmt.Sprint(got) != "[evt_2]" {
		t.Errorf("pending after ack = %v, want [evt_2]", got)
	}

	// Ack can carry the response in the same write.
	if err := s.Ack(ctx, "alpha", "evt_2", &capture.Response{Status: 204, At: at}, at, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err = s.GetEvent(ctx, "evt_2")
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != wire.StateDelivered || rec.Response == nil || rec.Response.Status != 204 || rec.Attempts != 1 {
		t.Errorf("evt_2 after ack with response = %+v", rec)
	}
}

// An ack can count the event's delivery attempt in its own write: a first
// ack sets it delivered with the attempt; a second (the event was sent
// again before the first landed) counts its attempt and changes nothing
// else.
func testAckCountsAttempts(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	insert(t, s, Event("evt_1", "alpha", base), Event("evt_2", "alpha", base))
	if err := s.MarkSent(ctx, "alpha", []string{"evt_2"}); err != nil {
		t.Fatal(err)
	}
	// Another endpoint's ack touches nothing, its attempt included.
	if err := s.Ack(ctx, "beta", "evt_1", nil, base, 1); err != nil {
		t.Fatal(err)
	}
	at := base.Add(time.Second)
	if err := s.Ack(ctx, "alpha", "evt_1", &capture.Response{Status: 200, At: at}, at, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, "alpha", "evt_2", &capture.Response{Status: 204, At: at}, at, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(id string, attempts int) {
		t.Helper()
		rec, err := s.GetEvent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != wire.StateDelivered || rec.Attempts != attempts || rec.DeliveredAt == nil || !rec.DeliveredAt.Equal(at) {
			t.Errorf("%s = state %s, attempts %d, delivered at %v; want delivered, %d, at %v",
				id, rec.State, rec.Attempts, rec.DeliveredAt, attempts, at)
		}
		if id == "evt_1" && (rec.Response == nil || rec.Response.Status != 200) {
			t.Errorf("%s response = %+v, want 200", id, rec.Response)
		}
	}
	check("evt_1", 1)
	check("evt_2", 2)

	// Acked again with an attempt: counted; the first ack's time and
	// response stay.
	later := at.Add(time.Second)
	if err := s.Ack(ctx, "alpha", "evt_1", &capture.Response{Status: 500, At: later}, later, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check("evt_1", 2)
}

func testInsertDelivered(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	ev := Event("evt_r", "alpha", base)
	ev.ReplayOf = "evt_1"
	at := base.Add(time.Second)
	if err := s.InsertDelivered(ctx, ev, &capture.Response{Status: 500, At: at}, at); err != nil {
		t.Fatal(err)
	}
	rec, err := s.GetEvent(ctx, "evt_r")
	if err != nil {
		t.Fatal(err)
	}
	sameRequest(t, rec.Request, ev)
	if rec.State != wire.StateFailed || rec.Response == nil || rec.Response.Status != 500 || rec.DeliveredAt == nil {
		t.Errorf("replay record = %+v", rec)
	}
	if got, _ := pendingIDs(t, s, "alpha", 0, 10); len(got) != 0 {
		t.Errorf("a delivered insert is pending: %v", got)
	}
}

func testRetention(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	insert(t, s, Event("evt_old", "alpha", base.Add(-48*time.Hour)), Event("evt_new", "alpha", base),
		Event("evt_old_pending", "alpha", base.Add(-47*time.Hour)))
	if err := s.Ack(ctx, "alpha", "evt_old", nil, base, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteBefore(ctx, base.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("DeleteBefore = %d, %v; want 1", n, err)
	}
	if _, err := s.GetEvent(ctx, "evt_old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old event still there: %v", err)
	}
	if _, err := s.GetEvent(ctx, "evt_new"); err != nil {
		t.Errorf("new event gone: %v", err)
	}
	// An event nobody has received yet is never deleted: it is delivered
	// whenever a CLI connects, however late.
	if got, _ := pendingIDs(t, s, "alpha", 0, 10); fmt.Sprint(got) != "[evt_new evt_old_pending]" {
		t.Errorf("pending after retention = %v, want [evt_new evt_old_pending]", got)
	}
}

func testEndpoints(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	if _, err := s.GetEndpoint(ctx, "alpha"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetEndpoint(missing) = %v, want ErrNotFound", err)
	}
	if err := s.CreateEndpoint(ctx, store.Endpoint{Name: "alpha", Owner: "tok_a", CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEndpoint(ctx, store.Endpoint{Name: "alpha", Owner: "tok_b", CreatedAt: base}); !errors.Is(err, store.ErrExists) {
		t.Errorf("second CreateEndpoint = %v, want ErrExists", err)
	}
	ep, err := s.GetEndpoint(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	if ep.Owner != "tok_a" || !ep.CreatedAt.Equal(base) {
		t.Errorf("endpoint = %+v", ep)
	}
}

func testTokens(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	h := sha256.Sum256([]byte("hkt_secret"))
	if err := s.CreateToken(ctx, store.Token{ID: "tok_1", Name: "alice", Hash: h[:], CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.TokenByHash(ctx, h[:])
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID != "tok_1" || tok.Name != "alice" || !tok.CreatedAt.Equal(base) {
		t.Errorf("token = %+v", tok)
	}
	other := sha256.Sum256([]byte("hkt_other"))
	if _, err := s.TokenByHash(ctx, other[:]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown token = %v, want ErrNotFound", err)
	}
}

func testConcurrent(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	const senders, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				ev := Event(fmt.Sprintf("evt_%02d_%02d", g, i), "alpha", base)
				if err := s.InsertEvent(context.Background(), ev); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n, err := s.CountPending(context.Background(), "alpha")
	if err != nil || n != senders*each {
		t.Errorf("CountPending = %d, %v; want %d", n, err, senders*each)
	}
}

func testReopen(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	insert(t, s, Event("evt_1", "alpha", base), Event("evt_2", "alpha", base))
	if err := s.Ack(ctx, "alpha", "evt_1", nil, base, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEndpoint(ctx, store.Endpoint{Name: "alpha", Owner: "tok_a", CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, open)
	rec, err := s.GetEvent(ctx, "evt_1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.State == wire.StatePending { // failed: acked without an answer
		t.Errorf("ack lost across reopen: %+v", rec)
	}
	got, _ := pendingIDs(t, s, "alpha", 0, 10)
	if fmt.Sprint(got) != "[evt_2]" {
		t.Errorf("pending after reopen = %v", got)
	}
	if _, err := s.GetEndpoint(ctx, "alpha"); err != nil {
		t.Errorf("endpoint lost across reopen: %v", err)
	}
}

// testNotify checks store.Notifier, for stores that implement it: every
// pending event is announced once, durable, before its InsertEvent returns,
// in Seq order, with the Seq that Pending reports; delivered inserts and
// refused duplicates are not announced.
func testNotify(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	n, ok := s.(store.Notifier)
	if !ok {
		t.Skip("store does not implement store.Notifier")
	}
	var (
		mu      sync.Mutex
		notices []store.Pending
		seen    = map[string]bool{}
	)
	n.NotifyCommitted(func(p store.Pending) {
		if p.Event == nil {
			return // another process wrote: none here
		}
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, p)
		seen[p.Event.ID] = true
	})
	ctx := context.Background()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("evt_n%d_%d", w, i)
				if err := s.InsertEvent(ctx, Event(id, "alpha", base)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				announced := seen[id]
				mu.Unlock()
				if !announced {
					t.Errorf("InsertEvent(%s) returned before the event was announced", id)
				}
			}
		}()
	}
	wg.Wait()
	if err := s.InsertDelivered(ctx, Event("evt_done", "alpha", base), &capture.Response{Status: 200}, base); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertEvent(ctx, Event("evt_n0_0", "alpha", base)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate InsertEvent = %v, want ErrExists", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ps, err := s.Pending(ctx, "alpha", 0, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notices) != len(ps) || len(ps) != workers*each {
		t.Fatalf("%d notices for %d pending events, want %d each", len(notices), len(ps), workers*each)
	}
	for i, p := range ps {
		got := notices[i]
		if got.Seq != p.Seq || got.Event.ID != p.Event.ID {
			t.Fatalf("notice %d = seq %d %s, Pending has seq %d %s", i, got.Seq, got.Event.ID, p.Seq, p.Event.ID)
		}
	}
}

func createToken(t *testing.T, s store.Store, id, name string, at time.Time) []byte {
	t.Helper()
	h := sha256.Sum256([]byte("hkt_" + id))
	if err := s.CreateToken(context.Background(), store.Token{ID: id, Name: name, Hash: h[:], CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	return h[:]
}

func createEndpoint(t *testing.T, s store.Store, name, owner string) {
	t.Helper()
	if err := s.CreateEndpoint(context.Background(), store.Endpoint{Name: name, Owner: owner, CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
}

func testListRevokeTokens(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	if toks, err := s.ListTokens(ctx); err != nil || toks == nil || len(toks) != 0 {
		t.Errorf("ListTokens on an empty store = %#v, %v; want an empty list", toks, err)
	}
	// Created out of id order: the list is oldest first.
	bob := createToken(t, s, "tok_b", "bob", base.Add(time.Second))
	alice := createToken(t, s, "tok_a", "alice", base.Add(2*time.Second))
	createToken(t, s, "tok_c", "carol", base)
	createEndpoint(t, s, "alpha", "tok_a")
	createEndpoint(t, s, "beta", "tok_a")
	createEndpoint(t, s, "gamma", "tok_b")
	createEndpoint(t, s, "open", "")
	insert(t, s, Event("evt_1", "alpha", base))
	toks, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(toks)
	want := fmt.Sprint([]store.TokenInfo{
		{ID: "tok_c", Name: "carol", CreatedAt: base, Endpoints: 0},
		{ID: "tok_b", Name: "bob", CreatedAt: base.Add(time.Second), Endpoints: 1},
		{ID: "tok_a", Name: "alice", CreatedAt: base.Add(2 * time.Second), Endpoints: 2},
	})
	if got != want {
		t.Errorf("ListTokens =\n%s\nwant\n%s", got, want)
	}

	if err := s.RevokeToken(ctx, "tok_a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenByHash(ctx, alice); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked token still authenticates: %v", err)
	}
	if tok, err := s.TokenByHash(ctx, bob); err != nil || tok.ID != "tok_b" {
		t.Errorf("another token after a revocation = %+v, %v", tok, err)
	}
	if err := s.RevokeToken(ctx, "tok_a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second RevokeToken = %v, want ErrNotFound", err)
	}
	if err := s.RevokeToken(ctx, "tok_none"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeToken(unknown) = %v, want ErrNotFound", err)
	}
	toks, err = s.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 2 || toks[0].ID != "tok_c" || toks[1].ID != "tok_b" {
		t.Errorf("tokens after revoking tok_a = %v", toks)
	}
	// The revoked token's endpoints keep their owner (so no other token can
	// claim them) and their events.
	if ep, err := s.GetEndpoint(ctx, "alpha"); err != nil || ep.Owner != "tok_a" {
		t.Errorf("endpoint of a revoked token = %+v, %v", ep, err)
	}
	if _, err := s.GetEvent(ctx, "evt_1"); err != nil {
		t.Errorf("event of a revoked token's endpoint: %v", err)
	}
}

func testListEndpoints(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	if eps, err := s.ListEndpoints(ctx); err != nil || eps == nil || len(eps) != 0 {
		t.Errorf("ListEndpoints on an empty store = %#v, %v; want an empty list", eps, err)
	}
	createToken(t, s, "tok_a", "alice", base)
	createToken(t, s, "tok_b", "bob", base)
	createEndpoint(t, s, "beta", "tok_b")
	createEndpoint(t, s, "alpha", "tok_a")
	createEndpoint(t, s, "open", "")
	// Capture order, not received-at, decides the newest event.
	insert(t, s, Event("evt_1", "alpha", base.Add(3*time.Second)), Event("evt_2", "alpha", base.Add(5*time.Second)),
		Event("evt_3", "alpha", base.Add(4*time.Second)), Event("evt_4", "beta", base))
	if err := s.Ack(ctx, "alpha", "evt_1", nil, base, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "tok_b"); err != nil {
		t.Fatal(err)
	}
	eps, err := s.ListEndpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.EndpointInfo{
		{Endpoint: store.Endpoint{Name: "alpha", Owner: "tok_a", CreatedAt: base}, OwnerName: "alice", Pending: 2, Events: 3, LastEventAt: base.Add(4 * time.Second)},
		{Endpoint: store.Endpoint{Name: "beta", Owner: "tok_b", CreatedAt: base}, OwnerName: "", Pending: 1, Events: 1, LastEventAt: base},
		{Endpoint: store.Endpoint{Name: "open", Owner: "", CreatedAt: base}},
	}
	if len(eps) != len(want) {
		t.Fatalf("ListEndpoints = %+v, want %+v", eps, want)
	}
	for i := range want {
		g, w := eps[i], want[i]
		if g.Name != w.Name || g.Owner != w.Owner || !g.CreatedAt.Equal(w.CreatedAt) || g.OwnerName != w.OwnerName ||
			g.Pending != w.Pending || g.Events != w.Events || !g.LastEventAt.Equal(w.LastEventAt) {
			t.Errorf("endpoint %d = %+v\nwant        %+v", i, g, w)
		}
	}
}

func testPurge(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	insert(t, s,
		Event("evt_old_done", "alpha", base.Add(-2*time.Hour)),
		Event("evt_old_pending", "alpha", base.Add(-2*time.Hour)),
		Event("evt_new_done", "alpha", base),
		Event("evt_new_pending", "alpha", base),
		Event("evt_beta_done", "beta", base.Add(-2*time.Hour)),
	)
	for _, a := range [][2]string{{"alpha", "evt_old_done"}, {"alpha", "evt_new_done"}, {"beta", "evt_beta_done"}} {
		if err := s.Ack(ctx, a[0], a[1], nil, base, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	left := func(want string) {
		t.Helper()
		recs, err := s.ListEvents(ctx, store.ListQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(ids(recs)); got != want {
			t.Errorf("events left = %s, want %s", got, want)
		}
	}
	purge := func(q store.PurgeQuery, want int64) {
		t.Helper()
		n, err := s.PurgeEvents(ctx, q)
		if err != nil || n != want {
			t.Errorf("PurgeEvents(%+v) = %d, %v; want %d", q, n, err, want)
		}
	}
	// Delivered only, before a time.
	purge(store.PurgeQuery{Endpoint: "alpha", Before: base.Add(-time.Hour)}, 1)
	left("[evt_beta_done evt_new_pending evt_new_done evt_old_pending]")
	// Delivered only, any time; another endpoint is never touched.
	purge(store.PurgeQuery{Endpoint: "alpha"}, 1)
	left("[evt_beta_done evt_new_pending evt_old_pending]")
	purge(store.PurgeQuery{Endpoint: "alpha"}, 0)
	// Pending ones only when asked, and then they are gone from delivery too.
	purge(store.PurgeQuery{Endpoint: "alpha", Before: base.Add(-time.Hour), Pending: true}, 1)
	if got, _ := pendingIDs(t, s, "alpha", 0, 10); fmt.Sprint(got) != "[evt_new_pending]" {
		t.Errorf("pending after purge = %v", got)
	}
	purge(store.PurgeQuery{Endpoint: "alpha", Pending: true}, 1)
	left("[evt_beta_done]")
	if n, err := s.CountPending(ctx, "alpha"); err != nil || n != 0 {
		t.Errorf("CountPending after purge = %d, %v", n, err)
	}
	// An ack of a purged event (a CLI that had it in flight) changes nothing.
	if err := s.Ack(ctx, "alpha", "evt_new_pending", nil, base, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetEvent(ctx, "evt_new_pending"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("purged event after an ack: %v", err)
	}
}

// pendingSeq is the Seq Pending reports for the pending event id.
func pendingSeq(t *testing.T, s store.Store, endpoint, id string) int64 {
	t.Helper()
	ps, err := s.Pending(context.Background(), endpoint, 0, 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Event.ID == id {
			return p.Seq
		}
	}
	t.Fatalf("%s is not pending on %s", id, endpoint)
	return 0
}

// testSeqsNeverReused: a Seq is never given out twice, even once the
// events with the highest ones are deleted (retention, purge) and the store
// is reopened: a CLI whose cursor is at a deleted event's Seq would skip an
// event that took it again.
func testSeqsNeverReused(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	t.Cleanup(func() { s.Close() }) // the last one opened
	insert(t, s, Event("evt_a1", "alpha", base), Event("evt_b1", "beta", base), Event("evt_b2", "beta", base.Add(-48*time.Hour)))
	high := pendingSeq(t, s, "beta", "evt_b2")
	// Retention takes the newest event: delivered, received long ago.
	if err := s.Ack(ctx, "beta", "evt_b2", nil, base, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteBefore(ctx, base.Add(-time.Hour)); err != nil || n != 1 {
		t.Fatalf("DeleteBefore = %d, %v; want 1", n, err)
	}
	reinsert := func(id string) {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open(t)
		insert(t, s, Event(id, "beta", base))
		if seq := pendingSeq(t, s, "beta", id); seq <= high {
			t.Fatalf("%s has seq %d, not after %d, the highest given out before", id, seq, high)
		} else {
			high = seq
		}
	}
	reinsert("evt_b3")
	// A purge of everything, the newest event included.
	for _, ep := range []string{"alpha", "beta"} {
		if _, err := s.PurgeEvents(ctx, store.PurgeQuery{Endpoint: ep, Pending: true}); err != nil {
			t.Fatal(err)
		}
	}
	reinsert("evt_b4")
}

// testPurgeMany purges more events than a backend is likely to delete in
// one go, pending and delivered mixed.
func testPurgeMany(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	const workers, each = 16, 80
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ev := Event(fmt.Sprintf("evt_m%02d_%03d", w, i), "alpha", base)
				var err error
				if i%2 == 0 {
					err = s.InsertDelivered(ctx, ev, nil, base)
				} else {
					err = s.InsertEvent(ctx, ev)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	insert(t, s, Event("evt_other", "beta", base))
	n, err := s.PurgeEvents(ctx, store.PurgeQuery{Endpoint: "alpha"})
	if err != nil || n != workers*each/2 {
		t.Errorf("PurgeEvents(delivered) = %d, %v; want %d", n, err, workers*each/2)
	}
	n, err = s.PurgeEvents(ctx, store.PurgeQuery{Endpoint: "alpha", Pending: true})
	if err != nil || n != workers*each/2 {
		t.Errorf("PurgeEvents(pending) = %d, %v; want %d", n, err, workers*each/2)
	}
	recs, err := s.ListEvents(ctx, store.ListQuery{Limit: 10})
	if err != nil || fmt.Sprint(ids(recs)) != "[evt_other]" {
		t.Errorf("events left = %v, %v", ids(recs), err)
	}
}

// testNotUTF8: strings that are not valid UTF-8 (capture.Request.Raw) are
// read back as the exact bytes, from every read.
func testNotUTF8(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	ev := Event("evt_raw", "alpha", base)
	ev.Path, ev.Query = "/caf\xe9", "q=\xe9t\xe9"
	ev.Headers = append(ev.Headers, capture.Header{Name: "X-Name", Value: "caf\xe9"})
	ev.SetRaw()
	insert(t, s, ev)
	resp := &capture.Response{Status: 200, Headers: capture.Headers{{Name: "X-App", Value: "r\xe9sum\xe9"}}, At: base}
	resp.SetRaw()
	if err := s.Ack(ctx, "alpha", "evt_raw", resp, base, 0); err != nil {
		t.Fatal(err)
	}
	done := Event("evt_raw2", "alpha", base)
	done.Headers = capture.Headers{{Name: "X-Name", Value: "\xff"}}
	done.SetRaw()
	if err := s.InsertDelivered(ctx, done, resp, base); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := s.GetEvent(ctx, "evt_raw")
	if err != nil {
		t.Fatal(err)
	}
	sameRequest(t, rec.Request, ev)
	if rec.Response == nil || rec.Response.Headers.Get("X-App") != "r\xe9sum\xe9" {
		t.Errorf("response = %+v", rec.Response)
	}
	list, err := s.ListEvents(ctx, store.ListQuery{Endpoint: "alpha"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("listed %d events, want 2", len(list))
	}
	sameRequest(t, list[0].Request, done)
	sameRequest(t, list[1].Request, ev)

	pend := Event("evt_raw3", "alpha", base)
	pend.Headers = capture.Headers{{Name: "X-Name", Value: "caf\xe9"}}
	pend.SetRaw()
	insert(t, s, pend)
	ps, err := s.Pending(ctx, "alpha", 0, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("%d pending, want 1", len(ps))
	}
	sameRequest(t, ps[0].Event, pend)
}

func testPendingByEndpoint(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	if got, err := s.PendingByEndpoint(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty store: PendingByEndpoint = %#v, %v; want an empty list", got, err)
	}
	for i := range 3 {
		insert(t, s, Event(fmt.Sprintf("evt_b%d", i), "beta", base))
	}
	for i := range 2 {
		insert(t, s, Event(fmt.Sprintf("evt_a%d", i), "alpha", base))
		insert(t, s, Event(fmt.Sprintf("evt_c%d", i), "gamma", base))
	}
	insert(t, s, Event("evt_d0", "delta", base))
	if err := s.InsertDelivered(ctx, Event("evt_e0", "epsilon", base), nil, base); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, "delta", "evt_d0", nil, base, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, "beta", "evt_b0", nil, base, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.PendingByEndpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Most first, ties by name; nothing for endpoints without pending
	// events.
	want := []store.EndpointCount{{Endpoint: "alpha", Count: 2}, {Endpoint: "beta", Count: 2}, {Endpoint: "gamma", Count: 2}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("PendingByEndpoint = %v, want %v", got, want)
	}
}

func testPing(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping of an open store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Error("Ping of a closed store succeeded")
	}
}

func testObserveCommits(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	o, ok := s.(store.CommitObserver)
	if !ok {
		t.Skip("store does not implement store.CommitObserver")
	}
	var (
		mu      sync.Mutex
		commits []store.Commit
	)
	o.ObserveCommits(func(c store.Commit) {
		mu.Lock()
		commits = append(commits, c)
		mu.Unlock()
	})
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.InsertEvent(ctx, Event(fmt.Sprintf("evt_o%d", i), "alpha", base)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Every insert was reported before it returned.
	mu.Lock()
	defer mu.Unlock()
	writes := 0
	for _, c := range commits {
		if c.Err != nil || c.Writes < 1 || c.Duration <= 0 {
			t.Errorf("commit %+v, want at least one write, a duration and no error", c)
		}
		writes += c.Writes
	}
	if writes != n {
		t.Errorf("commits hold %d writes in all, want %d (%d commits)", writes, n, len(commits))
	}
}
