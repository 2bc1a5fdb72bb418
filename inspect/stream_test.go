package inspect

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer that counts the writes it gets and can be
// made to block them.
type lockedBuffer struct {
	mu       sync.Mutex
	b        bytes.Buffer
	writes   int
	maxChunk int
	gate     chan struct{} // when set, each write waits for a receive from it
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	if l.gate != nil {
		<-l.gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	l.maxChunk = max(l.maxChunk, len(p))
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Every line written before Close reaches w once, each writer's lines in
// its order, none torn.
func TestStreamWriterKeepsEveryLineInOrder(t *testing.T) {
	var dst lockedBuffer
	s := NewStreamWriter(&dst)
	const writers, lines = 4, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				fmt.Fprintf(s, "w%d line %d\n", w, i)
			}
		}()
	}
	wg.Wait()
	s.Close()
	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(dst.String(), "\n"), "\n")
	for _, l := range got {
		var w, i int
		if _, err := fmt.Sscanf(l, "w%d line %d", &w, &i); err != nil {
			t.Fatalf("torn line %q: %v", l, err)
		}
		if i != next[w] {
			t.Fatalf("writer %d: line %d after line %d", w, i, next[w]-1)
		}
		next[w]++
	}
	if len(got) != writers*lines {
		t.Fatalf("got %d lines, want %d", len(got), writers*lines)
	}
}

// A line is written without Close or Flush: the goroutine writes it.
func TestStreamWriterWritesWithoutClose(t *testing.T) {
	dst := &lockedBuffer{gate: make(chan struct{})}
	s := NewStreamWriter(dst)
	defer s.Close()
	s.Write([]byte("one\n"))
	dst.gate <- struct{}{} // the goroutine's write of "one" takes it
	dst.gate = nil
	s.Flush() // waits for that write to be done
	if got := dst.String(); got != "one\n" {
		t.Fatalf("got %q", got)
	}
}

// Lines queued while w is blocked go out together, in one write, once it
// unblocks (the first write may take some of them too); and Close waits
// for them.
func TestStreamWriterBatchesWhileBusy(t *testing.T) {
	dst := &lockedBuffer{gate: make(chan struct{})}
	s := NewStreamWriter(dst)
	s.Write([]byte("first\n")) // the goroutine's write of it waits for the gate
	for i := range 10 {
		fmt.Fprintf(s, "queued %d\n", i)
	}
	close(dst.gate) // let every later write through
	s.Close()
	want := "first\n"
	for i := range 10 {
		want += fmt.Sprintf("queued %d\n", i)
	}
	if got := dst.String(); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if dst.writes > 2 {
		t.Fatalf("%d writes for 11 lines written while the first was blocked: want them batched", dst.writes)
	}
}

// Past streamMax queued bytes, Write writes itself: a slow w slows the
// writer down instead of the buffer growing without bound. w lets one write
// through at a time; no write may carry much more than streamMax.
func TestStreamWriterBoundsWhatItHolds(t *testing.T) {
	dst := &lockedBuffer{gate: make(chan struct{})}
	s := NewStreamWriter(dst)
	line := []byte(strings.Repeat("x", 1023) + "\n")
	const lines = 4 * streamMax / 1024
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range lines {
			s.Write(line)
		}
	}()
wait:
	for {
		select {
		case <-done:
			break wait
		case dst.gate <- struct{}{}:
		}
	}
	close(dst.gate)
	s.Close()
	if got, want := len(dst.String()), lines*len(line); got != want {
		t.Fatalf("wrote %d bytes, want %d", got, want)
	}
	if dst.maxChunk > streamMax+len(line) {
		t.Fatalf("a write of %d bytes: more than %d were held", dst.maxChunk, streamMax+len(line))
	}
}

// Writes after Close go straight to w.
func TestStreamWriterAfterClose(t *testing.T) {
	var dst lockedBuffer
	s := NewStreamWriter(&dst)
	s.Write([]byte("a\n"))
	s.Close()
	s.Write([]byte("b\n"))
	if got := dst.String(); got != "a\nb\n" {
		t.Fatalf("got %q", got)
	}
	s.Close()
}

// orderLog records the writes of several writers in the order they happen.
type orderLog struct {
	mu     sync.Mutex
	writes []string
}

type orderWriter struct {
	l    *orderLog
	gate chan struct{} // when set, each write waits for it to close
}

func (w orderWriter) Write(p []byte) (int, error) {
	if w.gate != nil {
		<-w.gate
	}
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	w.l.writes = append(w.l.writes, string(p))
	return len(p), nil
}

// A write through Before comes after every line written to the
// StreamWriter before it, even while the StreamWriter's writes are held up.
func TestStreamWriterBefore(t *testing.T) {
	var l orderLog
	gate := make(chan struct{})
	s := NewStreamWriter(orderWriter{&l, gate})
	errOut := s.Before(orderWriter{l: &l})
	fmt.Fprint(s, "line 1\n")
	fmt.Fprint(s, "line 2\n")
	done := make(chan struct{})
	go func() {
		fmt.Fprint(errOut, "warning\n")
		close(done)
	}()
	// Give an unordered write every chance to go first.
	time.Sleep(20 * time.Millisecond)
	close(gate)
	<-done
	s.Close()
	got := strings.Join(l.writes, "")
	if want := "line 1\nline 2\nwarning\n"; got != want {
		t.Errorf("writes in order %q, want %q", got, want)
	}
}
