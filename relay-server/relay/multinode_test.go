package relay_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store/pgtest"
	"github.com/hookctl/hookctl/relay-server/store/postgres"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// startNodes serves n relays on one fresh PostgreSQL database.
func startNodes(t *testing.T, n int, cfg relay.Config) []*testRelay {
	t.Helper()
	url := pgtest.URL(t)
	nodes := make([]*testRelay, n)
	for i := range nodes {
		st, err := postgres.Open(context.Background(), url, postgres.Options{LeaseTTL: 3 * time.Second, Poll: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = startRelayOn(t, cfg, st)
	}
	return nodes
}

// TestNodesPassthrough: a sender on node A gets the app's answer from the
// CLI on node B, and the event is delivered once.
func TestNodesPassthrough(t *testing.T) {
	nodes := startNodes(t, 2, relay.Config{Open: true})
	a, b := nodes[0], nodes[1]
	c := mustListen(t, b.URL, wire.Message{Endpoint: "alpha"})
	type answer struct {
		status int
		hdr    http.Header
		body   []byte
	}
	got := make(chan answer, 1)
	go func() {
		s, h, body := a.send(t, "POST", "/h/alpha/pay?x=1", []byte(`{"n":1}`), http.Header{"X-Sig": {"v1=abc"}})
		got <- answer{s, h, body}
	}()
	ev := c.expect(wire.TypeEvent).Event
	if ev.Path != "/pay" || ev.Query != "x=1" || string(ev.Body) != `{"n":1}` || ev.Headers.HTTP().Get("X-Sig") != "v1=abc" {
		t.Fatalf("event = %+v", ev)
	}
	c.send(wire.Message{Type: wire.TypeResponse, ID: ev.ID, Ack: true, Response: &capture.Response{
		Status: 418, Headers: capture.Headers{{Name: "X-App", Value: "b"}}, Body: []byte("from node b"),
	}})
	ans := <-got
	if ans.status != 418 || string(ans.body) != "from node b" || ans.hdr.Get("X-App") != "b" {
		t.Fatalf("sender on a got %d %v %q, want the app's 418", ans.status, ans.hdr, ans.body)
	}
	waitFor(t, "event delivered", func() bool {
		rec, err := a.Store.GetEvent(context.Background(), ev.ID)
		return err == nil && rec.State == wire.StateFailed && rec.Response != nil && rec.Response.Status == 418
	})
}

// TestNodesReplyMode: the reply mode is the endpoint's, whichever node the
// sender reaches.
func TestNodesReplyMode(t *testing.T) {
	nodes := startNodes(t, 2, relay.Config{Open: true})
	mustListen(t, nodes[1].URL, wire.Message{Endpoint: "alpha", Reply: &wire.ReplyOptions{Mode: wire.ReplyStatus, Status: 204}})
	if s, _, b := nodes[0].send(t, "POST", "/h/alpha", nil, nil); s != http.StatusNoContent {
		t.Fatalf("sender on the other node got %d %s, want the endpoint's 204", s, b)
	}
}

// TestNodesReplaced: a CLI on another node takes the endpoint; the older
// one is told permanently, and events reach the newer one.
func TestNodesReplaced(t *testing.T) {
	nodes := startNodes(t, 2, relay.Config{Open: true})
	a, b := nodes[0], nodes[1]
	old := mustListen(t, a.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	c := mustListen(t, b.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	m := old.recv()
	if m.Type != wire.TypeError || m.Code != wire.CodeReplaced || !m.Permanent {
		t.Fatalf("old session got %+v, want permanent replaced", m)
	}
	old.expectClosed()
	s, _, body := a.send(t, "POST", "/h/alpha", nil, nil)
	if ev := c.expect(wire.TypeEvent).Event; ev.ID != queuedID(t, s, body) {
		t.Fatalf("new session got %s", ev.ID)
	}
}

// TestNodesOfflineThenDelivered: events sent to every node while no CLI
// listens reach the CLI, oldest first, on whichever node it connects to;
// then events sent to the other node keep coming promptly (wake-ups, not
// the poll: the CLI gets them one at a time as they are sent).
func TestNodesOfflineThenDelivered(t *testing.T) {
	nodes := startNodes(t, 3, relay.Config{Open: true})
	var want []string
	for i := range 9 {
		s, _, b := nodes[i%3].send(t, "POST", "/h/alpha", nil, nil)
		want = append(want, queuedID(t, s, b))
	}
	c := mustListen(t, nodes[1].URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	for _, id := range want {
		ev := c.expect(wire.TypeEvent).Event
		if ev.ID != id {
			t.Fatalf("got %s, want %s (oldest first)", ev.ID, id)
		}
		c.send(wire.Message{Type: wire.TypeAck, ID: ev.ID})
	}
	for i := range 20 {
		s, _, b := nodes[[]int{0, 2}[i%2]].send(t, "POST", "/h/alpha", nil, nil)
		id := queuedID(t, s, b)
		ev := c.expect(wire.TypeEvent).Event
		if ev.ID != id {
			t.Fatalf("got %s, want %s", ev.ID, id)
		}
		c.send(wire.Message{Type: wire.TypeAck, ID: ev.ID})
	}
}

// TestNodesRevoke: a token created through one node works on every node,
// and revoking it through one node ends its session on another.
func TestNodesRevoke(t *testing.T) {
	const check = 50 * time.Millisecond
	nodes := startNodes(t, 2, relay.Config{RevokeCheck: check})
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	alice, _ := a.CreateToken(ctx, "alice")
	c := mustListen(t, b.URL, wire.Message{Token: alice, Endpoint: "alpha", Reply: ackMode})
	c.barrier()
	if s := apiGet(t, b, alice, wire.EventsPath, nil); s != 200 {
		t.Fatalf("API call on the other node: %d", s)
	}
	if _, err := relay.RevokeToken(ctx, a.Store, "alice"); err != nil {
		t.Fatal(err)
	}
	m := recvBy(t, c, time.Now().Add(20*check+5*time.Second))
	if m.Type != wire.TypeError || m.Code != wire.CodeUnauthorized || !m.Permanent {
		t.Fatalf("session on the other node got %+v, want permanent unauthorized", m)
	}
	if s := apiGet(t, b, alice, wire.EventsPath, nil); s != 401 {
		t.Errorf("API call after revocation: %d, want 401", s)
	}
}
