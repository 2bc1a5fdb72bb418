package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hookctl/hookctl/tunnel/wire"
)

// errConnClosed ends a session whose connection closed without an error
// message from the relay.
var errConnClosed = errors.New("connection closed by the relay")

// read receives messages until the connection fails. It is the only reader.
func (s *conn) read(ctx context.Context) error {
	var buf []byte // the last message's bytes, reused: Decode keeps no part of them
	for {
		var m wire.Message
		data, err := s.ic.Frames().ReadMessage(s.ws, buf)
		if err == nil {
			if cap(data) <= readBufMax {
				buf = data
			}
			err = wire.Decode(data, &m)
		}
		if err == nil && m.BodyFrame != 0 {
			err = s.readBody(&m)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("no message from the relay for %s: connection presumed dead", s.c.cfg.DeadAfter)
			}
			if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
				return errConnClosed
			}
			return fmt.Errorf("read from relay: %w", err)
		}
		s.lastRecv.Store(time.Now().UnixNano())
		switch m.Type {
		case wire.TypeEvent:
			if m.Event == nil {
				continue
			}
			s.mu.Lock()
			dup := s.seen[m.Event.ID]
			s.seen[m.Event.ID] = true
			s.mu.Unlock()
			if dup {
				continue
			}
			s.c.obs.EventReceived(m.Event)
			select {
			case s.work <- job{ev: m.Event, attempt: max(m.Attempt, 1)}:
			case <-ctx.Done():
				return ctx.Err()
			}
		case wire.TypePing:
			if err := s.send(ctx, &wire.Message{Type: wire.TypePong}); err != nil {
				return err
			}
		case wire.TypeError:
			return relayError(&m)
		}
	}
}

// readBufMax bounds the buffer the reader keeps between messages.
const readBufMax = 64 << 10

// readBody reads the binary frame that carries m's event body.
func (s *conn) readBody(m *wire.Message) error {
	if !s.binary || s.maxBody <= 0 {
		return errors.New("the relay sent a body frame without the " + wire.FeatureBinaryBody + " feature")
	}
	err := wire.ReadBody(s.ws, s.ic.Frames(), m, s.maxBody)
	if be := (*wire.BodyError)(nil); errors.As(err, &be) {
		return fmt.Errorf("relay broke the protocol: %w", err)
	}
	return err
}
