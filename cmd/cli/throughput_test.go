package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFireThroughput compares `hookctl fire --count N --concurrency 32`
// with a plain Go HTTP load loop against the same fast local server, in the
// same run; fire must reach at least half the plain loop's rate. It sends
// tens of thousands of requests, so it runs only when asked:
//
//	HOOKCTL_THROUGHPUT=20000 go test ./cmd/cli -run TestFireThroughput -v
func TestFireThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HOOKCTL_THROUGHPUT"))
	if n <= 0 {
		t.Skip("set HOOKCTL_THROUGHPUT=20000 to measure")
	}
	const conc = 32
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		served.Add(1)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	plain := func() float64 {
		tr := &http.Transport{MaxIdleConns: 2 * conc, MaxIdleConnsPerHost: 2 * conc}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		body := bytes.Repeat([]byte("x"), 1000) // about a fixture's size
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < conc; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(body))
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
		return float64(n) / time.Since(start).Seconds()
	}
	fire := func() float64 {
		var out, errb bytes.Buffer
		f := &Factory{IO: &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb}, Getenv: func(string) string { return "" }, Now: time.Now}
		start := time.Now()
		code := Run(context.Background(), []string{"fire", "stripe", "payment_intent.succeeded", "--to", srv.URL,
			"--secret", "whsec_bench", "--count", strconv.Itoa(n), "--concurrency", strconv.Itoa(conc)}, f)
		rate := float64(n) / time.Since(start).Seconds()
		if code != 0 {
			t.Fatalf("fire exit %d: %s %s", code, out.String(), errb.String())
		}
		t.Logf("fire: %s", strings.TrimSpace(out.String()))
		return rate
	}
	var bestPlain, bestFire float64
	for i := 0; i < 3; i++ {
		bestPlain = max(bestPlain, plain())
		bestFire = max(bestFire, fire())
	}
	t.Logf("%d requests, concurrency %d: plain Go loop %.0f req/s, hookctl fire %.0f req/s (%.0f%%)", n, conc, bestPlain, bestFire, 100*bestFire/bestPlain)
	if bestFire < bestPlain/2 {
		t.Errorf("fire reaches %.0f%% of the plain loop's rate, want at least 50%%", 100*bestFire/bestPlain)
	}
}
