package relaycmd_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hookctl/hookctl/relay-server/relaycmd"
	"github.com/hookctl/hookctl/tunnel/wire"
)

var metricsLine = regexp.MustCompile(`metrics: (http://[0-9.:]+/metrics)`)

// serveObserved runs relay-server with args until the test ends and returns
// its address and, when it printed one, its metrics URL.
func serveObserved(t *testing.T, args ...string) (base, metrics string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lineWriter{lines: make(chan string, 100)}
	done := make(chan int, 1)
	go func() { done <- relaycmd.Run(ctx, args, io.Discard, stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("relay-server %v: exit %d after shutdown", args, code)
		}
	})
	timeout := time.After(60 * time.Second)
	for base == "" {
		select {
		case line := <-stderr.lines:
			if m := metricsLine.FindStringSubmatch(line); m != nil {
				metrics = m[1]
			}
			if m := listening.FindStringSubmatch(line); m != nil {
				base = m[1]
			}
		case <-timeout:
			t.Fatal("relay-server did not print its address")
		}
	}
	return base, metrics
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestMetricsAddr: metrics are served only with --metrics-addr, on that
// address alone, never on --addr.
func TestMetricsAddr(t *testing.T) {
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	base, metrics := serveObserved(t, "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--open")
	if metrics != "" {
		t.Errorf("metrics at %s without --metrics-addr", metrics)
	}
	if code, body := get(t, client, base+"/metrics"); code != http.StatusNotFound || strings.Contains(body, "hookctl_") {
		t.Errorf("/metrics on --addr without --metrics-addr: %d %q", code, body)
	}

	base, metrics = serveObserved(t, "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--open", "--metrics-addr", "127.0.0.1:0")
	if metrics == "" {
		t.Fatal("no metrics URL printed")
	}
	if code, body := get(t, client, base+"/metrics"); code != http.StatusNotFound || strings.Contains(body, "hookctl_") {
		t.Errorf("/metrics on --addr with --metrics-addr: %d %q", code, body)
	}
	for i := range 2 {
		resp, err := client.Post(base+"/h/alpha/"+string(rune('a'+i)), "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("webhook: %d", resp.StatusCode)
		}
	}
	code, body := get(t, client, metrics)
	if code != http.StatusOK {
		t.Fatalf("metrics: %d %q", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if f := fams["hookctl_events_stored_total"]; f == nil || f.Metric[0].Counter.GetValue() != 2 {
		t.Errorf("hookctl_events_stored_total = %v, want 2", f)
	}
	alpha := -1.0
	for _, m := range fams["hookctl_events_pending"].GetMetric() {
		if m.Label[0].GetValue() == "alpha" {
			alpha = m.Gauge.GetValue()
		}
	}
	if alpha != 2 {
		t.Errorf("alpha pending %v, want 2", alpha)
	}
	if code, _ := get(t, client, strings.TrimSuffix(metrics, "/metrics")+"/h/alpha/x"); code != http.StatusNotFound {
		t.Errorf("the metrics address answers other paths: %d", code)
	}
}

// logLines keeps every line written to it and reports each new one.
type logLines struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []string
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line)
			return len(p), nil
		}
		l.lines = append(l.lines, line)
	}
}

func (l *logLines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// records parses every line as one JSON object.
func (l *logLines) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range l.all() {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// find returns the records with message msg.
func find(recs []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// wsHello dials the listen websocket, says hello and returns the
// connection and the relay's answer.
func wsHello(t *testing.T, base string, hello wire.Message) (*websocket.Conn, wire.Message) {
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
	hello.Type, hello.Version = wire.TypeHello, wire.Version
	if err := websocket.JSON.Send(conn, hello); err != nil {
		t.Fatal(err)
	}
	return conn, wsRecv(t, conn)
}

func wsRecv(t *testing.T, conn *websocket.Conn) wire.Message {
	t.Helper()
	for {
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		var m wire.Message
		if err := websocket.JSON.Receive(conn, &m); err != nil {
			t.Fatalf("receive: %v", err)
		}
		if m.Type != wire.TypePing {
			return m
		}
		websocket.JSON.Send(conn, wire.Message{Type: wire.TypePong})
	}
}

// TestJSONLogs runs a relay with --log-format json through refused tokens
// (listen and API), a session that delivers a signed webhook, a refused
// takeover of its endpoint, a revoked token and a shutdown: every stderr
// line is a JSON object, each of those is logged, and no token, signing
// secret or body is.
func TestJSONLogs(t *testing.T) {
	data := t.TempDir()
	alice := strings.TrimSpace(mustRun(t, "token", "create", "--data", data, "--name", "alice"))
	bob := strings.TrimSpace(mustRun(t, "token", "create", "--data", data, "--name", "bob"))
	const (
		badToken      = "hkt_notatokennotatokennotatokennota"
		signingSecret = "whsec_signingsecretthatmustnotleak"
		bodyMarker    = "body-marker-that-must-not-leak"
	)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &logLines{}
	done := make(chan int, 1)
	go func() {
		done <- relaycmd.Run(ctx, []string{"--addr", "127.0.0.1:0", "--data", data, "--log-format", "json", "--revoke-check", "50ms"}, io.Discard, logs)
	}()
	var base string
	if !waitUntil(t, 30*time.Second, "the listening line", func() bool {
		for _, line := range logs.all() {
			var rec struct{ Msg, URL string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "relay-server listening" {
				base = rec.URL
			}
		}
		return base != ""
	}) {
		t.FailNow()
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()

	// Refusals: a wrong token on the websocket, a wrong and a missing one
	// on the API.
	if _, m := wsHello(t, base, wire.Message{Token: badToken, Endpoint: "alpha"}); m.Code != wire.CodeUnauthorized {
		t.Fatalf("bad token: %+v", m)
	}
	for _, tok := range []string{badToken, ""} {
		req, _ := http.NewRequest("GET", base+wire.EventsPath+"?endpoint=alpha", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("API with token %q: %d", tok, resp.StatusCode)
		}
	}

	// A session delivers one signed webhook.
	conn, m := wsHello(t, base, wire.Message{Token: alice, Endpoint: "alpha", Reply: &wire.ReplyOptions{Mode: wire.ReplyAck}})
	if m.Type != wire.TypeWelcome {
		t.Fatalf("alice's hello: %+v", m)
	}
	body := `{"note":"` + bodyMarker + `"}`
	mac := hmac.New(sha256.New, []byte(signingSecret))
	mac.Write([]byte(body))
	signature := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	req, _ := http.NewRequest("POST", base+"/h/alpha/github", strings.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", signature)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}
	ev := wsRecv(t, conn)
	if ev.Type != wire.TypeEvent {
		t.Fatalf("got %+v, want the event", ev)
	}
	websocket.JSON.Send(conn, wire.Message{Type: wire.TypeAck, ID: ev.Event.ID})

	// Bob may not take alice's endpoint.
	if _, m := wsHello(t, base, wire.Message{Token: bob, Endpoint: "alpha"}); m.Code != wire.CodeForbidden {
		t.Fatalf("bob on alice's endpoint: %+v", m)
	}
	// A ping answered after the ack: the ack has been counted.
	websocket.JSON.Send(conn, wire.Message{Type: wire.TypePing})
	if m := wsRecv(t, conn); m.Type != wire.TypePong {
		t.Fatalf("got %+v, want pong", m)
	}
	conn.Close()
	if !waitUntil(t, 20*time.Second, "the session's end logged", func() bool {
		return len(find(logs.records(t), "listen: session ended")) == 1
	}) {
		t.FailNow()
	}

	// Alice again, then her token is revoked.
	conn, m = wsHello(t, base, wire.Message{Token: alice, Endpoint: "alpha"})
	if m.Type != wire.TypeWelcome {
		t.Fatalf("alice's second hello: %+v", m)
	}
	mustRun(t, "token", "revoke", "--data", data, "alice")
	if m := wsRecv(t, conn); m.Code != wire.CodeUnauthorized {
		t.Fatalf("after revocation: %+v", m)
	}

	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}

	recs := logs.records(t)
	for _, line := range logs.all() {
		for _, secret := range []string{alice, bob, badToken, signingSecret, signature, bodyMarker} {
			if strings.Contains(line, secret) {
				t.Errorf("a log line holds %q: %s", secret, line)
			}
		}
	}
	one := func(msg, level string, n int) []map[string]any {
		t.Helper()
		got := find(recs, msg)
		if len(got) != n {
			t.Errorf("%d %q lines, want %d", len(got), msg, n)
		}
		for _, r := range got {
			if r["level"] != level {
				t.Errorf("%q at %v, want %s", msg, r["level"], level)
			}
		}
		return got
	}
	for _, r := range one("listen: refused: unknown or missing token", "WARN", 1) {
		if r["endpoint"] != "alpha" || !strings.HasPrefix(fmt.Sprint(r["remote"]), "127.0.0.1:") {
			t.Errorf("listen refusal %v, want the endpoint and the remote address", r)
		}
	}
	for _, r := range one("api: refused: unknown or missing token", "WARN", 2) {
		if r["endpoint"] != "alpha" || r["path"] != wire.EventsPath || !strings.HasPrefix(fmt.Sprint(r["remote"]), "127.0.0.1:") {
			t.Errorf("API refusal %v, want the endpoint, path and remote address", r)
		}
	}
	for _, r := range one("listen: refused: endpoint belongs to another token", "WARN", 1) {
		if r["endpoint"] != "alpha" || !strings.HasPrefix(fmt.Sprint(r["token"]), "tok_") {
			t.Errorf("forbidden %v, want the endpoint and bob's token id", r)
		}
	}
	one("listen: session started", "INFO", 2)
	ended := one("listen: session ended", "INFO", 2)
	if len(ended) == 2 {
		first := ended[0]
		if first["endpoint"] != "alpha" || first["delivered"] != 1.0 || first["duration"] == nil ||
			!strings.HasPrefix(fmt.Sprint(first["remote"]), "127.0.0.1:") {
			t.Errorf("session end %v, want endpoint, remote, duration and 1 delivered", first)
		}
	}
	one("listen: token revoked, ending session", "INFO", 1)
	one("shutdown: begun", "INFO", 1)
	one("shutdown: done", "INFO", 1)
	one("webhook URLs", "INFO", 1)
}

// TestLogFormatUsage: an unknown --log-format is a usage error.
func TestLogFormatUsage(t *testing.T) {
	code, _, stderr := run(t, "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--log-format", "xml")
	if code != relaycmd.ExitUsage || !strings.Contains(stderr, "--log-format") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// TestJSONLogsFailedStart: under --log-format json a start that fails
// (here: --addr already taken) ends with a JSON error record, not a plain
// "Error:" line, and exits 1; under text it is the plain line.
func TestJSONLogsFailedStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()

	code, _, stderr := run(t, "--addr", addr, "--data", t.TempDir(), "--log-format", "json")
	if code != relaycmd.ExitError {
		t.Fatalf("exit %d, want %d\n%s", code, relaycmd.ExitError, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("stderr line is not JSON: %q (%v)", l, err)
		}
	}
	var last map[string]any
	json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	if last["level"] != "ERROR" || last["msg"] != "relay-server stopped" || !strings.Contains(fmt.Sprint(last["error"]), "listen on "+addr) {
		t.Errorf("last record %v, want an ERROR record naming the busy address", last)
	}

	code, _, stderr = run(t, "--addr", addr, "--data", t.TempDir())
	if code != relaycmd.ExitError || !strings.Contains(stderr, "Error: listen on "+addr) {
		t.Errorf("text: exit %d\n%s", code, stderr)
	}
}
