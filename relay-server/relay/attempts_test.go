package relay_test

import (
	"context"
	"testing"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// A session's delivery attempts are stored with its acks when the ack
// comes soon, by themselves otherwise; either way every event sent shows
// each attempt once.

// attempts is the event's stored state and attempt count once every write
// queued before the call is durable.
func attempts(t *testing.T, r *testRelay, id string) (string, int) {
	t.Helper()
	ctx := context.Background()
	if err := r.Store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := r.Store.GetEvent(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return rec.State, rec.Attempts
}

// reconnect closes c and returns a new session for its endpoint. The new
// session is welcomed only after the old one has ended and its writes are
// durable, so what the old one stored at its end can be read at once.
func reconnect(t *testing.T, r *testRelay, c *cli) *cli {
	t.Helper()
	c.conn.Close()
	return mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
}

func TestAckedEventShowsOneAttempt(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	s, _, b := r.send(t, "POST", "/h/alpha", []byte("hi"), nil)
	id := queuedID(t, s, b)
	c.expect(wire.TypeEvent)
	c.send(wire.Message{Type: wire.TypeResponse, ID: id, Ack: true, Response: &capture.Response{Status: 200}})
	waitFor(t, "event delivered", func() bool {
		state, _ := attempts(t, r, id)
		return state == wire.StateDelivered
	})
	c = reconnect(t, r, c)
	if state, n := attempts(t, r, id); state != wire.StateDelivered || n != 1 {
		t.Errorf("acked event: %s, %d attempts; want delivered, 1", state, n)
	}
	if extra := c.barrier(); len(extra) != 0 {
		t.Errorf("sent again after its ack: %+v", extra)
	}
}

// An app that has not answered yet: its event shows the attempt while in
// flight, and the ack that comes later does not count it again.
func TestSlowAppAttemptShownInFlight(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	s, _, b := r.send(t, "POST", "/h/alpha", []byte("hi"), nil)
	id := queuedID(t, s, b)
	c.expect(wire.TypeEvent)
	waitFor(t, "attempt of the event in flight", func() bool {
		state, n := attempts(t, r, id)
		if state != wire.StatePending || n > 1 {
			t.Fatalf("event in flight: %s, %d attempts; want pending, 1", state, n)
		}
		return n == 1
	})
	c.send(wire.Message{Type: wire.TypeResponse, ID: id, Ack: true, Response: &capture.Response{Status: 200}})
	c.barrier() // the ack is read before the ping
	reconnect(t, r, c)
	if state, n := attempts(t, r, id); state != wire.StateDelivered || n != 1 {
		t.Errorf("event acked late: %s, %d attempts; want delivered, 1", state, n)
	}
}

// A connection that ends before the ack: the attempt is counted as the
// session ends, and the delivery on the next connection counts its own.
func TestDisconnectBeforeAckCountsAttempt(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	s, _, b := r.send(t, "POST", "/h/alpha", []byte("hi"), nil)
	id := queuedID(t, s, b)
	c.expect(wire.TypeEvent)
	c = reconnect(t, r, c)
	if state, n := attempts(t, r, id); state != wire.StatePending || n != 1 {
		t.Errorf("after the disconnect: %s, %d attempts; want pending, 1", state, n)
	}
	if ev := c.expect(wire.TypeEvent).Event; ev.ID != id {
		t.Fatalf("redelivered %s, want %s", ev.ID, id)
	}
	c.send(wire.Message{Type: wire.TypeResponse, ID: id, Ack: true, Response: &capture.Response{Status: 200}})
	c.barrier()
	reconnect(t, r, c)
	if state, n := attempts(t, r, id); state != wire.StateDelivered || n != 2 {
		t.Errorf("after the second delivery: %s, %d attempts; want delivered, 2", state, n)
	}
}
