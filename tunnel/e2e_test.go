package tunnel

// End-to-end tests: the real relay library with its SQLite store, real
// websockets, real local HTTP apps, all on 127.0.0.1.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// testRelay is a relay serving on a loopback port until stopped.
type testRelay struct {
	t      testing.TB
	URL    string
	Addr   string
	dir    string
	cfg    relay.Config
	st     *sqlite.Store
	r      *relay.Relay
	cancel context.CancelFunc
	done   chan error
}

// startRelay starts a relay with state in dir on addr ("127.0.0.1:0" for any
// port).
func startRelay(t testing.TB, dir, addr string, cfg relay.Config) *testRelay {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := relay.New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &testRelay{t: t, URL: "http://" + ln.Addr().String(), Addr: ln.Addr().String(), dir: dir, cfg: cfg, st: st, r: r, cancel: cancel, done: make(chan error, 1)}
	go func() { tr.done <- r.Serve(ctx, ln) }()
	t.Cleanup(tr.stop)
	return tr
}

// stop shuts the relay down and closes its store; it is safe to call twice.
func (tr *testRelay) stop() {
	if tr.cancel == nil {
		return
	}
	tr.cancel()
	tr.cancel = nil
	if err := <-tr.done; err != nil {
		tr.t.Errorf("relay Serve: %v", err)
	}
	if err := tr.st.Close(); err != nil {
		tr.t.Errorf("store Close: %v", err)
	}
}

// restart stops the relay and starts a new one on the same address and data.
func (tr *testRelay) restart() *testRelay {
	tr.stop()
	return startRelay(tr.t, tr.dir, tr.Addr, tr.cfg)
}

// events lists all the relay's stored events of endpoint through its HTTP
// API, page by page.
func (tr *testRelay) events(t *testing.T, endpoint string) []wire.EventRecord {
	t.Helper()
	api, err := NewAPIClient(tr.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer api.hc.CloseIdleConnections()
	var all []wire.EventRecord
	before := ""
	for {
		evs, err := api.Events(t.Context(), EventsQuery{Endpoint: endpoint, Limit: 200, Before: before})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
		if len(evs) == 0 {
			return all
		}
		before = evs[len(evs)-1].Request.ID
	}
}

// received is what a test app saw.
type received struct {
	Method, URI string
	Header      http.Header
	Body        []byte
}

// testApp is a local app that records every request.
type testApp struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	count  map[string]int // by body hash
	notify chan struct{}
	handle func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newTestApp(t testing.TB, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *testApp {
	return newTestAppOn(t, nil, handle)
}

// newTestAppOn starts an app on ln, or on a new port when ln is nil.
func newTestAppOn(t testing.TB, ln net.Listener, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *testApp {
	a := &testApp{count: map[string]int{}, notify: make(chan struct{}, 1), handle: handle}
	a.srv = httptest.NewUnstartedServer(a)
	if ln != nil {
		a.srv.Listener.Close()
		a.srv.Listener = ln
	}
	a.srv.Start()
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	a.mu.Lock()
	a.got = append(a.got, received{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: body})
	a.count[hashOf(body)]++
	a.mu.Unlock()
	select {
	case a.notify <- struct{}{}:
	default:
	}
	if a.handle != nil {
		a.handle(w, r, body)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// waitCount waits until the app has seen at least n requests.
func (a *testApp) waitCount(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		got := len(a.got)
		a.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-a.notify:
		case <-deadline.C:
			t.Fatalf("app saw %d requests, want %d", got, n)
		}
	}
}

func hashOf(b []byte) string { s := sha256.Sum256(b); return fmt.Sprintf("%x", s[:8]) }

// runClient runs a Client until the test ends and waits for it to connect.
func runClient(t *testing.T, cfg Config) (*Client, *recorder, func() error) {
	t.Helper()
	rec := newRecorder()
	cfg.Observer = rec
	if cfg.Backoff == nil {
		cfg.Backoff = func(int) time.Duration { return 20 * time.Millisecond }
	}
	if cfg.RetryBackoff == nil {
		cfg.RetryBackoff = func(int) time.Duration { return 10 * time.Millisecond }
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	rec.waitFor(t, "connected", func(r *recorder) bool {
		return slices.ContainsFunc(r.states, func(s Status) bool { return s.State == StateConnected })
	})
	return c, rec, stop
}

func forwarderFor(t *testing.T, target string) *Forwarder {
	f := forwarderTo(t, target, ForwarderConfig{})
	t.Cleanup(f.Close)
	return f
}

// sender posts webhooks to the relay like a provider would.
func newSender(t *testing.T) *http.Client {
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 32}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

func send(t *testing.T, hc *http.Client, method, url string, h http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func TestFidelity(t *testing.T) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	app := newTestApp(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		h := w.Header()
		h.Add("X-Echo", "one")
		h.Add("X-Echo", "two")
		h.Set("X-Body-Sha", hashOf(body))
		h.Set("Content-Type", "application/octet-stream")
		var status int
		fmt.Sscan(r.Header.Get("X-Want-Status"), &status)
		w.WriteHeader(status)
		if r.Method != http.MethodHead && len(body) < 1<<20 {
			w.Write(append([]byte("echo:"), body...))
		}
	})
	_, rec, _ := runClient(t, Config{
		RelayURL: rl.URL, Endpoint: "fidelity", Forwarder: forwarderFor(t, app.srv.URL),
		Reply: &wire.ReplyOptions{Mode: wire.ReplyPassthrough, Timeout: 60 * time.Second},
	})
	_ = rec
	hc := newSender(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	randomBody := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.UintN(256))
		}
		return b
	}
	type tc struct {
		method, path, query string
		body                []byte
		status              int
	}
	cases := []tc{
		{"POST", "/webhooks/github", "x=1", randomBody(1024), 200},
		{"GET", "/", "", nil, 204},
		{"PUT", "/a%2Fb/c%20d/%E2%9C%93", "a=1&a=2&b=%2F%20+x&odd=%zz&empty=&flag", randomBody(4096), 201},
		{"PATCH", "/p", "q=%E2%9C%93;semi", randomBody(1), 202},
		{"DELETE", "/items/42", "", nil, 404},
		{"OPTIONS", "/opt", "", nil, 200},
		{"HEAD", "/head", "h=1", nil, 200},
		{"POST", "//double//slash/", "", []byte{}, 500},
		{"POST", "/redirect", "", []byte("x"), 302},
		{"POST", "/big", "size=20MiB", randomBody(20 << 20), 200},
	}
	for i, c := range cases {
		h := http.Header{}
		h["X-Multi"] = []string{"first", "second, with comma", "third"}
		h["x-ODD-case"] = []string{"MiXeD"}
		h["X-Empty"] = []string{""}
		h.Set("User-Agent", "GitHub-Hookshot/abc123")
		h.Set("Content-Type", "application/octet-stream")
		h.Set("X-Want-Status", fmt.Sprint(c.status))
		h.Set("X-Case", fmt.Sprint(i))
		uri := c.path
		if c.query != "" {
			uri += "?" + c.query
		}
		res, body := send(t, hc, c.method, rl.URL+"/h/fidelity"+uri, h, c.body)
		app.waitCount(t, i+1, 30*time.Second)
		app.mu.Lock()
		got := app.got[i]
		app.mu.Unlock()
		name := fmt.Sprintf("case %d %s %s", i, c.method, uri)
		if got.Method != c.method || got.URI != uri {
			t.Errorf("%s: app got %s %s", name, got.Method, got.URI)
		}
		if !bytes.Equal(got.Body, c.body) {
			t.Errorf("%s: app got a %d-byte body, want %d bytes (equal: false)", name, len(got.Body), len(c.body))
		}
		for k, vs := range h {
			k = http.CanonicalHeaderKey(k)
			if !slices.Equal(got.Header[k], vs) {
				t.Errorf("%s: app got %s = %q, want %q", name, k, got.Header[k], vs)
			}
		}
		if got.Header.Get("X-Forwarded-Host") == "" || got.Header.Get("X-Forwarded-For") == "" {
			t.Errorf("%s: X-Forwarded-* missing: %v", name, got.Header)
		}
		// The sender gets the app's response.
		if res.StatusCode != c.status {
			t.Errorf("%s: sender got status %d, want %d", name, res.StatusCode, c.status)
		}
		if !slices.Equal(res.Header.Values("X-Echo"), []string{"one", "two"}) || res.Header.Get("X-Body-Sha") != hashOf(c.body) {
			t.Errorf("%s: sender got headers %v", name, res.Header)
		}
		wantBody := append([]byte("echo:"), c.body...)
		if c.method == "HEAD" || c.status == 204 || len(c.body) >= 1<<20 {
			wantBody = nil
		}
		if !bytes.Equal(body, wantBody) {
			t.Errorf("%s: sender got body %.40q, want %.40q", name, body, wantBody)
		}
	}
}

func TestOfflineEventsDeliveredOnceOnStart(t *testing.T) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	app := newTestApp(t, nil)
	hc := newSender(t)
	const n = 100
	for i := range n {
		res, _ := send(t, hc, "POST", fmt.Sprintf("%s/h/offline/e?i=%d", rl.URL, i), nil, fmt.Appendf(nil, "event %d", i))
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("send %d: status %d, want 202 with no CLI connected", i, res.StatusCode)
		}
	}
	_, rec, stop := runClient(t, Config{RelayURL: rl.URL, Endpoint: "offline", Forwarder: forwarderFor(t, app.srv.URL)})
	rec.waitFor(t, "100 deliveries", func(r *recorder) bool { return len(r.delivered) >= n })
	waitAllDelivered(t, rl, "offline", n)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	for i := range n {
		if c := app.count[hashOf(fmt.Appendf(nil, "event %d", i))]; c != 1 {
			t.Errorf("event %d delivered %d times", i, c)
		}
	}
	if len(app.got) != n {
		t.Errorf("app got %d requests, want %d", len(app.got), n)
	}
	if s := rec.states[slices.IndexFunc(rec.states, func(s Status) bool { return s.State == StateConnected })]; s.Pending != n {
		t.Errorf("welcome said %d pending, want %d", s.Pending, n)
	}
}

// waitAllDelivered waits until the relay's store has no pending event of
// endpoint and holds n events of it. Acks are applied asynchronously by the
// store, so there is nothing to wait on; the poll has a deadline.
func waitAllDelivered(t *testing.T, rl *testRelay, endpoint string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		pending, err := rl.st.CountPending(t.Context(), endpoint)
		if err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events of %s still pending", pending, endpoint)
		}
		time.Sleep(20 * time.Millisecond) // polling an external store, not synchronising goroutines
	}
	if n <= 200 {
		evs := rl.events(t, endpoint)
		for _, e := range evs {
			// Acked: delivered, or failed when the app did not answer 2xx.
			if e.State == wire.StatePending || e.Response == nil {
				t.Errorf("event %s: state %s, response %v", e.Request.ID, e.State, e.Response)
			}
		}
		if len(evs) != n {
			t.Errorf("%d events stored, want %d", len(evs), n)
		}
	}
}

// TestSlowAppUnderLoad: 16 senders, 1,500 events of 32 KiB, an app taking
// 50 ms per request. In passthrough (the default) each sender waits for its
// event's answer, so the senders themselves are throttled; in ack mode they
// get 202 at once and a backlog builds up at the relay, which the client
// drains through its bounded window. Either way every event arrives once.
func TestSlowAppUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	for _, mode := range []string{wire.ReplyPassthrough, wire.ReplyAck} {
		t.Run(mode, func(t *testing.T) { slowAppUnderLoad(t, mode) })
	}
}

func slowAppUnderLoad(t *testing.T, mode string) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	app := newTestApp(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(50 * time.Millisecond) // the slow app under test
		w.WriteHeader(http.StatusOK)
	})
	_, rec, _ := runClient(t, Config{RelayURL: rl.URL, Endpoint: "slow", Forwarder: forwarderFor(t, app.srv.URL), Concurrency: 8,
		Reply: &wire.ReplyOptions{Mode: mode}})
	hc := newSender(t)
	const senders, total, size = 16, 1500, 32 << 10
	var statuses sync.Map
	var g errgroup.Group
	start := time.Now()
	for s := range senders {
		g.Go(func() error {
			for i := s; i < total; i += senders {
				body := bytes.Repeat([]byte{byte(s)}, size)
				copy(body, fmt.Sprintf("sender %d event %d", s, i))
				req, _ := http.NewRequest("POST", rl.URL+"/h/slow/load", bytes.NewReader(body))
				res, err := hc.Do(req)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				v, _ := statuses.LoadOrStore(res.StatusCode, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
				if res.StatusCode != 200 && res.StatusCode != 202 {
					return fmt.Errorf("status %d", res.StatusCode)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	sent := time.Since(start)
	rec.waitFor(t, "all deliveries", func(r *recorder) bool { return len(r.delivered) >= total })
	t.Logf("%d events x %d KiB from %d senders: sent in %s, all delivered after %s", total, size>>10, senders, sent, time.Since(start))
	statuses.Range(func(k, v any) bool { t.Logf("senders got %v: %d", k, v.(*atomic.Int64).Load()); return true })
	waitAllDelivered(t, rl, "slow", total)
	app.mu.Lock()
	defer app.mu.Unlock()
	if len(app.count) != total {
		t.Errorf("app saw %d distinct events, want %d", len(app.count), total)
	}
}

func TestAppDownThenUp(t *testing.T) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the app is not running yet
	_, rec, _ := runClient(t, Config{RelayURL: rl.URL, Endpoint: "down", Forwarder: forwarderFor(t, addr), Ordered: true,
		Reply: &wire.ReplyOptions{Mode: wire.ReplyAck}})
	hc := newSender(t)
	for i := range 3 {
		if res, _ := send(t, hc, "POST", rl.URL+"/h/down/x", nil, fmt.Appendf(nil, "down %d", i)); res.StatusCode != 202 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	rec.waitFor(t, "app-down reports", func(r *recorder) bool { return len(r.failures) >= 3 })
	rec.mu.Lock()
	var down *capture.DeliveryError
	if !errors.As(rec.failures[0], &down) || !down.Refused() || !strings.Contains(rec.failures[0].Error(), "connection refused: is your app listening on "+addr+"?") {
		t.Errorf("failure = %v", rec.failures[0])
	}
	if len(rec.delivered) != 0 {
		t.Errorf("%d delivered while the app was down", len(rec.delivered))
	}
	rec.mu.Unlock()
	for _, e := range rl.events(t, "down") {
		if e.State != wire.StatePending {
			t.Errorf("event %s is %s while the app is down", e.Request.ID, e.State)
		}
	}
	// The app comes up on the same port.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	app := newTestAppOn(t, ln, nil)
	rec.waitFor(t, "3 deliveries", func(r *recorder) bool { return len(r.delivered) >= 3 })
	waitAllDelivered(t, rl, "down", 3)
	app.mu.Lock()
	defer app.mu.Unlock()
	for i, g := range app.got { // --ordered keeps the sending order
		if want := fmt.Sprintf("down %d", i); string(g.Body) != want {
			t.Errorf("delivery %d = %q, want %q", i, g.Body, want)
		}
	}
}

func TestReconnectAfterRelayRestart(t *testing.T) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	app := newTestApp(t, nil)
	_, rec, _ := runClient(t, Config{RelayURL: rl.URL, Endpoint: "restart", Forwarder: forwarderFor(t, app.srv.URL)})
	rl = rl.restart()
	rec.waitFor(t, "reconnected", func(r *recorder) bool {
		i := slices.IndexFunc(r.states, func(s Status) bool { return s.State == StateReconnecting })
		return i >= 0 && slices.ContainsFunc(r.states[i:], func(s Status) bool { return s.State == StateConnected })
	})
	hc := newSender(t)
	res, body := send(t, hc, "POST", rl.URL+"/h/restart/after", nil, []byte("after restart"))
	if res.StatusCode != 200 {
		t.Errorf("status %d %s", res.StatusCode, body)
	}
	app.waitCount(t, 1, 20*time.Second)
}

func TestRealRelayRefusals(t *testing.T) {
	dir := t.TempDir()
	rl := startRelay(t, dir, "127.0.0.1:0", relay.Config{})
	alice, err := rl.r.CreateToken(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := rl.r.CreateToken(t.Context(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	fwd := forwarderFor(t, "127.0.0.1:9")
	// alice claims an endpoint.
	_, _, stop := runClient(t, Config{RelayURL: rl.URL, Token: alice, Endpoint: "alices", Forwarder: fwd})
	stop()
	for _, tc := range []struct {
		name, token, endpoint, code string
	}{
		{"bad token", "nope", "x", wire.CodeUnauthorized},
		{"no token", "", "x", wire.CodeUnauthorized},
		{"foreign endpoint", bob, "alices", wire.CodeForbidden},
		{"bad name", alice, "NOT valid!", wire.CodeBadEndpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attempts := 0
			c, err := NewClient(Config{RelayURL: rl.URL, Token: tc.token, Endpoint: tc.endpoint, Forwarder: fwd,
				Backoff: func(int) time.Duration { attempts++; return time.Millisecond }})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Run(t.Context())
			var perm *PermanentError
			if !errors.As(err, &perm) || perm.Code != tc.code {
				t.Fatalf("Run = %v, want a permanent %s", err, tc.code)
			}
			if attempts != 0 {
				t.Errorf("retried %d times", attempts)
			}
		})
	}
}

// An event whose delivery was cut short by the CLI stopping is not acked,
// so the next CLI gets it again (at least once, never lost).
func TestUnackedEventIsRedelivered(t *testing.T) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	release := make(chan struct{})
	var calls atomic.Int32
	app := newTestApp(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if calls.Add(1) == 1 {
			<-release // the first delivery hangs until the CLI is gone
		}
		w.WriteHeader(http.StatusOK)
	})
	_, _, stop := runClient(t, Config{RelayURL: rl.URL, Endpoint: "redo", Forwarder: forwarderFor(t, app.srv.URL),
		Reply: &wire.ReplyOptions{Mode: wire.ReplyAck}})
	hc := newSender(t)
	if res, _ := send(t, hc, "POST", rl.URL+"/h/redo/x", nil, []byte("once")); res.StatusCode != 202 {
		t.Fatalf("status %d", res.StatusCode)
	}
	app.waitCount(t, 1, 20*time.Second)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	close(release)
	if n, _ := rl.st.CountPending(t.Context(), "redo"); n != 1 {
		t.Fatalf("%d pending after the CLI stopped mid-delivery, want 1", n)
	}
	_, rec, _ := runClient(t, Config{RelayURL: rl.URL, Endpoint: "redo", Forwarder: forwarderFor(t, app.srv.URL)})
	rec.waitFor(t, "redelivery", func(r *recorder) bool { return len(r.delivered) == 1 })
	waitAllDelivered(t, rl, "redo", 1)
	app.mu.Lock()
	defer app.mu.Unlock()
	if c := app.count[hashOf([]byte("once"))]; c != 2 {
		t.Errorf("app saw the event %d times, want 2 (cut short, then delivered)", c)
	}
}

// A second CLI on the same endpoint takes over; the first one's Run ends
// with a permanent "replaced" instead of fighting back.
func TestReplacedSessionEndsRun(t *testing.T) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	fwd := forwarderFor(t, "127.0.0.1:9")
	first, err := NewClient(Config{RelayURL: rl.URL, Endpoint: "shared", Forwarder: fwd, Backoff: fastBackoff})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	first.obs = rec
	done := make(chan error, 1)
	go func() { done <- first.Run(t.Context()) }()
	rec.waitFor(t, "first connected", func(r *recorder) bool {
		return slices.ContainsFunc(r.states, func(s Status) bool { return s.State == StateConnected })
	})
	runClient(t, Config{RelayURL: rl.URL, Endpoint: "shared", Forwarder: fwd})
	var perm *PermanentError
	if err := <-done; !errors.As(err, &perm) || perm.Code != wire.CodeReplaced {
		t.Fatalf("first Run = %v, want a permanent %s", err, wire.CodeReplaced)
	}
}

// TestResponseLargerThanRelayLimit: an app answering with more bytes than the
// relay accepts in a response message gets its body cut to the relay's
// announced limit, so the session survives and the event is delivered once
// instead of being redelivered forever.
func TestResponseLargerThanRelayLimit(t *testing.T) {
	const limit = 4 << 10
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true, MaxBody: limit})
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	app := newTestApp(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("X-App", "big")
		w.WriteHeader(http.StatusCreated)
		w.Write(big)
	})
	_, rec, stop := runClient(t, Config{RelayURL: rl.URL, Endpoint: "bigreply", Forwarder: forwarderFor(t, app.srv.URL)})
	defer stop()
	rec.waitFor(t, "connected", func(r *recorder) bool {
		return slices.ContainsFunc(r.states, func(s Status) bool { return s.State == StateConnected })
	})
	hc := newSender(t)
	res, body := send(t, hc, "POST", rl.URL+"/h/bigreply/x", nil, []byte("small request"))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("sender got %d, want the app's 201", res.StatusCode)
	}
	if !bytes.Equal(body, big[:limit]) {
		t.Errorf("sender got %d bytes, want the first %d of the app's body", len(body), limit)
	}
	if got := res.Header.Get(capture.TruncatedHeader); got != strconv.Itoa(len(big)) {
		t.Errorf("%s = %q, want %d", capture.TruncatedHeader, got, len(big))
	}
	if res.Header.Get("X-App") != "big" {
		t.Errorf("app's headers lost: %v", res.Header)
	}
	waitAllDelivered(t, rl, "bigreply", 1)
	if n := len(app.got); n != 1 {
		t.Errorf("app got the event %d times, want once", n)
	}
}

// TestResponseAckWithRealRelay: this CLI and this relay agree on
// wire.FeatureResponseAck, so each response carries its ack. The sender gets
// the app's answer, and every event, the given-up one (the app timed out)
// included, is stored delivered with its response.
func TestResponseAckWithRealRelay(t *testing.T) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	app := newTestApp(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/hang" {
			<-r.Context().Done() // until the forwarder gives up
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	})
	fwd := forwarderTo(t, app.srv.URL, ForwarderConfig{Timeout: 200 * time.Millisecond})
	t.Cleanup(fwd.Close)
	_, rec, _ := runClient(t, Config{RelayURL: rl.URL, Endpoint: "both", Forwarder: fwd,
		Reply: &wire.ReplyOptions{Timeout: 5 * time.Second}})
	hc := newSender(t)
	const n = 20
	var g errgroup.Group
	for i := range n {
		g.Go(func() error {
			path := "/ok"
			if i == 0 {
				path = "/hang"
			}
			req, _ := http.NewRequest("POST", rl.URL+"/h/both"+path, strings.NewReader(fmt.Sprint(i)))
			res, err := hc.Do(req)
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if path == "/ok" && (res.StatusCode != http.StatusCreated || string(b) != "made") {
				return fmt.Errorf("sender got %d %q, want the app's 201 made", res.StatusCode, b)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "all deliveries", func(r *recorder) bool { return len(r.delivered) >= n })
	waitAllDelivered(t, rl, "both", n)
	for _, e := range rl.events(t, "both") {
		if r := e.Response; r == nil || (e.Request.Path == "/hang") != (r.Error != "") || (r.Error == "" && r.Status != http.StatusCreated) {
			t.Errorf("event %s %s stored with response %+v", e.Request.ID, e.Request.Path, r)
		}
	}
}

// TestDefaultConcurrencyFollowsSenders: by default the CLI delivers as many
// events at once as the relay has in flight, so a slow app sees every
// waiting sender's webhook at the same time. The app answers none until 32
// are inside it at once (a default of 4, as it was, never gets there).
func TestDefaultConcurrencyFollowsSenders(t *testing.T) {
	const senders = 32
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	var inside atomic.Int32
	all := make(chan struct{})
	release := sync.OnceFunc(func() { close(all) })
	app := newTestApp(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if inside.Add(1) == senders {
			release()
		}
		<-all
		w.WriteHeader(http.StatusOK)
	})
	runClient(t, Config{RelayURL: rl.URL, Endpoint: "wide", Forwarder: forwarderFor(t, app.srv.URL)})
	hc := newSender(t)
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = senders
	var g errgroup.Group
	for i := range senders {
		g.Go(func() error {
			res, _ := send(t, hc, "POST", rl.URL+"/h/wide/x", nil, []byte(strconv.Itoa(i)))
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("sender %d got %d, want the app's 200", i, res.StatusCode)
			}
			return nil
		})
	}
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		n := inside.Load()
		release() // let the app answer, so the test can end
		t.Fatalf("the app never had %d webhooks at once: at most %d arrived", senders, n)
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}
