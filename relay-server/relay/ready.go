package relay

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"
)

// ReadyzPath answers whether this relay can take webhooks now: 200 when its
// store answers, 503 with the reason when it does not or the relay is
// shutting down. A load balancer sends webhooks only to ready nodes;
// wire.HealthzPath (liveness) never looks at the store, so a store outage
// does not get a healthy process restarted.
const ReadyzPath = "/readyz"

const (
	// readyTimeout bounds the store check of a readiness probe.
	readyTimeout = 2 * time.Second
	// readyFresh is how long a check's result answers further probes:
	// readiness is public, and a flood of probes must not become a flood
	// of store queries.
	readyFresh = time.Second
)

// readyStatus is the body of a /readyz answer.
type readyStatus struct {
	Status string `json:"status"`           // "ready" or "unavailable"
	Reason string `json:"reason,omitempty"` // why not
}

// readiness is the last store check, shared by the probes that come within
// readyFresh of it.
type readiness struct {
	mu      sync.Mutex // held across a check: one at a time
	checked time.Time  // zero before the first check
	err     error
}

func (r *Relay) serveReadyz(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	select {
	case <-r.quit:
		writeJSON(w, http.StatusServiceUnavailable, readyStatus{Status: "unavailable", Reason: "shutting down"})
		return
	default:
	}
	if err := r.checkReady(req.Context()); err != nil {
		// The store's error stays in the log: it may name the database's
		// host and user, and readiness is public.
		reason := "store unavailable (the relay's log has the error)"
		if errors.Is(err, context.DeadlineExceeded) {
			reason = "store did not answer within " + readyTimeout.String()
		}
		writeJSON(w, http.StatusServiceUnavailable, readyStatus{Status: "unavailable", Reason: reason})
		return
	}
	writeJSON(w, http.StatusOK, readyStatus{Status: "ready"})
}

// checkReady pings the store, or returns the result of a check less than
// readyFresh old. A change of state is logged.
func (r *Relay) checkReady(ctx context.Context) error {
	rd := &r.ready
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if !rd.checked.IsZero() && time.Since(rd.checked) < readyFresh {
		return rd.err
	}
	// A prober that hangs up must not make the store look down.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	err := r.st.Ping(ctx)
	cancel()
	switch {
	case err != nil && (rd.err == nil || rd.checked.IsZero()):
		r.log.Warn("readiness: store check failed; not ready", "err", err)
	case err == nil && rd.err != nil:
		r.log.Info("readiness: store answers again; ready")
	}
	rd.checked, rd.err = time.Now(), err
	return err
}
