package main

import (
	"crypto/sha256"
	"hash"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// app is the fast local HTTP app: it reads the body and answers 200 "ok".
// It counts requests, and the distinct X-Bench-Seq values it saw.
type app struct {
	URL   string
	srv   *http.Server
	count atomic.Int64
	delay atomic.Int64 // time.Duration each request waits before its answer
	hash  atomic.Bool  // keep each body's sha256, length and when it was read (largebody)
	stamp atomic.Bool  // keep each body's length and when it was read, not hashed (latency)

	mu      sync.Mutex
	seen    map[int64]int
	dups    int
	digests map[int64]bodyDigest // by X-Bench-Seq, the first read, when hash or stamp is set
}

// bodyDigest is what the app read of one request.
type bodyDigest struct {
	Sum  [sha256.Size]byte // zero unless hash was set
	Len  int64
	Read time.Time // when the app had read the last byte
}

func startApp() (*app, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &app{URL: "http://" + ln.Addr().String(), seen: map[int64]int{}, digests: map[int64]bodyDigest{}}
	a.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var d bodyDigest
			var h hash.Hash // nil unless hash is set
			sink := io.Discard
			if a.hash.Load() {
				h = sha256.New()
				sink = h
			}
			keep := h != nil || a.stamp.Load()
			d.Len, _ = io.Copy(sink, r.Body)
			if keep {
				d.Read = time.Now()
			}
			if h != nil {
				h.Sum(d.Sum[:0])
			}
			if s := r.Header.Get("X-Bench-Seq"); s != "" {
				n, _ := strconv.ParseInt(s, 10, 64)
				a.mu.Lock()
				a.seen[n]++
				if a.seen[n] > 1 {
					a.dups++
				}
				if _, again := a.digests[n]; keep && !again {
					a.digests[n] = d // the first delivery's, not a redelivery's
				}
				a.mu.Unlock()
			}
			a.count.Add(1)
			if d := time.Duration(a.delay.Load()); d > 0 {
				time.Sleep(d)
			}
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("ok"))
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	go a.srv.Serve(ln)
	return a, nil
}

func (a *app) distinct() (int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen), a.dups
}

// digest is what the app read of request seq, if it got it.
func (a *app) digest(seq int64) (bodyDigest, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, ok := a.digests[seq]
	return d, ok
}

// missing counts the seqs the app has not seen.
func (a *app) missing(seqs []int64) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, s := range seqs {
		if a.seen[s] == 0 {
			n++
		}
	}
	return n
}

func (a *app) close() { a.srv.Close() }

// dupCount is how many requests the app saw again.
func (a *app) dupCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dups
}
