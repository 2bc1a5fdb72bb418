package tunnel

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// deliverLoop is one delivery worker. It stops when the connection ends,
// or after its current delivery once the client is stopping.
func (s *conn) deliverLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.quit:
			return nil
		case j := <-s.work:
			if s.quitting() {
				return nil // stopping: the event stays pending
			}
			deliver := s.deliver
			if s.retry && s.c.cfg.Retry > 0 {
				deliver = func(ctx context.Context, ev *capture.Request) error { return s.deliverOnce(ctx, ev, j.attempt) }
			}
			if err := deliver(ctx, j.ev); err != nil {
				if ctx.Err() != nil || s.quitting() {
					return nil // the connection ended; the event stays pending
				}
				return err
			}
		}
	}
}

// deliver forwards ev until the app answers or the attempt budget runs out,
// then sends the response and the ack.
func (s *conn) deliver(ctx context.Context, ev *capture.Request) error {
	cfg := &s.c.cfg
	var resp *capture.Response
	for attempt := 1; ; attempt++ {
		r, err := cfg.Forwarder.Deliver(ctx, ev)
		if err == nil {
			resp = r
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.quitting() {
			return context.Canceled // stopping: no retry; the event stays pending
		}
		var de *capture.DeliveryError
		notSent := errors.As(err, &de) && de.NotSent()
		if !notSent && (attempt >= cfg.MaxAttempts || isTimeout(err)) {
			// The app was reached but gave no usable answer: give up, so a
			// slow app does not get the same request again and again.
			resp = &capture.Response{Error: err.Error(), At: time.Now(), Route: routeOf(err)}
			break
		}
		if notSent && attempt == 1 && s.c.passthrough() {
			// A sender waiting for the app's answer would wait out the
			// relay's reply timeout: an answer without an ack has the relay
			// answer it (202) now. The event stays pending.
			early := &capture.Response{Error: err.Error(), At: time.Now(), Route: routeOf(err)}
			if err := s.send(ctx, &wire.Message{Type: wire.TypeResponse, ID: ev.ID, Response: early}); err != nil {
				return err
			}
		}
		d := cfg.RetryBackoff(attempt)
		s.c.obs.DeliveryFailed(ev, err, attempt, d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.quit:
			t.Stop()
			return context.Canceled
		}
	}
	s.c.obs.EventDelivered(ev, s.prepare(resp))
	return s.answer(ctx, ev, resp)
}

// prepare readies the app's answer for the relay.
func (s *conn) prepare(resp *capture.Response) *capture.Response {
	if s.maxBody > 0 {
		// A response larger than the relay accepts would end the session
		// and the event would be redelivered forever.
		resp.Truncate(s.maxBody, 0)
	}
	resp.SetRaw() // after the last change to its headers; keeps bytes that are not UTF-8 through JSON
	return resp
}

// answer sends the final answer to ev and its ack.
func (s *conn) answer(ctx context.Context, ev *capture.Request, resp *capture.Response) error {
	// With the relay's response-ack the response carries the ack;
	// otherwise the ack follows it.
	if err := s.send(ctx, &wire.Message{Type: wire.TypeResponse, ID: ev.ID, Response: resp, Ack: s.responseAck}); err != nil {
		return err
	}
	if !s.responseAck {
		if err := s.send(ctx, &wire.Message{Type: wire.TypeAck, ID: ev.ID}); err != nil {
			return err
		}
	}
	s.mu.Lock()
	delete(s.seen, ev.ID)
	s.mu.Unlock()
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
