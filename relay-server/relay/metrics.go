package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookctl/hookctl/relay-server/store"
)

// MetricsPath is where ServeMetrics answers with the relay's metrics in
// the Prometheus text format.
const MetricsPath = "/metrics"

// pendingTop is how many endpoints hookctl_events_pending names; the
// others are summed under otherEndpoint, so a relay with many endpoints
// has at most pendingTop+1 series.
const pendingTop = 10

// otherEndpoint labels the events pending for endpoints outside the top.
// Endpoint names start with a letter or digit, so it names none.
const otherEndpoint = "_other"

// pendingTimeout bounds the store read of one scrape.
const pendingTimeout = 5 * time.Second

// metrics are the relay's Prometheus metrics, in a registry of its own:
// several relays in one process (tests, `hookctl listen`'s embedded relay)
// do not share counters, and nothing registers into the global default.
//
// They name endpoints (hookctl_events_pending), so they are served only
// where the operator asks (ServeMetrics on a listener of its own), never
// on the public one.
type metrics struct {
	reg *prometheus.Registry

	ingress          *prometheus.CounterVec                  // by status code
	byCode           [600]atomic.Pointer[prometheus.Counter] // ingress's children, looked up once
	stored           prometheus.Counter
	deliveries       prometheus.Counter
	deliverySeconds  prometheus.Histogram
	commitSeconds    prometheus.Histogram
	commitWrites     prometheus.Histogram
	commitFailures   prometheus.Counter
	handoffOverflows *prometheus.CounterVec // by reason
	handoffUnstored  prometheus.Counter
	pending          *prometheus.GaugeVec // by endpoint, refreshed per scrape

	// scrape serializes scrapes: each one refreshes pending from the store.
	scrape  sync.Mutex
	handler http.Handler
}

func newMetrics(r *Relay) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		ingress: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookctl_ingress_requests_total",
			Help: `Webhooks answered, by status code ("none": the sender left before its answer). Requests net/http refuses itself (a malformed request, headers over 64 KiB) are not counted.`,
		}, []string{"code"}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookctl_events_stored_total",
			Help: "Webhooks stored durably by this relay.",
		}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookctl_deliveries_total",
			Help: "Events acked by a CLI connected to this relay (the first ack of an event sent on the connection).",
		}),
		deliverySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookctl_delivery_seconds",
			Help:    "Time from a webhook's arrival (it is stored at once) to the CLI's ack, including the time it waited for a CLI.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookctl_store_commit_seconds",
			Help:    "Duration of the store writer's transactions (group commits), until durable.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 2, 15), // 100µs to 1.6s
		}),
		commitWrites: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookctl_store_commit_writes",
			Help:    "Writes per store transaction (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 9), // 1 to 256, the largest batch
		}),
		commitFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookctl_store_commit_failures_total",
			Help: "Store transactions that failed as a whole.",
		}),
		handoffOverflows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookctl_handoff_overflows_total",
			Help: `Handoffs of a session dropped for being full, by reason ("events": 256 events, "bytes": 2 MiB of bodies, "large": an event over 2 MiB found no room, "order": an event committed after a later one was handed over early); the session then reads the store. Nothing is lost.`,
		}, []string{"reason"}),
		handoffUnstored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookctl_handoff_unstored_total",
			Help: "Events handed to a CLI while their commit was in flight whose commit then failed: the app may have them, the store does not, and the sender got 503 and will send them again.",
		}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookctl_events_pending",
			Help: fmt.Sprintf("Events stored and not yet delivered, for the %d endpoints with the most, the rest summed under endpoint=%q; read from the store at each scrape (on several nodes, each reports the whole database).", pendingTop, otherEndpoint),
		}, []string{"endpoint"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.ingress, m.stored, m.deliveries, m.deliverySeconds,
		m.commitSeconds, m.commitWrites, m.commitFailures, m.handoffOverflows, m.handoffUnstored, m.pending,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookctl_sessions",
			Help: "CLIs connected to this relay (one per endpoint).",
		}, func() float64 { return float64(r.hub.count()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookctl_ingress_inflight_bytes",
			Help: "Webhook body bytes ingress holds now (being read, stored, or waiting for the app's answer); at --max-inflight webhooks get 503.",
		}, func() float64 { return float64(r.inflight.bytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookctl_ingress_inflight_limit_bytes",
			Help: "The bound on hookctl_ingress_inflight_bytes (--max-inflight).",
		}, func() float64 { return float64(r.inflight.total) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookctl_handoff_large_bytes",
			Help: "Bytes of events over 2 MiB that sessions hold in their handoffs, waiting to be sent (at most --max-inflight).",
		}, func() float64 { return float64(r.largeHandoff.Load()) }),
	)
	for _, code := range []string{"202", "400", "404", "413", "429", "503"} {
		m.ingress.WithLabelValues(code) // the usual answers exist from the start
	}
	for _, reason := range []string{"events", "bytes", "large", "order"} {
		m.handoffOverflows.WithLabelValues(reason)
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(r.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m
}

// answered counts an ingress answer; code 0 is none. The counter of each
// code is looked up (label hashing, a locked map) once, not per webhook.
func (m *metrics) answered(code int) {
	if code < 0 || code >= len(m.byCode) {
		m.ingress.WithLabelValues(strconv.Itoa(code)).Inc()
		return
	}
	if c := m.byCode[code].Load(); c != nil {
		(*c).Inc()
		return
	}
	label := "none"
	if code != 0 {
		label = strconv.Itoa(code)
	}
	c := m.ingress.WithLabelValues(label)
	m.byCode[code].Store(&c)
	c.Inc()
}

// delivered counts an ack of an event received at the relay d ago.
func (m *metrics) delivered(d time.Duration) {
	m.deliveries.Inc()
	m.deliverySeconds.Observe(max(d, 0).Seconds())
}

// committed is the store's store.CommitObserver fn.
func (m *metrics) committed(c store.Commit) {
	m.commitSeconds.Observe(c.Duration.Seconds())
	m.commitWrites.Observe(float64(c.Writes))
	if c.Err != nil {
		m.commitFailures.Inc()
	}
}

// overflowed counts a handoff dropped for being full.
func (m *metrics) overflowed(reason string) { m.handoffOverflows.WithLabelValues(reason).Inc() }

// serve answers a scrape: pending counts are read from the store first.
func (m *metrics) serve(r *Relay) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		m.scrape.Lock()
		defer m.scrape.Unlock()
		ctx, cancel := context.WithTimeout(req.Context(), pendingTimeout)
		counts, err := r.st.PendingByEndpoint(ctx)
		cancel()
		m.pending.Reset()
		if err != nil {
			// The series are left out rather than left stale.
			r.log.Warn("metrics: count pending events", "err", err)
		} else {
			other := 0
			for i, c := range counts {
				if i < pendingTop {
					m.pending.WithLabelValues(c.Endpoint).Set(float64(c.Count))
				} else {
					other += c.Count
				}
			}
			m.pending.WithLabelValues(otherEndpoint).Set(float64(other))
		}
		m.handler.ServeHTTP(w, req)
	}
}

// MetricsHandler answers with the relay's metrics in the Prometheus text
// format. They name endpoints: serve it only where the public cannot reach
// it (ServeMetrics does, on a listener of its own).
func (r *Relay) MetricsHandler() http.Handler { return r.metrics.serve(r) }

// ServeMetrics serves MetricsPath on ln until ctx ends. ln should be private
// (loopback, or an internal network a Prometheus scrapes from): the
// metrics name endpoints, which a public relay's users may want kept to
// themselves.
func (r *Relay) ServeMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, r.MetricsHandler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 16,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// statusRecorder remembers the status of an answer, for the ingress
// counter. http.ResponseController reaches the writer under it through
// Unwrap.
type statusRecorder struct {
	http.ResponseWriter
	code int // 0 until the header is written
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 && code >= 200 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// netHTTPWriter is the writer net/http gave the handler, under any
// wrappers.
func netHTTPWriter(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}
