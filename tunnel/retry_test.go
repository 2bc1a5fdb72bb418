package tunnel

import (
	"context"
	"errors"
	"net"
	"net/url"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

func TestExponentialBackoff(t *testing.T) {
	b := Exponential(250*time.Millisecond, 30*time.Second)
	prevMax := time.Duration(0)
	for attempt := 1; attempt <= 20; attempt++ {
		nominal := min(250*time.Millisecond<<(attempt-1), 30*time.Second)
		for range 50 {
			d := b(attempt)
			if d < nominal/2 || d > nominal {
				t.Fatalf("attempt %d: %s outside [%s, %s]", attempt, d, nominal/2, nominal)
			}
		}
		if nominal < prevMax {
			t.Fatalf("nominal delay shrank at attempt %d", attempt)
		}
		prevMax = nominal
	}
}

// testConn is a conn whose outgoing messages land in a channel, for driving
// deliver without a websocket.
func testConn(t *testing.T, cfg Config) *conn {
	t.Helper()
	cfg.RelayURL = "http://relay.invalid"
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &conn{c: c, out: make(chan *wire.Message, 16), seen: map[string]bool{}}
}

// An app that is down is retried with backoff, forever, and the event is
// acked only once it answers; in passthrough the first refusal goes to the
// relay at once, un-acked, so a waiting sender is answered without waiting
// out the reply timeout. Fake time makes minutes of backoff instant.
func TestDeliverRetriesWhileAppIsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		refused := capture.NewDeliveryError(&url.URL{Scheme: "http", Host: "localhost:3000"}, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED})
		calls := 0
		fwd := funcDeliverer(func(context.Context, *capture.Request) (*capture.Response, error) {
			calls++
			if calls <= 12 {
				return nil, refused
			}
			return &capture.Response{Status: 204}, nil
		})
		rec := newRecorder()
		s := testConn(t, Config{Forwarder: fwd, Observer: rec, MaxAttempts: 3})
		start := time.Now()
		if err := s.deliver(t.Context(), &capture.Request{ID: "e1"}); err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		if calls != 13 || len(rec.failures) != 12 {
			t.Errorf("%d calls, %d failures reported; want 13 and 12 (app-down is not bounded by MaxAttempts)", calls, len(rec.failures))
		}
		// 250ms doubling to the 5s cap, each between half and all of it.
		if elapsed < 20*time.Second || elapsed > 60*time.Second {
			t.Errorf("retried for %s of fake time", elapsed)
		}
		if m := <-s.out; m.Type != wire.TypeResponse || m.Ack || m.Response.Error != refused.Error() {
			t.Errorf("first message %+v, want the refusal, un-acked", m)
		}
		if m := <-s.out; m.Type != wire.TypeResponse || m.Response.Status != 204 {
			t.Errorf("second message %+v, want the response", m)
		}
		if m := <-s.out; m.Type != wire.TypeAck || m.ID != "e1" {
			t.Errorf("third message %+v, want the ack", m)
		}
	})
}

// A delivery that reached the app but failed is tried MaxAttempts times and
// then reported and acked; a timeout is not retried at all, since the app
// may still be working on the request.
func TestDeliverGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		calls int
	}{
		{"reset", errors.New("read: connection reset by peer"), 3},
		{"timeout", context.DeadlineExceeded, 1},
		{"engine reset", capture.NewDeliveryError(&url.URL{Host: "x"}, syscall.ECONNRESET), 3},
		{"engine timeout", capture.NewDeliveryError(&url.URL{Host: "x"}, context.DeadlineExceeded), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls := 0
				fwd := funcDeliverer(func(context.Context, *capture.Request) (*capture.Response, error) {
					calls++
					return nil, tc.err
				})
				s := testConn(t, Config{Forwarder: fwd, MaxAttempts: 3})
				if err := s.deliver(t.Context(), &capture.Request{ID: "e1"}); err != nil {
					t.Fatal(err)
				}
				if calls != tc.calls {
					t.Errorf("%d calls, want %d", calls, tc.calls)
				}
				if m := <-s.out; m.Type != wire.TypeResponse || m.Response.Error != tc.err.Error() {
					t.Errorf("response %+v", m.Response)
				}
				if m := <-s.out; m.Type != wire.TypeAck {
					t.Errorf("no ack: %+v", m)
				}
				// With the relay's consent the ack rides on the response.
				s.responseAck = true
				if err := s.deliver(t.Context(), &capture.Request{ID: "e2"}); err != nil {
					t.Fatal(err)
				}
				if m := <-s.out; m.Type != wire.TypeResponse || m.ID != "e2" || !m.Ack || m.Response.Error != tc.err.Error() {
					t.Errorf("response %+v, want one with ack set", m)
				}
				if len(s.out) != 0 {
					t.Errorf("%d more messages, want none", len(s.out))
				}
			})
		})
	}
}

// Cancelling the session while the app is down leaves the event un-acked.
// Only in passthrough does the relay hear of the refusal (for the sender).
func TestDeliverStopsWithSession(t *testing.T) {
	for _, reply := range []*wire.ReplyOptions{nil, {Mode: wire.ReplyAck}} {
		synctest.Test(t, func(t *testing.T) {
			fwd := funcDeliverer(func(context.Context, *capture.Request) (*capture.Response, error) {
				return nil, &capture.DeliveryError{Target: &url.URL{Host: "x"}, Kind: capture.KindRefused, Err: syscall.ECONNREFUSED}
			})
			s := testConn(t, Config{Forwarder: fwd, Reply: reply})
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			if err := s.deliver(ctx, &capture.Request{ID: "e1"}); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("deliver = %v", err)
			}
			want := 1
			if reply != nil {
				want = 0
			}
			if len(s.out) != want {
				t.Errorf("reply %+v: %d messages sent for an undelivered event, want %d", reply, len(s.out), want)
			}
			for len(s.out) > 0 {
				if m := <-s.out; m.Type == wire.TypeAck || m.Ack {
					t.Errorf("an undelivered event acked: %+v", m)
				}
			}
		})
	}
}

// Reconnect attempts follow the backoff: counted, capped at 30s, and Run
// keeps trying until its context ends.
func TestRunBacksOffForever(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		c, err := NewClient(Config{RelayURL: "http://" + addr, Forwarder: ok200, Observer: rec})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
		defer cancel()
		if err := c.Run(ctx); err != nil {
			t.Fatalf("Run = %v, want nil when the context ends", err)
		}
		n := 0
		for _, s := range rec.states {
			if s.State != StateReconnecting {
				continue
			}
			n++
			if s.Attempt != n || s.Err == nil || s.RetryIn > 30*time.Second {
				t.Fatalf("status %+v at reconnect %d", s, n)
			}
		}
		// 10 minutes of fake time at ≤30s apart (after the first few).
		if n < 20 {
			t.Errorf("%d reconnect attempts in 10 minutes", n)
		}
		if last := rec.states[len(rec.states)-1]; last.State != StateOffline {
			t.Errorf("last state %v", last.State)
		}
	})
}
