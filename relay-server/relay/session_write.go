package relay

import (
	"context"
	"time"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// writeLoop is the only writer on the connection. It sends pending events,
// oldest first, keeping at most window in flight: the store is the queue, so
// a slow CLI just leaves events pending.
//
// The writer reads pending events from the store until a read comes back
// short, which means it has sent everything committed before that read
// began. From then on it is caught up: every later event reaches it through
// offer, in Seq order, so it sends from the handoff without reading back
// what was just written. The handoff is trusted only while it was never
// dropped since before that read (handoffGen); otherwise, and whenever the
// store does not announce commits, the writer reads the store again. An
// event both read and offered is sent once: the cursor skips it.
func (s *session) writeLoop(ctx context.Context) {
	defer func() {
		select {
		case f := <-s.final:
			if f.frame != nil {
				s.r.failFraming(s.conn, f.frame)
				return
			}
			s.conn.SetWriteDeadline(time.Now().Add(time.Second))
			websocket.JSON.Send(s.conn, f.msg)
		default:
		}
		s.conn.Close() // unblocks the reader
	}()
	ping := time.NewTimer(s.r.cfg.PingInterval)
	defer ping.Stop()
	retryT := time.NewTimer(time.Hour)
	defer retryT.Stop()
	s.countT = time.NewTimer(countAfter)
	s.countT.Stop()
	defer s.countT.Stop()
	var (
		cursor   int64  // last seq sent on this connection
		caughtUp bool   // nothing pending after cursor is missing from the handoff
		gen      uint64 // handoffGen when caughtUp was established
	)
	for {
		var (
			batch  []store.Pending
			more   bool  // maybe more to send at once
			readTo int64 // the last seq read from the store, sent or deferred
		)
		if caughtUp {
			batch, more, caughtUp = s.takeHandoff(cursor, gen)
			if !caughtUp {
				more = true // read the store instead
			}
		} else if n := min(s.room(), pendingBatch); n > 0 {
			s.mu.Lock()
			g, rw := s.handoffGen, s.rewinds
			if s.rewind > 0 {
				// Sent early, not stored: the store gives these Seqs out again.
				cursor = min(cursor, s.rewind-1)
				s.rewind = 0
			}
			s.mu.Unlock()
			var err error
			// Off this goroutine's stack: it lives as long as the session.
			onFreshStack(func() { batch, err = s.r.st.Pending(ctx, s.endpoint, cursor, n, pendingBytes) })
			if err != nil {
				if ctx.Err() == nil {
					s.r.log.Error("listen: read pending events", "endpoint", s.endpoint, "err", err)
					s.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeInternal, Text: "relay error; reconnecting may help"})
				}
				return
			}
			var size int64
			for _, p := range batch {
				size += int64(len(p.Event.Body))
			}
			// A read cut by count or by size may have left some behind.
			more = len(batch) == n || size >= pendingBytes
			if len(batch) > 0 {
				readTo = batch[len(batch)-1].Seq
			}
			s.mu.Lock()
			if s.rewinds != rw {
				// A commit failed during the read: it may have skipped a
				// Seq given out again. Read again from the rewound cursor.
				batch, readTo, more = nil, 0, true
			}
			s.mu.Unlock()
			batch = s.deferScheduled(batch)
			s.mu.Lock()
			// An event offered early and dropped before its commit may
			// be missing from both: read again once it is committed
			// (settle wakes the writer).
			if !more && s.r.notified && !s.missedLocked() {
				caughtUp, gen = s.handoffGen == g, g
				// Offers that came in during the read woke nobody who
				// would look at them; the handoff may hold some.
				more = true
			}
			for _, p := range batch {
				s.inflight[p.Event.ID] = newSent(p)
			}
			s.mu.Unlock()
		}
		if len(batch) > 0 {
			sent, err := s.sendEvents(batch)
			if len(sent) > 0 {
				cursor = batch[len(sent)-1].Seq
			}
			if len(sent) == len(batch) {
				cursor = max(cursor, readTo) // past the deferred ones too
			}
			s.sent(batch, len(sent))
			if err != nil {
				return
			}
			ping.Reset(s.r.cfg.PingInterval)
		} else if readTo > 0 {
			cursor = max(cursor, readTo) // all deferred
		}
		if !s.sendDue(ctx) {
			return
		}
		if err := s.applySettled(ctx); err != nil {
			s.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeBadMessage, Text: err.Error()})
			return
		}
		if more {
			// Look again once pending control replies and cancellation
			// have had their turn. Acks wake the writer only when the
			// window was full, so this wake is the one that continues.
			s.wake()
		}
		select {
		case <-ctx.Done():
			return
		case <-s.r.quit:
			s.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeInternal, Text: "relay is shutting down"})
			return
		case <-s.pong:
			if err := s.write(wire.Message{Type: wire.TypePong}); err != nil {
				return
			}
			ping.Reset(s.r.cfg.PingInterval)
		case <-s.wakeCh:
		case <-s.dueTimer(retryT):
		case <-s.countT.C:
			s.countLate(ctx)
		case <-ping.C:
			if err := s.write(wire.Message{Type: wire.TypePing}); err != nil {
				return
			}
			ping.Reset(s.r.cfg.PingInterval)
		}
	}
}

// sendEvents writes batch, in one socket write when the connection batches
// them, and returns the ids of the events it wrote (all of them unless a
// write failed).
func (s *session) sendEvents(batch []store.Pending) ([]string, error) {
	if s.out != nil {
		s.out.Begin()
	}
	sent := make([]string, 0, len(batch))
	var err error
	for _, p := range batch {
		m := wire.Message{Type: wire.TypeEvent, Event: p.Event}
		if s.retry {
			m.Attempt = p.Retries + 1
		}
		if err = s.write(m); err != nil {
			break
		}
		sent = append(sent, p.Event.ID)
	}
	if s.out != nil {
		// Even after a failed write: what the writer sends last (an
		// error, the close frame) must not stay in the batch.
		if ferr := s.out.Flush(s.writeDeadline); err == nil {
			err = ferr
		}
	}
	return sent, err
}

// onFreshStack runs fn on a short-lived goroutine and waits for it. The
// store's calls (SQLite) need deep stacks; run on the connection's
// long-lived goroutine they would leave it with a large stack for the
// whole life of an idle session.
func onFreshStack(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}
