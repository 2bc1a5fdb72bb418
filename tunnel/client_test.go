package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is an Observer that keeps what it saw and signals changes.
type recorder struct {
	mu        sync.Mutex
	states    []Status
	delivered []string
	failures  []error
	changed   chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) poke() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}
func (r *recorder) StateChanged(s Status) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
	r.poke()
}
func (r *recorder) EventReceived(*capture.Request) {}
func (r *recorder) EventDelivered(req *capture.Request, _ *capture.Response) {
	r.mu.Lock()
	r.delivered = append(r.delivered, req.ID)
	r.mu.Unlock()
	r.poke()
}
func (r *recorder) DeliveryFailed(_ *capture.Request, err error, _ int, _ time.Duration) {
	r.mu.Lock()
	r.failures = append(r.failures, err)
	r.mu.Unlock()
	r.poke()
}

// waitFor blocks until cond holds, re-checking after every report.
func (r *recorder) waitFor(t *testing.T, what string, cond func(r *recorder) bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond(r)
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

type funcDeliverer func(ctx context.Context, req *capture.Request) (*capture.Response, error)

func (f funcDeliverer) Deliver(ctx context.Context, req *capture.Request) (*capture.Response, error) {
	return f(ctx, req)
}

var ok200 = funcDeliverer(func(context.Context, *capture.Request) (*capture.Response, error) {
	return &capture.Response{Status: 200}, nil
})

func fastBackoff(int) time.Duration { return time.Millisecond }

func TestPermanentErrorsEndRun(t *testing.T) {
	for _, code := range []string{wire.CodeUnauthorized, wire.CodeForbidden, wire.CodeBadEndpoint, wire.CodeBadVersion, wire.CodeReplaced} {
		t.Run(code, func(t *testing.T) {
			relay := newFakeRelay(t)
			relay.refuse = &wire.Message{Type: wire.TypeError, Code: code, Text: "no: " + code}
			c, err := NewClient(Config{RelayURL: relay.URL(), Token: "t", Forwarder: ok200, Backoff: fastBackoff})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Run(t.Context())
			var perm *PermanentError
			if !errors.As(err, &perm) || perm.Code != code {
				t.Fatalf("Run = %v, want *PermanentError %s", err, code)
			}
			if perm.Hint() == "" {
				t.Errorf("no hint for %s", code)
			}
			if n := len(relay.hellos); n != 1 {
				t.Errorf("%d hellos, want 1 (no retry)", n)
			}
		})
	}
}

func TestTransientErrorReconnects(t *testing.T) {
	relay := newFakeRelay(t)
	relay.refuse = &wire.Message{Type: wire.TypeError, Code: wire.CodeInternal, Text: "db busy"}
	rec := newRecorder()
	c, err := NewClient(Config{RelayURL: relay.URL(), Forwarder: ok200, Backoff: fastBackoff, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	rec.waitFor(t, "three reconnect attempts", func(r *recorder) bool {
		n := 0
		for _, s := range r.states {
			if s.State == StateReconnecting {
				n++
				if s.Attempt != n || s.Err == nil {
					t.Errorf("reconnect status %+v, want attempt %d with an error", s, n)
				}
			}
		}
		return n >= 3
	})
	relay.mu.Lock()
	relay.refuse = nil
	relay.mu.Unlock()
	rec.waitFor(t, "connected", func(r *recorder) bool { return r.states[len(r.states)-1].State == StateConnected })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	if got := rec.states[len(rec.states)-1].State; got != StateOffline {
		t.Errorf("last state %v, want offline", got)
	}
}

func TestGeneratedEndpointIsKeptAcrossReconnects(t *testing.T) {
	relay := newFakeRelay(t)
	rec := newRecorder()
	c, err := NewClient(Config{RelayURL: relay.URL(), Forwarder: ok200, Backoff: fastBackoff, Observer: rec, Window: 7, Reply: &wire.ReplyOptions{Mode: wire.ReplyAck}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	ws := <-relay.conns
	ws.Close() // drop the connection: the client reconnects with the same name
	<-relay.conns
	if got := c.Endpoint(); got != "generated-1" {
		t.Errorf("Endpoint() = %q", got)
	}
	cancel()
	<-done
	relay.mu.Lock()
	defer relay.mu.Unlock()
	if len(relay.hellos) != 2 {
		t.Fatalf("%d hellos", len(relay.hellos))
	}
	h0, h1 := relay.hellos[0], relay.hellos[1]
	if h0.Endpoint != "" || h1.Endpoint != "generated-1" {
		t.Errorf("hello endpoints %q then %q, want empty then generated-1", h0.Endpoint, h1.Endpoint)
	}
	if h0.Version != wire.Version || h0.Window != 7 || h0.Reply == nil || h0.Reply.Mode != wire.ReplyAck {
		t.Errorf("hello = %+v", h0)
	}
}

// The response and the ack go in one message to a relay that accepted
// wire.FeatureResponseAck, and as two to one that did not (every relay
// before features).
func TestResponseThenAckAndPause(t *testing.T) {
	for _, tc := range []struct {
		name     string
		features wire.Features
	}{
		{"older relay", ""},
		{"response-ack", wire.NewFeatures(wire.FeatureResponseAck)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relay := newFakeRelay(t)
			relay.features = tc.features
			relay.pending = []*capture.Request{{ID: "e1", Method: "POST", Path: "/x"}}
			fwd := funcDeliverer(func(_ context.Context, req *capture.Request) (*capture.Response, error) {
				return &capture.Response{Status: 201, Body: []byte("made " + req.ID)}, nil
			})
			c, err := NewClient(Config{RelayURL: relay.URL(), Forwarder: fwd, Backoff: fastBackoff})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error)
			go func() { done <- c.Run(ctx) }()
			resp := relay.next(wire.TypeResponse)
			if resp.ID != "e1" || resp.Response.Status != 201 || string(resp.Response.Body) != "made e1" {
				t.Errorf("response = %+v", resp)
			}
			if resp.Ack != (tc.features != "") {
				t.Errorf("response ack = %v with welcome features %q", resp.Ack, tc.features)
			}
			if tc.features == "" {
				if ack := relay.next(wire.TypeAck); ack.ID != "e1" {
					t.Errorf("ack = %+v", ack)
				}
			}
			c.Pause()
			// Nothing between the response (and ack) and the pause: no ack
			// after a response that carried it.
			if m := <-relay.msgs; m.Type != wire.TypePause {
				t.Errorf("got %+v, want the pause", m)
			}
			c.Resume()
			relay.next(wire.TypeResume)
			cancel()
			<-done
			relay.mu.Lock()
			defer relay.mu.Unlock()
			if h := relay.hellos[0]; !h.Features.Has(wire.FeatureResponseAck) {
				t.Errorf("hello features = %q", h.Features)
			}
		})
	}
}

func TestKeepaliveDetectsDeadRelay(t *testing.T) {
	relay := newFakeRelay(t)
	relay.silent = true
	rec := newRecorder()
	c, err := NewClient(Config{RelayURL: relay.URL(), Forwarder: ok200, Backoff: fastBackoff, Observer: rec,
		PingInterval: 20 * time.Millisecond, DeadAfter: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	relay.next(wire.TypePing) // silence makes the client ping
	rec.waitFor(t, "the dead connection to be noticed", func(r *recorder) bool {
		return slices.ContainsFunc(r.states, func(s Status) bool {
			return s.State == StateReconnecting && strings.Contains(s.Err.Error(), "connection presumed dead")
		})
	})
	cancel()
	<-done
}

func TestTLSRelay(t *testing.T) {
	relay := newFakeTLSRelay(t)
	relay.pending = []*capture.Request{{ID: "e1", Method: "POST", Path: "/x"}}
	roots := relay.srv.Client().Transport.(*http.Transport).TLSClientConfig
	c, err := NewClient(Config{RelayURL: relay.URL(), Forwarder: ok200, Backoff: fastBackoff, TLSConfig: roots})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(relay.URL(), "https://") || c.location.Scheme != "wss" {
		t.Fatalf("relay %s, dialling %s", relay.URL(), c.location)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	if ack := relay.next(wire.TypeAck); ack.ID != "e1" {
		t.Errorf("ack %+v", ack)
	}
	cancel()
	<-done
}

// TestNotARelaySaysSo: --relay pointing at something that is not a relay
// (often the app itself) is retried, and the reason names the likely cause
// instead of the websocket library's bare "bad status".
func TestNotARelaySaysSo(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	rec := newRecorder()
	c, err := NewClient(Config{RelayURL: srv.URL, Forwarder: ok200, Backoff: fastBackoff, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	rec.waitFor(t, "a reconnect", func(r *recorder) bool {
		return len(r.states) > 0 && r.states[len(r.states)-1].State == StateReconnecting
	})
	cancel()
	<-done
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, s := range rec.states {
		if s.State == StateReconnecting {
			if msg := s.Err.Error(); !strings.Contains(msg, "refused the listen websocket") || !strings.Contains(msg, "is it a hookctl relay?") {
				t.Errorf("reconnect reason %q, want what happened and a hint", msg)
			}
			break
		}
	}
}

// TestStopLetsDeliveryInProgressFinish: stopping the client (Ctrl-C) does
// not cut the app off mid-request; its answer is sent and acked, so the
// event is not delivered again on the next start. Events not started stay
// pending, and an app that is down is not retried while stopping.
func TestStopLetsDeliveryInProgressFinish(t *testing.T) {
	relay := newFakeRelay(t)
	relay.pending = []*capture.Request{{ID: "e1", Method: "POST", Path: "/slow"}, {ID: "e2", Method: "POST", Path: "/later"}}
	started := make(chan struct{})
	fwd := funcDeliverer(func(ctx context.Context, req *capture.Request) (*capture.Response, error) {
		if req.ID == "e2" {
			t.Errorf("event %s delivered after the stop", req.ID)
			return &capture.Response{Status: 200}, nil
		}
		close(started)
		select {
		case <-time.After(300 * time.Millisecond): // the app takes its time
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &capture.Response{Status: 202}, nil
	})
	c, err := NewClient(Config{RelayURL: relay.URL(), Forwarder: fwd, Backoff: fastBackoff, Ordered: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	// Run has written them; the fake relay records them as it reads.
	var got []string
	timeout := time.After(5 * time.Second)
	for len(got) < 2 {
		select {
		case m := <-relay.msgs:
			if m.Type == wire.TypeResponse || m.Type == wire.TypeAck {
				got = append(got, m.Type+" "+m.ID)
			}
		case <-timeout:
			t.Fatalf("relay received %v, want the response and ack of e1", got)
		}
	}
	if fmt.Sprint(got) != "[response e1 ack e1]" {
		t.Errorf("relay received %v, want the response and ack of e1 only", got)
	}
}
