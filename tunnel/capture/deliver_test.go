package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The engine's behaviours, each against a real server on 127.0.0.1.

func serve(t *testing.T, h http.HandlerFunc) *url.URL {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func post() *Request {
	return &Request{Method: "POST", Path: "/hook", Body: []byte(`{"a":1}`),
		Headers: Headers{{Name: "Content-Type", Value: "application/json"}}}
}

func deliveryError(t *testing.T, err error) *DeliveryError {
	t.Helper()
	var de *DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want a *DeliveryError", err, err)
	}
	return de
}

func TestDeliverDoesNotFollowRedirects(t *testing.T) {
	followed := false
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed = true
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	resp, err := (&Client{}).Deliver(t.Context(), post(), target)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusFound || resp.Headers.Get("Location") != "/elsewhere" || followed {
		t.Errorf("status %d, Location %q, followed %v; want the 302 itself", resp.Status, resp.Headers.Get("Location"), followed)
	}
}

func TestDeliverDoesNotDecompress(t *testing.T) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte(strings.Repeat("hello ", 100)))
	zw.Close()
	var gotAE []string
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		gotAE = r.Header.Values("Accept-Encoding")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(zipped.Bytes())
	})
	resp, err := (&Client{}).Deliver(t.Context(), post(), target)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotAE) != 0 {
		t.Errorf("target received Accept-Encoding %q; the request had none", gotAE)
	}
	if !bytes.Equal(resp.Body, zipped.Bytes()) || resp.Headers.Get("Content-Encoding") != "gzip" {
		t.Errorf("response altered: %d bytes (want %d), Content-Encoding %q", len(resp.Body), zipped.Len(), resp.Headers.Get("Content-Encoding"))
	}
}

func TestDeliverTruncatesAtTheLimit(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 1000) // 10,000 bytes
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	for _, tc := range []struct {
		limit     int64
		truncated bool
	}{{100, true}, {9999, true}, {10000, false}, {20000, false}} {
		resp, err := (&Client{MaxResponseBody: tc.limit}).Deliver(t.Context(), post(), target)
		if err != nil {
			t.Fatal(err)
		}
		mark := resp.Headers.Get(TruncatedHeader)
		if !tc.truncated {
			if mark != "" || !bytes.Equal(resp.Body, body) || resp.Headers.Get("Content-Length") != "10000" {
				t.Errorf("limit %d: %d bytes, %s %q, Content-Length %q; want the whole body, unmarked",
					tc.limit, len(resp.Body), TruncatedHeader, mark, resp.Headers.Get("Content-Length"))
			}
			continue
		}
		if int64(len(resp.Body)) != tc.limit || !bytes.Equal(resp.Body, body[:tc.limit]) {
			t.Errorf("limit %d: kept %d bytes", tc.limit, len(resp.Body))
		}
		if mark != "10000" {
			t.Errorf("limit %d: %s = %q, want the real size 10000", tc.limit, TruncatedHeader, mark)
		}
		if cl := resp.Headers.Get("Content-Length"); cl != "" {
			t.Errorf("limit %d: a cut body keeps Content-Length %q", tc.limit, cl)
		}
	}
}

func TestDeliverStripsHopByHop(t *testing.T) {
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Conn-Only, keep-alive")
		h.Set("X-Conn-Only", "1")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("Proxy-Authenticate", "Basic")
		h.Set("Upgrade", "h2c")
		h.Set("Trailer", "X-Sum")
		h.Set("X-App", "kept")
		w.Write([]byte("ok"))
		h.Set("X-Sum", "1") // a trailer, after the body
	})
	resp, err := (&Client{}).Deliver(t.Context(), post(), target)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Connection", "X-Conn-Only", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Trailer", "Transfer-Encoding", "Te"} {
		if v := resp.Headers.Get(name); v != "" {
			t.Errorf("hop-by-hop %s: %q kept", name, v)
		}
	}
	if resp.Headers.Get("X-App") != "kept" || string(resp.Body) != "ok" {
		t.Errorf("end-to-end header or body lost: %v %q", resp.Headers, resp.Body)
	}
}

func closedPort(t *testing.T) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &url.URL{Scheme: "http", Host: addr}
}

func TestDeliverRefused(t *testing.T) {
	target := closedPort(t)
	_, err := (&Client{}).Deliver(t.Context(), post(), target)
	de := deliveryError(t, err)
	if de.Kind != KindRefused || !de.Refused() || !de.NotSent() || de.Timeout() {
		t.Errorf("kind %v, want refused", de.Kind)
	}
	if want := "connection refused: is your app listening on " + target.Host + "?"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestDeliverUnreachable(t *testing.T) {
	// .invalid never resolves (RFC 6761).
	_, err := (&Client{}).Deliver(t.Context(), post(), &url.URL{Scheme: "http", Host: "nothing.invalid:80"})
	de := deliveryError(t, err)
	if de.Kind != KindUnreachable || !de.NotSent() {
		t.Errorf("kind %v (%v), want unreachable", de.Kind, err)
	}
	if !strings.HasPrefix(err.Error(), "cannot reach nothing.invalid:80: ") {
		t.Errorf("err = %q", err)
	}
}

func TestDeliverTimeout(t *testing.T) {
	release := make(chan struct{})
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
	})
	defer close(release) // before the server closes: it waits for the handler
	_, err := (&Client{Timeout: 50 * time.Millisecond}).Deliver(t.Context(), post(), target)
	de := deliveryError(t, err)
	if de.Kind != KindTimeout || !de.Timeout() || de.NotSent() || de.Refused() {
		t.Errorf("kind %v (%v), want timeout", de.Kind, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v is not context.DeadlineExceeded", err)
	}
}

// A timeout while the body streams is a timeout too, not a short body.
func TestDeliverTimeoutInBody(t *testing.T) {
	release := make(chan struct{})
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("start"))
		w.(http.Flusher).Flush()
		<-release
	})
	defer close(release)
	_, err := (&Client{Timeout: 50 * time.Millisecond}).Deliver(t.Context(), post(), target)
	if de := deliveryError(t, err); de.Kind != KindTimeout {
		t.Errorf("kind %v (%v), want timeout", de.Kind, err)
	}
}

// hijack answers each request by taking the connection and doing f to it.
func hijack(t *testing.T, f func(c net.Conn, buf io.Writer)) *url.URL {
	return serve(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		c, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		f(c, bw)
		bw.Flush()
		c.Close()
	})
}

func TestDeliverReset(t *testing.T) {
	big := post()
	big.Body = bytes.Repeat([]byte("x"), 8<<20)
	unread := serve(t, func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close() // the body unread: RST while the client still writes it
	})
	for range 5 { // the client sees ECONNRESET, EPIPE or its own closed connection: all resets
		_, err := (&Client{}).Deliver(t.Context(), big, unread)
		if de := deliveryError(t, err); de.Kind != KindReset {
			t.Errorf("RST while the body is sent: kind %v (%v), want reset", de.Kind, err)
		}
	}
	for name, f := range map[string]func(net.Conn, io.Writer){
		"RST": func(c net.Conn, _ io.Writer) {
			c.(*net.TCPConn).SetLinger(0) // close sends RST
		},
		"closed before answering": func(net.Conn, io.Writer) {},
		"closed mid-body": func(_ net.Conn, w io.Writer) {
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := (&Client{}).Deliver(t.Context(), post(), hijack(t, f))
			de := deliveryError(t, err)
			if de.Kind != KindReset || !de.Reset() || de.NotSent() {
				t.Errorf("kind %v (%v), want reset", de.Kind, err)
			}
		})
	}
}

func TestDeliverContextCancelled(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
	})
	defer close(release)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := (&Client{}).Deliver(ctx, post(), target)
	de := deliveryError(t, err)
	if de.Kind != KindOther || !errors.Is(err, context.Canceled) {
		t.Errorf("kind %v (%v), want other, context.Canceled", de.Kind, err)
	}
}

// A request that cannot be built is not a delivery error: nothing was sent.
func TestDeliverBadRequest(t *testing.T) {
	target := serve(t, func(w http.ResponseWriter, r *http.Request) { t.Error("request sent") })
	req := post()
	req.Path = "/a/../b"
	_, err := (&Client{}).Deliver(t.Context(), req, target)
	var de *DeliveryError
	if err == nil || errors.As(err, &de) {
		t.Errorf("err = %v, want a build error", err)
	}
}

// Responses carry the target's status, headers and body, timed by Now.
func TestDeliverResponse(t *testing.T) {
	target := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Add("X-Multi", "1")
		w.Header().Add("X-Multi", "2")
		w.WriteHeader(http.StatusTeapot)
		w.Write(b)
	})
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	calls := 0
	now := func() time.Time { calls++; return at.Add(time.Duration(calls) * time.Second) }
	resp, err := (&Client{Now: now}).Deliver(t.Context(), post(), target)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusTeapot || string(resp.Body) != `{"a":1}` || resp.Duration != time.Second || !resp.At.Equal(at.Add(2*time.Second)) {
		t.Errorf("response %d %q, duration %v, at %v", resp.Status, resp.Body, resp.Duration, resp.At)
	}
	if got := resp.Headers.HTTP().Values("X-Multi"); len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("X-Multi %q", got)
	}
}
