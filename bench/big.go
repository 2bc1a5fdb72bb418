package main

// The scenarios about big and many bodies: largebody (one 20 MiB body at a
// time), slowapp (an app that takes 50 ms per request) and flood (many
// 1 MiB uploads at once, and a small webhook's latency during a flood).

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// largeBody: one random 20 MiB body, sent -largebody-n times one after
// another, passthrough, through the relay and CLI and straight to the app,
// interleaved: send → the app has read the whole body, checked by sha256
// every time. Also the peak RSS (VmHWM) of the relay and the CLI, started
// for the scenario.
func (b *bench) largeBody(ctx context.Context, s *Scenario) error {
	size, n := b.o.LargeBody, b.o.LargeN
	relays, a, c, stop, err := b.setup(ctx, "largebody", "GODEBUG=gctrace=1")
	if err != nil {
		return err
	}
	defer stop()
	r := relays[0]
	a.hash.Store(true)
	body := make([]byte, size)
	crand.Read(body)
	want := sha256.Sum256(body)
	hc := newHTTPClient(1)
	defer hc.CloseIdleConnections()
	via, direct := hookURLs(relays, "largebody")[0], a.URL+"/hook"
	// one returns send → the app read the last byte, and send → answered.
	one := func(url string) (time.Duration, time.Duration, error) {
		seq := b.seq.Add(1)
		ans, err := b.send(ctx, hc, url, body, seq)
		if err != nil {
			return 0, 0, err
		}
		if ans.Status != http.StatusOK || string(ans.Body) != "ok" {
			return 0, 0, fmt.Errorf("POST %s: %d %q, want the app's 200 \"ok\"", url, ans.Status, bytes.TrimSpace(ans.Body))
		}
		d, ok := a.digest(seq)
		switch {
		case !ok:
			return 0, 0, fmt.Errorf("POST %s: answered, but the app has no request %d", url, seq)
		case d.Len != int64(size) || d.Sum != want:
			return 0, 0, fmt.Errorf("POST %s: the app read %d bytes with sha256 %x, want %d bytes with %x", url, d.Len, d.Sum[:8], size, want[:8])
		}
		return d.Read.Sub(ans.Sent), ans.Latency, nil
	}
	cpu0 := cpuTimes(pids(relays, c))
	var relayRead, directRead, relayAns, directAns []time.Duration
	for i := range n {
		for k := range 2 {
			if (i+k)%2 == 0 {
				rd, ra, err := one(via)
				if err != nil {
					return err
				}
				relayRead, relayAns = append(relayRead, rd), append(relayAns, ra)
			} else {
				dd, da, err := one(direct)
				if err != nil {
					return err
				}
				directRead, directAns = append(directRead, dd), append(directAns, da)
			}
		}
	}
	cpu1 := cpuTimes(pids(relays, c))
	relayHWM, err := hwm(r.cmd.Process.Pid)
	if err != nil {
		return err
	}
	cliHWM, err := hwm(c.cmd.Process.Pid)
	if err != nil {
		return err
	}
	// Where the peak goes: one more relayed send, untimed, while both
	// processes' smaps are sampled.
	stopR, stopC := sampleSmaps(r.cmd.Process.Pid, 10*time.Millisecond), sampleSmaps(c.cmd.Process.Pid, 10*time.Millisecond)
	_, _, err = one(via)
	peakR, peakC := stopR(), stopC()
	if err != nil {
		return err
	}
	for _, l := range [][]time.Duration{relayRead, directRead, relayAns, directAns} {
		slices.Sort(l)
	}
	sz := sizeName(size)
	d, rl := ms(pct(directRead, .5)), ms(pct(relayRead, .5))
	dmax, rmax := ms(directRead[n-1]), ms(relayRead[n-1])
	da, ra := ms(pct(directAns, .5)), ms(pct(relayAns, .5))
	s.Metrics = append(s.Metrics,
		Metric{Name: sz + " send → app read all, p50", Unit: "ms", Direct: ptr(d), Relay: rl, Added: ptr(rl - d), Target: "relay ≤ 300", Met: le(rl, 300)},
		Metric{Name: sz + " send → app read all, max", Unit: "ms", Direct: ptr(dmax), Relay: rmax, Added: ptr(rmax - dmax)},
		Metric{Name: sz + " send → answered, p50", Unit: "ms", Direct: ptr(da), Relay: ra, Added: ptr(ra - da)},
		Metric{Name: "relay peak RSS (VmHWM)", Unit: "MiB", Relay: relayHWM, Target: "relay ≤ 80", Met: le(relayHWM, 80)},
		Metric{Name: "CLI peak RSS (VmHWM)", Unit: "MiB", Relay: cliHWM},
	)
	s.Notes = append(s.Notes,
		fmt.Sprintf("one random %s body (application/octet-stream), %d times each way one after another, relay and direct alternating which goes first; passthrough; the app hashed every body: all %d had the sent sha256 %x…", sz, n, 2*n, want[:6]),
		"'app read all' is timed from the send to the app's last byte read (the app is in this process, same clock); 'answered' to the sender having the app's \"ok\"",
		"relay "+memory(r.cmd.Process.Pid)+"; CLI "+memory(c.cmd.Process.Pid)+" after one more, untimed, relayed send (both processes started for this scenario; the figures above were read before it)",
		fmt.Sprintf("during that extra send (smaps every 10 ms, the sample with the most anonymous memory): relay %s; CLI %s", peakR, peakC),
		r.heapNote())
	if cpu0 != nil && cpu1 != nil {
		s.Notes = append(s.Notes, fmt.Sprintf("CPU per relayed %s body: relay-server %.0f ms, hookctl listen %.0f ms", sz,
			ms(cpu1[0]-cpu0[0])/float64(n), ms(cpu1[1]-cpu0[1])/float64(n)))
	}
	return nil
}

// loadCount sends n copies of body from senders goroutines to url and
// counts the answers by status; it fails only when an exchange fails.
func (b *bench) loadCount(ctx context.Context, hc *http.Client, url string, body []byte, n, senders int) (statusCounts, []time.Duration, time.Duration, error) {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		counts = statusCounts{}
		lats   = make([]time.Duration, 0, n)
		first  error
		wg     sync.WaitGroup
	)
	t0 := time.Now()
	for range senders {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				ans, err := b.send(ctx, hc, url, body, b.seq.Add(1))
				mu.Lock()
				counts.add(ans, err)
				if err != nil {
					if first == nil {
						first = err
					}
					next.Store(int64(n))
				} else {
					lats = append(lats, ans.Latency)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(lats)
	return counts, lats, time.Since(t0), first
}

// slowApp: -slowapp-n × 32 KiB bodies from 16 senders to an app that
// sleeps 50 ms before each answer, passthrough: straight to one fresh app,
// then through the relay and a CLI at its default --concurrency to
// another. The wall time from the first send to the last answer of each.
func (b *bench) slowApp(ctx context.Context, s *Scenario) error {
	n, senders, delay := b.o.SlowN, b.o.SlowSenders, b.o.SlowDelay
	body := bytes.Repeat([]byte("s"), b.o.SlowBody)
	hc := newHTTPClient(senders)
	defer hc.CloseIdleConnections()
	// Direct, to an app of its own.
	da, err := startApp()
	if err != nil {
		return err
	}
	da.delay.Store(int64(delay))
	dc, dl, de, err := b.loadCount(ctx, hc, da.URL+"/hook", body, n, senders)
	da.close()
	if err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	conc := b.o.CLIConcurrency
	b.o.CLIConcurrency = 0 // hookctl's default: the relay's window
	relays, a, _, stop, err := b.setup(ctx, "slowapp")
	b.o.CLIConcurrency = conc
	if err != nil {
		return err
	}
	defer stop()
	a.delay.Store(int64(delay))
	rc, rlat, re, err := b.loadCount(ctx, hc, hookURLs(relays, "slowapp")[0], body, n, senders)
	if err != nil {
		return fmt.Errorf("through the relay: %w", err)
	}
	dbad, rbad := float64(dc.total()-dc.ok()), float64(rc.total()-rc.ok())
	s.Metrics = append(s.Metrics,
		Metric{Name: fmt.Sprintf("%d × %s to a %v app, %d senders: wall", n, sizeName(b.o.SlowBody), delay, senders), Unit: "s",
			Direct: ptr(de.Seconds()), Relay: re.Seconds(), Added: ptr(re.Seconds() - de.Seconds())},
		Metric{Name: "latency p50", Unit: "ms", Direct: ptr(ms(pct(dl, .5))), Relay: ms(pct(rlat, .5)), Added: ptr(ms(pct(rlat, .5) - pct(dl, .5)))},
		Metric{Name: "latency max", Unit: "ms", Direct: ptr(ms(dl[len(dl)-1])), Relay: ms(rlat[len(rlat)-1])},
		Metric{Name: "non-2xx answers", Unit: "count", Direct: ptr(dbad), Relay: rbad},
	)
	s.Notes = append(s.Notes,
		fmt.Sprintf("passthrough; a fresh app each way; hookctl listen at its default --concurrency (the relay's window); answers direct: %s; through the relay: %s", dc, rc),
		fmt.Sprintf("the ideal is %d × %v / %d senders = %.2f s; the app got %d of the relayed requests (%d redeliveries)", n, delay, senders, float64(n)*delay.Seconds()/float64(senders), a.count.Load(), a.dups))
	if k := rc[http.StatusAccepted]; k > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("%d relayed requests got 202 (stored, the app's answer not back within the relay's reply timeout)", k))
	}
	return nil
}

// floodRun is one run of flood (b): FloodN bodies to urlA from FloodSend
// senders, each retried after a 503 as its Retry-After asks, while one
// sender posts a 1-byte webhook to urlB every FloodEvery.
type floodRun struct {
	Elapsed  time.Duration
	A        statusCounts    // every attempt to A, by status
	Final    statusCounts    // the last answer of each of A's bodies
	Slept    time.Duration   // Retry-After waits, all senders together
	Seqs     []int64         // A's bodies answered 2xx
	B        statusCounts    // every small webhook, by status
	Small    []time.Duration // the 2xx ones' latencies, sorted
	BSkipped int             // ticks missed while a small webhook was under way
}

func (b *bench) floodRun(ctx context.Context, urlA, urlB string, body []byte) (*floodRun, error) {
	n, senders := b.o.FloodN, b.o.FloodSend
	hcA, hcB := newHTTPClient(senders), newHTTPClient(1)
	defer hcA.CloseIdleConnections()
	defer hcB.CloseIdleConnections()
	fr := &floodRun{A: statusCounts{}, Final: statusCounts{}, B: statusCounts{}}
	var (
		mu    sync.Mutex
		first error
		next  atomic.Int64
		wg    sync.WaitGroup
		bwg   sync.WaitGroup
		done  = make(chan struct{})
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		next.Store(int64(n))
	}
	t0 := time.Now()
	bwg.Go(func() {
		tick := time.NewTicker(b.o.FloodEvery)
		defer tick.Stop()
		last := time.Now()
		for i := 0; ; i++ {
			if i > 0 { // the first at once, with the flood
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				case now := <-tick.C:
					if missed := int(now.Sub(last)/b.o.FloodEvery) - 1; missed > 0 {
						fr.BSkipped += missed
					}
					last = now
				}
			}
			ans, err := b.send(ctx, hcB, urlB, []byte("b"), b.seq.Add(1))
			if ctx.Err() != nil {
				return
			}
			mu.Lock()
			fr.B.add(ans, err)
			if err == nil && ans.Status/100 == 2 {
				fr.Small = append(fr.Small, ans.Latency)
			}
			mu.Unlock()
		}
	})
	for range senders {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				seq := b.seq.Add(1)
				for {
					ans, err := b.send(ctx, hcA, urlA, body, seq)
					mu.Lock()
					fr.A.add(ans, err)
					mu.Unlock()
					if err != nil {
						fail(fmt.Errorf("POST %s: %w", urlA, err))
						return
					}
					if ans.Status == http.StatusServiceUnavailable {
						d := retryAfter(ans.RetryAfter, time.Now())
						mu.Lock()
						fr.Slept += d
						mu.Unlock()
						if err := sleep(ctx, d); err != nil {
							fail(err)
							return
						}
						continue // the same body, not stored yet
					}
					mu.Lock()
					fr.Final.add(ans, nil)
					if ans.Status/100 == 2 {
						fr.Seqs = append(fr.Seqs, seq)
					}
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()
	fr.Elapsed = time.Since(t0)
	close(done)
	bwg.Wait()
	slices.Sort(fr.Small)
	if first != nil {
		return fr, first
	}
	if got := fr.Final.ok(); got != n {
		return fr, fmt.Errorf("%d of %d bodies to %s stored and answered (2xx); final answers: %s", got, n, urlA, fr.Final)
	}
	if len(fr.Small) == 0 {
		return fr, fmt.Errorf("no small webhook to %s answered 2xx during the flood: %s", urlB, fr.B)
	}
	return fr, nil
}

// waitSeen waits until the app has seen every one of seqs, or ctx ends.
func waitSeen(ctx context.Context, a *app, seqs []int64, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		m := a.missing(seqs)
		if m == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the app has %d of %d stored events, %d missing after %v", len(seqs)-m, len(seqs), m, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// uploads sends FloodUploads bodies to url at once, each on a connection of
// its own, and counts the answers by status.
func (b *bench) uploads(ctx context.Context, url string, body []byte) (statusCounts, []int64, time.Duration, string) {
	k := b.o.Uploads
	hc := &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true},
		Timeout:   60 * time.Second,
	}
	defer hc.CloseIdleConnections()
	answers := make([]answer, k)
	errs := make([]error, k)
	seqs := make([]int64, k)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range k {
		seqs[i] = b.seq.Add(1)
		wg.Go(func() {
			<-start
			answers[i], errs[i] = b.send(ctx, hc, url, body, seqs[i])
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	counts := statusCounts{}
	var stored []int64
	var firstErr string
	for i := range k {
		counts.add(answers[i], errs[i])
		if errs[i] != nil && firstErr == "" {
			firstErr = errs[i].Error()
		}
		if errs[i] == nil && answers[i].Status/100 == 2 {
			stored = append(stored, seqs[i])
		}
	}
	return counts, stored, elapsed, firstErr
}

// flood: (a) -flood-uploads concurrent 1 MiB uploads to one endpoint, each
// on a fresh connection, against a fresh relay (passthrough, a CLI and the
// app behind it): the relay's VmHWM after them, and the answers by status.
// (b) -flood-n × 1 MiB to endpoint A from -flood-senders senders, who
// honour 503's Retry-After, while one sender posts a 1-byte webhook to
// endpoint B every -flood-every; B has a hookctl listen of its own
// (passthrough, to the same app): B's answer latency during the flood.
// Both also straight to the app, first.
func (b *bench) flood(ctx context.Context, s *Scenario) error {
	body := make([]byte, b.o.FloodBody)
	crand.Read(body)
	sz := sizeName(b.o.FloodBody)
	relays, a, cA, stop, err := b.setup(ctx, "flood-a", "GODEBUG=gctrace=1")
	if err != nil {
		return err
	}
	defer stop()
	r := relays[0]
	urlA, urlB := hookURLs(relays, "flood-a")[0], hookURLs(relays, "flood-b")[0]

	// (a)
	hwm0, err := hwm(r.cmd.Process.Pid)
	if err != nil {
		return err
	}
	dcount, _, delapsed, derr := b.uploads(ctx, a.URL+"/a", body)
	if derr != "" {
		return fmt.Errorf("(a) direct: %s", derr)
	}
	rcount, stored, relapsed, rerr := b.uploads(ctx, urlA, body)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	hwmA, err := hwm(r.cmd.Process.Pid)
	if err != nil {
		return err
	}
	memA := memory(r.cmd.Process.Pid)
	k := b.o.Uploads
	allowed := rcount.ok() + rcount[http.StatusServiceUnavailable]
	s.Metrics = append(s.Metrics,
		Metric{Name: fmt.Sprintf("(a) relay peak RSS after %d × %s uploads", k, sz), Unit: "MiB", Relay: hwmA, Target: "relay ≤ 256", Met: le(hwmA, 256)},
		Metric{Name: fmt.Sprintf("(a) %d uploads answered, wall", k), Unit: "s", Direct: ptr(delapsed.Seconds()), Relay: relapsed.Seconds()},
		Metric{Name: "(a) uploads stored and answered 2xx", Unit: "count", Direct: ptr(float64(dcount.ok())), Relay: float64(rcount.ok())},
		Metric{Name: "(a) uploads answered 503 + Retry-After", Unit: "count", Direct: ptr(float64(dcount[http.StatusServiceUnavailable])), Relay: float64(rcount[http.StatusServiceUnavailable])},
		Metric{Name: "(a) uploads with any other answer or none", Unit: "count", Direct: ptr(float64(k - dcount.ok() - dcount[http.StatusServiceUnavailable])), Relay: float64(k - allowed)},
	)
	s.Notes = append(s.Notes,
		fmt.Sprintf("(a) %d concurrent %s random uploads to one endpoint, each on a fresh connection, no retries, passthrough to one hookctl listen (--concurrency %d); answers direct: %s; through the relay: %s",
			k, sz, b.o.CLIConcurrency, dcount, rcount),
		fmt.Sprintf("(a) relay VmHWM %.1f MiB before the uploads; after: %s", hwm0, memA))
	if rerr != "" {
		s.Notes = append(s.Notes, "(a) first failed exchange: "+rerr)
	}
	// Everything stored in (a) reaches the app before (b) starts.
	if err := waitSeen(ctx, a, stored, 30*time.Second); err != nil {
		return fmt.Errorf("(a): %w", err)
	}

	// (b)
	cB, err := b.startCLIReady(ctx, r.URL, "flood-b", a.URL)
	if err != nil {
		return err
	}
	defer cB.stop()
	dr, err := b.floodRun(ctx, a.URL+"/a", a.URL+"/b", body)
	if err != nil {
		return fmt.Errorf("(b) direct: %w", err)
	}
	procs := []int{r.cmd.Process.Pid, cA.cmd.Process.Pid, cB.cmd.Process.Pid, os.Getpid()}
	cpu0 := cpuTimes(procs)
	dups0 := a.dupCount()
	rr, err := b.floodRun(ctx, urlA, urlB, body)
	if err != nil {
		return fmt.Errorf("(b) through the relay: %w", err)
	}
	cpu1 := cpuTimes(procs)
	if err := waitSeen(ctx, a, rr.Seqs, 30*time.Second); err != nil {
		return fmt.Errorf("(b): %w", err)
	}
	hwmB, err := hwm(r.cmd.Process.Pid)
	if err != nil {
		return err
	}
	n := b.o.FloodN
	dp, rp := ms(pct(dr.Small, .5)), ms(pct(rr.Small, .5))
	dm, rm := ms(dr.Small[len(dr.Small)-1]), ms(rr.Small[len(rr.Small)-1])
	mibps := func(f *floodRun) float64 {
		return float64(n) * float64(b.o.FloodBody) / (1 << 20) / f.Elapsed.Seconds()
	}
	s.Metrics = append(s.Metrics,
		Metric{Name: "(b) 1-byte webhook to B during the flood, p50", Unit: "ms", Direct: ptr(dp), Relay: rp, Added: ptr(rp - dp), Target: "relay ≤ 50", Met: le(rp, 50)},
		Metric{Name: "(b) 1-byte webhook to B during the flood, max", Unit: "ms", Direct: ptr(dm), Relay: rm, Added: ptr(rm - dm)},
		Metric{Name: fmt.Sprintf("(b) flood %d × %s to A, %d senders: wall", n, sz, b.o.FloodSend), Unit: "s", Direct: ptr(dr.Elapsed.Seconds()), Relay: rr.Elapsed.Seconds()},
		Metric{Name: "(b) flood to A", Unit: "MiB/s", Direct: ptr(mibps(dr)), Relay: mibps(rr)},
		Metric{Name: "(b) 503s to A, retried after Retry-After", Unit: "count", Direct: ptr(float64(dr.A[http.StatusServiceUnavailable] + dr.A[-503])), Relay: float64(rr.A[http.StatusServiceUnavailable] + rr.A[-503])},
		Metric{Name: "relay peak RSS after (a) and (b)", Unit: "MiB", Relay: hwmB},
	)
	s.Notes = append(s.Notes,
		fmt.Sprintf("(b) endpoint B has a second hookctl listen of its own (passthrough, --concurrency %d, same app); A keeps the one of (a); %d bodies to A from %d senders, a 503 waits its Retry-After and sends the same body again", b.o.CLIConcurrency, n, b.o.FloodSend),
		fmt.Sprintf("(b) through the relay: A's attempts: %s; final answers %s (%d stored and answered = %d; the app has all %d, %d redeliveries); Retry-After waits %.1f s in all",
			rr.A, rr.Final, rr.Final.ok(), n, len(rr.Seqs), a.dupCount()-dups0, rr.Slept.Seconds()),
		fmt.Sprintf("(b) through the relay: %d small webhooks to B, one every %v (%d ticks missed while one was under way): %s", rr.B.total(), b.o.FloodEvery, rr.BSkipped, rr.B),
		fmt.Sprintf("(b) direct: A's attempts %s; %d small webhooks: %s", dr.A, dr.B.total(), dr.B),
		"relay after (b): "+memory(r.cmd.Process.Pid)+"; CLI for A: "+memory(cA.cmd.Process.Pid)+"; CLI for B: "+memory(cB.cmd.Process.Pid),
		r.heapNote())
	if cpu0 != nil && cpu1 != nil {
		sec := func(i int) float64 { return (cpu1[i] - cpu0[i]).Seconds() }
		s.Notes = append(s.Notes, fmt.Sprintf("(b) CPU through the relay: relay-server %.1f s, hookctl listen A %.1f s, B %.1f s, this process (senders and app) %.1f s over %.1f s wall (%d cores)",
			sec(0), sec(1), sec(2), sec(3), rr.Elapsed.Seconds(), runtime.NumCPU()))
	}
	return nil
}
