package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// insertMany stores n events evt_0000… of endpoint from 8 writers at once
// (so their commits share fsyncs), the i-th received at base + i ms.
func insertMany(t *testing.T, s store.Store, endpoint string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				ev := Event(fmt.Sprintf("evt_%04d", i), endpoint, base.Add(time.Duration(i)*time.Millisecond))
				if err := s.InsertEvent(context.Background(), ev); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// page lists all of q by cursor, pageSize at a time, forward (After) or
// backward (Before).
func page(t *testing.T, s store.Store, q store.ListQuery, pageSize int, forward bool) []string {
	t.Helper()
	var out []string
	for {
		q.Limit = pageSize
		q.OldestFirst = forward
		recs, err := s.ListEvents(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ids(recs)...)
		if len(recs) < pageSize {
			return out
		}
		last := recs[len(recs)-1].Request.ID
		if forward {
			q.After = last
		} else {
			q.Before = last
		}
	}
}

func testListPaging(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	const n = 1234
	insertMany(t, s, "alpha", n)
	insert(t, s, Event("evt_other", "beta", base))
	// One page of everything is the reference order.
	all, err := s.ListEvents(context.Background(), store.ListQuery{Limit: n + 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n+1 {
		t.Fatalf("all: %d events", len(all))
	}
	var newest []string
	for _, r := range all {
		if r.Request.Endpoint == "alpha" {
			newest = append(newest, r.Request.ID)
		}
	}
	oldest := slices.Clone(newest)
	slices.Reverse(oldest)
	seen := map[string]bool{}
	for _, id := range newest {
		seen[id] = true
	}
	if len(seen) != n {
		t.Fatalf("one page: %d distinct events of alpha, want %d", len(seen), n)
	}
	for _, forward := range []bool{false, true} {
		got := page(t, s, store.ListQuery{Endpoint: "alpha"}, 37, forward)
		want := newest
		if forward {
			want = oldest
		}
		if !slices.Equal(got, want) {
			t.Errorf("oldest first %v: %d events paged, not each once in order", forward, len(got))
		}
	}
	allIDs := ids(all)
	recs, err := s.ListEvents(context.Background(), store.ListQuery{Before: allIDs[10], After: allIDs[20], Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(ids(recs)), fmt.Sprint(allIDs[11:20]); got != want {
		t.Errorf("between = %s, want %s", got, want)
	}
	if _, err := s.ListEvents(context.Background(), store.ListQuery{Before: "evt_gone"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown cursor: %v, want ErrNotFound", err)
	}
}

func testListState(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	insert(t, s, Event("evt_pending", "alpha", base), Event("evt_ok", "alpha", base), Event("evt_500", "alpha", base),
		Event("evt_noanswer", "alpha", base), Event("evt_unreached", "alpha", base), Event("evt_set500", "alpha", base))
	at := base.Add(time.Second)
	acks := []struct {
		id   string
		resp *capture.Response
	}{
		{"evt_ok", &capture.Response{Status: 204, At: at}},
		{"evt_500", &capture.Response{Status: 500, Body: []byte(`{"status":200}`), Headers: capture.Headers{{Name: "X", Value: `"status":200`}}, At: at}},
		{"evt_noanswer", nil},
		{"evt_unreached", &capture.Response{Error: "connection refused", At: at}},
	}
	for _, a := range acks {
		if err := s.Ack(ctx, "alpha", a.id, a.resp, at, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetResponse(ctx, "alpha", "evt_set500", &capture.Response{Status: 503, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, "alpha", "evt_set500", nil, at, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertDelivered(ctx, Event("evt_replay_ok", "alpha", base), &capture.Response{Status: 200, At: at}, at); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for state, want := range map[string]string{
		wire.StatePending:   "[evt_pending]",
		wire.StateDelivered: "[evt_replay_ok evt_ok]",
		wire.StateFailed:    "[evt_set500 evt_unreached evt_noanswer evt_500]",
	} {
		recs, err := s.ListEvents(ctx, store.ListQuery{State: state})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(ids(recs)); got != want {
			t.Errorf("state %s: %s, want %s", state, got, want)
		}
		for _, r := range recs {
			if r.State != state {
				t.Errorf("state %s: %s shows %s", state, r.Request.ID, r.State)
			}
		}
	}
	if _, err := s.ListEvents(ctx, store.ListQuery{State: "bogus"}); err == nil {
		t.Error("an unknown state lists")
	}
}

func testListTime(t *testing.T, open func(t *testing.T) store.Store) {
	s := mustOpen(t, open)
	ctx := context.Background()
	for i := range 5 {
		insert(t, s, Event(fmt.Sprintf("evt_%d", i), "alpha", base.Add(time.Duration(i)*time.Minute)))
	}
	check := func(q store.ListQuery, want string) {
		t.Helper()
		recs, err := s.ListEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(ids(recs)); got != want {
			t.Errorf("ListEvents(since %v, until %v) = %s, want %s", q.Since, q.Until, got, want)
		}
	}
	check(store.ListQuery{Since: base.Add(2 * time.Minute)}, "[evt_4 evt_3 evt_2]")
	check(store.ListQuery{Until: base.Add(2 * time.Minute)}, "[evt_1 evt_0]")
	check(store.ListQuery{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)}, "[evt_2 evt_1]")
	check(store.ListQuery{Since: base.Add(time.Hour)}, "[]")
}

func testRetry(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	insert(t, s, Event("evt_1", "alpha", base), Event("evt_2", "alpha", base))
	next := base.Add(time.Hour)
	if err := s.Retry(ctx, "alpha", "evt_1", &capture.Response{Status: 503, At: base}, next); err != nil {
		t.Fatal(err)
	}
	// Another endpoint's retry touches nothing.
	if err := s.Retry(ctx, "beta", "evt_2", &capture.Response{Status: 500, At: base}, next); err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(ctx, "alpha", "evt_1", &capture.Response{Error: "connection refused", At: base}, next.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(s store.Store) {
		t.Helper()
		rec, err := s.GetEvent(ctx, "evt_1")
		if err != nil {
			t.Fatal(err)
		}
		if rec.State != wire.StatePending || rec.Retries != 2 || rec.NextAttemptAt == nil || !rec.NextAttemptAt.Equal(next.Add(time.Hour)) ||
			rec.Response == nil || rec.Response.Error != "connection refused" {
			t.Errorf("after two retries: %+v", rec)
		}
		ps, err := s.Pending(ctx, "alpha", 0, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 2 || ps[0].Event.ID != "evt_1" || ps[0].Retries != 2 || !ps[0].NextAttempt.Equal(next.Add(time.Hour)) ||
			ps[1].Retries != 0 || !ps[1].NextAttempt.IsZero() {
			t.Errorf("pending: %+v", ps)
		}
	}
	check(s)
	// The schedule is durable: a restarted relay continues it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, open)
	check(s)
	recs, err := s.ListEvents(ctx, store.ListQuery{State: wire.StatePending})
	if err != nil || len(recs) != 2 {
		t.Errorf("pending list: %d, %v", len(recs), err)
	}
	// Retries exhausted: the last answer acked, the event failed.
	if err := s.Ack(ctx, "alpha", "evt_1", &capture.Response{Status: 500, At: next}, next, 0); err != nil {
		t.Fatal(err)
	}
	// A retry after the ack changes nothing.
	if err := s.Retry(ctx, "alpha", "evt_1", &capture.Response{Status: 502, At: next}, next); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := s.GetEvent(ctx, "evt_1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != wire.StateFailed || rec.Retries != 2 || rec.Response == nil || rec.Response.Status != 500 {
		t.Errorf("after the last answer: %+v", rec)
	}
	recs, err = s.ListEvents(ctx, store.ListQuery{State: wire.StateFailed})
	if err != nil || fmt.Sprint(ids(recs)) != "[evt_1]" {
		t.Errorf("failed list: %v, %v", ids(recs), err)
	}
}
