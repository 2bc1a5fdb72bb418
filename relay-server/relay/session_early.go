package relay

import (
	"context"
	"errors"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// Early handoff (store.EarlyNotifier). The store announces a new event
// once its Seq is fixed, while the commit that makes it durable is still in
// flight, and the session may send it to the CLI at once: the fsync and the
// trip to the app overlap. The sender is still answered only after the
// commit (ingress waits for InsertEvent), so no 2xx goes out for an event
// that is not durable.
//
// Until the store settles such an event, what the CLI says about it (ack,
// response, retry) is held, not written: an ack for a row that is not
// committed would update nothing, or be ordered before the insert. Once
// durable, the writer applies what was held, in order. When the commit
// fails, the held messages are dropped, and the event leaves the window; the
// app has it but the store does not, and the sender, answered 503, sends it
// again: the app sees it twice (at least once). The store may give the
// failed Seq to a later event, so the writer moves its cursor back before
// it (rewind) and reads the store before it sends anything newer.

// maxHeld bounds the messages held for one tentative event; a CLI sends at
// most a response and an ack for it.
const maxHeld = 4

// tentativeEvent is an event handed over before it was durable.
type tentativeEvent struct {
	held    []wire.Message
	settled bool // durable; held is left to apply
	// gen is handoffGen before the event was offered: if the handoff has
	// been dropped since, the event may not be in it, and a store read that
	// began before its commit cannot have seen it (missedLocked).
	gen uint64
}

// offerEarly hands the session an event whose commit is in flight (the
// store's early notice, in Seq order). It never blocks.
func (s *session) offerEarly(p store.Pending) {
	s.mu.Lock()
	if s.detached {
		s.mu.Unlock()
		return
	}
	s.tentative[p.Event.ID] = &tentativeEvent{gen: s.handoffGen}
	s.mu.Unlock()
	s.offer(p)
}

// settle says an event offered early is durable, and reports whether it
// was offered early here (if not, it is offered now, as committed). It
// never blocks.
func (s *session) settle(p store.Pending) bool {
	s.mu.Lock()
	t, ok := s.tentative[p.Event.ID]
	wake := false
	if ok && s.handoffGen != t.gen {
		// Its offer may have been dropped, and a store read that began
		// before this commit did not see it: the writer must read again
		// before it trusts the handoff (it may also be waiting for this
		// commit to do so, missedLocked).
		s.dropHandoffLocked()
		wake = true
	}
	switch {
	case !ok:
	case len(t.held) == 0:
		delete(s.tentative, p.Event.ID)
	default:
		t.settled = true
		s.settled = append(s.settled, p.Event.ID)
		wake = true
	}
	s.mu.Unlock()
	if wake {
		s.wake()
	}
	return ok
}

// fail says the commit of an event offered early failed: it is not
// stored, so nothing the CLI says about it is applied, and it no longer
// takes a slot of the window. It never blocks.
func (s *session) fail(p store.Pending, err error) {
	s.mu.Lock()
	t, ok := s.tentative[p.Event.ID]
	if !ok {
		s.mu.Unlock()
		return
	}
	delete(s.tentative, p.Event.ID)
	_, sent := s.inflight[p.Event.ID]
	delete(s.inflight, p.Event.ID)
	if s.rewind == 0 || p.Seq < s.rewind {
		s.rewind = p.Seq
	}
	s.rewinds++
	// What the handoff holds may be as doomed, and the Seqs after a
	// failure are given out again: read the store instead.
	s.dropHandoffLocked()
	held := len(t.held)
	s.mu.Unlock()
	if sent {
		s.r.metrics.handoffUnstored.Inc()
		s.r.log.Warn("listen: event sent to the CLI was not stored; its sender got 503 and may send it again",
			"endpoint", s.endpoint, "session", s.id, "id", p.Event.ID, "dropped_messages", held, "err", err)
	}
	s.wake()
}

// missedLocked reports whether an event offered early may have been
// dropped from the handoff and is not committed yet: a store read may have
// missed it, so the writer must not trust the handoff (which lacks it)
// until the event is settled and it has read the store again.
func (s *session) missedLocked() bool {
	for _, t := range s.tentative {
		if !t.settled && t.gen != s.handoffGen {
			return true
		}
	}
	return false
}

// hold keeps m, about a tentative event, until the event is settled, and
// reports whether it did. An error is a protocol violation.
func (s *session) hold(m wire.Message) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tentative[m.ID]
	if !ok {
		return false, nil
	}
	if len(t.held) >= maxHeld {
		return true, errors.New("too many messages about one event")
	}
	t.held = append(t.held, m)
	return true, nil
}

// applySettled applies, in order, the messages held for events that are
// now durable. It runs on the writer; an error is a protocol violation.
// An event's entry stays until nothing is held for it, so a message the
// reader gets meanwhile joins the queue instead of overtaking it.
func (s *session) applySettled(ctx context.Context) error {
	for {
		s.mu.Lock()
		if len(s.settled) == 0 {
			s.mu.Unlock()
			return nil
		}
		id := s.settled[0]
		t := s.tentative[id]
		var held []wire.Message
		if t != nil {
			held, t.held = t.held, nil
		}
		if len(held) == 0 {
			delete(s.tentative, id)
			s.settled = s.settled[1:]
			if len(s.settled) == 0 {
				s.settled = nil
			}
		}
		s.mu.Unlock()
		for _, m := range held {
			if err := s.apply(ctx, m); err != nil {
				return err
			}
		}
	}
}
