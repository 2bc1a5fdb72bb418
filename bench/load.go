package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			DisableCompression:  true,
		},
		Timeout: 30 * time.Second,
	}
}

// post sends one request and returns its latency. Its status must be want,
// and its body "ok" when want is 200 (the app's answer came back).
func (b *bench) post(ctx context.Context, hc *http.Client, url string, want int) (time.Duration, error) {
	a, _, err := b.postSeq(ctx, hc, url, want)
	return a.Latency, err
}

// postSeq is post returning the whole answer and the request's X-Bench-Seq.
func (b *bench) postSeq(ctx context.Context, hc *http.Client, url string, want int) (answer, int64, error) {
	seq := b.seq.Add(1)
	a, err := b.send(ctx, hc, url, b.body, seq)
	if err != nil {
		return answer{}, seq, err
	}
	if a.Status != want {
		return answer{}, seq, fmt.Errorf("POST %s: status %d, want %d: %s", url, a.Status, want, bytes.TrimSpace(a.Body))
	}
	if want == http.StatusOK && string(a.Body) != "ok" {
		return answer{}, seq, fmt.Errorf("POST %s: body %q, want the app's \"ok\"", url, a.Body)
	}
	return a, seq, nil
}

// load sends n requests from senders goroutines, to urls in turn, and
// returns the latencies and the elapsed time.
func (b *bench) load(ctx context.Context, hc *http.Client, urls []string, n, senders, want int) ([]time.Duration, time.Duration, error) {
	var (
		next  atomic.Int64
		mu    sync.Mutex
		lats  = make([]time.Duration, 0, n)
		first error
		wg    sync.WaitGroup
	)
	t0 := time.Now()
	for range senders {
		wg.Go(func() {
			local := make([]time.Duration, 0, n/senders+1)
			defer func() {
				mu.Lock()
				lats = append(lats, local...)
				mu.Unlock()
			}()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				d, err := b.post(ctx, hc, urls[int(i-1)%len(urls)], want)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n)) // stop everyone
					return
				}
				local = append(local, d)
			}
		})
	}
	wg.Wait()
	return lats, time.Since(t0), first
}

// answer is what a sender got back.
type answer struct {
	Status     int
	RetryAfter string
	Body       []byte // the first 64 KiB
	Sent       time.Time
	Latency    time.Duration // send → the whole answer read
}

// send POSTs body to url as application/octet-stream with X-Bench-Seq seq.
// Any status is an answer; only a failed exchange is an error.
func (b *bench) send(ctx context.Context, hc *http.Client, url string, body []byte, seq int64) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Bench-Seq", strconv.FormatInt(seq, 10))
	t0 := time.Now()
	res, err := hc.Do(req)
	if err != nil {
		return answer{Sent: t0}, err
	}
	got, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	a := answer{Status: res.StatusCode, RetryAfter: res.Header.Get("Retry-After"), Body: got, Sent: t0, Latency: time.Since(t0)}
	return a, err
}

// statusCounts counts answers by status. Key 0 is a failed exchange (no
// answer), -503 a 503 without Retry-After.
type statusCounts map[int]int

func (c statusCounts) add(a answer, err error) {
	switch {
	case err != nil:
		c[0]++
	case a.Status == http.StatusServiceUnavailable && a.RetryAfter == "":
		c[-503]++
	default:
		c[a.Status]++
	}
}

// ok is how many answers were 2xx.
func (c statusCounts) ok() int {
	n := 0
	for s, k := range c {
		if s >= 200 && s < 300 {
			n += k
		}
	}
	return n
}

// total is how many there are in all.
func (c statusCounts) total() int {
	n := 0
	for _, k := range c {
		n += k
	}
	return n
}

// String lists the counts by status, lowest first: "200 ×31, 503 ×169".
func (c statusCounts) String() string {
	if len(c) == 0 {
		return "none"
	}
	keys := make([]int, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	order := func(k int) int { // errors last, a bare 503 beside 503
		switch {
		case k == 0:
			return 1 << 20
		case k < 0:
			return -k*2 + 1
		}
		return k * 2
	}
	slices.SortFunc(keys, func(x, y int) int { return order(x) - order(y) })
	var parts []string
	for _, k := range keys {
		name := strconv.Itoa(k)
		switch {
		case k == 0:
			name = "no answer (error)"
		case k == http.StatusServiceUnavailable:
			name = "503 with Retry-After"
		case k < 0:
			name = strconv.Itoa(-k) + " without Retry-After"
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", name, c[k]))
	}
	return strings.Join(parts, ", ")
}

// retryAfter is how long a Retry-After value asks to wait: seconds or an
// HTTP date; 1 s when absent or unreadable, at most 30 s.
func retryAfter(v string, now time.Time) time.Duration {
	const def, most = time.Second, 30 * time.Second
	v = strings.TrimSpace(v)
	if v == "" {
		return def
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return def
	}
	return min(max(d, 0), most)
}

// sleep waits d or until ctx is done.
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
