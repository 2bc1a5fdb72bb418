package tunnel

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// TestEachEventPages lists more events than one page of the relay's API
// holds: every event once, in order, up to the limit asked, with the
// state and time filters applied by the relay.
func TestEachEventPages(t *testing.T) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	ctx := context.Background()
	const n, failed = 1234, 100
	base := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				ev := &capture.Request{ID: fmt.Sprintf("evt_%04d", i), Endpoint: "demo", Method: "POST", Path: "/",
					Headers: capture.Headers{}, Body: []byte("{}"), ReceivedAt: base.Add(time.Duration(i) * time.Second)}
				if err := rl.st.InsertEvent(ctx, ev); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range n {
		resp := &capture.Response{Status: 200}
		if i < failed {
			resp.Status = 500
		}
		if err := rl.st.Ack(ctx, "demo", fmt.Sprintf("evt_%04d", i), resp, base, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := rl.st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	api, err := NewAPIClient(rl.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer api.hc.CloseIdleConnections()
	list := func(q EventsQuery, max int) []string {
		t.Helper()
		var out []string
		err := api.EachEvent(ctx, q, max, func(r wire.EventRecord) error {
			out = append(out, r.Request.ID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	distinct := func(ids []string) int {
		m := map[string]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return len(m)
	}

	// One request for more than a page: a page and a cursor, not silence.
	page, err := api.EventsPage(ctx, EventsQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != wire.MaxListPage || page.Next != page.Events[len(page.Events)-1].Request.ID {
		t.Errorf("limit 1000: %d events, next %q", len(page.Events), page.Next)
	}
	all := list(EventsQuery{}, 0)
	if len(all) != n || distinct(all) != n {
		t.Errorf("all: %d events, %d distinct, want %d", len(all), distinct(all), n)
	}
	if got := list(EventsQuery{}, 1000); len(got) != 1000 || !slices.Equal(got, all[:1000]) {
		t.Errorf("max 1000: %d events", len(got))
	}
	oldest := list(EventsQuery{OldestFirst: true}, 0)
	slices.Reverse(oldest)
	if !slices.Equal(oldest, all) {
		t.Errorf("oldest first: %d events, not the reverse of newest first", len(oldest))
	}
	if got := list(EventsQuery{State: wire.StateFailed}, 0); len(got) != failed || distinct(got) != failed {
		t.Errorf("failed: %d events, want %d", len(got), failed)
	}
	if got := list(EventsQuery{State: wire.StateDelivered}, 0); len(got) != n-failed {
		t.Errorf("delivered: %d events, want %d", len(got), n-failed)
	}
	// Receive times: [base+1000s, base+1100s) holds 100 events.
	got := list(EventsQuery{Since: base.Add(1000 * time.Second), Until: base.Add(1100 * time.Second)}, 0)
	slices.Sort(got) // inserted concurrently: seq order is not id order
	if len(got) != 100 || got[0] != "evt_1000" || got[99] != "evt_1099" || distinct(got) != 100 {
		t.Errorf("since/until: %d events", len(got))
	}
	// From a cursor, either way.
	if got := list(EventsQuery{After: all[600], OldestFirst: true}, 0); len(got) != 600 || got[0] != all[599] {
		t.Errorf("after: %d events", len(got))
	}
	if got := list(EventsQuery{Before: all[600]}, 0); len(got) != n-601 || got[0] != all[601] {
		t.Errorf("before: %d events", len(got))
	}
	if _, err := api.EventsPage(ctx, EventsQuery{Before: "evt_nope"}); err == nil {
		t.Error("an unknown cursor lists")
	}
	if _, err := api.EventsPage(ctx, EventsQuery{State: "bogus"}); err == nil {
		t.Error("an unknown state lists")
	}
}
