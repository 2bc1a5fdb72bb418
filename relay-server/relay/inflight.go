package relay

import (
	"sync"
)

// DefaultMaxInflight is the default bound on webhook body bytes the relay
// holds for ingress at once.
const DefaultMaxInflight = 64 << 20

// inflight bounds the body bytes ingress holds at once: those being read,
// stored, and held while a passthrough sender waits for the app's answer.
// Beyond the bound a webhook is refused with 503 and Retry-After before
// anything of it is stored, so memory is set by configuration, not by how
// many senders upload at once. One endpoint may hold at most perEndpoint,
// so a flood to one endpoint leaves room for everyone else.
type inflight struct {
	total, perEndpoint int64

	mu    sync.Mutex
	used  int64
	byEnd map[string]int64
}

// newInflight bounds ingress at total bytes (at least maxBody, so that every
// body the relay accepts can fit), and each endpoint at half of it (at
// least maxBody too).
func newInflight(total, maxBody int64) *inflight {
	total = max(total, maxBody)
	return &inflight{total: total, perEndpoint: max(total/2, maxBody), byEnd: map[string]int64{}}
}

// take reserves n more bytes for endpoint, or reports that the relay or
// the endpoint is full. It never waits: a sender told to retry costs
// nothing, one kept waiting holds a connection.
func (f *inflight) take(endpoint string, n int64) bool {
	if n <= 0 {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.used+n > f.total || f.byEnd[endpoint]+n > f.perEndpoint {
		return false
	}
	f.used += n
	f.byEnd[endpoint] += n
	return true
}

// give returns n bytes taken for endpoint.
func (f *inflight) give(endpoint string, n int64) {
	if n <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.used -= n
	if left := f.byEnd[endpoint] - n; left > 0 {
		f.byEnd[endpoint] = left
	} else {
		delete(f.byEnd, endpoint)
	}
}

// bytes is how many bytes are held, for tests and metrics.
func (f *inflight) bytes() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used
}

// meteredReader charges what it reads to an endpoint's reservation, in
// steps, for bodies whose length is not declared. The first failed step
// ends the read with errFull.
type meteredReader struct {
	r        interface{ Read([]byte) (int, error) }
	f        *inflight
	endpoint string
	held     int64 // reserved so far
	read     int64
}

// meterStep is how much a body without Content-Length reserves at a time.
const meterStep = 256 << 10

func (m *meteredReader) Read(p []byte) (int, error) {
	if m.read+int64(len(p)) > m.held {
		step := max(int64(meterStep), m.read+int64(len(p))-m.held)
		if !m.f.take(m.endpoint, step) {
			return 0, errFull
		}
		m.held += step
	}
	n, err := m.r.Read(p)
	m.read += int64(n)
	return n, err
}

// errFull: the in-flight bound was reached while a body was being read.
var errFull = fullError{}

type fullError struct{}

func (fullError) Error() string { return "relay is at its in-flight byte limit" }
