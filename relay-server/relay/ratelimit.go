package relay

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket (golang.org/x/time/rate) per endpoint. A bucket
// left unused for idle has refilled to its burst, so it is forgotten: a new
// one would start in the same state. The map holds only the endpoints that
// received traffic within idle, however many distinct names come and go.
type limiter struct {
	limit rate.Limit // 0 = unlimited
	burst int
	idle  time.Duration
	now   func() time.Time

	mu    sync.Mutex
	keys  map[string]*keyLimit
	swept time.Time
}

type keyLimit struct {
	lim  *rate.Limiter
	last time.Time
}

func newLimiter(perSecond float64, burst int, now func() time.Time) *limiter {
	if burst < 1 {
		burst = max(1, int(math.Ceil(perSecond)))
	}
	l := &limiter{limit: rate.Limit(perSecond), burst: burst, now: now, keys: map[string]*keyLimit{}}
	if perSecond > 0 {
		// The time an empty bucket takes to refill, at least a second.
		l.idle = max(time.Second, time.Duration(math.Ceil(float64(burst)/perSecond*float64(time.Second))))
	}
	return l
}

// allow takes a token for key. When none is left it reports how long until
// one is.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l.limit <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= l.idle {
		l.sweep(now)
	}
	k, ok := l.keys[key]
	if !ok {
		k = &keyLimit{lim: rate.NewLimiter(l.limit, l.burst)}
		l.keys[key] = k
	}
	k.last = now
	if k.lim.AllowN(now, 1) {
		return true, 0
	}
	wait := time.Duration((1 - k.lim.TokensAt(now)) / float64(l.limit) * float64(time.Second))
	return false, wait
}

// sweep forgets the keys unused for idle: their buckets are full again.
// It runs at most once per idle, so its cost is shared by the calls between.
func (l *limiter) sweep(now time.Time) {
	for key, k := range l.keys {
		if now.Sub(k.last) >= l.idle {
			delete(l.keys, key)
		}
	}
	l.swept = now
}

// size is how many keys the limiter holds.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}
