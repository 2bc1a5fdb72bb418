package tunnel

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff returns how long to wait before retry number attempt (1-based).
type Backoff func(attempt int) time.Duration

// Exponential returns a Backoff that starts at base, doubles each attempt up
// to limit, and picks a random delay in the upper half of that range ("equal
// jitter"), so many CLIs reconnecting to a restarted relay spread out while
// each still waits at least half the nominal delay.
func Exponential(base, limit time.Duration) Backoff {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < limit; i++ {
			d *= 2
		}
		d = min(d, limit)
		half := d / 2
		if half <= 0 {
			return d
		}
		return half + rand.N(d-half+1)
	}
}

// DefaultBackoff is used when Config.Backoff is nil: 250ms doubling to 30s.
var DefaultBackoff = Exponential(250*time.Millisecond, 30*time.Second)

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
