package relay

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// readLoop is the session's reader: it applies each message from the CLI
// (handle) until the connection fails or breaks the protocol.
func (s *session) readLoop(ctx context.Context) {
	for {
		s.conn.SetReadDeadline(time.Now().Add(s.r.cfg.DeadAfter))
		var m wire.Message
		if err := readMessage(s.conn, s.frames, &m, s.maxBodyFrame()); err != nil {
			var (
				bad *badMessage
				fe  *wire.FrameError
			)
			switch {
			case errors.As(err, &bad):
				s.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeBadMessage, Text: bad.text})
			case errors.As(err, &fe):
				s.r.log.Warn("listen: websocket protocol error", "endpoint", s.endpoint, "session", s.id, "err", fe.Reason)
				select {
				case s.final <- farewell{frame: fe}:
				default:
				}
			}
			return
		}
		if err := s.handle(ctx, m); err != nil {
			s.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeBadMessage, Text: err.Error()})
			return
		}
	}
}

// handle applies one message from the CLI. An error is a protocol
// violation.
func (s *session) handle(ctx context.Context, m wire.Message) error {
	switch m.Type {
	case wire.TypePing:
		// One pending pong answers any number of pings.
		select {
		case s.pong <- struct{}{}:
		default:
		}
	case wire.TypePong:
	case wire.TypeAck, wire.TypeResponse:
		if m.Type == wire.TypeAck && m.ID == "" {
			return errors.New("ack without an id")
		}
		if m.Type == wire.TypeResponse {
			if m.ID == "" || m.Response == nil {
				return errors.New("response without an id or a response")
			}
			// At once, even for an event whose commit is in flight:
			// ingress answers its sender only once the event is durable.
			if !s.r.hub.respond(s.endpoint, m.ID, m.Response) && s.r.cluster != nil && s.reply.Mode == wire.ReplyPassthrough {
				// The sender may be waiting on another node.
				if err := s.r.cluster.PublishResponse(ctx, s.endpoint, m.ID, m.Response); err != nil && ctx.Err() == nil {
					s.r.log.Error("listen: publish response", "endpoint", s.endpoint, "id", m.ID, "err", err)
				}
			}
		}
		if held, err := s.hold(m); held || err != nil {
			return err
		}
		return s.apply(ctx, m)
	case wire.TypePause:
		s.mu.Lock()
		s.paused = true
		s.mu.Unlock()
	case wire.TypeResume:
		s.mu.Lock()
		s.paused = false
		s.mu.Unlock()
		s.wake()
	default:
		return fmt.Errorf("unexpected message type %q", m.Type)
	}
	return nil
}

// apply stores what an ack or a response says about an event, once the
// event is durable; the waiting sender had the response already (handle).
// An error is a protocol violation.
func (s *session) apply(ctx context.Context, m wire.Message) error {
	st := s.r.st
	switch m.Type {
	case wire.TypeAck:
		s.mu.Lock()
		sent, mine := s.inflight[m.ID]
		// Only an ack that frees the last slot of a full window needs to
		// wake the writer: with room left, its last read took everything
		// pending (or it woke itself for more), and new events poke it.
		full := len(s.inflight) >= s.window
		delete(s.inflight, m.ID)
		delete(s.later, m.ID)
		if mine {
			s.delivered++
		}
		s.mu.Unlock()
		resp := sent.resp
		attempts := 0
		if mine {
			s.r.metrics.delivered(s.r.cfg.Now().Sub(sent.received))
			if sent.uncounted {
				attempts = 1 // stored with the ack (session_attempts.go)
			}
		}
		// An id sent on an earlier connection is acked too; the store
		// checks it belongs to this endpoint.
		if err := st.Ack(context.WithoutCancel(ctx), s.endpoint, m.ID, resp, s.r.cfg.Now(), attempts); err != nil {
			s.r.log.Error("listen: ack", "endpoint", s.endpoint, "id", m.ID, "err", err)
		}
		if mine && full {
			s.wake()
		}
	case wire.TypeResponse:
		if m.RetryIn != 0 {
			return s.scheduleRetry(ctx, m)
		}
		s.mu.Lock()
		sent, mine := s.inflight[m.ID]
		if mine {
			sent.resp = m.Response // stored with the ack
			s.inflight[m.ID] = sent
		}
		s.mu.Unlock()
		if !mine {
			// Not in flight here (sent on an earlier connection, or already
			// acked): stored whatever the event's state, as the ack only
			// stores into a pending event.
			if err := st.SetResponse(context.WithoutCancel(ctx), s.endpoint, m.ID, m.Response); err != nil {
				s.r.log.Error("listen: store response", "endpoint", s.endpoint, "id", m.ID, "err", err)
			}
		}
		if m.Ack {
			// wire.FeatureResponseAck: exactly a response then an ack; in
			// flight, the ack stores the response with it in one write.
			return s.apply(ctx, wire.Message{Type: wire.TypeAck, ID: m.ID})
		}
	}
	return nil
}

// storeUnacked records what the events still in flight when the
// connection ended have to show, though their ack never came: the
// responses, and the attempts not stored yet (session_attempts.go). The
// events stay pending. It does not hold s.mu while it writes: a write may
// wait for room in the store's queue, and the store's writer may meanwhile
// be announcing an event to this session (offer), which takes s.mu.
func (s *session) storeUnacked(ctx context.Context) {
	type unacked struct {
		id   string
		resp *capture.Response
	}
	var (
		rs    []unacked
		count []string
	)
	s.mu.Lock()
	for id, sent := range s.inflight {
		if sent.resp != nil {
			rs = append(rs, unacked{id, sent.resp})
		}
		if sent.uncounted {
			count = append(count, id)
			sent.uncounted = false
			s.inflight[id] = sent
		}
	}
	s.mu.Unlock()
	s.markSent(ctx, count)
	for _, u := range rs {
		if err := s.r.st.SetResponse(ctx, s.endpoint, u.id, u.resp); err != nil {
			s.r.log.Error("listen: store response", "endpoint", s.endpoint, "id", u.id, "err", err)
		}
	}
}
