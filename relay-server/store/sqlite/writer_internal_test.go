package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/storetest"
)

// names tells test ops apart by their seq pointers.
var names = map[*int64]string{}

func named(name string, o op) op {
	o.seq = new(int64)
	names[o.seq] = name
	return o
}

// gather runs the writer's gathering of one batch over what is queued.
func gather(g *gathering) []string {
	first, ok := g.next()
	if !ok {
		return nil
	}
	g.start(first)
	g.takeQueued()
	var got []string
	for _, o := range g.batch {
		got = append(got, names[o.seq])
	}
	return got
}

// A flood of large inserts queued ahead of a small write does not delay it
// by more than one batch's bytes: it joins the batch being gathered, the
// large ones beyond the bound wait for later batches in their order, and a
// barrier overtakes nothing.
func TestGatheringFairUnderLargeBodies(t *testing.T) {
	const mib = 1 << 20
	ops := make(chan op, 64)
	for i := range 12 {
		ops <- named(fmt.Sprintf("big%d", i), op{size: mib, done: make(chan error, 1)})
	}
	ops <- named("small", op{size: 2, done: make(chan error, 1)})
	ops <- named("ack", op{})
	g := &gathering{ops: ops, open: true}

	perBatch := maxBatchBytes / mib
	got := gather(g)
	want := []string{"big0", "big1", "big2", "big3"}[:perBatch]
	want = append(want, "small", "ack")
	if !slices.Equal(got, want) {
		t.Fatalf("first batch %v, want %v", got, want)
	}
	if g.nsync != perBatch+1 || g.bytes != int64(perBatch*mib+2) {
		t.Errorf("first batch: %d durable, %d bytes", g.nsync, g.bytes)
	}

	// The next batch continues the large ones in order; a barrier queued
	// behind them takes every one left first.
	got = gather(g)
	if !slices.Equal(got, []string{"big4", "big5", "big6", "big7"}[:perBatch]) {
		t.Fatalf("second batch %v", got)
	}
	ops <- named("flush", op{barrier: true, done: make(chan error, 1)})
	got = gather(g)
	if !slices.Equal(got, []string{"big8", "big9", "big10", "big11", "flush"}) {
		t.Fatalf("batch with the barrier %v, want the rest of the large ones, then the barrier", got)
	}

	// A body over the bound goes alone, not forever later.
	ops <- named("huge", op{size: 3 * maxBatchBytes})
	ops <- named("big-after", op{size: mib})
	close(ops)
	if got := gather(g); !slices.Equal(got, []string{"huge"}) {
		t.Fatalf("batch with a body over the bound: %v", got)
	}
	if got := gather(g); !slices.Equal(got, []string{"big-after"}) {
		t.Fatalf("after it: %v", got)
	}
	if _, ok := g.next(); ok {
		t.Fatal("writes after the queue closed and emptied")
	}
}

// TestCommitDelayJoinsSplitSenders: senders split between a commit and the
// queue behind it share the next commit. Eight inserts queue while one
// write commits; the next commit waits for as many durable writes as were
// waiting at once (nine), so a ninth insert sent only once the writer has
// taken the queue still joins it, rather than the eight committing alone
// because the commit before held one.
func TestCommitDelayJoinsSplitSenders(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.commitDelay = time.Minute // the wait ends by count here, never by time
	var (
		mu      sync.Mutex
		commits []int
	)
	s.ObserveCommits(func(c store.Commit) {
		mu.Lock()
		commits = append(commits, c.Writes)
		mu.Unlock()
	})
	var g errgroup.Group
	hold := holdWriter(&g, s)
	insert := func(i int) {
		g.Go(func() error {
			return s.InsertEvent(ctx, storetest.Event(fmt.Sprintf("evt_%d", i), "alpha", time.Now()))
		})
	}
	for i := range 8 {
		insert(i)
	}
	waitFor(t, func() bool { return s.durable.Load() == 9 && len(s.ops) == 8 })
	close(hold)
	waitFor(t, func() bool { return len(s.ops) == 0 }) // the writer took the eight
	insert(8)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(commits, []int{1, 9}) {
		t.Errorf("commits of %v writes, want [1 9]", commits)
	}
	if n := s.durable.Load(); n != 0 {
		t.Errorf("%d durable writes counted after all were answered", n)
	}
}

// holdWriter has the writer run a write of its own that lasts until hold
// is closed, in g, and returns once it runs: what is queued meanwhile
// gathers into the next batch.
func holdWriter(g *errgroup.Group, s *Store) (hold chan struct{}) {
	started, hold := make(chan struct{}), make(chan struct{})
	g.Go(func() error {
		return s.write(context.Background(), true, func(*txExec) error {
			close(started)
			<-hold
			return nil
		})
	})
	<-started
	return hold
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		runtime.Gosched()
	}
}

// In a batch, the durable writes run before the asynchronous ones queued
// ahead of them, in their own order, so an event's early notice does not
// wait for updates to older events; all of it commits as one.
func TestDurableWritesRunFirst(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var (
		mu  sync.Mutex
		ran []string // statements and notices, in the order they happened
	)
	log := func(s string) {
		mu.Lock()
		ran = append(ran, s)
		mu.Unlock()
	}
	s.NotifyCommitted(func(store.Pending) {}) // early notices come with these
	s.NotifyWritten(func(p store.Pending) { log("written " + p.Event.ID) }, func(store.Pending, error) {})
	var g errgroup.Group
	hold := holdWriter(&g, s)
	queued := 0
	async := func(name string) {
		if err := s.write(ctx, false, func(*txExec) error { log(name); return nil }); err != nil {
			t.Fatal(err)
		}
		queued++
		waitFor(t, func() bool { return len(s.ops) == queued })
	}
	insert := func(id string) {
		g.Go(func() error { return s.InsertEvent(ctx, storetest.Event(id, "alpha", time.Now())) })
		queued++
		waitFor(t, func() bool { return len(s.ops) == queued })
	}
	async("ack 1")
	insert("evt_a")
	async("ack 2")
	insert("evt_b")
	close(hold)
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"written evt_a", "written evt_b", "ack 1", "ack 2"}
	if !slices.Equal(ran, want) {
		t.Errorf("ran %q, want %q", ran, want)
	}
	for _, id := range []string{"evt_a", "evt_b"} {
		if _, err := s.GetEvent(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}
