package relay_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store"
)

// countEvents is how many events the relay stored, in any state.
func countEvents(t *testing.T, r *testRelay) int {
	t.Helper()
	recs, err := r.Store.ListEvents(context.Background(), store.ListQuery{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// A sender that writes its whole body before it reads (Python's
// http.client) reads the 413 of a body 8 × over the limit, declared or
// chunked, and nothing is stored.
func TestOversizedBodyWriteFirst(t *testing.T) {
	const limit = 1 << 20
	r := startRelay(t, relay.Config{Open: true, MaxBody: limit})
	body := bytes.Repeat([]byte("x"), 8*limit)

	c := dialRaw(t, r.URL)
	head := request("POST", "/h/alpha/big", "", "Host: x", "Content-Length: "+strconv.Itoa(len(body)))
	if _, err := io.WriteString(c.conn, head); err != nil {
		t.Fatal(err)
	}
	if _, err := c.conn.Write(body); err != nil {
		t.Fatalf("writing the body: %v (the relay stopped reading)", err)
	}
	if status, _ := c.read(); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared: status %d, want 413", status)
	}

	c = dialRaw(t, r.URL)
	var chunked bytes.Buffer
	chunked.WriteString(request("POST", "/h/alpha/big", "", "Host: x", "Transfer-Encoding: chunked"))
	for off := 0; off < len(body); off += 64 << 10 {
		fmt.Fprintf(&chunked, "%x\r\n", 64<<10)
		chunked.Write(body[off : off+64<<10])
		chunked.WriteString("\r\n")
	}
	chunked.WriteString("0\r\n\r\n")
	if _, err := c.conn.Write(chunked.Bytes()); err != nil {
		t.Fatalf("writing the chunked body: %v (the relay stopped reading)", err)
	}
	if status, _ := c.read(); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d, want 413", status)
	}
	if n := countEvents(t, r); n != 0 {
		t.Errorf("%d events stored after 413s", n)
	}
	// A body within the limit still goes through on a new connection.
	if s, _, _ := r.send(t, "POST", "/h/alpha/ok", body[:limit], nil); s != http.StatusAccepted {
		t.Errorf("body at the limit: %d", s)
	}
}

// Header blocks over MaxHeaderBytes and requests with more than
// MaxHeaderFields fields get 431; nothing is stored.
func TestHeaderLimits(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := dialRaw(t, r.URL)
	if status, _ := c.do(request("POST", "/h/alpha/x", "", "Host: x", "Content-Length: 0",
		"X-Big: "+strings.Repeat("v", relay.MaxHeaderBytes+8192))); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("header block over %d bytes: %d, want 431", relay.MaxHeaderBytes, status)
	}

	fields := []string{"Host: x", "Content-Length: 0"}
	for i := range relay.MaxHeaderFields {
		fields = append(fields, fmt.Sprintf("X-%d: v", i))
	}
	c = dialRaw(t, r.URL)
	if status, _ := c.do(request("POST", "/h/alpha/x", "", fields...)); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("%d header fields: %d, want 431", len(fields), status)
	}
	if n := countEvents(t, r); n != 0 {
		t.Errorf("%d events stored after 431s", n)
	}

	// Just under both limits: stored.
	c = dialRaw(t, r.URL)
	if status, _ := c.do(request("POST", "/h/alpha/x", "", "Host: x", "Content-Length: 0",
		"X-Big: "+strings.Repeat("v", relay.MaxHeaderBytes-1024))); status != http.StatusAccepted {
		t.Errorf("header block under the limit: %d, want 202", status)
	}
	c = dialRaw(t, r.URL)
	if status, _ := c.do(request("POST", "/h/alpha/x", "", fields[:relay.MaxHeaderFields]...)); status != http.StatusAccepted {
		t.Errorf("%d header fields: %d, want 202", relay.MaxHeaderFields, status)
	}
}

// Bodies in flight are bounded: beyond the relay's bound, and beyond one
// endpoint's share of it, webhooks get 503 with Retry-After and are not
// stored; other endpoints keep their share; once the held bodies are in,
// the room is back.
func TestInflightLimit(t *testing.T) {
	const limit = 1 << 20
	r := startRelay(t, relay.Config{Open: true, MaxBody: limit, MaxInflight: 2 * limit})
	// Create the endpoints, so their first webhooks below are not refused
	// for another reason.
	for _, ep := range []string{"alpha", "beta", "gamma"} {
		if s, _, _ := r.send(t, "POST", "/h/"+ep+"/warm", nil, nil); s != http.StatusAccepted {
			t.Fatalf("%s: %d", ep, s)
		}
	}
	stored := countEvents(t, r)
	body := bytes.Repeat([]byte("y"), limit)

	// hold starts a 1 MiB upload to ep and sends half of it.
	hold := func(ep string, want int64) *rawConn {
		c := dialRaw(t, r.URL)
		head := request("POST", "/h/"+ep+"/held", "", "Host: x", "Content-Length: "+strconv.Itoa(limit))
		if _, err := io.WriteString(c.conn, head); err != nil {
			t.Fatal(err)
		}
		if _, err := c.conn.Write(body[:limit/2]); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("%d bytes in flight", want), func() bool { return r.InflightBytes() == want })
		return c
	}
	a := hold("alpha", limit)

	// alpha holds its whole share: another alpha webhook waits its turn.
	status, h, b := r.send(t, "POST", "/h/alpha/more", body, nil)
	if status != http.StatusServiceUnavailable || h.Get("Retry-After") != "1" || !strings.Contains(string(b), "busy") {
		t.Errorf("over alpha's share: %d Retry-After %q %s, want 503, Retry-After 1", status, h.Get("Retry-After"), b)
	}
	// Another endpoint is not held up.
	if s, _, _ := r.send(t, "POST", "/h/beta/small", []byte("{}"), nil); s != http.StatusAccepted {
		t.Errorf("small webhook to beta during alpha's upload: %d", s)
	}
	bt := hold("beta", 2*limit)
	// The relay is full: everyone waits, even a small webhook.
	if s, h, _ := r.send(t, "POST", "/h/gamma/small", []byte("{}"), nil); s != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("small webhook with the relay full: %d, want 503 with Retry-After", s)
	}
	// A chunked body is charged as it arrives.
	req, _ := http.NewRequest("POST", r.URL+"/h/gamma/chunked", bytes.NewReader(body))
	req.ContentLength = -1
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("chunked body with the relay full: %d, want 503", resp.StatusCode)
	}
	if n := countEvents(t, r); n != stored+1 {
		t.Errorf("%d events stored, want %d (only beta's small one)", n, stored+1)
	}

	// The held uploads finish and are stored; the room is back.
	for _, c := range []*rawConn{a, bt} {
		if _, err := c.conn.Write(body[limit/2:]); err != nil {
			t.Fatal(err)
		}
		if status, _ := c.read(); status != http.StatusAccepted {
			t.Errorf("held upload: %d", status)
		}
	}
	waitFor(t, "nothing in flight", func() bool { return r.InflightBytes() == 0 })
	if s, _, _ := r.send(t, "POST", "/h/alpha/more", body, nil); s != http.StatusAccepted {
		t.Errorf("alpha after its uploads finished: %d", s)
	}
	if n := countEvents(t, r); n != stored+4 {
		t.Errorf("%d events stored, want %d", n, stored+4)
	}
}

// A path with a dot segment, in any spelling, gets 400 bad_path and is not
// stored: delivered under a --forward prefix it would reach another path. A
// ".." inside a segment is an ordinary path.
func TestDotSegmentsRefused(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	post := func(p string) (int, string) {
		req, err := http.NewRequest("POST", r.URL, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = p // written to the request line as it is
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/h/alpha/api/../../admin", "/h/alpha/%2e%2E/admin", "/h/alpha/a%2F..%2Fb", `/h/alpha/a\..\b`, "/h/alpha/x/."} {
		if status, body := post(p); status != http.StatusBadRequest || !strings.Contains(body, "bad_path") || !strings.Contains(body, "segment") {
			t.Errorf("%s: %d %s, want 400 bad_path", p, status, body)
		}
	}
	if n := countEvents(t, r); n != 0 {
		t.Errorf("%d events stored after refusals", n)
	}
	if status, body := post("/h/alpha/v1..2/.well-known"); status != http.StatusAccepted {
		t.Errorf("ordinary path with dots: %d %s, want 202", status, body)
	}
}
