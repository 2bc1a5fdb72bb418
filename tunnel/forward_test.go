package tunnel

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookctl/hookctl/tunnel/capture"
)

func TestRoutesLongestPrefixWins(t *testing.T) {
	def, _ := capture.ParseTarget("3000")
	routes := mustRoutes(t, "/github=3001", "/github/app=3002", "/stripe/=localhost:3003")
	f, err := NewForwarder(ForwarderConfig{Target: def, Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/github":          "localhost:3001",
		"/github/push":     "localhost:3001",
		"/github/app/x":    "localhost:3002",
		"/githubx":         "localhost:3000",
		"/stripe":          "localhost:3003",
		"/stripe/invoices": "localhost:3003",
		"/":                "localhost:3000",
	} {
		if got := f.TargetFor(path).Host; got != want {
			t.Errorf("TargetFor(%q) = %s, want %s", path, got, want)
		}
	}
	if _, err := ParseRoute("github=3001"); err == nil {
		t.Error("route without leading slash accepted")
	}
}

func forwarderTo(t *testing.T, rawURL string, cfg ForwarderConfig) *Forwarder {
	t.Helper()
	u, err := capture.ParseTarget(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Target = u
	f, err := NewForwarder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDeliverKeepsRedirectsAndRawBodies(t *testing.T) {
	gz := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Accept-Encoding"); got != "" {
			t.Errorf("app got Accept-Encoding %q; the forwarder must not add one", got)
		}
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusTeapot)
		w.Write(gz)
	}))
	defer app.Close()
	defer app.CloseClientConnections()
	f := forwarderTo(t, app.URL, ForwarderConfig{})

	resp, err := f.Deliver(t.Context(), &capture.Request{Method: "POST", Path: "/redirect"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusFound || resp.Headers.Get("Location") != "/elsewhere" {
		t.Errorf("redirect followed or lost: %d %v", resp.Status, resp.Headers)
	}
	resp, err = f.Deliver(t.Context(), &capture.Request{Method: "POST", Path: "/gz"})
	if err != nil {
		t.Fatal(err)
	}
	h := resp.Headers.HTTP()
	if resp.Status != http.StatusTeapot || !bytes.Equal(resp.Body, gz) || h.Get("Content-Encoding") != "gzip" {
		t.Errorf("response altered: %d %v %x", resp.Status, h, resp.Body)
	}
	if got := h.Values("X-Multi"); strings.Join(got, ",") != "a,b" {
		t.Errorf("X-Multi = %q", got)
	}
	if h.Get("Connection") != "" {
		t.Error("hop-by-hop Connection header kept")
	}
}

func TestDeliverTruncatesHugeResponses(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("x"), 1000))
	}))
	defer app.Close()
	f := forwarderTo(t, app.URL, ForwarderConfig{MaxResponseBody: 100})
	resp, err := f.Deliver(t.Context(), &capture.Request{Method: "GET", Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Body) != 100 || resp.Headers.Get("X-Hookctl-Truncated") != "1000" || resp.Headers.Get("Content-Length") != "" {
		t.Errorf("len %d headers %v", len(resp.Body), resp.Headers)
	}
}

func TestDeliverAppDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	f := forwarderTo(t, addr, ForwarderConfig{})
	_, err = f.Deliver(t.Context(), &capture.Request{Method: "POST", Path: "/"})
	var down *capture.DeliveryError
	if !errors.As(err, &down) || !down.NotSent() {
		t.Fatalf("err = %v, want a *capture.DeliveryError, not sent", err)
	}
	if want := "connection refused: is your app listening on " + addr + "?"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestDeliverTimeoutIsNotAppDown(t *testing.T) {
	release := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer app.Close()
	defer close(release)
	f := forwarderTo(t, app.URL, ForwarderConfig{Timeout: 50e6})
	_, err := f.Deliver(context.Background(), &capture.Request{Method: "POST", Path: "/"})
	var down *capture.DeliveryError
	if err == nil || !errors.As(err, &down) || down.NotSent() || !isTimeout(err) {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestAPIClientErrors(t *testing.T) {
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"bad token","code":"unauthorized"}`)
			return
		}
		if r.URL.Path == "/api/v1/events" {
			io.WriteString(w, `{"events":null}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":"no such event"}`)
	}))
	defer relay.Close()
	c, _ := NewAPIClient(relay.URL, "tok")
	evs, err := c.Events(t.Context(), EventsQuery{Limit: 5})
	if err != nil || evs == nil || len(evs) != 0 {
		t.Errorf("Events = %v, %v; want an empty non-nil list", evs, err)
	}
	if _, err := c.Event(t.Context(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Event(nope) = %v, want ErrNotFound", err)
	}
	bad, _ := NewAPIClient(relay.URL+"/", "wrong")
	_, err = bad.Events(t.Context(), EventsQuery{})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "unauthorized" || ae.Hint() == "" {
		t.Errorf("err = %#v", err)
	}
}
