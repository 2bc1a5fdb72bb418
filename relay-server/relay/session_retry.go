package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// Retries the relay keeps (wire.FeatureRetry). A CLI whose app gave a
// retryable answer sends it with retry_in instead of an ack: the relay
// answers the waiting sender, stores the answer with the time the event is
// due again (store.Retry), and takes the event out of the window, so one
// failing event does not hold a slot for its whole backoff. The session
// keeps the due times in later and sends each event again when due; a new
// session finds them in the store (store.Pending's NextAttempt) and defers
// those not due yet, so a restarted CLI or relay continues the schedule.

// maxRetryIn bounds the delay a CLI may ask for.
const maxRetryIn = 7 * 24 * time.Hour

// dueEvent is an event waiting for its next attempt.
type dueEvent struct {
	at      time.Time
	retries int // retries recorded, as far as this session knows
}

// scheduleRetry handles a response with retry_in, after the waiting sender
// had its answer.
func (s *session) scheduleRetry(ctx context.Context, m wire.Message) error {
	switch {
	case !s.retry:
		return errors.New("retry_in without the retry feature")
	case m.Ack:
		return errors.New("retry_in with ack")
	case m.RetryIn < 0 || m.RetryIn > maxRetryIn:
		return fmt.Errorf("retry_in %s out of range", m.RetryIn)
	}
	due := s.r.cfg.Now().Add(m.RetryIn)
	s.mu.Lock()
	sent, mine := s.inflight[m.ID]
	delete(s.inflight, m.ID)
	// The store's write is asynchronous: the count this session knows is
	// used if the event is read back before it lands.
	s.later[m.ID] = dueEvent{at: due, retries: sent.attempt}
	s.mu.Unlock()
	if mine && sent.uncounted {
		// Out of the window: no ack will store its attempt.
		s.markSent(ctx, []string{m.ID})
	}
	if err := s.r.st.Retry(context.WithoutCancel(ctx), s.endpoint, m.ID, m.Response, due); err != nil {
		s.r.log.Error("listen: store retry", "endpoint", s.endpoint, "id", m.ID, "err", err)
	}
	s.wake() // a slot is free, and the writer's timer may need to be earlier
	return nil
}

// deferScheduled takes out of a batch read from the store the events whose
// next attempt is not due yet, into later.
func (s *session) deferScheduled(batch []store.Pending) []store.Pending {
	now := s.r.cfg.Now()
	out := batch[:0]
	for _, p := range batch {
		if p.NextAttempt.After(now) {
			s.mu.Lock()
			s.later[p.Event.ID] = dueEvent{at: p.NextAttempt, retries: p.Retries}
			s.mu.Unlock()
			continue
		}
		out = append(out, p)
	}
	return out
}

// dueTimer arms t for the earliest event in later and returns its channel,
// or nil (never ready) when nothing waits or the window has no room: an ack
// or a resume wakes the writer then.
func (s *session) dueTimer(t *time.Timer) <-chan time.Time {
	s.mu.Lock()
	var first time.Time
	for _, d := range s.later {
		if first.IsZero() || d.at.Before(first) {
			first = d.at
		}
	}
	room := s.roomLocked()
	s.mu.Unlock()
	if first.IsZero() || room <= 0 {
		return nil
	}
	t.Reset(max(0, first.Sub(s.r.cfg.Now())))
	return t.C
}

// sendDue sends the events of later that are due, earliest first, as many
// as the window has room for. It reports false when the session must end.
func (s *session) sendDue(ctx context.Context) bool {
	now := s.r.cfg.Now()
	type due struct {
		id string
		dueEvent
	}
	s.mu.Lock()
	room := s.roomLocked()
	var ready []due
	for id, d := range s.later {
		if !d.at.After(now) {
			ready = append(ready, due{id, d})
		}
	}
	slices.SortFunc(ready, func(a, b due) int { return cmp.Compare(a.at.UnixNano(), b.at.UnixNano()) })
	ready = ready[:min(len(ready), max(room, 0))]
	for _, d := range ready {
		delete(s.later, d.id)
	}
	s.mu.Unlock()
	if len(ready) == 0 {
		return true
	}
	batch := make([]store.Pending, 0, len(ready))
	for _, d := range ready {
		rec, err := s.r.st.GetEvent(ctx, d.id)
		if errors.Is(err, store.ErrNotFound) {
			continue // purged meanwhile
		}
		if err != nil {
			if ctx.Err() == nil {
				s.r.log.Error("listen: read event due again", "endpoint", s.endpoint, "id", d.id, "err", err)
				s.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeInternal, Text: "relay error; reconnecting may help"})
			}
			return false
		}
		if rec.State != wire.StatePending || rec.Request.Endpoint != s.endpoint {
			continue // acked meanwhile (by an earlier connection's CLI)
		}
		batch = append(batch, store.Pending{Event: rec.Request, Retries: max(rec.Retries, d.retries)})
	}
	s.mu.Lock()
	for _, p := range batch {
		s.inflight[p.Event.ID] = newSent(p)
	}
	s.mu.Unlock()
	sent, err := s.sendEvents(batch)
	s.sent(batch, len(sent))
	if err != nil {
		return false
	}
	if len(ready) == room {
		s.wake() // maybe more due
	}
	return true
}
