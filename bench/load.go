package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
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
	a, err := b.send(ctx, hc, url, b.body, b.seq.Add(1))
	if err != nil {
		return 0, err
	}
	if a.Status != want {
		return 0, fmt.Errorf("POST %s: status %d, want %d: %s", url, a.Status, want, bytes.TrimSpace(a.Body))
	}
	if want == http.StatusOK && string(a.Body) != "ok" {
		return 0, fmt.Errorf("POST %s: body %q, want the app's \"ok\"", url, a.Body)
	}
	return a.Latency, nil
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
