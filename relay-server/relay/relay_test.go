package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/pgtest"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// TestMain checks for leaked goroutines after the tests and stops the
// private PostgreSQL the multi-node tests start.
func TestMain(m *testing.M) { goleak.VerifyTestMain(pgRun{m}) }

type pgRun struct{ m *testing.M }

func (p pgRun) Run() int { return pgtest.Main(p.m) }

// testRelay is a relay served on a loopback port with a SQLite store.
type testRelay struct {
	*relay.Relay
	URL    string
	Store  store.Store
	client *http.Client
}

func startRelay(t testing.TB, cfg relay.Config) *testRelay {
	t.Helper()
	return startRelayOn(t, cfg, openStore(t))
}

func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// startRelayOn serves a relay on st; it closes st at the end of the test.
func startRelayOn(t testing.TB, cfg relay.Config, st store.Store) *testRelay {
	t.Helper()
	r, err := relay.New(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return &testRelay{Relay: r, URL: "http://" + ln.Addr().String(), Store: st, client: &http.Client{Transport: tr}}
}

// send sends a webhook and returns the status, headers and body.
func (tr *testRelay) send(t *testing.T, method, path string, body []byte, hdr http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, tr.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := tr.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// queuedID checks a 202 answer and returns its event id.
func queuedID(t *testing.T, status int, body []byte) string {
	t.Helper()
	var q struct{ ID, Status string }
	if status != http.StatusAccepted || json.Unmarshal(body, &q) != nil || !strings.HasPrefix(q.ID, "evt_") || q.Status != "queued" {
		t.Fatalf("answer = %d %s, want 202 {id, status: queued}", status, body)
	}
	return q.ID
}

// cli is a raw websocket client speaking the wire protocol.
type cli struct {
	t    *testing.T
	conn *websocket.Conn
}

func dial(t *testing.T, base string) *cli {
	t.Helper()
	cfg, err := websocket.NewConfig(strings.Replace(base, "http", "ws", 1)+wire.ListenPath, base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &cli{t: t, conn: conn}
}

func (c *cli) send(m wire.Message) {
	c.t.Helper()
	if err := websocket.JSON.Send(c.conn, m); err != nil {
		c.t.Fatalf("send %s: %v", m.Type, err)
	}
}

// recv reads the next message other than a ping (answered) within 10s.
func (c *cli) recv() wire.Message {
	c.t.Helper()
	for {
		m, err := c.tryRecv()
		if err != nil {
			c.t.Fatalf("receive: %v", err)
		}
		if m.Type == wire.TypePing {
			c.send(wire.Message{Type: wire.TypePong})
			continue
		}
		return m
	}
}

func (c *cli) tryRecv() (wire.Message, error) {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m wire.Message
	err := websocket.JSON.Receive(c.conn, &m)
	return m, err
}

func (c *cli) expect(typ string) wire.Message {
	c.t.Helper()
	m := c.recv()
	if m.Type != typ {
		c.t.Fatalf("got %s message %+v, want %s", m.Type, m, typ)
	}
	return m
}

// barrier pings and returns the messages that arrived before the pong:
// everything the relay's writer decided to send before it read the ping.
func (c *cli) barrier() []wire.Message {
	c.t.Helper()
	c.send(wire.Message{Type: wire.TypePing})
	var before []wire.Message
	for {
		m := c.recv()
		if m.Type == wire.TypePong {
			return before
		}
		before = append(before, m)
	}
}

// expectClosed reads until the relay closes the connection.
func (c *cli) expectClosed() {
	c.t.Helper()
	for {
		m, err := c.tryRecv()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatal("connection still open")
			}
			return
		}
		if m.Type != wire.TypePing {
			c.t.Fatalf("unexpected %+v before close", m)
		}
	}
}

func listen(t *testing.T, base string, hello wire.Message) (*cli, wire.Message) {
	t.Helper()
	c := dial(t, base)
	hello.Type = wire.TypeHello
	if hello.Version == 0 {
		hello.Version = wire.Version
	}
	c.send(hello)
	return c, c.recv()
}

func mustListen(t *testing.T, base string, hello wire.Message) *cli {
	t.Helper()
	c, m := listen(t, base, hello)
	if m.Type != wire.TypeWelcome {
		t.Fatalf("hello answered with %+v", m)
	}
	return c
}

var ackMode = &wire.ReplyOptions{Mode: wire.ReplyAck}

func TestHelloWelcome(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	_, m := listen(t, r.URL, wire.Message{Endpoint: "alpha"})
	if m.Type != wire.TypeWelcome || m.Endpoint != "alpha" || m.URL != r.URL+"/h/alpha" || m.Version != wire.Version ||
		m.Pending != 0 || !strings.HasPrefix(m.Session, "ses_") {
		t.Errorf("welcome = %+v", m)
	}
	_, m = listen(t, r.URL, wire.Message{})
	if m.Type != wire.TypeWelcome || !strings.HasPrefix(m.URL, r.URL+"/h/") || strings.Count(m.Endpoint, "-") != 2 {
		t.Errorf("welcome for a generated endpoint = %+v", m)
	}
}

func TestPublicURL(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true, PublicURL: "https://hooks.example.com/"})
	_, m := listen(t, r.URL, wire.Message{Endpoint: "alpha"})
	if m.URL != "https://hooks.example.com/h/alpha" {
		t.Errorf("url = %q", m.URL)
	}
}

func TestPassthrough(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha"})
	body := []byte{0, 1, 2, 0xff, '\r', '\n'}
	type answer struct {
		status int
		hdr    http.Header
		body   []byte
	}
	got := make(chan answer, 1)
	go func() {
		hdr := http.Header{"X-Multi": {"one", "two"}, "Content-Type": {"application/octet-stream"}}
		s, h, b := r.send(t, "PATCH", "/h/alpha/a%2Fb//c/.../d?x=1&x=2&y=%20", body, hdr)
		got <- answer{s, h, b}
	}()
	ev := c.expect(wire.TypeEvent).Event
	if ev.Method != "PATCH" || ev.Endpoint != "alpha" || ev.Path != "/a%2Fb//c/.../d" || ev.Query != "x=1&x=2&y=%20" ||
		!bytes.Equal(ev.Body, body) || ev.Proto != "http" || ev.Host == "" || ev.RemoteAddr == "" || ev.ReceivedAt.IsZero() {
		t.Errorf("event = %+v", ev)
	}
	if vs := ev.Headers.HTTP().Values("X-Multi"); fmt.Sprint(vs) != "[one two]" {
		t.Errorf("X-Multi = %v", vs)
	}
	c.send(wire.Message{Type: wire.TypeResponse, ID: ev.ID, Response: &capture.Response{
		Status: 418,
		Headers: capture.Headers{{Name: "X-App", Value: "a"}, {Name: "X-App", Value: "b"},
			{Name: "Connection", Value: "X-Hop"}, {Name: "X-Hop", Value: "no"}, {Name: "Transfer-Encoding", Value: "chunked"}},
		Body: []byte("short and stout"),
	}})
	c.send(wire.Message{Type: wire.TypeAck, ID: ev.ID})
	a := <-got
	if a.status != 418 || string(a.body) != "short and stout" || fmt.Sprint(a.hdr.Values("X-App")) != "[a b]" || a.hdr.Get("X-Hop") != "" {
		t.Errorf("sender got %d %v %q", a.status, a.hdr, a.body)
	}
	waitFor(t, "event delivered", func() bool {
		rec, err := r.Store.GetEvent(context.Background(), ev.ID)
		return err == nil && rec.State == wire.StateFailed && rec.Response != nil && rec.Response.Status == 418 && rec.Attempts == 1
	})
}

// passthroughHeaders sends a webhook through a fresh relay whose CLI
// answers it with resp, and returns the headers the sender got.
func passthroughHeaders(t *testing.T, resp *capture.Response) http.Header {
	t.Helper()
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha"})
	got := make(chan http.Header, 1)
	go func() {
		_, h, _ := r.send(t, "POST", "/h/alpha", []byte("x"), nil)
		got <- h
	}()
	ev := c.expect(wire.TypeEvent).Event
	c.send(wire.Message{Type: wire.TypeResponse, ID: ev.ID, Ack: true, Response: resp})
	return <-got
}

// TestPassthroughAddsNoHeaders: net/http would add a Date and a sniffed
// Content-Type to an answer without them; the sender gets the app's headers
// only.
func TestPassthroughAddsNoHeaders(t *testing.T) {
	h := passthroughHeaders(t, &capture.Response{
		Status: 200, Headers: capture.Headers{{Name: "X-App", Value: "1"}}, Body: []byte("<html>ok</html>")})
	if _, ok := h["Content-Type"]; ok {
		t.Errorf("sender got Content-Type %q; the app sent none", h.Get("Content-Type"))
	}
	if _, ok := h["Date"]; ok {
		t.Errorf("sender got Date %q; the app sent none", h.Get("Date"))
	}
	if h.Get("X-App") != "1" || h.Get("Content-Length") != "15" {
		t.Errorf("sender got %v", h)
	}
}

// TestPassthroughHeaders: the sender gets every value of the app's
// headers, in order, under canonical names, without hop-by-hop ones (those
// named by Connection included).
func TestPassthroughHeaders(t *testing.T) {
	h := passthroughHeaders(t, &capture.Response{
		Status: 201, Headers: capture.Headers{
			{Name: "set-cookie", Value: "a=1"}, {Name: "X-One", Value: "1"}, {Name: "Connection", Value: "x-drop"},
			{Name: "Set-Cookie", Value: "b=2"}, {Name: "X-Drop", Value: "d"}, {Name: "Keep-Alive", Value: "timeout=5"},
			{Name: "SET-COOKIE", Value: "c=3"}, {Name: "Content-Type", Value: "text/plain"},
		}, Body: []byte("made")})
	if !slices.Equal(h["Set-Cookie"], []string{"a=1", "b=2", "c=3"}) || !slices.Equal(h["X-One"], []string{"1"}) ||
		!slices.Equal(h["Content-Type"], []string{"text/plain"}) || h.Get("Content-Length") != "4" {
		t.Errorf("sender got %v", h)
	}
	for _, k := range []string{"X-Drop", "Keep-Alive", "Connection"} {
		if _, ok := h[k]; ok {
			t.Errorf("sender got hop-by-hop %s: %q", k, h[k])
		}
	}
}

// waitFor polls a condition that becomes true asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestReplyTimeout(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: &wire.ReplyOptions{Timeout: 50 * time.Millisecond}})
	s, _, b := r.send(t, "POST", "/h/alpha/", []byte("x"), nil)
	id := queuedID(t, s, b)
	if ev := c.expect(wire.TypeEvent).Event; ev.ID != id {
		t.Errorf("event %s, want %s", ev.ID, id)
	}
}

func TestReplyModes(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	mustListen(t, r.URL, wire.Message{Endpoint: "acker", Reply: ackMode})
	s, _, b := r.send(t, "POST", "/h/acker", nil, nil)
	queuedID(t, s, b)
	mustListen(t, r.URL, wire.Message{Endpoint: "failer", Reply: &wire.ReplyOptions{Mode: wire.ReplyStatus, Status: 503}})
	if s, _, _ := r.send(t, "POST", "/h/failer", nil, nil); s != 503 {
		t.Errorf("status mode answered %d, want 503", s)
	}
	_, m := listen(t, r.URL, wire.Message{Endpoint: "odd", Reply: &wire.ReplyOptions{Mode: "shout"}})
	if m.Type != wire.TypeError || m.Code != wire.CodeBadMessage {
		t.Errorf("unknown reply mode answered %+v", m)
	}
}

func TestErrorResponseIsQueued(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha"})
	got := make(chan []byte, 1)
	go func() {
		s, _, b := r.send(t, "POST", "/h/alpha", nil, nil)
		queuedID(t, s, b)
		got <- b
	}()
	ev := c.expect(wire.TypeEvent).Event
	c.send(wire.Message{Type: wire.TypeResponse, ID: ev.ID, Response: &capture.Response{Error: "connection refused"}})
	<-got
}

// TestDownStatus: with ReplyOptions.DownStatus a sender waiting for an app
// that gave no answer gets that status (the event still queued); an app's
// own answer passes through, and an event the CLI skipped gets 202.
func TestDownStatus(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: &wire.ReplyOptions{DownStatus: 502}})
	for _, tc := range []struct {
		name string
		resp capture.Response
		want int
	}{
		{"app down", capture.Response{Error: "connection refused"}, 502},
		{"skipped", capture.Response{Error: "skipped", Skipped: true}, 202},
		{"app's 500", capture.Response{Status: 500, Body: []byte("boom")}, 500},
	} {
		type answer struct {
			status int
			body   []byte
		}
		got := make(chan answer, 1)
		go func() {
			s, _, b := r.send(t, "POST", "/h/alpha", nil, nil)
			got <- answer{s, b}
		}()
		ev := c.expect(wire.TypeEvent).Event
		c.send(wire.Message{Type: wire.TypeResponse, ID: ev.ID, Response: &tc.resp, Ack: true})
		a := <-got
		if a.status != tc.want {
			t.Errorf("%s: sender got %d %s, want %d", tc.name, a.status, a.body, tc.want)
		}
		if tc.want != 500 && !strings.Contains(string(a.body), `"id":"`+ev.ID+`","status":"queued"`) {
			t.Errorf("%s: body %s, want the queued event", tc.name, a.body)
		}
	}
	for _, bad := range []int{99, 199, 600} {
		_, m := listen(t, r.URL, wire.Message{Endpoint: "beta", Reply: &wire.ReplyOptions{DownStatus: bad}})
		if m.Type != wire.TypeError || m.Code != wire.CodeBadMessage || !strings.Contains(m.Text, "app-down status") {
			t.Errorf("down status %d answered %+v", bad, m)
		}
	}
}

func TestOfflineThenDeliveredOldestFirst(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	var ids []string
	for i := 0; i < 5; i++ {
		s, _, b := r.send(t, "POST", fmt.Sprintf("/h/alpha/%d", i), nil, nil)
		ids = append(ids, queuedID(t, s, b))
	}
	c, m := listen(t, r.URL, wire.Message{Endpoint: "alpha"})
	if m.Type != wire.TypeWelcome || m.Pending != 5 {
		t.Fatalf("welcome = %+v, want 5 pending", m)
	}
	for i, id := range ids {
		ev := c.expect(wire.TypeEvent).Event
		if ev.ID != id || ev.Path != fmt.Sprintf("/%d", i) {
			t.Errorf("event %d = %s %s, want %s", i, ev.ID, ev.Path, id)
		}
	}
}

func TestUnackedRedeliveredOnReconnect(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	var ids []string
	for i := 0; i < 3; i++ {
		s, _, b := r.send(t, "POST", "/h/alpha", nil, nil)
		ids = append(ids, queuedID(t, s, b))
	}
	for range ids {
		c.expect(wire.TypeEvent)
	}
	c.send(wire.Message{Type: wire.TypeAck, ID: ids[0]})
	c.barrier() // the ack is read before the ping
	c.conn.Close()

	c2 := mustListen(t, r.URL, wire.Message{Endpoint: "alpha"})
	for _, id := range ids[1:] {
		if ev := c2.expect(wire.TypeEvent).Event; ev.ID != id {
			t.Errorf("redelivered %s, want %s", ev.ID, id)
		}
	}
	if extra := c2.barrier(); len(extra) != 0 {
		t.Errorf("unexpected messages %+v", extra)
	}
}

func TestWindow(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true, Window: 3})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode, Window: 100})
	var ids []string
	for i := 0; i < 5; i++ {
		s, _, b := r.send(t, "POST", "/h/alpha", nil, nil)
		ids = append(ids, queuedID(t, s, b))
	}
	var got []string
	for len(got) < 3 {
		got = append(got, c.expect(wire.TypeEvent).Event.ID)
	}
	if extra := c.barrier(); len(extra) != 0 {
		t.Fatalf("window of 3 exceeded: %+v", extra)
	}
	c.send(wire.Message{Type: wire.TypeAck, ID: got[1]})
	if ev := c.expect(wire.TypeEvent).Event; ev.ID != ids[3] {
		t.Errorf("after one ack got %s, want %s", ev.ID, ids[3])
	}
	if extra := c.barrier(); len(extra) != 0 {
		t.Fatalf("window of 3 exceeded after an ack: %+v", extra)
	}
}

func TestHelloWindowSmallerThanRelays(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode, Window: 1})
	for i := 0; i < 2; i++ {
		s, _, b := r.send(t, "POST", "/h/alpha", nil, nil)
		queuedID(t, s, b)
	}
	ev := c.expect(wire.TypeEvent).Event
	if extra := c.barrier(); len(extra) != 0 {
		t.Fatalf("window of 1 exceeded: %+v", extra)
	}
	c.send(wire.Message{Type: wire.TypeAck, ID: ev.ID})
	c.expect(wire.TypeEvent)
}

func TestPauseResume(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	c.send(wire.Message{Type: wire.TypePause})
	c.barrier()
	s, _, b := r.send(t, "POST", "/h/alpha", nil, nil)
	id := queuedID(t, s, b)
	if extra := c.barrier(); len(extra) != 0 {
		t.Fatalf("delivered while paused: %+v", extra)
	}
	c.send(wire.Message{Type: wire.TypeResume})
	if ev := c.expect(wire.TypeEvent).Event; ev.ID != id {
		t.Errorf("after resume got %s, want %s", ev.ID, id)
	}
}

func TestPermanentRefusals(t *testing.T) {
	r := startRelay(t, relay.Config{})
	alice, err := r.CreateToken(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := r.CreateToken(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(alice, "hkt_") {
		t.Errorf("token %q lacks the hkt_ prefix", alice)
	}
	mustListen(t, r.URL, wire.Message{Token: alice, Endpoint: "alpha"})
	for _, tc := range []struct {
		name  string
		hello wire.Message
		code  string
	}{
		{"version", wire.Message{Version: 99, Token: alice, Endpoint: "alpha"}, wire.CodeBadVersion},
		{"no token", wire.Message{Endpoint: "beta"}, wire.CodeUnauthorized},
		{"bad token", wire.Message{Token: "hkt_nope", Endpoint: "beta"}, wire.CodeUnauthorized},
		{"foreign endpoint", wire.Message{Token: bob, Endpoint: "alpha"}, wire.CodeForbidden},
		{"bad name", wire.Message{Token: bob, Endpoint: "Not_OK"}, wire.CodeBadEndpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, m := listen(t, r.URL, tc.hello)
			if m.Type != wire.TypeError || m.Code != tc.code || !m.Permanent || m.Text == "" {
				t.Errorf("got %+v, want permanent %s", m, tc.code)
			}
			if tc.code == wire.CodeBadEndpoint && !strings.Contains(m.Text, wire.EndpointNameRule) {
				t.Errorf("refusal %q does not name the rule", m.Text)
			}
			c.expectClosed()
		})
	}
}

func TestReplacedSession(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	old := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	m := old.recv()
	if m.Type != wire.TypeError || m.Code != wire.CodeReplaced || !m.Permanent {
		t.Errorf("old session got %+v, want permanent replaced", m)
	}
	old.expectClosed()
	s, _, b := r.send(t, "POST", "/h/alpha", nil, nil)
	if ev := c.expect(wire.TypeEvent).Event; ev.ID != queuedID(t, s, b) {
		t.Errorf("new session got %s", ev.ID)
	}
}

func TestBadMessagesCloseOnlyThatConnection(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true, MaxBody: 1024})
	good := mustListen(t, r.URL, wire.Message{Endpoint: "good", Reply: ackMode})

	bad := mustListen(t, r.URL, wire.Message{Endpoint: "bad1"})
	if err := websocket.Message.Send(bad.conn, "{not json"); err != nil {
		t.Fatal(err)
	}
	if m := bad.recv(); m.Type != wire.TypeError || m.Code != wire.CodeBadMessage {
		t.Errorf("malformed JSON answered %+v", m)
	}
	bad.expectClosed()

	big := mustListen(t, r.URL, wire.Message{Endpoint: "bad2"})
	huge := `{"type":"ping","message":"` + strings.Repeat("x", 3<<20) + `"}`
	// The relay refuses the frame from its header and closes without reading
	// the rest, so the client may see a reset instead of the error message.
	websocket.Message.Send(big.conn, huge)
	if m, err := big.tryRecv(); err == nil && (m.Type != wire.TypeError || m.Code != wire.CodeBadMessage) {
		t.Errorf("oversized frame answered %+v", m)
	} else if err == nil {
		big.expectClosed()
	}

	// Before hello the cap is much smaller.
	pre := dial(t, r.URL)
	if err := websocket.Message.Send(pre.conn, `{"type":"hello","token":"`+strings.Repeat("x", 100<<10)+`"}`); err != nil {
		t.Fatal(err)
	}
	if m := pre.recv(); m.Type != wire.TypeError || m.Code != wire.CodeBadMessage {
		t.Errorf("oversized hello answered %+v", m)
	}

	unknown := mustListen(t, r.URL, wire.Message{Endpoint: "bad3"})
	unknown.send(wire.Message{Type: "dance"})
	if m := unknown.recv(); m.Type != wire.TypeError || m.Code != wire.CodeBadMessage {
		t.Errorf("unknown type answered %+v", m)
	}

	s, _, b := r.send(t, "POST", "/h/good", nil, nil)
	if ev := good.expect(wire.TypeEvent).Event; ev.ID != queuedID(t, s, b) {
		t.Errorf("good session got %s", ev.ID)
	}
}

func TestHelloTimeout(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true, HelloTimeout: 50 * time.Millisecond})
	c := dial(t, r.URL)
	c.expectClosed()
}

func TestDeadConnectionDetected(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true, PingInterval: 20 * time.Millisecond, DeadAfter: 100 * time.Millisecond})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha"})
	// The relay pings; a CLI that never answers is dropped.
	for {
		m, err := c.tryRecv()
		if err != nil {
			break
		}
		if m.Type != wire.TypePing {
			t.Fatalf("unexpected %+v", m)
		}
	}
}

func TestIngressRefusals(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := startRelay(t, relay.Config{MaxBody: 1024, RateLimit: 1, RateBurst: 2, Now: func() time.Time { return now }})
	tok, err := r.CreateToken(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	mustListen(t, r.URL, wire.Message{Token: tok, Endpoint: "alpha", Reply: ackMode})
	mustListen(t, r.URL, wire.Message{Token: tok, Endpoint: "beta", Reply: ackMode})

	if s, _, b := r.send(t, "POST", "/h/nobody/x", nil, nil); s != 404 || !strings.Contains(string(b), "nobody") {
		t.Errorf("unknown endpoint: %d %s", s, b)
	}
	if s, _, b := r.send(t, "POST", "/h/Bad_Name/x", nil, nil); s != 400 || !strings.Contains(string(b), wire.EndpointNameRule) || !strings.Contains(string(b), wire.CodeBadEndpoint) {
		t.Errorf("bad name: %d %s", s, b)
	}
	if s, _, _ := r.send(t, "POST", "/h/alpha", make([]byte, 1025), nil); s != 413 {
		t.Errorf("oversized body: %d", s)
	}
	// Without Content-Length the limit still holds.
	req, _ := http.NewRequest("POST", r.URL+"/h/alpha", io.MultiReader(bytes.NewReader(make([]byte, 4096))))
	req.ContentLength = -1
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("oversized chunked body: %d", resp.StatusCode)
	}
	if n, _ := r.Store.CountPending(context.Background(), "alpha"); n != 0 {
		t.Errorf("%d events stored after 413s", n)
	}
	for i := 0; i < 2; i++ {
		if s, _, _ := r.send(t, "POST", "/h/beta", make([]byte, 1024), nil); s != 202 {
			t.Errorf("request %d within burst: %d", i, s)
		}
	}
	s, h, b := r.send(t, "POST", "/h/beta", nil, nil)
	if s != 429 || h.Get("Retry-After") != "1" || !strings.Contains(string(b), `"rate_limited"`) {
		t.Errorf("over rate: %d Retry-After %q", s, h.Get("Retry-After"))
	}
}

func TestSlowLoris(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true, ReadHeaderTimeout: 200 * time.Millisecond})
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stop := make(chan struct{})
	dribbled := make(chan struct{})
	go func() {
		defer close(dribbled)
		conn.Write([]byte("POST /h/alpha HTTP/1.1\r\nHost: x\r\n"))
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("X")); err != nil {
					return
				}
			}
		}
	}()
	// Others are served meanwhile.
	if s, _, _ := r.send(t, "GET", wire.HealthzPath, nil, nil); s != 200 {
		t.Errorf("healthz during slow-loris: %d", s)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(conn)
	close(stop)
	<-dribbled
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("slow-loris connection still open after 5s")
	}
}

func apiGet(t *testing.T, r *testRelay, token, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", r.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func TestAPI(t *testing.T) {
	r := startRelay(t, relay.Config{})
	ctx := context.Background()
	alice, _ := r.CreateToken(ctx, "alice")
	bob, _ := r.CreateToken(ctx, "bob")
	mustListen(t, r.URL, wire.Message{Token: alice, Endpoint: "alpha", Reply: ackMode})
	mustListen(t, r.URL, wire.Message{Token: bob, Endpoint: "beta", Reply: ackMode})
	var ids []string
	for i := 0; i < 3; i++ {
		s, _, b := r.send(t, "POST", "/h/alpha", []byte{byte(i)}, nil)
		ids = append(ids, queuedID(t, s, b))
	}
	s, _, b := r.send(t, "POST", "/h/beta", nil, nil)
	bobID := queuedID(t, s, b)

	if s := apiGet(t, r, "", wire.EventsPath, nil); s != 401 {
		t.Errorf("no token: %d", s)
	}
	if s := apiGet(t, r, "hkt_wrong", wire.EventsPath, nil); s != 401 {
		t.Errorf("wrong token: %d", s)
	}
	var list wire.EventList
	if s := apiGet(t, r, alice, wire.EventsPath+"?limit=2", &list); s != 200 || len(list.Events) != 2 ||
		list.Events[0].Request.ID != ids[2] || list.Events[1].Request.ID != ids[1] {
		t.Errorf("alice's list: %d %+v", s, list)
	}
	list = wire.EventList{}
	if s := apiGet(t, r, alice, wire.EventsPath+"?before="+ids[1], &list); s != 200 || len(list.Events) != 1 || list.Events[0].Request.ID != ids[0] {
		t.Errorf("alice's second page: %d %+v", s, list)
	}
	if s := apiGet(t, r, bob, wire.EventsPath+"?endpoint=alpha", nil); s != 403 {
		t.Errorf("bob listing alpha: %d", s)
	}
	list = wire.EventList{}
	if s := apiGet(t, r, bob, wire.EventsPath, &list); s != 200 || len(list.Events) != 1 || list.Events[0].Request.ID != bobID {
		t.Errorf("bob's list: %d %+v", s, list)
	}
	if s := apiGet(t, r, bob, wire.EventsPath+"/"+ids[0], nil); s != 404 {
		t.Errorf("bob showing alice's event: %d", s)
	}
	var rec wire.EventRecord
	if s := apiGet(t, r, alice, wire.EventsPath+"/"+ids[0], &rec); s != 200 || rec.Request.ID != ids[0] || !bytes.Equal(rec.Request.Body, []byte{0}) {
		t.Errorf("alice showing her event: %d %+v", s, rec)
	}

	replay, _ := json.Marshal(wire.ReplayRecord{Request: rec.Request, Response: &capture.Response{Status: 200, Body: []byte("ok")}})
	req, _ := http.NewRequest("POST", r.URL+wire.EventsPath+"/"+ids[0]+"/replays", bytes.NewReader(replay))
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out wire.EventRecord
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != 201 || out.Request.ReplayOf != ids[0] || out.Request.ID == ids[0] || out.State != wire.StateDelivered {
		t.Errorf("replay: %d %+v", resp.StatusCode, out)
	}
	if s := apiGet(t, r, alice, wire.EventsPath+"/"+out.Request.ID, &rec); s != 200 || rec.Request.ReplayOf != ids[0] || rec.Response == nil {
		t.Errorf("stored replay: %d %+v", s, rec)
	}
	req, _ = http.NewRequest("POST", r.URL+wire.EventsPath+"/"+ids[0]+"/replays", bytes.NewReader(replay))
	req.Header.Set("Authorization", "Bearer "+bob)
	resp, err = r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("bob replaying alice's event: %d", resp.StatusCode)
	}
	if s := apiGet(t, r, "", wire.HealthzPath, nil); s != 200 {
		t.Errorf("healthz: %d", s)
	}
}

func TestRetention(t *testing.T) {
	st := openStore(t)
	now := time.Now()
	ctx := context.Background()
	for id, age := range map[string]time.Duration{"evt_old": 8 * 24 * time.Hour, "evt_new": time.Hour, "evt_old_pending": 9 * 24 * time.Hour} {
		if err := st.InsertEvent(ctx, &capture.Request{ID: id, Endpoint: "alpha", Method: "POST", Path: "/", ReceivedAt: now.Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Ack(ctx, "alpha", "evt_old", nil, now, 0); err != nil {
		t.Fatal(err)
	}
	// Ack is asynchronous, and the SQLite writer runs a batch's durable
	// writes before its asynchronous ones: without the flush, the relay's
	// first retention pass can share the Ack's commit and run before it.
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	startRelayOn(t, relay.Config{Open: true}, st)
	waitFor(t, "retention", func() bool {
		_, err := st.GetEvent(ctx, "evt_old")
		return errors.Is(err, store.ErrNotFound)
	})
	if _, err := st.GetEvent(ctx, "evt_new"); err != nil {
		t.Errorf("recent event deleted: %v", err)
	}
	// Never delivered: kept until a CLI takes it, however old.
	if rec, err := st.GetEvent(ctx, "evt_old_pending"); err != nil || rec.State != wire.StatePending {
		t.Errorf("old pending event: %+v, %v; want it kept, pending", rec, err)
	}
}

// TestGracefulShutdown ends Serve while a CLI is connected and a sender
// waits for the app's answer: the sender gets its 202, the CLI a transient
// error, and Serve returns (goleak checks nothing is left).
func TestGracefulShutdown(t *testing.T) {
	st := openStore(t)
	defer st.Close()
	r, err := relay.New(relay.Config{Open: true}, st)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	c := mustListen(t, base, wire.Message{Endpoint: "alpha"})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	answer := make(chan int, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Post(base+"/h/alpha", "text/plain", strings.NewReader("hi"))
		if err != nil {
			answer <- 0
			return
		}
		resp.Body.Close()
		answer <- resp.StatusCode
	}()
	c.expect(wire.TypeEvent) // the sender now waits for a response
	cancel()
	if s := <-answer; s != http.StatusAccepted {
		t.Errorf("waiting sender got %d at shutdown, want 202", s)
	}
	if m := c.recv(); m.Type != wire.TypeError || m.Permanent {
		t.Errorf("CLI got %+v at shutdown, want a transient error", m)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestLargeBodyFidelity(t *testing.T) {
	if testing.Short() {
		t.Skip("20 MiB through the relay")
	}
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	body := make([]byte, 20<<20)
	for i := range body {
		body[i] = byte(i*7 + i>>9)
	}
	s, _, b := r.send(t, "PUT", "/h/alpha/big", body, http.Header{"Content-Type": {"application/octet-stream"}})
	id := queuedID(t, s, b)
	ev := c.expect(wire.TypeEvent).Event
	if ev.ID != id || !bytes.Equal(ev.Body, body) {
		t.Errorf("20 MiB body changed on the way (id %s, %d bytes)", ev.ID, len(ev.Body))
	}
}

func TestTrustProxy(t *testing.T) {
	for _, trust := range []bool{false, true} {
		r := startRelay(t, relay.Config{Open: true, TrustProxy: trust})
		c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
		r.send(t, "POST", "/h/alpha", nil, http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"hooks.example.com, inner"}})
		want, wantHost := "http", strings.TrimPrefix(r.URL, "http://")
		if trust {
			want, wantHost = "https", "hooks.example.com"
		}
		if ev := c.expect(wire.TypeEvent).Event; ev.Proto != want || ev.Host != wantHost {
			t.Errorf("TrustProxy=%v: proto %q host %q, want %q %q", trust, ev.Proto, ev.Host, want, wantHost)
		}
	}
}

func TestCrossOriginRefused(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	cfg, err := websocket.NewConfig("ws"+r.URL[len("http"):]+wire.ListenPath, "https://evil.example")
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := websocket.DialConfig(cfg); err == nil {
		conn.Close()
		t.Fatal("a browser page on another origin could listen")
	}
	// Every other test dials with the relay's own origin, as the CLI does.
}

// TestOriginOfPublicURL: behind a proxy that rewrites Host (nginx's default
// proxy_set_header Host $proxy_host), a CLI dialling the public URL sends
// that URL as its Origin; the relay accepts it.
func TestOriginOfPublicURL(t *testing.T) {
	r := startRelay(t, relay.Config{PublicURL: "https://hooks.example.com"})
	cfg, err := websocket.NewConfig("ws"+r.URL[len("http"):]+wire.ListenPath, "https://hooks.example.com")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatalf("a CLI dialling the public URL through a proxy was refused: %v", err)
	}
	conn.Close()
}

// TestDNSRebinding: an open relay on loopback answers its API and the
// listen websocket only to loopback Host names; ingress stays open.
func TestDNSRebinding(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	req, _ := http.NewRequest("GET", r.URL+wire.EventsPath, nil)
	req.Host = "evil.example"
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("API under a foreign Host: %d, want 403", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", r.URL+wire.EventsPath, nil)
	req.Host = "localhost:1234"
	resp, err = r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("API under localhost: %d, want 200", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", r.URL+"/h/alpha", nil)
	req.Host = "evil.example"
	resp, err = r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("ingress under a foreign Host: %d, want 202", resp.StatusCode)
	}
}

// TestBackpressureNothingDropped: 16 senders stream 400 events at a CLI
// with a window of 4 that acks one at a time; every accepted event is
// delivered exactly once.
func TestBackpressureNothingDropped(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true, Window: 4})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	const senders, each = 16, 25
	accepted := make(chan string, senders*each)
	errs := make(chan error, senders)
	for g := 0; g < senders; g++ {
		go func() {
			for i := 0; i < each; i++ {
				req, _ := http.NewRequest("POST", fmt.Sprintf("%s/h/alpha/%d/%d", r.URL, g, i), strings.NewReader("x"))
				resp, err := r.client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var q struct{ ID string }
				err = json.NewDecoder(resp.Body).Decode(&q)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusAccepted {
					errs <- fmt.Errorf("status %d, %v", resp.StatusCode, err)
					return
				}
				accepted <- q.ID
			}
			errs <- nil
		}()
	}
	// Order among concurrent senders is the store's commit order, which
	// ids (made before the insert) need not follow; order is checked by
	// TestOfflineThenDeliveredOldestFirst.
	seen := map[string]bool{}
	for len(seen) < senders*each {
		ev := c.expect(wire.TypeEvent).Event
		if seen[ev.ID] {
			t.Fatalf("%s delivered twice", ev.ID)
		}
		seen[ev.ID] = true
		c.send(wire.Message{Type: wire.TypeAck, ID: ev.ID})
	}
	for g := 0; g < senders; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(accepted)
	for id := range accepted {
		if !seen[id] {
			t.Errorf("accepted %s never delivered", id)
		}
	}
	if extra := c.barrier(); len(extra) != 0 {
		t.Errorf("unexpected messages after all acks: %d", len(extra))
	}
}

// TestResponseWithoutAckIsKept: a response is stored with its ack; when the
// connection ends before the ack, it is stored alone and the event stays
// pending.
func TestResponseWithoutAckIsKept(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	s, _, b := r.send(t, "POST", "/h/alpha", nil, nil)
	id := queuedID(t, s, b)
	c.expect(wire.TypeEvent)
	c.send(wire.Message{Type: wire.TypeResponse, ID: id, Response: &capture.Response{Status: 500}})
	c.barrier()
	c.conn.Close()
	waitFor(t, "response stored", func() bool {
		rec, err := r.Store.GetEvent(context.Background(), id)
		return err == nil && rec.Response != nil && rec.Response.Status == 500 && rec.State == wire.StatePending
	})
}

// slowConn writes in small pieces with a pause between them: a slow link.
type slowConn struct {
	net.Conn
	chunk int
	pause time.Duration
}

func (c *slowConn) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(c.chunk, len(p))
		m, err := c.Conn.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
		if len(p) > 0 {
			time.Sleep(c.pause) // simulated bandwidth, not synchronisation
		}
	}
	return n, nil
}

// TestSlowLargeResponseIsNotDeath: a response that takes longer than
// DeadAfter to arrive, but keeps arriving, does not end the session.
func TestSlowLargeResponseIsNotDeath(t *testing.T) {
	// DeadAfter leaves room for the capture's fsync on a loaded machine
	// between the welcome and the response (the client sends nothing in
	// between); the response itself takes about twice as long to arrive.
	r := startRelay(t, relay.Config{Open: true, PingInterval: 250 * time.Millisecond, DeadAfter: time.Second})
	raw, err := net.Dial("tcp", strings.TrimPrefix(r.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := websocket.NewConfig("ws"+r.URL[len("http"):]+wire.ListenPath, r.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := websocket.NewClient(cfg, &slowConn{Conn: raw, chunk: 8 << 10, pause: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &cli{t: t, conn: conn}
	c.send(wire.Message{Type: wire.TypeHello, Version: wire.Version, Endpoint: "alpha"})
	c.expect(wire.TypeWelcome)

	body := bytes.Repeat([]byte("slow "), 200<<10) // 1 MB, 1.4 MB base64: ~170 pieces, ~1.7 s on this link
	got := make(chan []byte, 1)
	go func() {
		s, _, b := r.send(t, "POST", "/h/alpha", nil, nil)
		if s != 200 {
			b = []byte(fmt.Sprintf("status %d: %s", s, b))
		}
		got <- b
	}()
	ev := c.expect(wire.TypeEvent).Event
	c.send(wire.Message{Type: wire.TypeResponse, ID: ev.ID, Response: &capture.Response{Status: 200, Body: body}})
	c.send(wire.Message{Type: wire.TypeAck, ID: ev.ID})
	if b := <-got; !bytes.Equal(b, body) {
		t.Fatalf("sender got %.80q (%d bytes), want the 1 MB response", b, len(b))
	}
}

// TestPassthroughHead: the answer to a HEAD keeps the app's Content-Length
// (the size a GET would have), not the empty body's 0.
func TestPassthroughHead(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha"})
	got := make(chan http.Header, 1)
	go func() {
		_, h, _ := r.send(t, "HEAD", "/h/alpha/file", nil, nil)
		got <- h
	}()
	ev := c.expect(wire.TypeEvent).Event
	c.send(wire.Message{Type: wire.TypeResponse, ID: ev.ID, Response: &capture.Response{
		Status: 200, Headers: capture.Headers{{Name: "Content-Length", Value: "357"}, {Name: "Content-Type", Value: "text/html"}},
	}})
	c.send(wire.Message{Type: wire.TypeAck, ID: ev.ID})
	if h := <-got; h.Get("Content-Length") != "357" {
		t.Errorf("HEAD answer headers %v, want the app's Content-Length: 357", h)
	}

	// A 204 carries no Content-Length at all.
	raw := make(chan string, 1)
	go func() {
		conn, err := net.Dial("tcp", strings.TrimPrefix(r.URL, "http://"))
		if err != nil {
			raw <- err.Error()
			return
		}
		defer conn.Close()
		io.WriteString(conn, "POST /h/alpha/x HTTP/1.1\r\nHost: relay\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx")
		b, _ := io.ReadAll(conn)
		raw <- string(b)
	}()
	ev = c.expect(wire.TypeEvent).Event
	c.send(wire.Message{Type: wire.TypeResponse, ID: ev.ID, Response: &capture.Response{Status: 204}})
	c.send(wire.Message{Type: wire.TypeAck, ID: ev.ID})
	if b := <-raw; !strings.HasPrefix(b, "HTTP/1.1 204") || strings.Contains(strings.ToLower(b), "content-length") {
		t.Errorf("204 answer:\n%s\nwant a 204 without Content-Length", b)
	}
}

// TestEmptyQueryKept: "/p?" is not "/p"; the event remembers the "?" (and
// the store keeps it).
func TestEmptyQueryKept(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	for uri, force := range map[string]bool{"/h/alpha/p?": true, "/h/alpha/p": false} {
		s, _, b := r.send(t, "POST", uri, nil, nil)
		if s != http.StatusAccepted {
			t.Fatalf("%s: %d %s", uri, s, b)
		}
		var q struct{ ID string }
		json.Unmarshal(b, &q)
		rec, err := r.Store.GetEvent(context.Background(), q.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Request.Path != "/p" || rec.Request.Query != "" || rec.Request.ForceQuery != force {
			t.Errorf("%s stored as path %q query %q force %v", uri, rec.Request.Path, rec.Request.Query, rec.Request.ForceQuery)
		}
	}
}

// A pending read cut short by its byte cap, with room left in the window,
// must continue by itself: acks wake the writer only when the window was
// full, and this CLI never acks.
func TestLargeBacklogWithoutAcks(t *testing.T) {
	if testing.Short() {
		t.Skip("15 MiB through the relay")
	}
	// No pings: they would wake the writer too, hiding a stall.
	r := startRelay(t, relay.Config{Open: true, PingInterval: time.Minute, DeadAfter: 2 * time.Minute})
	body := make([]byte, 5<<20)
	var ids []string
	for i := 0; i < 3; i++ {
		s, _, b := r.send(t, "POST", "/h/alpha", body, nil)
		ids = append(ids, queuedID(t, s, b))
	}
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	for _, id := range ids {
		if ev := c.expect(wire.TypeEvent).Event; ev.ID != id {
			t.Errorf("got %s, want %s", ev.ID, id)
		}
	}
}

func TestFeaturesNegotiated(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	_, m := listen(t, r.URL, wire.Message{Endpoint: "alpha", Features: wire.NewFeatures("no-such-feature", wire.FeatureResponseAck)})
	if m.Type != wire.TypeWelcome || m.Features != wire.NewFeatures(wire.FeatureResponseAck) {
		t.Errorf("welcome = %+v, want features [%s] only", m, wire.FeatureResponseAck)
	}
	// A CLI that names no features (every CLI before them) is welcomed
	// with none.
	_, m = listen(t, r.URL, wire.Message{Endpoint: "beta"})
	if m.Type != wire.TypeWelcome || m.Features != "" {
		t.Errorf("welcome to a hello without features = %+v", m)
	}
}

// A response with ack set is the response followed by the ack: the sender
// gets it, the event is delivered with it, and it frees its window slot.
func TestResponseWithAck(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true, Window: 1})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Features: wire.NewFeatures(wire.FeatureResponseAck)})
	got := make(chan int, 2)
	for range 2 {
		go func() {
			s, _, _ := r.send(t, "POST", "/h/alpha", nil, nil)
			got <- s
		}()
	}
	for i := range 2 {
		ev := c.expect(wire.TypeEvent).Event // the second only once the first is acked: window 1
		c.send(wire.Message{Type: wire.TypeResponse, ID: ev.ID, Ack: true, Response: &capture.Response{Status: 201 + i}})
		if s := <-got; s != 201+i {
			t.Errorf("sender %d got %d, want %d", i, s, 201+i)
		}
		waitFor(t, "event delivered with its response", func() bool {
			rec, err := r.Store.GetEvent(context.Background(), ev.ID)
			return err == nil && rec.State == wire.StateDelivered && rec.Response != nil && rec.Response.Status == 201+i
		})
	}
}

// An event sent on an earlier connection is acked with its response too.
func TestResponseWithAckOfEarlierConnection(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode})
	var ids []string
	for range 2 {
		s, _, b := r.send(t, "POST", "/h/alpha", nil, nil)
		ids = append(ids, queuedID(t, s, b))
	}
	c.expect(wire.TypeEvent)
	c.expect(wire.TypeEvent)
	c.conn.Close()

	// Window 1: only the first is sent again; the second is not in flight
	// on this connection when its response and ack arrive.
	c2 := mustListen(t, r.URL, wire.Message{Endpoint: "alpha", Reply: ackMode, Window: 1, Features: wire.NewFeatures(wire.FeatureResponseAck)})
	if ev := c2.expect(wire.TypeEvent).Event; ev.ID != ids[0] {
		t.Fatalf("redelivered %s, want %s", ev.ID, ids[0])
	}
	c2.send(wire.Message{Type: wire.TypeResponse, ID: ids[1], Ack: true, Response: &capture.Response{Status: 204}})
	waitFor(t, "event delivered with its response", func() bool {
		rec, err := r.Store.GetEvent(context.Background(), ids[1])
		return err == nil && rec.State == wire.StateDelivered && rec.Response != nil && rec.Response.Status == 204
	})
	if extra := c2.barrier(); len(extra) != 0 {
		t.Errorf("unexpected messages %+v", extra)
	}
}
