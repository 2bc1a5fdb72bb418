package tunnel

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/hookctl/hookctl/tunnel/wire"
)

// send queues m for the writer, waiting while the queue is full.
func (s *conn) send(ctx context.Context, m *wire.Message) error {
	select {
	case s.out <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write sends queued messages, pause/resume requests and keepalive pings. It
// is the only writer.
func (s *conn) write(ctx context.Context) error {
	cfg := &s.c.cfg
	paused := false // the relay's view: a fresh session is not paused
	tick := time.NewTicker(cfg.PingInterval / 2)
	defer tick.Stop()
	lastSent := time.Now()
	put := func(m *wire.Message) error {
		var body []byte
		if s.binary {
			m, body = wire.SplitBody(m)
		}
		if err := wireCodec.Send(s.ws, m); err != nil {
			return writeError(ctx, err)
		}
		if body != nil {
			if err := binaryFrame.Send(s.ws, body); err != nil {
				return writeError(ctx, err)
			}
		}
		lastSent = time.Now()
		return nil
	}
	// putQueued sends m and everything queued behind it in one write (the
	// queue is bounded, so this ends): a burst of responses costs one
	// syscall, and a lone message goes out at once, as before.
	putQueued := func(m *wire.Message) error {
		s.ic.Hold()
		err := put(m)
		for err == nil && len(s.out) > 0 {
			err = put(<-s.out)
		}
		if rerr := s.ic.Release(); err == nil && rerr != nil {
			err = writeError(ctx, rerr)
		}
		return err
	}
	syncPause := func() error {
		want := s.c.paused.Load()
		if want == paused {
			return nil
		}
		paused = want
		t := wire.TypeResume
		if want {
			t = wire.TypePause
		}
		return put(&wire.Message{Type: t})
	}
	if err := syncPause(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-s.out:
			// Workers that are runnable (their app answered) finish their
			// deliveries first, so that their answers share this write:
			// on one P (listen's GOMAXPROCS) they would otherwise run
			// only once the writer blocks, after a write of its own.
			// With nothing else to run this returns at once.
			runtime.Gosched()
			if err := putQueued(m); err != nil {
				return err
			}
		case <-s.c.ctl:
			if err := syncPause(); err != nil {
				return err
			}
		case done := <-s.flush:
			// The workers have stopped: everything they queued is in out.
			if len(s.out) > 0 {
				if err := putQueued(<-s.out); err != nil {
					return err
				}
			}
			close(done)
		case now := <-tick.C:
			quiet := now.Sub(time.Unix(0, s.lastRecv.Load()))
			if quiet >= cfg.PingInterval || now.Sub(lastSent) >= cfg.PingInterval {
				if err := put(&wire.Message{Type: wire.TypePing}); err != nil {
					return err
				}
			}
		}
	}
}

func writeError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("write to relay: %w", err)
}
