package relay

import (
	"fmt"
	"testing"
	"time"
)

// Many distinct keys, each used once, do not pile up: once they have been
// idle long enough to refill, the next call forgets them. Keys still in use
// keep their (empty) buckets, so forgetting never resets a limit early.
func TestLimiterForgetsIdleKeys(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := newLimiter(1, 2, func() time.Time { return now })
	if l.idle != 2*time.Second {
		t.Fatalf("idle = %v, want the refill time of 2s", l.idle)
	}
	const distinct = 100_000
	for i := range distinct {
		if ok, _ := l.allow(fmt.Sprintf("ep-%d", i)); !ok {
			t.Fatalf("first request of ep-%d refused", i)
		}
	}
	if n := l.size(); n != distinct {
		t.Fatalf("%d keys held before they are idle, want %d", n, distinct)
	}
	// "busy" empties its bucket and keeps using it.
	l.allow("busy")
	l.allow("busy")
	for i := range 3 {
		// One token refills per step; sweeps in between leave the bucket
		// as it is, so a second request is refused.
		now = now.Add(l.idle / 2)
		if ok, _ := l.allow("busy"); !ok {
			t.Fatalf("step %d: the refilled token refused", i)
		}
		if ok, _ := l.allow("busy"); ok {
			t.Fatalf("step %d: a sweep refilled a bucket still in use", i)
		}
	}
	now = now.Add(l.idle)
	l.allow("busy")
	if n := l.size(); n != 1 {
		t.Errorf("%d keys held after the others were idle for %v, want 1 (busy)", n, l.idle)
	}
}

// The limits are those of a token bucket: burst at once, then one per
// 1/rate, with the wait until the next token.
func TestLimiterEnforces(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := newLimiter(2, 3, func() time.Time { return now })
	for i := range 3 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d within burst refused", i)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("over burst: ok=%v wait=%v, want a refusal and a wait of at most 500ms", ok, wait)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Error("another key shares the first one's bucket")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.allow("a"); !ok {
		t.Error("refused after a token refilled")
	}
	if ok, _ := l.allow("a"); ok {
		t.Error("allowed twice after one token refilled")
	}
	// Idle past the refill time, even across a sweep: a full burst again,
	// never more.
	now = now.Add(time.Hour)
	for i := range 3 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d of a refilled burst refused", i)
		}
	}
	if ok, _ := l.allow("a"); ok {
		t.Error("more than the burst after a sweep")
	}
	if ok, _ := newLimiter(0, 0, func() time.Time { return now }).allow("a"); !ok {
		t.Error("rate 0 is unlimited")
	}
}
