package relay_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// TestRevokedSessionEnds revokes a token while its CLI is connected: the
// relay ends that session (and only that one) with a permanent
// unauthorized error within a few checks, and the token can neither listen
// nor use the API again. The endpoint keeps capturing into its store.
func TestRevokedSessionEnds(t *testing.T) {
	const check = 50 * time.Millisecond
	r := startRelay(t, relay.Config{RevokeCheck: check})
	ctx := context.Background()
	alice, _ := r.CreateToken(ctx, "alice")
	bob, _ := r.CreateToken(ctx, "bob")
	a := mustListen(t, r.URL, wire.Message{Token: alice, Endpoint: "alpha", Reply: ackMode})
	b := mustListen(t, r.URL, wire.Message{Token: bob, Endpoint: "beta", Reply: ackMode})
	// Connected and working before the revocation.
	a.barrier()
	if s := apiGet(t, r, alice, wire.EventsPath, nil); s != 200 {
		t.Fatalf("alice's API call before revocation: %d", s)
	}

	tok, err := relay.RevokeToken(ctx, r.Store, "alice")
	if err != nil || tok.Name != "alice" {
		t.Fatalf("RevokeToken = %+v, %v", tok, err)
	}
	start := time.Now()
	m := recvBy(t, a, start.Add(20*check+5*time.Second))
	if m.Type != wire.TypeError || m.Code != wire.CodeUnauthorized || !m.Permanent {
		t.Fatalf("revoked session got %+v, want permanent unauthorized", m)
	}
	a.expectClosed()

	// Bob's session is untouched.
	s, _, body := r.send(t, "POST", "/h/beta", []byte("x"), nil)
	if ev := b.expect(wire.TypeEvent).Event; ev.ID != queuedID(t, s, body) {
		t.Errorf("bob got %s", ev.ID)
	}
	if s := apiGet(t, r, alice, wire.EventsPath, nil); s != 401 {
		t.Errorf("alice's API call after revocation: %d, want 401", s)
	}
	if _, m := listen(t, r.URL, wire.Message{Token: alice, Endpoint: "alpha"}); m.Code != wire.CodeUnauthorized || !m.Permanent {
		t.Errorf("alice's hello after revocation: %+v", m)
	}
	// The endpoint still captures, and stays the revoked token's: bob
	// cannot take it (and its events) over.
	s, _, body = r.send(t, "POST", "/h/alpha", []byte("kept"), nil)
	id := queuedID(t, s, body)
	if rec, err := r.Store.GetEvent(ctx, id); err != nil || rec.State != wire.StatePending {
		t.Errorf("event for a revoked token's endpoint: %+v, %v", rec, err)
	}
	if _, m := listen(t, r.URL, wire.Message{Token: bob, Endpoint: "alpha"}); m.Code != wire.CodeForbidden {
		t.Errorf("bob listening to alpha: %+v", m)
	}
}

func TestRevokeTokenByIDOrName(t *testing.T) {
	st := openStore(t)
	defer st.Close()
	ctx := context.Background()
	now := time.Now()
	for _, name := range []string{"carol", "carol", "dave"} {
		if _, err := relay.CreateToken(ctx, st, name, now); err != nil {
			t.Fatal(err)
		}
	}
	_, err := relay.RevokeToken(ctx, st, "carol")
	var amb *relay.AmbiguousError
	if !errors.As(err, &amb) || len(amb.IDs) != 2 {
		t.Fatalf("revoking a shared name = %v, want AmbiguousError with 2 ids", err)
	}
	if _, err := relay.RevokeToken(ctx, st, amb.IDs[1]); err != nil {
		t.Fatalf("revoke by id: %v", err)
	}
	if tok, err := relay.RevokeToken(ctx, st, "carol"); err != nil || tok.ID != amb.IDs[0] {
		t.Errorf("revoking the one carol left = %+v, %v", tok, err)
	}
	if _, err := relay.RevokeToken(ctx, st, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking a name no token has = %v, want ErrNotFound", err)
	}
	toks, err := st.ListTokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].Name != "dave" {
		t.Errorf("tokens left = %+v, %v", toks, err)
	}
}

// TestPurgeUnderRunningSession purges an endpoint's pending events through
// a second handle on the database (as `relay-server events purge` does
// beside a running relay) while a CLI holds some of them in flight: the
// CLI's acks of purged events are harmless, the session goes on delivering
// new events, and a reconnecting CLI gets none of the purged ones again.
func TestPurgeUnderRunningSession(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relay.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r := startRelayOn(t, relay.Config{Open: true, Window: 2}, st)
	var ids []string
	for i := 0; i < 5; i++ {
		s, _, b := r.send(t, "POST", "/h/alpha", []byte{byte(i)}, nil)
		ids = append(ids, queuedID(t, s, b))
	}
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	inflight := []string{c.expect(wire.TypeEvent).Event.ID, c.expect(wire.TypeEvent).Event.ID}

	admin, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := admin.PurgeEvents(context.Background(), store.PurgeQuery{Endpoint: "alpha", Pending: true})
	if cerr := admin.Close(); err == nil {
		err = cerr
	}
	if err != nil || n != 5 {
		t.Fatalf("purge = %d, %v; want 5", n, err)
	}
	for _, id := range inflight {
		c.send(wire.Message{Type: wire.TypeAck, ID: id})
	}
	// The freed window finds nothing more: the purged events are not sent.
	if got := c.barrier(); len(got) != 0 {
		t.Errorf("after purge and acks the session sent %+v", got)
	}
	s, _, b := r.send(t, "POST", "/h/alpha", []byte("new"), nil)
	newID := queuedID(t, s, b)
	if ev := c.expect(wire.TypeEvent).Event; ev.ID != newID {
		t.Errorf("after the purge the session sent %s, want the new %s", ev.ID, newID)
	}
	c.send(wire.Message{Type: wire.TypeAck, ID: newID})
	c.barrier()

	c2, m := listen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	if m.Type != wire.TypeWelcome || m.Pending != 0 {
		t.Errorf("reconnect after purge: %+v, want welcome with 0 pending", m)
	}
	if got := c2.barrier(); len(got) != 0 {
		t.Errorf("reconnected session was sent %+v", got)
	}
	for _, id := range ids {
		if _, err := r.Store.GetEvent(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("purged %s: %v", id, err)
		}
	}
}

// recvBy is cli.recv with an overall deadline: the relay's keepalive pings
// would otherwise keep a wait for a message that never comes alive forever.
func recvBy(t *testing.T, c *cli, deadline time.Time) wire.Message {
	t.Helper()
	for {
		c.conn.SetReadDeadline(deadline)
		var m wire.Message
		if err := websocket.JSON.Receive(c.conn, &m); err != nil {
			t.Fatalf("no message by %v: %v", deadline.Format(time.TimeOnly), err)
		}
		if m.Type != wire.TypePing {
			return m
		}
		c.send(wire.Message{Type: wire.TypePong})
	}
}
