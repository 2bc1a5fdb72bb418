package inspect

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fatih/color"

	"github.com/hookctl/hookctl/tunnel/capture"
)

var at = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func TestLogRendererPlain(t *testing.T) {
	var out, diag bytes.Buffer
	r := NewLogRenderer(&out, &diag, LogOptions{Now: func() time.Time { return at }})
	req := &capture.Request{ID: "evt_1", Method: "POST", Path: "/gh", Query: "x=1", ReceivedAt: at}
	r.Event(req, &capture.Response{Status: 200, Duration: 1400 * time.Microsecond})
	r.Event(req, &capture.Response{Error: "timeout"})
	want := "2026-11-25T09:00:00.000Z  POST    /gh?x=1                          200    1.4ms  evt_1\n" +
		"2026-11-25T09:00:00.000Z  POST    /gh?x=1                          ERR           evt_1  timeout\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
	// A repeated failure is printed once.
	r.DeliveryFailed(req, errors.New("connection refused: is your app listening on localhost:3000?"), 1, time.Second)
	r.DeliveryFailed(req, errors.New("connection refused: is your app listening on localhost:3000?"), 2, time.Second)
	if n := strings.Count(diag.String(), "\n"); n != 1 || !strings.HasPrefix(diag.String(), "connection refused: is your app listening on localhost:3000?") {
		t.Errorf("diag = %q", diag.String())
	}
}

func TestLogRendererColour(t *testing.T) {
	green := color.New(color.FgGreen)
	green.EnableColor()
	var out bytes.Buffer
	r := NewLogRenderer(&out, &out, LogOptions{Styles: Styles{Success: green}, TTY: true})
	r.Event(&capture.Request{ID: "e", Method: "GET", Path: "/"}, &capture.Response{Status: 204})
	if !strings.Contains(out.String(), "\x1b[32m204\x1b[0m") {
		t.Errorf("no colour: %q", out.String())
	}
}

func TestJSONRenderer(t *testing.T) {
	var out bytes.Buffer
	r := NewJSONRenderer(&out)
	r.Ready(Ready{URL: "http://r/h/x", Endpoint: "x"})
	req := &capture.Request{ID: "e1", Method: "PUT", Path: "/a", Query: "b=<c>", ReceivedAt: at}
	r.Event(req, &capture.Response{Status: 201, Duration: 1400 * time.Microsecond})
	r.DeliveryFailed(req, errors.New("down"), 2, 500*time.Millisecond)
	r.Reconnecting(errors.New("connection closed by the relay"), 3, 1500*time.Millisecond)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		`{"type":"ready","url":"http://r/h/x","endpoint":"x","forward":[]}`,
		`{"type":"event","id":"e1","method":"PUT","path":"/a","query":"b=<c>","status":201,"duration_ms":1.4,"received_at":"2026-11-25T09:00:00Z"}`,
		`{"type":"error","id":"e1","method":"PUT","path":"/a","query":"b=<c>","error":"down","attempt":2,"retry_in_ms":500}`,
		`{"type":"error","error":"connection closed by the relay; reconnecting","attempt":3,"retry_in_ms":1500}`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines: %s", len(lines), out.String())
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want[i])
		}
		if !json.Valid([]byte(lines[i])) {
			t.Errorf("line %d is not JSON", i)
		}
	}
}

func TestWriteTableAndDetail(t *testing.T) {
	var out bytes.Buffer
	rows := []Stored{
		{Req: &capture.Request{ID: "e2", Method: "POST", Path: "/p", ReceivedAt: at}, State: "delivered", Attempts: 1,
			Resp: &capture.Response{Status: 200, Duration: 2 * time.Millisecond}},
		{Req: &capture.Request{ID: "e1", Method: "GET", Path: "/", ReceivedAt: at}, State: "pending"},
	}
	if err := WriteTable(&out, rows, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "ID  RECEIVED              METHOD  PATH  STATE      STATUS  DURATION\n" +
		"e2  2026-11-25T09:00:00Z  POST    /p    delivered  200     2.0ms\n" +
		"e1  2026-11-25T09:00:00Z  GET     /     pending    -       -\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	rows[0].Req.Body = []byte{0, 1, 2}
	WriteDetail(&out, rows[0])
	if !strings.Contains(out.String(), "(3 bytes of binary data") || !strings.Contains(out.String(), "POST /p\n") {
		t.Errorf("detail:\n%s", out.String())
	}
}

// TestWriteDetailNoTerminalEscapes: a body is written by whoever sent the
// webhook; its control sequences must not reach the terminal.
func TestWriteDetailNoTerminalEscapes(t *testing.T) {
	for _, body := range []string{"\x1b[2J\x1b]0;owned\x07hi", "ok\u009b31mred", "a\x7fb"} {
		var out bytes.Buffer
		WriteDetail(&out, Stored{Req: &capture.Request{ID: "e1", Method: "POST", Path: "/", ReceivedAt: at, Body: []byte(body)}, State: "pending"})
		if s := out.String(); strings.ContainsAny(s, "\x1b\x07\x7f\u009b") || !strings.Contains(s, "bytes of binary data") {
			t.Errorf("body %q printed as:\n%q", body, s)
		}
	}
	var out bytes.Buffer
	WriteDetail(&out, Stored{Req: &capture.Request{ID: "e1", Method: "POST", Path: "/", ReceivedAt: at, Body: []byte("{\"a\":\t1}\r\n")}, State: "pending"})
	if !strings.Contains(out.String(), "{\"a\":\t1}\r\n") {
		t.Errorf("text body with tab and CRLF not printed as is:\n%q", out.String())
	}
}

// TestWriteDetailHeaderControls: header values may carry UTF-8 C1 controls
// (net/http accepts obs-text); they are shown escaped.
func TestWriteDetailHeaderControls(t *testing.T) {
	var out bytes.Buffer
	WriteDetail(&out, Stored{Req: &capture.Request{ID: "e1", Method: "POST", Path: "/", ReceivedAt: at,
		Headers: capture.Headers{{Name: "X-Evil", Value: "a\u009b2Jb"}}}, State: "pending"})
	if s := out.String(); strings.Contains(s, "\u009b") || !strings.Contains(s, `X-Evil: a\u009b2Jb`) {
		t.Errorf("detail:\n%q", s)
	}
}

// TestInvisibleCharactersEscaped: a right-to-left override in a path read
// "/files/exe.pdf" in the log, the events table and events show; bidi and
// zero-width characters in headers and bodies hid what was sent.
func TestInvisibleCharactersEscaped(t *testing.T) {
	req := &capture.Request{ID: "e1", Method: "POST", Path: "/files/\u202efdp.exe", Query: "a=\u2066b", ReceivedAt: at,
		Headers: capture.Headers{{Name: "X-A", Value: "ok\u200b\u202d"}}, Body: []byte("{\"to\":\"\u2067x\u2069\ufeff\"}\r\n")}
	const hidden = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u200e\u200f\u2028\u2029\ufeff\u061c"
	var log, diag, table, detail bytes.Buffer
	NewLogRenderer(&log, &diag, LogOptions{}).Event(req, &capture.Response{Status: 200})
	NewLogRenderer(&log, &diag, LogOptions{}).DeliveryFailed(req, errors.New("refused"), 1, time.Second)
	WriteTable(&table, []Stored{{Req: req, State: "pending"}}, TableOptions{})
	WriteDetail(&detail, Stored{Req: req, State: "pending"})
	for name, c := range map[string]struct {
		got  string
		want []string
	}{
		"log":    {log.String(), []string{`POST    /files/\u202efdp.exe?a=\u2066b`}},
		"diag":   {diag.String(), []string{`e1 POST /files/\u202efdp.exe?a=\u2066b`}},
		"table":  {table.String(), []string{`/files/\u202efdp.exe?a=\u2066b`}},
		"detail": {detail.String(), []string{`POST /files/\u202efdp.exe?a=\u2066b`, `X-A: ok\u200b\u202d`, "{\"to\":\"\\u2067x\\u2069\\ufeff\"}\r\n"}},
	} {
		if strings.ContainsAny(c.got, hidden) {
			t.Errorf("%s holds an invisible character: %q", name, c.got)
		}
		for _, w := range c.want {
			if !strings.Contains(c.got, w) {
				t.Errorf("%s lacks %q: %q", name, w, c.got)
			}
		}
	}
	// NDJSON keeps the exact text, JSON-escaped only.
	var js bytes.Buffer
	NewJSONRenderer(&js).Event(req, &capture.Response{Status: 200})
	if !strings.Contains(js.String(), "\"path\":\"/files/\u202efdp.exe\"") {
		t.Errorf("NDJSON changed the path: %q", js.String())
	}
}

// TestRenderRoute: the route an event took shows in the log and in NDJSON,
// and an event skipped under --route-only is marked so, aligned with the rest.
func TestRenderRoute(t *testing.T) {
	req := &capture.Request{ID: "evt_1", Method: "POST", Path: "/gh", ReceivedAt: at}
	routed := &capture.Response{Status: 200, Duration: 1400 * time.Microsecond, Route: "header:X-GitHub-Event=push"}
	skipped := &capture.Response{Skipped: true, Error: "skipped: no --route matched"}
	var out, diag bytes.Buffer
	r := NewLogRenderer(&out, &diag, LogOptions{})
	r.Event(req, routed)
	r.Event(req, skipped)
	r.Event(req, &capture.Response{Status: 204})
	want := "2026-11-25T09:00:00.000Z  POST    /gh                              200    1.4ms  evt_1  → header:X-GitHub-Event=push\n" +
		"2026-11-25T09:00:00.000Z  POST    /gh                              SKIP          evt_1  skipped: no --route matched\n" +
		"2026-11-25T09:00:00.000Z  POST    /gh                              204    0.0ms  evt_1\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}

	out.Reset()
	j := NewJSONRenderer(&out)
	j.Event(req, routed)
	j.Event(req, skipped)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	wantJSON := []string{
		`{"type":"event","id":"evt_1","method":"POST","path":"/gh","query":"","status":200,"duration_ms":1.4,"received_at":"2026-11-25T09:00:00Z","route":"header:X-GitHub-Event=push"}`,
		`{"type":"event","id":"evt_1","method":"POST","path":"/gh","query":"","status":0,"duration_ms":0,"received_at":"2026-11-25T09:00:00Z","error":"skipped: no --route matched","state":"skipped"}`,
	}
	if len(lines) != len(wantJSON) {
		t.Fatalf("got %q", out.String())
	}
	for i := range wantJSON {
		if lines[i] != wantJSON[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], wantJSON[i])
		}
	}
}
