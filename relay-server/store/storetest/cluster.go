package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// RunCluster runs the multi-node contract: each call of open(t) returns
// another node's store on the one database of t (empty at the first call).
// The stores must implement store.Cluster.
func RunCluster(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) store.Store)
	}{
		{"ForeignCommitWakesEndpoint", testForeignWake},
		{"LateCommitsNotSkipped", testLateCommits},
		{"Leases", testLeases},
		{"CrossNodeResponse", testCrossNodeResponse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// waitFor is how long a test waits for another node's notice. It bounds a
// hang, not a speed: the notices come in milliseconds.
const waitFor = time.Minute

// node is one store of the cluster, running its cluster loop, with what it
// was told.
type node struct {
	store.Store
	c       store.Cluster
	notices chan store.Pending
	events  chan handlerCall
}

type handlerCall struct {
	kind, endpoint, arg string
	resp                *capture.Response
}

func (n *node) Replaced(endpoint, session string) {
	n.events <- handlerCall{kind: "replaced", endpoint: endpoint, arg: session}
}

func (n *node) Response(endpoint, id string, resp *capture.Response) {
	n.events <- handlerCall{kind: "response", endpoint: endpoint, arg: id, resp: resp}
}

func startNode(t *testing.T, open func(t *testing.T) store.Store) *node {
	t.Helper()
	s := open(t)
	c, ok := s.(store.Cluster)
	if !ok {
		s.Close()
		t.Fatal("store does not implement store.Cluster")
	}
	n := &node{Store: s, c: c, notices: make(chan store.Pending, 10000), events: make(chan handlerCall, 100)}
	s.(store.Notifier).NotifyCommitted(func(p store.Pending) {
		select {
		case n.notices <- p:
		default:
			t.Error("notice buffer full")
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.RunCluster(ctx, n)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		s.Close()
	})
	return n
}

// waitNotice waits for a notice that match accepts, skipping others.
func (n *node) waitNotice(t *testing.T, what string, match func(store.Pending) bool) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case p := <-n.notices:
			if match(p) {
				return
			}
		case <-deadline:
			t.Fatalf("no notice of %s", what)
		}
	}
}

func (n *node) waitCall(t *testing.T, kind string) handlerCall {
	t.Helper()
	select {
	case c := <-n.events:
		if c.kind != kind {
			t.Fatalf("handler got %s %+v, want %s", c.kind, c, kind)
		}
		return c
	case <-time.After(waitFor):
		t.Fatalf("handler never got %s", kind)
		return handlerCall{}
	}
}

// The listening connection may come up after the first insert: insert
// until the other node hears one.
func testForeignWake(t *testing.T, open func(t *testing.T) store.Store) {
	a, b := startNode(t, open), startNode(t, open)
	ctx := context.Background()
	for i := 0; ; i++ {
		insert(t, a, Event(fmt.Sprintf("evt_w%d", i), "alpha", base))
		select {
		case p := <-b.notices:
			if p.Event != nil || p.Endpoint != "alpha" && p.Endpoint != "" {
				t.Fatalf("b's notice = %+v, want one naming alpha without an event", p)
			}
		case <-time.After(100 * time.Millisecond):
			if i < int(waitFor/(100*time.Millisecond)) {
				continue
			}
			t.Fatal("b never heard of a's inserts")
		}
		break
	}
	// a's own events are announced to a, with the events.
	a.waitNotice(t, "a's own event", func(p store.Pending) bool { return p.Event != nil && p.Event.Endpoint == "alpha" })
	// An insert to another endpoint names that endpoint.
	insert(t, a, Event("evt_beta", "beta", base))
	b.waitNotice(t, "beta", func(p store.Pending) bool { return p.Endpoint == "beta" })
	// b's own insert after a's: b says first that alpha has events it did
	// not write, then announces its own.
	for len(b.notices) > 0 {
		<-b.notices
	}
	insert(t, b, Event("evt_b1", "alpha", base))
	var got []store.Pending
	for len(got) < 2 {
		select {
		case p := <-b.notices:
			if p.Event == nil && p.Endpoint == "beta" {
				continue // a late wake-up of the beta insert
			}
			got = append(got, p)
		case <-time.After(waitFor):
			t.Fatalf("b's notices of its own insert: %+v", got)
		}
	}
	if got[0].Event != nil || got[0].Endpoint != "alpha" {
		t.Fatalf("first notice = %+v, want alpha without an event", got[0])
	}
	if got[1].Event == nil || got[1].Event.ID != "evt_b1" {
		t.Fatalf("second notice = %+v, want evt_b1", got[1])
	}
	// And a second insert of b's own follows its own: no notice without an
	// event before it.
	insert(t, b, Event("evt_b2", "alpha", base))
	p := <-b.notices
	if p.Event == nil || p.Event.ID != "evt_b2" {
		t.Fatalf("notice = %+v, want evt_b2 only", p)
	}
	if n, err := b.CountPending(ctx, "alpha"); err != nil || n < 3 {
		t.Fatalf("CountPending = %d, %v", n, err)
	}
}

// testLateCommits: two nodes insert into one endpoint at once while a
// reader follows a cursor as a session does. Every event must be read
// exactly once: a reader that saw seq n never sees a lower one appear.
func testLateCommits(t *testing.T, open func(t *testing.T) store.Store) {
	a, b := startNode(t, open), startNode(t, open)
	ctx := context.Background()
	const workers, each = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		s := a.Store
		if w%2 == 1 {
			s = b.Store
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := s.InsertEvent(ctx, Event(fmt.Sprintf("evt_l%d_%d", w, i), "alpha", base)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	read := map[string]int{}
	var (
		cursor int64
		order  []int64
	)
	follow := func() {
		for {
			ps, err := b.Pending(ctx, "alpha", cursor, 7, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				read[p.Event.ID]++
				order = append(order, p.Seq)
				cursor = p.Seq
			}
			if len(ps) < 7 {
				return
			}
		}
	}
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		follow()
	}
	follow()
	if len(read) != workers*each {
		t.Fatalf("the cursor read %d distinct events of %d inserted: %d skipped", len(read), workers*each, workers*each-len(read))
	}
	for id, n := range read {
		if n != 1 {
			t.Fatalf("%s read %d times", id, n)
		}
	}
	if !sort.SliceIsSorted(order, func(i, j int) bool { return order[i] < order[j] }) {
		t.Fatal("seqs read out of order")
	}
}

func testLeases(t *testing.T, open func(t *testing.T) store.Store) {
	a, b := startNode(t, open), startNode(t, open)
	ctx := context.Background()
	if a.c.Node() == b.c.Node() || a.c.Node() == "" {
		t.Fatalf("node ids %q and %q", a.c.Node(), b.c.Node())
	}
	if _, err := a.c.Lease(ctx, "alpha"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Lease before any claim = %v, want ErrNotFound", err)
	}
	reply := wire.ReplyOptions{Mode: wire.ReplyStatus, Status: 204}
	la, err := a.c.Claim(ctx, store.Lease{Endpoint: "alpha", Session: "ses_a", Reply: reply})
	if err != nil {
		t.Fatal(err)
	}
	if la.Node != a.c.Node() || la.Epoch < 1 {
		t.Fatalf("lease = %+v", la)
	}
	got, err := b.c.Lease(ctx, "alpha")
	if err != nil || got.Session != "ses_a" || got.Node != a.c.Node() || got.Reply != reply || got.Epoch != la.Epoch {
		t.Fatalf("b sees lease %+v, %v; want a's %+v", got, err, la)
	}
	lb, err := b.c.Claim(ctx, store.Lease{Endpoint: "alpha", Session: "ses_b", Reply: wire.ReplyOptions{Mode: wire.ReplyPassthrough}})
	if err != nil {
		t.Fatal(err)
	}
	if lb.Epoch <= la.Epoch {
		t.Fatalf("epoch %d after %d", lb.Epoch, la.Epoch)
	}
	c := a.waitCall(t, "replaced")
	if c.endpoint != "alpha" || c.arg != "ses_a" {
		t.Fatalf("a told %+v, want alpha ses_a replaced", c)
	}
	// a's late release does not take b's lease.
	if err := a.c.Release(ctx, "alpha", "ses_a"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.c.Lease(ctx, "alpha"); err != nil || got.Session != "ses_b" {
		t.Fatalf("lease after a stale release = %+v, %v", got, err)
	}
	if err := b.c.Release(ctx, "alpha", "ses_b"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.c.Lease(ctx, "alpha"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Lease after release = %v, want ErrNotFound", err)
	}
	select {
	case c := <-b.events:
		t.Fatalf("b was told %+v", c)
	default:
	}
}

func testCrossNodeResponse(t *testing.T, open func(t *testing.T) store.Store) {
	a, b := startNode(t, open), startNode(t, open)
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB: past any NOTIFY payload
	for _, tc := range []struct {
		id   string
		body []byte
	}{{"evt_small", []byte(`{"ok":true}`)}, {"evt_big", big}} {
		insert(t, a, Event(tc.id, "alpha", base))
		resp := &capture.Response{Status: 201, Headers: capture.Headers{{Name: "X-App", Value: "one"}, {Name: "X-App", Value: "two"}}, Body: tc.body}
		// The listening connection may not be up yet: publish until a
		// hears one.
		var c handlerCall
		for {
			if err := b.c.PublishResponse(ctx, "alpha", tc.id, resp); err != nil {
				t.Fatal(err)
			}
			select {
			case c = <-a.events:
			case <-time.After(100 * time.Millisecond):
				continue
			}
			break
		}
		if c.kind != "response" || c.endpoint != "alpha" || c.arg != tc.id || c.resp == nil ||
			c.resp.Status != 201 || !bytes.Equal(c.resp.Body, tc.body) || fmt.Sprint(c.resp.Headers) != fmt.Sprint(resp.Headers) {
			t.Fatalf("a got %s %s %s, want the %d-byte response of %s", c.kind, c.endpoint, c.arg, len(tc.body), tc.id)
		}
		for len(a.events) > 0 {
			<-a.events // repeats of a publish sent before a listened
		}
	}
}
