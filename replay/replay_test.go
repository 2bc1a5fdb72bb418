package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookctl/hookctl/fixtures"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// seen is what the local app received.
type seen struct {
	Method     string
	RequestURI string
	Host       string
	Header     http.Header
	Body       []byte
}

// app is a local HTTP server on 127.0.0.1 that records requests.
type app struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
	hook func(*http.Request)
}

func newApp(t testing.TB) *app {
	t.Helper()
	a := &app{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.Server = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if a.hook != nil {
			a.hook(r)
		}
		a.mu.Lock()
		a.reqs = append(a.reqs, seen{r.Method, r.RequestURI, r.Host, r.Header.Clone(), body})
		a.mu.Unlock()
		w.Header().Add("X-Answer", "a")
		w.Header().Add("X-Answer", "b")
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte("thanks"))
	}), ReadHeaderTimeout: 5 * time.Second}}
	a.Start()
	t.Cleanup(a.Close)
	return a
}

func (a *app) got() []seen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]seen(nil), a.reqs...)
}

func (a *app) url(t testing.TB, prefix string) *url.URL {
	u, err := url.Parse(a.URL + prefix)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// captured is an awkward request: escaped path, repeated query names,
// multi-value and odd-case headers, a binary body.
func captured() *capture.Request {
	body := make([]byte, 512)
	for i := range body {
		body[i] = byte(i * 7)
	}
	return &capture.Request{
		ID:       "evt_orig",
		Endpoint: "brave-otter-42",
		Method:   "PATCH",
		Path:     "/hooks/a%2Fb/c%20d",
		Query:    "a=1&a=2&b=%20x&empty=",
		Headers: capture.Headers{
			{Name: "Content-Type", Value: "application/octet-stream"},
			{Name: "X-Multi", Value: "one"},
			{Name: "X-Multi", Value: "two, three"},
			{Name: "x-odd-CASE", Value: "it's \"quoted\""},
			{Name: "X-Empty", Value: ""},
			{Name: "Connection", Value: "keep-alive"},
			{Name: "Stripe-Signature", Value: "t=1,v1=abc"},
		},
		Body:       body,
		Host:       "relay.example:8787",
		Proto:      "https",
		RemoteAddr: "203.0.113.9:5555",
		ReceivedAt: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC),
	}
}

// checkFidelity compares what the app received with r.
func checkFidelity(t *testing.T, got seen, r *capture.Request, prefix string) {
	t.Helper()
	if got.Method != r.Method {
		t.Errorf("method %q, want %q", got.Method, r.Method)
	}
	if want := prefix + r.URI(); got.RequestURI != want {
		t.Errorf("request URI %q, want %q", got.RequestURI, want)
	}
	if !bytes.Equal(got.Body, r.Body) {
		t.Errorf("body differs: %d bytes, want %d", len(got.Body), len(r.Body))
	}
	for _, name := range []string{"X-Multi", "X-Odd-Case", "X-Empty", "Content-Type"} {
		var want []string
		for _, h := range r.Headers {
			if http.CanonicalHeaderKey(h.Name) == name {
				want = append(want, h.Value)
			}
		}
		if gv := got.Header.Values(name); !reflect.DeepEqual(gv, want) && !(len(gv) == 0 && len(want) == 0) {
			t.Errorf("header %s = %q, want %q", name, gv, want)
		}
	}
	if _, ok := got.Header["X-Empty"]; !ok && slices.ContainsFunc(r.Headers, func(h capture.Header) bool { return h.Name == "X-Empty" }) {
		t.Error("empty header X-Empty was dropped")
	}
}

func TestRunFidelity(t *testing.T) {
	a := newApp(t)
	r := captured()
	res, err := Run(t.Context(), r, Options{Target: a.url(t, "/prefix")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Response.Status != http.StatusAccepted || string(res[0].Response.Body) != "thanks" {
		t.Fatalf("result %+v", res[0].Response)
	}
	if got := res[0].Response.Headers; len(got) != 0 && fmt.Sprint(capture.Headers(got).HTTP().Values("X-Answer")) != "[a b]" {
		t.Errorf("response headers %v", got)
	}
	if res[0].Request.ReplayOf != "evt_orig" || res[0].Request.ID != "" {
		t.Errorf("replay request id=%q replay_of=%q", res[0].Request.ID, res[0].Request.ReplayOf)
	}
	got := a.got()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	checkFidelity(t, got[0], r, "/prefix")
	if got[0].Header.Get("Connection") != "" && got[0].Header.Get("Connection") == "keep-alive" {
		t.Error("hop-by-hop Connection forwarded")
	}
	if ua := got[0].Header.Values("User-Agent"); len(ua) != 0 {
		t.Errorf("User-Agent %q added", ua)
	}
	if got[0].Header.Get("X-Forwarded-Host") != "relay.example:8787" || got[0].Header.Get("X-Forwarded-For") != "203.0.113.9" {
		t.Errorf("forwarded headers %v", got[0].Header)
	}
	// The original is untouched.
	if r.ID != "evt_orig" || r.ReplayOf != "" {
		t.Error("Run modified the original")
	}
}

type fakeRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeRecorder) RecordReplay(_ context.Context, orig string, req *capture.Request, resp *capture.Response) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.ReplayOf != orig || resp == nil {
		return "", fmt.Errorf("bad record: %s %v", orig, resp)
	}
	f.calls = append(f.calls, orig)
	return fmt.Sprintf("evt_r%d", len(f.calls)), nil
}

func TestRunCountConcurrency(t *testing.T) {
	a := newApp(t)
	const count, conc = 7, 3
	var inflight, peak atomic.Int32
	all := make(chan struct{})
	var once sync.Once
	a.hook = func(*http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if n == conc {
			once.Do(func() { close(all) })
		}
		// Hold the first deliveries until conc are in flight at once.
		select {
		case <-all:
		case <-time.After(5 * time.Second):
		}
	}
	rec := &fakeRecorder{}
	res, err := Run(t.Context(), captured(), Options{Target: a.url(t, ""), Count: count, Concurrency: conc, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != count || len(a.got()) != count {
		t.Fatalf("%d results, %d delivered; want %d", len(res), len(a.got()), count)
	}
	if p := peak.Load(); p != conc {
		t.Fatalf("peak concurrency %d, want %d", p, conc)
	}
	ids := map[string]bool{}
	for _, r := range res {
		if r.RecordErr != nil || r.Response.Status != http.StatusAccepted {
			t.Fatalf("result %+v", r)
		}
		ids[r.Request.ID] = true
	}
	if len(ids) != count || len(rec.calls) != count {
		t.Fatalf("recorded ids %v", ids)
	}
	for _, g := range a.got() {
		checkFidelity(t, g, captured(), "")
	}
}

type fakeSigner struct{}

func (fakeSigner) Sign(r *capture.Request, now time.Time) error {
	for i, h := range r.Headers {
		if h.Name == "Stripe-Signature" {
			r.Headers[i].Value = fmt.Sprintf("t=%d,v1=%x", now.Unix(), len(r.Body))
		}
	}
	return nil
}

func TestRunResign(t *testing.T) {
	a := newApp(t)
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	orig := captured()
	_, err := Run(t.Context(), orig, Options{Target: a.url(t, ""), Signer: fakeSigner{}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.got()[0].Header.Get("Stripe-Signature"); got != fmt.Sprintf("t=%d,v1=200", now.Unix()) {
		t.Fatalf("signature %q", got)
	}
	if orig.Headers.Get("Stripe-Signature") != "t=1,v1=abc" {
		t.Fatal("re-signing modified the original")
	}
}

func TestRunAppDown(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	u, _ := url.Parse("http://" + addr)
	res, err := Run(t.Context(), captured(), Options{Target: u})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res[0].Response.Error, "is your app listening on "+addr) {
		t.Fatalf("error %q", res[0].Response.Error)
	}
	if _, err := Run(t.Context(), captured(), Options{}); err != ErrNoTarget {
		t.Fatalf("no target: %v", err)
	}
}

func TestEditAbortedSendsNothing(t *testing.T) {
	r := captured()
	for _, editor := range []string{"true", "false"} {
		f, err := NewEditFile(t.TempDir(), r)
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := f.Command(editor)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Result(cmd.Run())
		if err == nil || !strings.Contains(err.Error(), ErrEditAborted.Error()) {
			t.Fatalf("%s: %v, want aborted", editor, err)
		}
		if _, err := os.Stat(f.Path); !os.IsNotExist(err) {
			t.Fatal("edit file left behind")
		}
	}
	f, _ := NewEditFile(t.TempDir(), r)
	if _, err := f.Command("no-such-editor-hookctl"); err == nil {
		t.Fatal("missing editor accepted")
	}
	if _, err := f.Command(""); err != ErrNoEditor {
		t.Fatalf("empty editor: %v", err)
	}
}

func TestEditChangesBody(t *testing.T) {
	r := captured()
	r.Body = []byte(`{"amount":100}`)
	r.Headers[0].Value = "application/json"
	f, err := NewEditFile(t.TempDir(), r)
	if err != nil {
		t.Fatal(err)
	}
	// An "editor" that changes the amount and, like vi, ends the file with a newline.
	script := t.TempDir() + "/ed.sh"
	os.WriteFile(script, []byte("#!/bin/sh\nsed -i 's/100/999/' \"$1\"\nprintf '\\n' >> \"$1\"\n"), 0o755)
	cmd, err := f.Command(script)
	if err != nil {
		t.Fatal(err)
	}
	edited, err := f.Result(cmd.Run())
	if err != nil {
		t.Fatal(err)
	}
	if string(edited.Body) != `{"amount":999}` {
		t.Fatalf("edited body %q", edited.Body)
	}
	if edited.Method != r.Method || edited.URI() != r.URI() || edited.ID != r.ID || edited.Host != r.Host {
		t.Fatalf("edited request lost fields: %+v", edited)
	}
	if !reflect.DeepEqual(nonHop(edited.Headers), nonHop(r.Headers)) {
		t.Fatalf("headers changed:\n%v\n%v", edited.Headers, r.Headers)
	}
	if !BodyChanged(r, edited) || len(SignatureHeaders(edited)) != 1 {
		t.Fatal("body change / signature header not detected")
	}
}

func nonHop(hs capture.Headers) capture.Headers {
	var out capture.Headers
	for _, h := range hs {
		if h.Name != "Connection" {
			out = append(out, h)
		}
	}
	return out
}

func TestRawRoundTrip(t *testing.T) {
	r := captured()
	var buf bytes.Buffer
	if err := WriteRaw(&buf, r, nil); err != nil {
		t.Fatal(err)
	}
	hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hr.Body)
	if hr.Method != r.Method || hr.RequestURI != r.URI() || hr.Host != r.Host || !bytes.Equal(body, r.Body) {
		t.Fatalf("ReadRequest: %s %s host=%s body=%d", hr.Method, hr.RequestURI, hr.Host, len(body))
	}
	if got := hr.Header.Values("X-Multi"); !reflect.DeepEqual(got, []string{"one", "two, three"}) {
		t.Fatalf("X-Multi %q", got)
	}
	back, err := ReadRaw(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if back.Method != r.Method || back.URI() != r.URI() || back.Host != r.Host || !bytes.Equal(back.Body, r.Body) || !reflect.DeepEqual(back.Headers, r.Headers) {
		t.Fatalf("ReadRaw round trip:\n%+v\n%+v", back, r)
	}
	// verify --request reads it with fixtures.ReadRequest.
	fr, err := fixtures.ReadRequest(bytes.NewReader(buf.Bytes()))
	if err != nil || fr.Method != r.Method || fr.URI() != r.URI() || fr.Host != r.Host || !bytes.Equal(fr.Body, r.Body) {
		t.Fatalf("fixtures.ReadRequest: %v %+v", err, fr)
	}
	// As a replay to a target would send it.
	a := newApp(t)
	buf.Reset()
	if err := WriteRaw(&buf, r, a.url(t, "/p")); err != nil {
		t.Fatal(err)
	}
	hr, err = http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	if hr.RequestURI != "/p"+r.URI() || hr.Host != a.Listener.Addr().String() || hr.Header.Get("Connection") != "" {
		t.Fatalf("raw to target: %s host %s conn %q", hr.RequestURI, hr.Host, hr.Header.Get("Connection"))
	}
}

func TestCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	a := newApp(t)
	text := captured()
	text.Body = []byte("it's a 'quoted' body\nwith $HOME and `cmd` and \\n and 100%\n")
	text.Headers[0].Value = "text/plain"
	noCT := captured()
	noCT.Method = "POST"
	noCT.Headers = capture.Headers{{Name: "X-Only", Value: "1"}}
	noCT.Body = []byte("a=1")
	get := captured()
	get.Method, get.Body = "GET", nil
	for i, r := range []*capture.Request{captured(), text, noCT, get} {
		cmdline, err := Curl(r, a.url(t, "/pre"))
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(t.Context(), "sh", "-c", cmdline+" --silent --show-error --output /dev/null").CombinedOutput()
		if err != nil {
			t.Fatalf("%d: %v: %s\n%s", i, err, out, cmdline)
		}
		got := a.got()
		if len(got) != i+1 {
			t.Fatalf("%d: app saw %d requests", i, len(got))
		}
		g := got[i]
		checkFidelity(t, g, r, "/pre")
		for _, h := range []string{"Accept", "User-Agent", "Expect"} {
			if v, ok := g.Header[h]; ok {
				t.Errorf("%d: curl added %s: %q", i, h, v)
			}
		}
		if r == noCT && g.Header.Get("Content-Type") != "" {
			t.Errorf("curl added Content-Type %q", g.Header.Get("Content-Type"))
		}
	}
}

func TestCurlQuoting(t *testing.T) {
	// Without running curl: the command parses back to the same words.
	r := captured()
	r.Body = []byte("it's")
	s, err := Curl(r, &url.URL{Scheme: "http", Host: "localhost:3000"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, `--data-binary 'it'\''s'`) || !strings.Contains(s, `--header 'x-odd-CASE: it'\''s "quoted"'`) && !strings.Contains(s, `--header 'X-Odd-Case: it'\''s "quoted"'`) {
		t.Fatalf("quoting:\n%s", s)
	}
	if !strings.Contains(s, "--header 'X-Empty;'") {
		t.Fatalf("empty header not spelled with ';':\n%s", s)
	}
}

func TestHAR(t *testing.T) {
	r := captured()
	resp := &capture.Response{Status: 201, Headers: capture.Headers{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte("ok"), Duration: 12 * time.Millisecond}
	u := &url.URL{Scheme: "http", Host: "localhost:3000"}
	for _, rs := range []*capture.Response{resp, nil, {Error: "connection refused"}} {
		data, err := HAR(r, rs, u, "test")
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateHAR(data); err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		var f HARFile
		json.Unmarshal(data, &f)
		e := f.Log.Entries[0]
		if e.Request.URL != "http://localhost:3000"+r.URI() || e.Request.Method != "PATCH" || e.Request.PostData.Encoding != "base64" {
			t.Fatalf("request %+v", e.Request)
		}
		if len(e.Request.QueryString) != 4 || e.Request.QueryString[2].Value != " x" {
			t.Fatalf("query %+v", e.Request.QueryString)
		}
		if rs == resp && (e.Response.Status != 201 || e.Response.Content.Text != "ok" || e.Time != 12) {
			t.Fatalf("response %+v", e.Response)
		}
	}
	if err := ValidateHAR([]byte(`{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[{"startedDateTime":"2026-01-01T00:00:00Z","time":0,"request":{},"response":{},"cache":{},"timings":{}}]}}`)); err == nil {
		t.Fatal("ValidateHAR accepted an entry without request fields")
	}
}

func TestProviderSigner(t *testing.T) {
	s, err := NewProviderSigner("stripe", "whsec_test123")
	if err != nil {
		t.Fatal(err)
	}
	r := captured()
	r.Body = []byte(`{"id":"evt_1","type":"charge.succeeded"}`)
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.Sign(r, old); err != nil {
		t.Fatal(err)
	}
	now := old.Add(time.Hour)
	if err := s.Verify(r, now); err == nil {
		t.Fatal("an hour-old signature verified")
	}
	a := newApp(t)
	res, err := Run(t.Context(), r, Options{Target: a.url(t, ""), Signer: s, Now: func() time.Time { return now }})
	if err != nil || res[0].Response.Status != http.StatusAccepted {
		t.Fatalf("%v %+v", err, res)
	}
	sent := res[0].Request
	if err := s.Verify(sent, now); err != nil {
		t.Fatalf("re-signed replay does not verify: %v", err)
	}
	if got := a.got()[0].Header.Get("Stripe-Signature"); got != sent.Headers.Get("Stripe-Signature") || !strings.Contains(got, fmt.Sprint(now.Unix())) {
		t.Fatalf("app got signature %q", got)
	}
	if _, err := NewProviderSigner("no-such-provider", "x"); err == nil {
		t.Fatal("unknown provider accepted")
	}
}

// shellWords splits a POSIX command line that uses only what Curl emits:
// single quotes, backslash-newline continuations and the pipe.
func shellWords(t *testing.T, s string) [][]string {
	t.Helper()
	s = strings.ReplaceAll(s, "\\\n", "")
	var cmds [][]string
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				t.Fatalf("unterminated quote in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			i++
			inWord = true
		case c == ' ' || c == '\n' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '|':
			cmds = append(cmds, words)
			words = nil
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return append(cmds, words)
}

// unprintf decodes the octal escapes Curl writes into a printf format.
func unprintf(t *testing.T, f string) []byte {
	var out []byte
	for i := 0; i < len(f); i++ {
		if f[i] == '\\' && i+3 < len(f) {
			var b byte
			for _, d := range f[i+1 : i+4] {
				b = b*8 + byte(d-'0')
			}
			out = append(out, b)
			i += 3
			continue
		}
		out = append(out, f[i])
	}
	return out
}

// TestCurlParses re-parses the command without running curl: the words are
// the method, the URL, one --header per value and the exact body.
func TestCurlParses(t *testing.T) {
	target := &url.URL{Scheme: "http", Host: "localhost:3000", Path: "/pre"}
	text := captured()
	text.Body = []byte("it's $HOME `x` \\ 100%\nline 2")
	for _, r := range []*capture.Request{captured(), text} {
		s, err := Curl(r, target)
		if err != nil {
			t.Fatal(err)
		}
		cmds := shellWords(t, s)
		curl := cmds[len(cmds)-1]
		if curl[0] != "curl" || curl[1] != "--request" || curl[2] != r.Method {
			t.Fatalf("words %q", curl)
		}
		if want := "http://localhost:3000/pre" + r.URI(); !slices.Contains(curl, want) {
			t.Fatalf("URL %q not in %q", want, curl)
		}
		var headers []string
		var body []byte
		for i, w := range curl {
			switch w {
			case "--header":
				headers = append(headers, curl[i+1])
			case "--data-binary":
				if curl[i+1] == "@-" {
					if len(cmds) != 2 || cmds[0][0] != "printf" {
						t.Fatalf("binary body without printf: %q", cmds)
					}
					body = unprintf(t, cmds[0][1])
				} else {
					body = []byte(curl[i+1])
				}
			}
		}
		if !bytes.Equal(body, r.Body) {
			t.Fatalf("body %q, want %q", body, r.Body)
		}
		for _, want := range []string{"X-Multi: one", "X-Multi: two, three", `x-odd-CASE: it's "quoted"`, "X-Empty;", "User-Agent:", "Accept:"} {
			if !slices.Contains(headers, want) {
				t.Errorf("header %q missing from %q", want, headers)
			}
		}
		if slices.ContainsFunc(headers, func(h string) bool { return strings.HasPrefix(h, "Connection") }) {
			t.Errorf("hop-by-hop header in %q", headers)
		}
	}
}

// newAppB returns a local app's URL for benchmarks.
func newAppB(b *testing.B) *url.URL {
	a := newApp(b)
	return a.url(b, "")
}
