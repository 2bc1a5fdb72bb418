package relay_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// rawConn is a sender writing requests byte for byte on one connection.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, base string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

// do writes raw and reads one answer: its status and the event id of a 202.
func (c *rawConn) do(raw string) (int, string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.t.Fatal(err)
	}
	return c.read()
}

func (c *rawConn) read() (int, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var q struct{ ID string }
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &q)
	return resp.StatusCode, q.ID
}

func storedHeaders(t *testing.T, r *testRelay, id string) capture.Headers {
	t.Helper()
	rec, err := r.Store.GetEvent(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Request.Headers
}

// request builds a raw request; fields are "Name: value" lines, in order.
func request(method, uri, body string, fields ...string) string {
	return method + " " + uri + " HTTP/1.1\r\n" + strings.Join(fields, "\r\n") + "\r\n\r\n" + body
}

func TestHeaderNamesAsSent(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := dialRaw(t, r.URL)
	first := request("POST", "/h/alpha/gh?a=1", "{}",
		"Host: relay.test",
		"X-GitHub-Event: push",
		"x-hub-signature-256: sha256=00ff",
		"Content-Type: application/json",
		"X-B: b",
		"x-dup: one",
		"X-A: a",
		"X-DUP: two",
		"x-Dup: three",
		"content-length: 2",
	)
	want := capture.Headers{
		{Name: "X-GitHub-Event", Value: "push"},
		{Name: "x-hub-signature-256", Value: "sha256=00ff"},
		{Name: "Content-Type", Value: "application/json"},
		{Name: "X-B", Value: "b"},
		{Name: "x-dup", Value: "one"},
		{Name: "X-A", Value: "a"},
		{Name: "X-DUP", Value: "two"},
		{Name: "x-Dup", Value: "three"},
		{Name: "content-length", Value: "2"},
	}
	status, id := c.do(first)
	if status != http.StatusAccepted {
		t.Fatalf("first: %d", status)
	}
	if got := storedHeaders(t, r, id); !reflect.DeepEqual(got, want) {
		t.Errorf("first request stored\n%q, want\n%q", got, want)
	}

	// The second request on the same connection is recorded too; a
	// chunked body's Transfer-Encoding and Trailer are left out as
	// net/http leaves them.
	second := request("PUT", "/h/alpha/two", "3\r\nabc\r\n0\r\nx-sum: 3\r\n\r\n",
		"user-agent: Sender/2",
		"host: relay.test",
		"TRANSFER-ENCODING: chunked",
		"trailer: x-sum",
		"stripe-signature: t=1,v1=ab",
	)
	status, id = c.do(second)
	if status != http.StatusAccepted {
		t.Fatalf("second: %d", status)
	}
	want = capture.Headers{{Name: "user-agent", Value: "Sender/2"}, {Name: "stripe-signature", Value: "t=1,v1=ab"}}
	if got := storedHeaders(t, r, id); !reflect.DeepEqual(got, want) {
		t.Errorf("second request stored %q, want %q", got, want)
	}
}

// Requests whose header block cannot be matched exactly are stored with
// canonical names, values untouched.
func TestHeaderNamesFallback(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true, MaxBody: 8})
	c := dialRaw(t, r.URL)

	// A body net/http discards after a 413: the connection stays
	// unrecorded, and the next request on it is stored correctly, in
	// canonical form.
	status, _ := c.do(request("POST", "/h/alpha", "0123456789", "Host: x", "Content-Length: 10", "x-one: 1"))
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized: %d", status)
	}
	status, id := c.do(request("POST", "/h/alpha", "ok", "Host: x", "Content-Length: 2", "x-two: 2", "X-TWO: 3"))
	if status != http.StatusAccepted {
		t.Fatalf("after 413: %d", status)
	}
	want := capture.Headers{{Name: "Content-Length", Value: "2"}, {Name: "X-Two", Value: "2"}, {Name: "X-Two", Value: "3"}}
	if got := storedHeaders(t, r, id); !reflect.DeepEqual(got, want) {
		t.Errorf("after 413 stored %q, want %q", got, want)
	}

	// Pipelined: both written at once. Each is stored with its own values,
	// names as sent or canonical.
	c = dialRaw(t, r.URL)
	io.WriteString(c.conn, request("POST", "/h/alpha/p1", "a", "Host: x", "Content-Length: 1", "x-seq: 1")+
		request("POST", "/h/alpha/p2", "b", "Host: x", "Content-Length: 1", "x-seq: 2"))
	for i, v := range []string{"1", "2"} {
		status, id := c.read()
		if status != http.StatusAccepted {
			t.Fatalf("pipelined %d: %d", i, status)
		}
		got := storedHeaders(t, r, id)
		if len(got) != 2 || got.Get("X-Seq") != v || got.Get("Content-Length") != "1" ||
			!(got[1].Name == "x-seq" || got[1].Name == "X-Seq") {
			t.Errorf("pipelined %d stored %q", i, got)
		}
	}

	// Pragma: net/http adds a Cache-Control the sender did not write;
	// the names no longer line up, and today's form is kept.
	c = dialRaw(t, r.URL)
	status, id = c.do(request("GET", "/h/alpha/pragma", "", "Host: x", "pragma: no-cache"))
	if status != http.StatusAccepted {
		t.Fatalf("pragma: %d", status)
	}
	want = capture.Headers{{Name: "Cache-Control", Value: "no-cache"}, {Name: "Pragma", Value: "no-cache"}}
	if got := storedHeaders(t, r, id); !reflect.DeepEqual(got, want) {
		t.Errorf("pragma stored %q, want %q", got, want)
	}
}

// A listen session's connection is never recorded, and a keep-alive
// connection serving the API and then ingress records the ingress request.
func TestHeaderNamesListenAndAPI(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	cl := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})

	c := dialRaw(t, r.URL)
	if status, _ := c.do(request("GET", wire.HealthzPath, "", "Host: 127.0.0.1")); status != http.StatusOK {
		t.Fatalf("healthz: %d", status)
	}
	status, id := c.do(request("POST", "/h/alpha", "{}", "Host: x", "x-after-api: 1", "Content-Length: 2"))
	if status != http.StatusAccepted {
		t.Fatalf("ingress: %d", status)
	}
	want := capture.Headers{{Name: "x-after-api", Value: "1"}, {Name: "Content-Length", Value: "2"}}
	if got := storedHeaders(t, r, id); !reflect.DeepEqual(got, want) {
		t.Errorf("stored %q, want %q", got, want)
	}
	ev := cl.expect(wire.TypeEvent)
	if ev.Event == nil || !reflect.DeepEqual(ev.Event.Headers, want) {
		t.Errorf("session got %+v, want headers %q", ev.Event, want)
	}
}
