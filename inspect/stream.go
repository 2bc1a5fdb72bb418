package inspect

import (
	"io"
	"sync"
)

// A StreamWriter passes what is written to it on to w from a goroutine of
// its own, so that the lines printed while it is busy go out together in
// one write. `listen` prints a line per event: written at once, each line
// was a write syscall of its own, a tenth of the CLI's time per event. The
// goroutine runs as soon as nothing else is runnable, so a line still
// appears within microseconds of being printed when events are few.
//
// Past streamMax bytes waiting, Write writes them itself: a reader that
// does not keep up slows the printer down, as before, instead of letting
// the buffer grow. Close writes what is left and ends the goroutine; every
// byte written before it is written to w, in order.
type StreamWriter struct {
	w io.Writer

	mu     sync.Mutex // guards buf and closed
	buf    []byte
	closed bool

	wmu   sync.Mutex // held while writing to w: flushes happen one at a time, in order
	spare []byte     // the buffer written last, reused; guarded by wmu

	wake chan struct{} // one pending wake-up of the goroutine
	done chan struct{} // closed when the goroutine has ended
}

// streamMax bounds the bytes a StreamWriter holds.
const streamMax = 64 << 10

// NewStreamWriter returns a StreamWriter for w; Close it when done.
func NewStreamWriter(w io.Writer) *StreamWriter {
	s := &StreamWriter{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *StreamWriter) run() {
	defer close(s.done)
	for range s.wake {
		s.Flush()
	}
}

// Write queues p for the goroutine; after Close, it writes p at once. Write
// errors of w are not reported: like a line printed to a closed terminal,
// the output is lost, the work goes on.
func (s *StreamWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.buf = append(s.buf, p...)
	now := s.closed || len(s.buf) >= streamMax
	if !now {
		select {
		case s.wake <- struct{}{}:
		default: // a wake-up is pending; it will take p too
		}
	}
	s.mu.Unlock()
	if now {
		s.Flush()
	}
	return len(p), nil
}

// Flush writes what is queued and returns once it is written.
func (s *StreamWriter) Flush() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	b := s.buf
	s.buf = s.spare[:0]
	s.mu.Unlock()
	if len(b) > 0 {
		_, _ = s.w.Write(b)
	}
	if cap(b) > streamMax {
		b = nil // a burst's large buffer is not kept
	}
	s.spare = b
}

// Close waits for the goroutine to write what is queued and end. Writes
// after Close go out at once.
func (s *StreamWriter) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.wake) // under mu: no Write sends on it after this
	s.mu.Unlock()
	<-s.done // every Write before found a wake-up pending, or sent one
	return nil
}

// Before returns a writer to w that first writes what s holds: a
// diagnostic on stderr then comes after the event lines printed before it,
// as when each line was written at once.
func (s *StreamWriter) Before(w io.Writer) io.Writer { return flushingWriter{s, w} }

type flushingWriter struct {
	s *StreamWriter
	w io.Writer
}

func (f flushingWriter) Write(p []byte) (int, error) {
	f.s.Flush()
	return f.w.Write(p)
}
