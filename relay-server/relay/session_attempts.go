package relay

import (
	"context"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
)

// Delivery attempts. Every event sent counts one attempt in the store
// (wire.EventRecord.Attempts, shown by `hookctl events` and the inspector).
// Stored as the event is sent, and then the ack, that would be two updates
// of the row per event delivered; instead the session keeps the attempt
// with the event in flight and the ack stores both in one write
// (store.Store.Ack's sent). An attempt is stored by itself (MarkSent) when
// the ack does not come within countAfter, so an event in flight to a slow
// app still shows it, and when the event leaves the window without an ack:
// its retry is scheduled, or the session ends (a disconnect, the relay
// shutting down).
//
// This is the session's job rather than the store writer's (merging an
// attempt and an ack that land in one transaction, as the PostgreSQL store
// does): in a SQLite commit, at 16 senders to a CLI that answers at once,
// an event's ack shared the commit of its attempt for only about 85% of
// events, so the rest still cost two writes; deferred here, every event
// acked within countAfter costs one.

// countAfter is how long an attempt waits for its ack before it is stored
// by itself: short enough that an operator looking at an event in flight to
// a slow app sees it was sent, long enough that an app answering in
// milliseconds never costs the extra write.
const countAfter = time.Second

// newSent is p, sent now, as it enters the window: its attempt is not
// stored yet.
func newSent(p store.Pending) sentEvent {
	return sentEvent{received: p.Event.ReceivedAt, attempt: p.Retries + 1, sentAt: time.Now(), uncounted: true}
}

// sent follows sendEvents on the writer: the events of batch from n on
// were not written, so they have no attempt to store; the timer that
// stores late attempts is started if it is not running.
func (s *session) sent(batch []store.Pending, n int) {
	if n < len(batch) {
		s.mu.Lock()
		for _, p := range batch[n:] {
			if e, ok := s.inflight[p.Event.ID]; ok {
				e.uncounted = false
				s.inflight[p.Event.ID] = e
			}
		}
		s.mu.Unlock()
	}
	if n > 0 && !s.countArmed {
		s.countT.Reset(countAfter)
		s.countArmed = true
	}
}

// countLate stores, in one write, the attempts of the events in flight
// for countAfter or more without an ack, and restarts the timer for the
// next one due. It runs on the writer when the timer fires.
func (s *session) countLate(ctx context.Context) {
	s.countArmed = false
	now := time.Now()
	var (
		ids  []string
		next time.Time
	)
	s.mu.Lock()
	for id, e := range s.inflight {
		switch {
		case !e.uncounted:
		case now.Sub(e.sentAt) >= countAfter:
			e.uncounted = false
			s.inflight[id] = e
			ids = append(ids, id)
		case next.IsZero() || e.sentAt.Before(next):
			next = e.sentAt
		}
	}
	s.mu.Unlock()
	s.markSent(ctx, ids)
	if !next.IsZero() {
		s.countT.Reset(next.Add(countAfter).Sub(now))
		s.countArmed = true
	}
}

// markSent stores a delivery attempt for each event, in one write.
func (s *session) markSent(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	if err := s.r.st.MarkSent(context.WithoutCancel(ctx), s.endpoint, ids); err != nil {
		s.r.log.Error("listen: count attempts", "endpoint", s.endpoint, "err", err)
	}
}
