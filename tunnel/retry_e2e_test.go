package tunnel

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// queuedIDOf reads the event id of a relay's 202 answer.
func queuedIDOf(t *testing.T, body []byte) string {
	t.Helper()
	var q struct{ ID string }
	if err := json.Unmarshal(body, &q); err != nil || q.ID == "" {
		t.Fatalf("answer %s: no event id", body)
	}
	return q.ID
}

// waitEvent polls the relay's store until cond holds for event id.
func waitEvent(t *testing.T, rl *testRelay, id, what string, cond func(*wire.EventRecord) bool) *wire.EventRecord {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, err := rl.st.GetEvent(t.Context(), id)
		if err == nil && cond(rec) {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s: timed out waiting for %s: %+v, %v", id, what, rec, err)
		}
		time.Sleep(10 * time.Millisecond) // polling an external store, not synchronising goroutines
	}
}

// TestRetriesKeptByRelay: a flaky app on a deterministic pattern. Every
// event ends delivered or failed, none pending or lost, each with the
// attempts the pattern asks for: 5xx and 429 are retried on the relay's
// schedule, 404 is final, and retries run out into failed.
func TestRetriesKeptByRelay(t *testing.T) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	var app *testApp
	app = newTestApp(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		i, _ := strconv.Atoi(string(body))
		app.mu.Lock()
		n := app.count[hashOf(body)] // this attempt
		app.mu.Unlock()
		switch k := i % 5; {
		case k == 4:
			w.WriteHeader(http.StatusNotFound)
		case k == 3:
			w.WriteHeader(http.StatusInternalServerError)
		case n <= k && n%2 == 0:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		case n <= k:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	_, rec, _ := runClient(t, Config{RelayURL: rl.URL, Endpoint: "flaky", Forwarder: forwarderFor(t, app.srv.URL),
		Reply: &wire.ReplyOptions{Mode: wire.ReplyAck}, Retry: 2,
		RetrySchedule: func(int) time.Duration { return 5 * time.Millisecond }})
	const n = 50
	hc := newSender(t)
	ids := map[int]string{}
	for i := range n {
		res, b := send(t, hc, "POST", rl.URL+"/h/flaky/hook", nil, []byte(strconv.Itoa(i)))
		if res.StatusCode != http.StatusAccepted {
			t.Fatalf("sender got %d %s", res.StatusCode, b)
		}
		ids[i] = queuedIDOf(t, b)
	}
	waitAllDelivered(t, rl, "flaky", n)
	for i := range n {
		k := i % 5
		want := struct {
			state    string
			retries  int
			attempts int
			status   int
		}{wire.StateDelivered, k, k + 1, 200}
		switch k {
		case 3:
			want.state, want.retries, want.attempts, want.status = wire.StateFailed, 2, 3, 500
		case 4:
			want.state, want.retries, want.attempts, want.status = wire.StateFailed, 0, 1, 404
		}
		r, err := rl.st.GetEvent(t.Context(), ids[i])
		if err != nil {
			t.Fatal(err)
		}
		app.mu.Lock()
		got := app.count[hashOf([]byte(strconv.Itoa(i)))]
		app.mu.Unlock()
		if r.State != want.state || r.Retries != want.retries || r.Response == nil || r.Response.Status != want.status ||
			got != want.attempts || r.Attempts != want.attempts {
			t.Errorf("event %d: state %s, %d retries, %d sent to the CLI, answer %+v, app saw it %d times; want %+v",
				i, r.State, r.Retries, r.Attempts, r.Response, got, want)
		}
	}
	rec.mu.Lock()
	retried := len(rec.failures)
	rec.mu.Unlock()
	if retried != 10*(1+2+2) { // k = 1, 2, 3: one, two and two retries each
		t.Errorf("%d retries reported, want %d", retried, 10*(1+2+2))
	}
}

// TestRetryScheduleSurvivesRestart: the relay keeps the schedule, so a CLI
// started after another one stopped mid-schedule continues it: the event
// comes with its attempt number, and the new CLI's retry budget counts the
// retries already made.
func TestRetryScheduleSurvivesRestart(t *testing.T) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	app := newTestApp(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(http.StatusBadGateway)
	})
	cfg := Config{RelayURL: rl.URL, Endpoint: "restart", Forwarder: forwarderFor(t, app.srv.URL),
		Reply: &wire.ReplyOptions{Mode: wire.ReplyAck}, Retry: 3,
		RetrySchedule: func(int) time.Duration { return 400 * time.Millisecond }}
	_, _, stop := runClient(t, cfg)
	res, b := send(t, newSender(t), "POST", rl.URL+"/h/restart/hook", nil, []byte("once"))
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("sender got %d %s", res.StatusCode, b)
	}
	id := queuedIDOf(t, b)
	waitEvent(t, rl, id, "its first retry scheduled", func(r *wire.EventRecord) bool { return r.Retries == 1 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// One retry allowed: the second attempt is the last.
	cfg.Retry = 1
	cfg.RetrySchedule = func(int) time.Duration { return 5 * time.Millisecond }
	runClient(t, cfg)
	r := waitEvent(t, rl, id, "failed", func(r *wire.EventRecord) bool { return r.State != wire.StatePending })
	app.mu.Lock()
	got := len(app.got)
	app.mu.Unlock()
	if r.State != wire.StateFailed || r.Retries != 1 || r.Response == nil || r.Response.Status != http.StatusBadGateway || got != 2 {
		t.Errorf("after the restart: state %s, %d retries, answer %+v, app saw %d requests; want failed, 1, 502, 2", r.State, r.Retries, r.Response, got)
	}
}

// TestAppDownSenderAnsweredAtOnce: in passthrough, a sender whose event
// cannot reach the app (connection refused) gets the relay's 202 at once,
// not after the reply timeout (5 minutes here, longer than the sender
// waits);
// the event stays pending and reaches the app once it is up.
func TestAppDownSenderAnsweredAtOnce(t *testing.T) {
	rl := startRelay(t, t.TempDir(), "127.0.0.1:0", relay.Config{Open: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the app is not running yet
	runClient(t, Config{RelayURL: rl.URL, Endpoint: "downpass", Forwarder: forwarderFor(t, addr),
		Reply: &wire.ReplyOptions{Mode: wire.ReplyPassthrough, Timeout: 5 * time.Minute}})
	res, b := send(t, newSender(t), "POST", rl.URL+"/h/downpass/x", nil, []byte("early"))
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("sender got %d %s, want 202", res.StatusCode, b)
	}
	id := queuedIDOf(t, b)
	if r, err := rl.st.GetEvent(t.Context(), id); err != nil || r.State != wire.StatePending {
		t.Fatalf("event while the app is down: %+v, %v", r, err)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	app := newTestAppOn(t, ln, nil)
	r := waitEvent(t, rl, id, "delivered", func(r *wire.EventRecord) bool { return r.State != wire.StatePending })
	app.mu.Lock()
	got := len(app.got)
	app.mu.Unlock()
	if r.State != wire.StateDelivered || r.Response == nil || r.Response.Status != 200 || got != 1 {
		t.Errorf("after the app came up: %+v, app saw %d requests", r, got)
	}
}
