package relay

import (
	"github.com/hookctl/hookctl/relay-server/store"
)

// wake tells the writer to look at the store again. It never blocks.
func (s *session) wake() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}

// offer hands the session an event the store has just committed, or whose
// commit is in flight (offerEarly); the store's notices come in Seq order.
// It never blocks: when the handoff is full
// it is dropped, and the writer reads those events from the store instead.
func (s *session) offer(p store.Pending) {
	size := int64(len(p.Event.Body))
	s.mu.Lock()
	switch {
	case s.detached:
		// An offer that raced the end of the session.
	case len(s.handoff) >= handoffMax:
		s.dropHandoffLocked()
		s.r.metrics.overflowed("events")
	case len(s.handoff) > 0 && p.Seq <= s.handoff[len(s.handoff)-1].Seq:
		// Offered once committed after a later one was offered early (the
		// session attached between the two notices of an event): the
		// handoff keeps Seq order or is not trusted.
		s.dropHandoffLocked()
		s.r.metrics.overflowed("order")
	case size > handoffBytes:
		// One event too large for the handoff may wait in it by itself,
		// within a relay-wide budget of MaxInflight, so the session does
		// not read it back from the store: a second whole copy of a large
		// body. A passthrough sender's handler holds these same bytes
		// until it is answered.
		ok := s.handoffLarge == 0
		if ok && s.r.largeHandoff.Add(size) > s.r.cfg.MaxInflight {
			s.r.largeHandoff.Add(-size)
			ok = false
		}
		if !ok {
			s.dropHandoffLocked()
			s.r.metrics.overflowed("large")
			break
		}
		s.handoff = append(s.handoff, p)
		s.handoffLarge = size
	case s.handoffSize+size > handoffBytes:
		s.dropHandoffLocked()
		s.r.metrics.overflowed("bytes")
	default:
		s.handoff = append(s.handoff, p)
		s.handoffSize += size
	}
	s.mu.Unlock()
	s.wake()
}

// releaseLocked uncounts p, which leaves the handoff.
func (s *session) releaseLocked(p store.Pending) {
	size := int64(len(p.Event.Body))
	if size > handoffBytes {
		s.handoffLarge -= size
		s.r.largeHandoff.Add(-size)
		return
	}
	s.handoffSize -= size
}

// invalidate says the store holds events of this endpoint that were never
// offered (another node or process wrote them): the handoff is dropped, so
// the writer reads the store before it sends anything newer.
func (s *session) invalidate() {
	s.mu.Lock()
	s.dropHandoffLocked()
	s.mu.Unlock()
	s.wake()
}

func (s *session) dropHandoffLocked() {
	clear(s.handoff)
	s.handoff = s.handoff[:0]
	s.handoffSize = 0
	s.r.largeHandoff.Add(-s.handoffLarge)
	s.handoffLarge = 0
	s.handoffGen++
}

// room is how many more events may be sent now.
func (s *session) room() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roomLocked()
}

func (s *session) roomLocked() int {
	if s.paused {
		return 0
	}
	return s.window - len(s.inflight)
}

// takeHandoff takes from the handoff the events to send now: those after
// cursor (earlier ones were read from the store and sent already), as many
// as the window has room for, registered in flight. ok is false when the
// handoff was dropped since gen: the writer must read the store again.
func (s *session) takeHandoff(cursor int64, gen uint64) (batch []store.Pending, more, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handoffGen != gen {
		return nil, false, false
	}
	skip := 0
	for skip < len(s.handoff) && s.handoff[skip].Seq <= cursor {
		skip++
	}
	room := s.roomLocked()
	n := min(len(s.handoff)-skip, room, pendingBatch)
	if n > 0 {
		batch = make([]store.Pending, n)
		copy(batch, s.handoff[skip:skip+n])
	}
	for _, p := range batch {
		s.inflight[p.Event.ID] = newSent(p)
		s.releaseLocked(p)
	}
	for _, p := range s.handoff[:skip] {
		s.releaseLocked(p)
	}
	rest := copy(s.handoff, s.handoff[skip+n:])
	clear(s.handoff[rest:])
	s.handoff = s.handoff[:rest]
	if rest == 0 {
		s.handoff = nil // an idle session holds no buffer
	}
	return batch, rest > 0 && room > n, true
}
