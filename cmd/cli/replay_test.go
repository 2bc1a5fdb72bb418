package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/hookctl/hookctl/replay"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// fakeEventsAPI serves the relay's events API (wire.go) from memory on
// 127.0.0.1, for commands that read and record events.
type fakeEventsAPI struct {
	*httptest.Server
	mu      sync.Mutex
	events  []wire.EventRecord // oldest first
	replays []wire.ReplayRecord
}

func newFakeEventsAPI(t *testing.T, recs ...wire.EventRecord) *fakeEventsAPI {
	t.Helper()
	a := &fakeEventsAPI{events: recs}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.EventsPath, func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		limit := 50
		fmt.Sscan(r.URL.Query().Get("limit"), &limit)
		before := r.URL.Query().Get("before")
		out := []wire.EventRecord{}
		skipping := before != ""
		for i := len(a.events) - 1; i >= 0 && len(out) < limit; i-- {
			e := a.events[i]
			if skipping {
				skipping = e.Request.ID != before
				continue
			}
			if ep := r.URL.Query().Get("endpoint"); ep != "" && e.Request.Endpoint != ep {
				continue
			}
			out = append(out, e)
		}
		json.NewEncoder(w).Encode(wire.EventList{Events: out})
	})
	mux.HandleFunc("GET "+wire.EventsPath+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		if e := a.find(r.PathValue("id")); e != nil {
			json.NewEncoder(w).Encode(e)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(wire.APIError{Error: "no such event", Code: "not_found"})
	})
	mux.HandleFunc("POST "+wire.EventsPath+"/{id}/replays", func(w http.ResponseWriter, r *http.Request) {
		var rr wire.ReplayRecord
		if a.find(r.PathValue("id")) == nil || json.NewDecoder(r.Body).Decode(&rr) != nil || rr.Request == nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		rr.Request.ID = fmt.Sprintf("evt_replay%d", len(a.replays)+1)
		rr.Request.ReplayOf = r.PathValue("id")
		a.replays = append(a.replays, rr)
		rec := wire.EventRecord{Request: rr.Request, State: wire.StateDelivered, Response: rr.Response}
		a.events = append(a.events, rec)
		a.mu.Unlock()
		json.NewEncoder(w).Encode(rec)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.Server = &httptest.Server{Listener: l, Config: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	a.Start()
	t.Cleanup(a.Close)
	return a
}

func (a *fakeEventsAPI) find(id string) *wire.EventRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.events {
		if a.events[i].Request.ID == id {
			e := a.events[i]
			return &e
		}
	}
	return nil
}

func (a *fakeEventsAPI) replayCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.replays)
}

// replayApp is the user's app on 127.0.0.1: it records what it receives.
type replayApp struct {
	*httptest.Server
	mu   sync.Mutex
	got  []*http.Request
	body [][]byte
}

func newReplayApp(t *testing.T) *replayApp {
	a := &replayApp{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.Server = &httptest.Server{Listener: l, Config: &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.got = append(a.got, r)
		a.body = append(a.body, b)
		a.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte("created"))
	})}}
	a.Start()
	t.Cleanup(a.Close)
	return a
}

func (a *replayApp) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.got)
}

func storedStripeEvent(t *testing.T) wire.EventRecord {
	t.Helper()
	r := &capture.Request{
		ID: "evt_stripe1", Endpoint: "brave-otter-42", Method: "POST", Path: "/webhooks/stripe", Query: "a=1&a=2",
		Headers: capture.Headers{
			{Name: "Content-Type", Value: "application/json"},
			{Name: "X-Multi", Value: "1"}, {Name: "X-Multi", Value: "2"},
		},
		Body: []byte(`{"id":"evt_1","type":"charge.succeeded","amount":100}`),
		Host: "127.0.0.1:8787", Proto: "http", ReceivedAt: time.Now().Add(-time.Hour),
	}
	s, err := replay.NewProviderSigner("stripe", "whsec_testsecret")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sign(r, r.ReceivedAt); err != nil {
		t.Fatal(err)
	}
	return wire.EventRecord{Request: r, State: wire.StateDelivered, Response: &capture.Response{Status: 200, Body: []byte("ok"), Duration: 4 * time.Millisecond}}
}

func runWithEnv(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	f, out, errOut := testFactory(t, env)
	code := Run(t.Context(), args, f)
	return code, out.String(), errOut.String()
}

func TestReplayCommand(t *testing.T) {
	ev := storedStripeEvent(t)
	api := newFakeEventsAPI(t, ev)
	app := newReplayApp(t)
	env := map[string]string{"HOOKCTL_RELAY": api.URL}

	code, out, errOut := runWithEnv(t, env, "replay", "evt_stripe1", "--to", app.URL+"/prefix", "--count", "3", "--concurrency", "2", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if app.count() != 3 || api.replayCount() != 3 {
		t.Fatalf("delivered %d, recorded %d; want 3", app.count(), api.replayCount())
	}
	for i, r := range app.got {
		if r.Method != "POST" || r.RequestURI != "/prefix/webhooks/stripe?a=1&a=2" || !bytes.Equal(app.body[i], ev.Request.Body) ||
			strings.Join(r.Header.Values("X-Multi"), ",") != "1,2" || r.Header.Get("Stripe-Signature") != ev.Request.Headers.Get("Stripe-Signature") {
			t.Fatalf("app got %s %s %v %q", r.Method, r.RequestURI, r.Header, app.body[i])
		}
	}
	// One record per copy, then the summary.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("output:\n%s", out)
	}
	// The keys fire's records have too mean the same: status, ok,
	// verdict, expect, latency_ms.
	if keys := jsonKeys(t, lines[0]); keys != "expect,id,latency_ms,ok,replay_of,status,type,verdict" {
		t.Errorf("replay record keys %s", keys)
	}
	for _, l := range lines[:3] {
		var j replayRecord
		if err := json.Unmarshal([]byte(l), &j); err != nil || j.Type != "replay" || j.Status != 201 || !j.OK || j.Verdict != "pass" || j.Expect != "2xx" ||
			j.ReplayOf != "evt_stripe1" || !strings.HasPrefix(j.ID, "evt_replay") {
			t.Fatalf("json line %q: %v", l, err)
		}
	}
	var sum summaryRecord
	if err := json.Unmarshal([]byte(lines[3]), &sum); err != nil || sum.Type != "summary" || sum.Verdict != "pass" || sum.Expect != "2xx" ||
		sum.Count != 3 || sum.Passed != 3 || sum.Failed != 0 || sum.Errors != 0 || sum.SummaryStatuses == nil || sum.Statuses["201"] != 3 ||
		sum.SummaryLatency != nil || sum.SummaryChecks != nil {
		t.Fatalf("summary %q: %v", lines[3], err)
	}
	if errOut != "" {
		t.Errorf("stderr of a run that met --expect: %q", errOut)
	}

	// Missed --expect: each record and the summary say so, the verdict
	// goes to stderr too, and the exit code is 1; for a person the last
	// line says it.
	code, out, errOut = runWithEnv(t, env, "replay", "evt_stripe1", "--to", app.URL, "--count", "2", "--expect", "200", "--json")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if code != ExitError || len(lines) != 3 || strings.TrimSpace(errOut) != "2 of 2 requests did not get 200" {
		t.Fatalf("missed: exit %d\n%s\n%s", code, out, errOut)
	}
	var j replayRecord
	if err := json.Unmarshal([]byte(lines[0]), &j); err != nil || j.Verdict != "fail" || j.OK || j.Expect != "200" || j.Status != 201 {
		t.Errorf("missed record %q: %v", lines[0], err)
	}
	sum = summaryRecord{}
	if err := json.Unmarshal([]byte(lines[2]), &sum); err != nil || sum.Verdict != "fail" || sum.Count != 2 || sum.Passed != 0 || sum.Failed != 2 || sum.Errors != 0 {
		t.Errorf("missed summary %q: %v", lines[2], err)
	}
	code, out, _ = runWithEnv(t, env, "replay", "evt_stripe1", "--to", app.URL, "--expect", "200")
	if code != ExitError || !strings.HasSuffix(out, "\n✗ 1 of 1 requests did not get 200\n") {
		t.Errorf("missed, text: exit %d\n%s", code, out)
	}
	code, out, _ = runWithEnv(t, env, "replay", "evt_stripe1", "--to", app.URL, "--expect", "201")
	if code != 0 || !strings.HasSuffix(out, "\n✓ 1 of 1 requests got 201\n") {
		t.Errorf("met, text: exit %d\n%s", code, out)
	}

	// No answer: verdict error, counted in errors; exit 1 with the error.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	code, out, errOut = runWithEnv(t, env, "replay", "evt_stripe1", "--to", down, "--json")
	lines = strings.Split(strings.TrimSpace(out), "\n")
	// One diagnostic, fire's: the refused connection with its hint.
	if code != ExitError || len(lines) != 2 || errOut != "Error: connection refused: is your app listening on "+down+"?\n" {
		t.Fatalf("no answer: exit %d\n%s\n%s", code, out, errOut)
	}
	j = replayRecord{}
	if err := json.Unmarshal([]byte(lines[0]), &j); err != nil || j.Verdict != "error" || j.Error == "" || j.Status != 0 || j.OK {
		t.Errorf("no answer record %q: %v", lines[0], err)
	}
	if keys := jsonKeys(t, lines[0]); keys != "error,expect,id,latency_ms,ok,replay_of,type,verdict" {
		t.Errorf("no answer record keys %s, want no status (as fire's)", keys)
	}
	sum = summaryRecord{}
	if err := json.Unmarshal([]byte(lines[1]), &sum); err != nil || sum.Verdict != "fail" || sum.Count != 1 || sum.Failed != 0 || sum.Errors != 1 || len(sum.Statuses) != 0 {
		t.Errorf("no answer summary %q: %v", lines[1], err)
	}

	// Unknown id.
	code, _, errOut = runWithEnv(t, env, "replay", "evt_nope", "--to", app.URL)
	if code != ExitError || !strings.Contains(errOut, `no event "evt_nope"`) || !strings.Contains(errOut, "events list") {
		t.Fatalf("unknown id: exit %d: %s", code, errOut)
	}
	// Usage errors.
	if code, _, _ := runWithEnv(t, env, "replay", "evt_stripe1"); code != ExitUsage {
		t.Fatalf("missing --to: exit %d", code)
	}
	if code, _, _ := runWithEnv(t, env, "replay", "evt_stripe1", "--to", app.URL, "--resign"); code != ExitUsage {
		t.Fatalf("--resign without secret: exit %d", code)
	}
}

func TestReplayResign(t *testing.T) {
	ev := storedStripeEvent(t)
	api := newFakeEventsAPI(t, ev)
	app := newReplayApp(t)
	env := map[string]string{"HOOKCTL_RELAY": api.URL}
	code, _, errOut := runWithEnv(t, env, "replay", "evt_stripe1", "--to", app.URL, "--resign", "--provider", "stripe", "--secret", "whsec_testsecret")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	s, _ := replay.NewProviderSigner("stripe", "whsec_testsecret")
	sent := replay.Clone(ev.Request)
	for i, h := range sent.Headers {
		if h.Name == "Stripe-Signature" {
			sent.Headers[i].Value = app.got[0].Header.Get("Stripe-Signature")
		}
	}
	if err := s.Verify(ev.Request, time.Now()); err == nil {
		t.Fatal("the hour-old original verifies; the test proves nothing")
	}
	if err := s.Verify(sent, time.Now()); err != nil {
		t.Fatalf("re-signed replay does not verify now: %v", err)
	}
}

func TestReplayEdit(t *testing.T) {
	ev := storedStripeEvent(t)
	api := newFakeEventsAPI(t, ev)
	app := newReplayApp(t)
	dir := t.TempDir()
	editor := filepath.Join(dir, "ed.sh")
	os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/100/999/' \"$1\"\n"), 0o755)

	// No editor, a failing editor, an editor that saves nothing: nothing sent.
	for _, ed := range []string{"", "false", "true"} {
		code, _, errOut := runWithEnv(t, map[string]string{"HOOKCTL_RELAY": api.URL, "EDITOR": ed}, "replay", "evt_stripe1", "--to", app.URL, "--edit")
		if code == 0 || !strings.Contains(errOut, "nothing sent") {
			t.Fatalf("EDITOR=%q: exit %d: %s", ed, code, errOut)
		}
	}
	if app.count() != 0 || api.replayCount() != 0 {
		t.Fatalf("an aborted edit sent %d requests", app.count())
	}

	// An edit without --resign: sent, with a warning naming the fix.
	env := map[string]string{"HOOKCTL_RELAY": api.URL, "EDITOR": editor}
	code, _, errOut := runWithEnv(t, env, "replay", "evt_stripe1", "--to", app.URL, "--edit", "--provider", "stripe", "--secret", "whsec_testsecret")
	if code != 0 || app.count() != 1 || !bytes.Contains(app.body[0], []byte(`"amount":999`)) {
		t.Fatalf("exit %d, %d sent: %s", code, app.count(), errOut)
	}
	if !strings.Contains(errOut, "no longer matches its signature") || !strings.Contains(errOut, "--resign") {
		t.Fatalf("no warning: %s", errOut)
	}
	// Without a secret the signature header alone triggers the warning.
	_, _, errOut = runWithEnv(t, env, "replay", "evt_stripe1", "--to", app.URL, "--edit")
	if !strings.Contains(errOut, "Stripe-Signature still signs the original") {
		t.Fatalf("no header warning: %s", errOut)
	}
	// With --resign the edit is signed afresh: no warning.
	_, _, errOut = runWithEnv(t, env, "replay", "evt_stripe1", "--to", app.URL, "--edit", "--resign", "--provider", "stripe", "--secret", "whsec_testsecret")
	if strings.Contains(errOut, "Warning") {
		t.Fatalf("warning despite --resign: %s", errOut)
	}
}

func TestEventsExport(t *testing.T) {
	ev := storedStripeEvent(t)
	api := newFakeEventsAPI(t, ev)
	app := newReplayApp(t)
	env := map[string]string{"HOOKCTL_RELAY": api.URL}

	code, out, errOut := runWithEnv(t, env, "events", "export", "evt_stripe1", "--format", "http")
	if code != 0 {
		t.Fatalf("http: exit %d: %s", code, errOut)
	}
	hr, err := http.ReadRequest(bufio.NewReader(strings.NewReader(out)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hr.Body)
	if hr.Method != "POST" || hr.RequestURI != "/webhooks/stripe?a=1&a=2" || hr.Host != "127.0.0.1:8787" || !bytes.Equal(body, ev.Request.Body) ||
		strings.Join(hr.Header.Values("X-Multi"), ",") != "1,2" {
		t.Fatalf("raw HTTP parsed to %s %s %s %q", hr.Method, hr.RequestURI, hr.Host, body)
	}

	code, out, errOut = runWithEnv(t, env, "events", "export", "evt_stripe1", "--format", "har", "--to", app.URL)
	if code != 0 {
		t.Fatalf("har: exit %d: %s", code, errOut)
	}
	if err := replay.ValidateHAR([]byte(out)); err != nil {
		t.Fatal(err)
	}

	code, out, errOut = runWithEnv(t, env, "events", "export", "evt_stripe1", "--format", "curl", "--to", app.URL)
	if code != 0 || !strings.HasPrefix(out, "curl ") {
		t.Fatalf("curl: exit %d: %s%s", code, out, errOut)
	}
	if _, err := exec.LookPath("curl"); err == nil {
		if b, err := exec.CommandContext(t.Context(), "sh", "-c", strings.TrimSpace(out)+" --silent --output /dev/null").CombinedOutput(); err != nil {
			t.Fatalf("running the curl command: %v %s", err, b)
		}
		if app.count() != 1 || !bytes.Equal(app.body[0], ev.Request.Body) || app.got[0].RequestURI != "/webhooks/stripe?a=1&a=2" {
			t.Fatalf("curl delivered %d requests", app.count())
		}
	}

	if code, _, errOut := runWithEnv(t, env, "events", "export", "evt_nope", "--format", "curl"); code != ExitError || !strings.Contains(errOut, "no event") {
		t.Fatalf("unknown id: exit %d %s", code, errOut)
	}
	if code, _, _ := runWithEnv(t, env, "events", "export", "evt_stripe1", "--format", "xml"); code != ExitUsage {
		t.Fatalf("bad format: exit %d", code)
	}
}

func TestInspectNeedsTerminal(t *testing.T) {
	api := newFakeEventsAPI(t)
	code, _, errOut := runWithEnv(t, map[string]string{"HOOKCTL_RELAY": api.URL}, "inspect")
	if code != ExitError || !strings.Contains(errOut, "needs a terminal") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

// TestInspectModel drives the `hookctl inspect` model headless against the
// fake API: history loads, r replays to --to and records the replay.
func TestInspectModel(t *testing.T) {
	var recs []wire.EventRecord
	for i := range 150 {
		ev := storedStripeEvent(t)
		ev.Request.ID = fmt.Sprintf("evt_%03d", i)
		recs = append(recs, ev)
	}
	api := newFakeEventsAPI(t, recs...)
	app := newReplayApp(t)
	f, _, _ := testFactory(t, map[string]string{"HOOKCTL_RELAY": api.URL})
	client, closeAPI, err := relayAPI(t.Context(), f, relayFlags{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAPI()
	target, _ := url.Parse(app.URL)
	m, err := newInspectModel(t.Context(), &InspectOptions{IO: f.IO, Factory: f, Verify: "stripe:whsec_testsecret"}, client, target)
	if err != nil {
		t.Fatal(err)
	}
	m.SetSize(100, 30)
	driveModel(m, m.Init())
	if m.Len() != 100 || m.Selected().ID != "evt_149" {
		t.Fatalf("first page: %d, selected %v", m.Len(), m.Selected())
	}
	view := ansi.Strip(m.View())
	// Signed when received, an hour ago: valid as of its receive time (the
	// badge is about what the sender sent, not whether it is still fresh).
	if !strings.Contains(view, "evt_149") || !strings.Contains(view, "valid") || strings.Contains(view, "INVALID") {
		t.Fatalf("view:\n%s", view)
	}
	driveModel(m, modelKey(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("r")}))
	if app.count() != 1 || api.replayCount() != 1 || m.Len() != 101 {
		t.Fatalf("replay: app %d, recorded %d, rows %d", app.count(), api.replayCount(), m.Len())
	}
	driveModel(m, modelKey(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("g")}))
	driveModel(m, modelKey(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("k")}))
	if m.Len() != 151 {
		t.Fatalf("older page: %d rows", m.Len())
	}
}

func modelKey(m interface {
	Update(tea.Msg) (tea.Model, tea.Cmd)
}, k tea.KeyMsg) tea.Cmd {
	_, cmd := m.Update(k)
	return cmd
}

// driveModel runs cmd and feeds the resulting messages back into m.
func driveModel(m interface {
	Update(tea.Msg) (tea.Model, tea.Cmd)
}, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			driveModel(m, c)
		}
	default:
		_, next := m.Update(msg)
		driveModel(m, next)
	}
}

// TestReplayErrorEscaped: a delivery error can carry the target's text (an
// x509 error lists the names in the app's certificate as they are); it is
// shown through inspect.Printable, on the result line and in the error.
func TestReplayErrorEscaped(t *testing.T) {
	var out, errOut bytes.Buffer
	opts := &ReplayOptions{IO: &IOStreams{Out: &out, ErrOut: &errOut}, outputFlags: outputFlags{Output: "text"}}
	msg := "tls: failed to verify certificate: x509: certificate is valid for \x1b]0;pwned\x07\u202egro.elpmaxe, not localhost"
	err := printReplays(opts, []replay.Result{{
		Request:  &capture.Request{ID: "evt_r1", ReplayOf: "evt_1"},
		Response: &capture.Response{Error: msg},
	}})
	want := `valid for \x1b]0;pwned\x07\u202egro.elpmaxe, not localhost`
	if !strings.Contains(out.String(), want) || strings.ContainsAny(out.String(), "\x1b\x07\u202e") {
		t.Errorf("printed %q", out.String())
	}
	if err == nil || !strings.Contains(err.Error(), want) || strings.ContainsAny(err.Error(), "\x1b\x07\u202e") {
		t.Errorf("error %q", err)
	}
}

// The bulk line on stderr has the summary's counts: a wrong answer is
// failed, a copy without answer is counted apart, as in errors.
func TestReplayBulkCounts(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/drop" {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close() // no answer
			}
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(app.Close)
	wrong := storedStripeEvent(t)
	dropped := storedStripeEvent(t)
	dropped.Request.ID, dropped.Request.Path = "evt_drop", "/drop"
	api := newFakeEventsAPI(t, wrong, dropped)
	code, out, errOut := runWithEnv(t, map[string]string{"HOOKCTL_RELAY": api.URL}, "replay", "evt_stripe1", "evt_drop", "--to", app.URL, "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum summaryRecord
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || code != ExitError || sum.Failed != 1 || sum.Errors != 1 {
		t.Fatalf("exit %d, summary %q: %v", code, lines[len(lines)-1], err)
	}
	if !strings.Contains(errOut, "Replayed 2 events: 2 sent, 0 got 2xx, 1 failed, 1 got no answer\n") {
		t.Errorf("stderr %q", errOut)
	}
}
