package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// BodySizes are body sizes on both sides of the chunk sizes a backend is
// likely to store large bodies in (64 KiB, 256 KiB, 1 MiB), and one of many
// chunks.
func BodySizes() []int {
	var sizes []int
	for _, c := range []int{64 << 10, 256 << 10, 1 << 20} {
		sizes = append(sizes, c-1, c, c+1)
	}
	return append(sizes, 2*(256<<10)+1, 3<<20+7)
}

// RandomBody is n bytes that are the same for the same seed.
func RandomBody(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// testLargeBodies: bodies of every size in BodySizes come back exactly as
// stored from every read (GetEvent, Pending, ListEvents), after a reopen
// too, and go with their events.
func testLargeBodies(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	ctx := context.Background()
	sizes := BodySizes()
	want := map[string][32]byte{}
	var order []string
	for i, n := range sizes {
		ev := Event(fmt.Sprintf("evt_%02d", i), "alpha", base.Add(time.Duration(i)*time.Second))
		ev.Body = RandomBody(n, uint64(i))
		want[ev.ID] = sha256.Sum256(ev.Body)
		order = append(order, ev.ID)
		insert(t, s, ev)
	}
	delivered := Event("evt_delivered", "alpha", base)
	delivered.Body = RandomBody(1<<20+1, 99)
	want[delivered.ID] = sha256.Sum256(delivered.Body)
	if err := s.InsertDelivered(ctx, delivered, &capture.Response{Status: 200}, base); err != nil {
		t.Fatal(err)
	}
	check := func(when, id string, body []byte) {
		t.Helper()
		if sha256.Sum256(body) != want[id] {
			t.Errorf("%s: %s: body of %d bytes differs from the one stored", when, id, len(body))
		}
	}
	getAll := func(when string, s store.Store) {
		t.Helper()
		for id := range want {
			rec, err := s.GetEvent(ctx, id)
			if err != nil {
				t.Fatalf("%s: GetEvent(%s): %v", when, id, err)
			}
			check(when+": GetEvent", id, rec.Request.Body)
		}
	}
	getAll("after insert", s)

	ps, err := s.Pending(ctx, "alpha", 0, 100, 0)
	if err != nil || len(ps) != len(sizes) {
		t.Fatalf("Pending = %d events, %v; want %d", len(ps), err, len(sizes))
	}
	for i, p := range ps {
		if p.Event.ID != order[i] {
			t.Fatalf("Pending[%d] = %s, want %s", i, p.Event.ID, order[i])
		}
		check("Pending", p.Event.ID, p.Event.Body)
	}
	// The byte budget counts whole bodies: one event over it is returned
	// alone, whole.
	ps, err = s.Pending(ctx, "alpha", 0, 100, 1)
	if err != nil || len(ps) != 1 || ps[0].Event.ID != order[0] {
		t.Fatalf("Pending with a 1-byte budget = %d events, %v; want [%s]", len(ps), err, order[0])
	}
	check("Pending with a budget", ps[0].Event.ID, ps[0].Event.Body)
	recs, err := s.ListEvents(ctx, store.ListQuery{Endpoint: "alpha", OldestFirst: true, Limit: 100})
	if err != nil || len(recs) != len(want) {
		t.Fatalf("ListEvents = %d events, %v; want %d", len(recs), err, len(want))
	}
	for _, r := range recs {
		check("ListEvents", r.Request.ID, r.Request.Body)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, open)
	getAll("after reopen", s)

	for _, id := range order {
		if err := s.Ack(ctx, "alpha", id, nil, base, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteBefore(ctx, base.Add(time.Hour)); err != nil || n != int64(len(want)) {
		t.Fatalf("DeleteBefore = %d, %v; want %d", n, err, len(want))
	}
	for id := range want {
		if _, err := s.GetEvent(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetEvent(%s) after retention: %v, want ErrNotFound", id, err)
		}
	}
	// The store still takes large bodies after deleting some.
	ev := Event("evt_after", "alpha", base)
	ev.Body = RandomBody(sizes[len(sizes)-1], 7)
	want[ev.ID] = sha256.Sum256(ev.Body)
	insert(t, s, ev)
	rec, err := s.GetEvent(ctx, ev.ID)
	if err != nil || rec.State != wire.StatePending {
		t.Fatalf("GetEvent(%s) = %+v, %v", ev.ID, rec, err)
	}
	check("after retention", ev.ID, rec.Request.Body)
}
