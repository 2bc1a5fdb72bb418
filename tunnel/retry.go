package tunnel

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// DefaultRetryBackoff is the first delay of the default retry schedule
// (listen --retry-backoff).
const DefaultRetryBackoff = 30 * time.Second

// MaxRetryDelay caps one delay of a retry schedule, and a Retry-After.
const MaxRetryDelay = time.Hour

// RetrySchedule is a provider-like schedule: first, then doubling up to
// MaxRetryDelay (30s, 1m, 2m, 4m, ... with the default), each delay drawn
// from its upper half so that events failing together spread out.
func RetrySchedule(first time.Duration) Backoff {
	return Exponential(first, max(first, MaxRetryDelay))
}

// FailedObserver may be implemented by an Observer that tells events whose
// retries ran out (Config.Retry) from those delivered: EventFailed is called
// for them instead of EventDelivered, with the attempts made.
type FailedObserver interface {
	EventFailed(req *capture.Request, resp *capture.Response, attempts int)
}

// job is an event to deliver and the attempt this is (1 when the relay
// does not number them).
type job struct {
	ev      *capture.Request
	attempt int
}

// Retryable reports whether an answer is worth retrying: a 5xx, 429 or 408,
// or none at all (err set: no connection, a timeout, no usable answer).
func Retryable(resp *capture.Response, err error) bool {
	if err != nil {
		return true
	}
	return resp.Status >= 500 || resp.Status == http.StatusTooManyRequests || resp.Status == http.StatusRequestTimeout
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), or 0.
func retryAfter(resp *capture.Response, now time.Time) time.Duration {
	if resp == nil {
		return 0
	}
	v := resp.Headers.HTTP().Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now))
	}
	return 0
}

// deliverOnce is deliver under a retry schedule the relay keeps: one try;
// a retryable answer with retries left goes back to the relay with the
// delay before the next attempt (the event stays pending), anything else is
// the final answer and acked.
func (s *conn) deliverOnce(ctx context.Context, ev *capture.Request, attempt int) error {
	cfg := &s.c.cfg
	resp, err := cfg.Forwarder.Deliver(ctx, ev)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.quitting() {
			return context.Canceled // stopping: the event stays pending
		}
		resp = &capture.Response{Error: err.Error(), At: time.Now(), Route: routeOf(err)}
	}
	resp = s.prepare(resp)
	if !Retryable(resp, err) {
		s.c.obs.EventDelivered(ev, resp)
		return s.answer(ctx, ev, resp)
	}
	if attempt > cfg.Retry {
		if fo, ok := s.c.obs.(FailedObserver); ok {
			fo.EventFailed(ev, resp, attempt)
		} else {
			s.c.obs.EventDelivered(ev, resp)
		}
		return s.answer(ctx, ev, resp)
	}
	d := min(max(cfg.RetrySchedule(attempt), retryAfter(resp, time.Now())), MaxRetryDelay)
	d = max(d, time.Millisecond) // zero means no retry on the wire
	if err == nil {
		err = fmt.Errorf("app answered %d", resp.Status)
	}
	s.c.obs.DeliveryFailed(ev, err, attempt, d)
	if err := s.send(ctx, &wire.Message{Type: wire.TypeResponse, ID: ev.ID, Response: resp, RetryIn: d}); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.seen, ev.ID) // it comes again
	s.mu.Unlock()
	return nil
}
