package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookctl/hookctl/fixtures"
	"github.com/hookctl/hookctl/tunnel/capture"
)

type testRun struct {
	code     int
	out, err string
}

// runCLI runs hookctl in-process with buffers for streams.
func runCLI(t *testing.T, stdin string, args ...string) testRun {
	t.Helper()
	var out, errb bytes.Buffer
	f := &Factory{
		IO:     &IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errb},
		Getenv: func(string) string { return "" },
		Now:    time.Now,
	}
	code := Run(context.Background(), args, f)
	return testRun{code, out.String(), errb.String()}
}

// receiver is a webhook endpoint that verifies with hookctl's verifier, as
// a real app would with the provider's SDK, and records what it got.
type receiver struct {
	mu       sync.Mutex
	provider string
	secret   string
	status   int
	got      []*capture.Request
	invalid  int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	cr := &capture.Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Headers: capture.HeadersFrom(r.Header), Body: body, Host: r.Host}
	p, _ := fixtures.LookupProvider(rc.provider)
	res := p.Verify(cr, fixtures.Params{Secret: rc.secret, Time: time.Now(), URL: "http://" + r.Host + r.URL.RequestURI()})
	rc.mu.Lock()
	rc.got = append(rc.got, cr)
	if !res.Valid {
		rc.invalid++
	}
	rc.mu.Unlock()
	switch {
	case !res.Valid:
		http.Error(w, "bad signature: "+res.Error, http.StatusUnauthorized)
	case rc.status != 0:
		http.Error(w, "configured failure", rc.status)
	default:
		io.WriteString(w, `{"received":true}`)
	}
}

func newReceiver(t *testing.T, provider, secret string) (*receiver, *httptest.Server) {
	rc := &receiver{provider: provider, secret: secret}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv
}

func TestFireSuccessAndExpect(t *testing.T) {
	const secret = "whsec_cli0test"
	rc, srv := newReceiver(t, "stripe", secret)

	r := runCLI(t, "", "fire", "stripe", "payment_intent.succeeded", "--to", srv.URL+"/webhooks", "--secret", secret)
	if r.code != 0 || !strings.Contains(r.out, "200 OK") || !strings.Contains(r.out, `{"received":true}`) {
		t.Fatalf("fire: %+v", r)
	}
	if len(rc.got) != 1 || rc.got[0].Path != "/webhooks" || rc.invalid != 0 {
		t.Fatalf("receiver got %d (%d invalid)", len(rc.got), rc.invalid)
	}

	// Wrong secret: the app answers 401, fire exits 1 and shows why.
	r = runCLI(t, "", "fire", "stripe", "invoice.paid", "--to", srv.URL, "--secret", "whsec_other")
	if r.code != 1 || !strings.Contains(r.out, "401") || !strings.Contains(r.out, "expected 2xx") || !strings.Contains(r.out, "bad signature") {
		t.Fatalf("wrong secret: %+v", r)
	}
	// ... which is what --expect 4xx asks for.
	r = runCLI(t, "", "fire", "stripe", "invoice.paid", "--to", srv.URL, "--secret", "whsec_other", "--expect", "4xx")
	if r.code != 0 {
		t.Fatalf("--expect 4xx: %+v", r)
	}
	r = runCLI(t, "", "fire", "stripe", "invoice.paid", "--to", srv.URL, "--secret", "whsec_other", "--expect", "401")
	if r.code != 0 {
		t.Fatalf("--expect 401: %+v", r)
	}
	// Stale on purpose: the receiver rejects it.
	r = runCLI(t, "", "fire", "stripe", "invoice.paid", "--to", srv.URL, "--secret", secret, "--timestamp", time.Now().Add(-time.Hour).Format(time.RFC3339))
	if r.code != 1 || !strings.Contains(r.out, "too old") {
		t.Fatalf("--timestamp: %+v", r)
	}
	rc.status = 500
	r = runCLI(t, "", "fire", "stripe", "invoice.paid", "--to", srv.URL, "--secret", secret)
	if r.code != 1 || !strings.Contains(r.out, "500 Internal Server Error") {
		t.Fatalf("500: %+v", r)
	}
}

func TestFireUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := runCLI(t, "", "fire", "github", "push", "--to", addr+"/hooks", "--secret", "s")
	if r.code != 1 || !strings.Contains(r.err, "Error: connection refused: is your app listening on "+addr+"?") || strings.Contains(r.err, "Hint:") {
		t.Fatalf("%+v", r)
	}
}

func TestFireBadInput(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"fire", "strip", "invoice.paid", "--to", ":1", "--secret", "s"}, 2, []string{`unknown provider "strip"; did you mean stripe?`, "Hint:"}},
		{[]string{"fire", "stripe", "invoice.payed", "--to", ":1", "--secret", "s"}, 2, []string{`unknown event "invoice.payed" for stripe; did you mean invoice.paid`}},
		{[]string{"fire", "github", "push", "--secret", "s", "--print", "--set", "repository.nme=api"}, 1, []string{`--set repository.nme: path does not exist (no "nme" in repository); use --set-new to create it`}},
		{[]string{"fire", "github", "push", "--to", ":1"}, 2, []string{"--secret is required", "Hint: pass the webhook's secret"}},
		{[]string{"fire", "discord", "ping", "--to", ":1"}, 2, []string{"hookctl fixtures keygen discord"}},
		{[]string{"fire", "github", "push", "--secret", "s", "--expect", "3x"}, 2, []string{"--expect"}},
		{[]string{"fire", "github"}, 2, []string{"want PROVIDER EVENT"}},
	}
	for _, tc := range cases {
		r := runCLI(t, "", tc.args...)
		if r.code != tc.code {
			t.Errorf("%v: exit %d, want %d: %s", tc.args, r.code, tc.code, r.err)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.err, w) {
				t.Errorf("%v: stderr %q lacks %q", tc.args, r.err, w)
			}
		}
	}
}

func TestFireOverrides(t *testing.T) {
	r := runCLI(t, "", "fire", "github", "push", "--secret", "s", "--print",
		"--set", "repository.name=api", "--set", "ref=refs/heads/dev", "--set", "forced=true",
		"--set-new", "extra.count=3", "--unset", "pusher", "--header", "X-Extra: yes")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	req, err := fixtures.ReadRequest(strings.NewReader(r.out))
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body["ref"] != "refs/heads/dev" || body["forced"] != true || body["repository"].(map[string]any)["name"] != "api" ||
		body["extra"].(map[string]any)["count"] != float64(3) || body["pusher"] != nil {
		t.Errorf("body: %v", body)
	}
	if req.Headers.Get("X-Extra") != "yes" {
		t.Error("header override missing")
	}
	// The signature covers the edited body.
	p, _ := fixtures.LookupProvider("github")
	if res := p.Verify(req, fixtures.Params{Secret: "s", Time: time.Now()}); !res.Valid {
		t.Error(res.Explain())
	}

	dir := t.TempDir()
	bf := filepath.Join(dir, "body.json")
	os.WriteFile(bf, []byte(`{"custom":true}`), 0o600)
	r = runCLI(t, "", "fire", "github", "push", "--secret", "s", "--print", "--body", "@"+bf)
	if !strings.HasSuffix(r.out, "\r\n\r\n{\"custom\":true}") {
		t.Errorf("--body @file: %q", r.out)
	}
}

// --set and --set-new values render placeholders as a fixture file's set
// values do: a string, a number for exactly one numeric placeholder, JSON
// objects with escaped strings; labels match across flags and the body.
func TestFireSetPlaceholders(t *testing.T) {
	const note = "a \"quoted\" \\ back\nslash é ✓"
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	f, out, errOut := testFactory(t, map[string]string{"NOTE": note})
	code := Run(t.Context(), []string{"fire", "stripe", "payment_intent.succeeded", "--secret", "whsec_x", "--print", "--timestamp", "1700000000",
		"--set", "data.object.id={{uuid}}", "--set", "created={{unix}}", "--set", `livemode="{{unix}}"`, "--set", "data.object.currency=eur",
		"--set-new", "data.object.metadata={\"note\": \"{{env NOTE}}\", \"order\": \"ord_{{uuid o}}\", \"n\": \"{{digits 3}}\", \"m\": {{digits 3}}}",
		"--set-new", "data.object.order=ord_{{uuid o}}", "--set-new", "data.object.text=<{{env NOTE}}>"}, f)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	req, err := fixtures.ReadRequest(strings.NewReader(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Created  json.RawMessage
		Livemode json.RawMessage
		Data     struct {
			Object struct {
				ID, Currency, Order, Text string
				Metadata                  struct {
					Note, Order string
					N, M        json.RawMessage
				}
			}
		}
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatalf("%v\n%s", err, req.Body)
	}
	o := body.Data.Object
	if !uuidRE.MatchString(o.ID) || string(body.Created) != "1700000000" || string(body.Livemode) != `"1700000000"` || o.Currency != "eur" {
		t.Errorf("id %q, created %s, livemode %s, currency %q", o.ID, body.Created, body.Livemode, o.Currency)
	}
	if o.Metadata.Note != note || o.Text != "<"+note+">" || len(o.Metadata.N) != 5 || o.Metadata.N[0] != '"' || len(o.Metadata.M) != 3 || o.Metadata.M[0] == '"' {
		t.Errorf("metadata %+v, text %q", o.Metadata, o.Text)
	}
	if !strings.HasPrefix(o.Order, "ord_") || !uuidRE.MatchString(o.Order[4:]) || o.Metadata.Order != o.Order {
		t.Errorf("labelled uuid: %q and %q", o.Order, o.Metadata.Order)
	}
	// Two deliveries get two ids.
	r := runCLI(t, "", "fire", "github", "push", "--secret", "s", "--print", "--count", "2", "--set", "after={{uuid}}")
	if ids := regexp.MustCompile(`"after": *"([^"]+)"`).FindAllStringSubmatch(r.out, -1); len(ids) != 2 || ids[0][1] == ids[1][1] || !uuidRE.MatchString(ids[0][1]) {
		t.Errorf("--count 2: %v\n%s", ids, r.out)
	}

	// A bad placeholder is a usage error naming the flag; an unset
	// variable an error naming --set.
	r = runCLI(t, "", "fire", "github", "push", "--secret", "s", "--print", "--set", "ref={{nope}}")
	if r.code != ExitUsage || !strings.Contains(r.err, `--set "ref={{nope}}"`) || !strings.Contains(r.err, "unknown placeholder") {
		t.Errorf("bad placeholder: %+v", r)
	}
	r = runCLI(t, "", "fire", "github", "push", "--secret", "s", "--print", "--set", "ref={{env NOPE}}")
	if r.code == 0 || !strings.Contains(r.err, "--set: {{env NOPE}}: NOPE is not set") {
		t.Errorf("unset env: %+v", r)
	}
	r = runCLI(t, "", "fire", "github", "push", "--secret", "s", "--print", "--set-new", "x={{env NOPE}}")
	if r.code == 0 || !strings.Contains(r.err, "Error: --set-new: {{env NOPE}}: NOPE is not set") {
		t.Errorf("unset env, --set-new: %+v", r)
	}
}

func TestPrintThenVerify(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ provider, event, secret, verifySecret string }{
		{"stripe", "invoice.paid", "whsec_abc", ""},
		{"shopify", "orders/create", "shpss_x", ""},
		{"slack", "slash_command", "slack-secret", ""},
		{"twilio", "sms.received", "token", ""},
		{"svix", "user.created", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""},
		{"discord", "ping", "", ""},
	} {
		secret, vsecret := tc.secret, tc.secret
		if tc.provider == "discord" {
			kg := runCLI(t, "", "fixtures", "keygen", "discord", "--json")
			var keys struct{ PrivateKey, PublicKey string }
			var m map[string]string
			if err := json.Unmarshal([]byte(kg.out), &m); err != nil {
				t.Fatalf("keygen: %v %q", err, kg.out)
			}
			keys.PrivateKey, keys.PublicKey = m["private_key"], m["public_key"]
			secret, vsecret = keys.PrivateKey, keys.PublicKey
		}
		r := runCLI(t, "", "fire", tc.provider, tc.event, "--secret", secret, "--print", "--to", "https://example.com/hooks")
		if r.code != 0 {
			t.Fatalf("%s print: %+v", tc.provider, r)
		}
		file := filepath.Join(dir, tc.provider+".http")
		os.WriteFile(file, []byte(r.out), 0o600)
		v := runCLI(t, "", "verify", "--provider", tc.provider, "--secret", vsecret, "--request", file)
		if v.code != 0 || !strings.Contains(v.out, "valid "+tc.provider+" signature") {
			t.Errorf("%s verify: %+v\n%s", tc.provider, v, r.out)
		}
		// stdin works too.
		v = runCLI(t, r.out, "verify", "--provider", tc.provider, "--secret", vsecret, "--request", "-")
		if v.code != 0 {
			t.Errorf("%s verify stdin: %+v", tc.provider, v)
		}
		// An editor adding a newline at the end: invalid, cause named.
		if tc.provider != "twilio" && tc.provider != "slack" {
			edited := fixContentLength(t, r.out+"\n")
			v = runCLI(t, edited, "verify", "--provider", tc.provider, "--secret", vsecret, "--request", "-")
			if v.code != 1 || !strings.Contains(v.out, "trailing newline was added") {
				t.Errorf("%s newline: %+v", tc.provider, v)
			}
		}
	}

	// Wrong secret, JSON output.
	r := runCLI(t, "", "fire", "stripe", "invoice.paid", "--secret", "whsec_a", "--print")
	v := runCLI(t, r.out, "verify", "-p", "stripe", "--secret", "whsec_b", "-r", "-", "-o", "json")
	var res fixtures.Result
	if err := json.Unmarshal([]byte(v.out), &res); err != nil || v.code != 1 || res.Valid || res.Reason != fixtures.ReasonMismatch || len(res.Faults) != 1 || res.Faults[0].Code != fixtures.CauseMismatch {
		t.Errorf("json: %v %+v", err, v)
	}
	// Stale: the amount is given.
	r = runCLI(t, "", "fire", "stripe", "invoice.paid", "--secret", "whsec_a", "--print", "--timestamp", "1700000000")
	v = runCLI(t, r.out, "verify", "-p", "stripe", "--secret", "whsec_a", "-r", "-", "--at", "1700000400")
	if v.code != 1 || !strings.Contains(v.out, "timestamp too old: 1m40s outside the 5m0s tolerance") {
		t.Errorf("stale: %+v", v)
	}
	// Twilio signed for one URL, verified as received on another.
	r = runCLI(t, "", "fire", "twilio", "sms.received", "--secret", "tok", "--print", "--to", "http://localhost:3000/sms", "--url", "https://api.example.com/sms")
	v = runCLI(t, r.out, "verify", "-p", "twilio", "--secret", "tok", "-r", "-")
	if v.code != 1 || !strings.Contains(v.out, "pass the URL registered") {
		t.Errorf("twilio url: %+v", v)
	}
	v = runCLI(t, r.out, "verify", "-p", "twilio", "--secret", "tok", "-r", "-", "--url", "https://api.example.com/sms")
	if v.code != 0 {
		t.Errorf("twilio --url: %+v", v)
	}
}

// fixContentLength rewrites Content-Length to the body's length.
func fixContentLength(t *testing.T, raw string) string {
	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		t.Fatal("no header end")
	}
	lines := strings.Split(head, "\r\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "Content-Length:") {
			lines[i] = "Content-Length: " + strconv.Itoa(len(body))
		}
	}
	return strings.Join(lines, "\r\n") + "\r\n\r\n" + body
}

func TestFireFileSequence(t *testing.T) {
	const secret = "whsec_seq"
	rc, srv := newReceiver(t, "stripe", secret)
	dir := t.TempDir()
	file := filepath.Join(dir, "flow.yaml")
	os.WriteFile(file, []byte(`provider: stripe
headers:
  X-Test-Run: "{{env RUN_ID default-run}}"
events:
  - event: customer.created
    path: /stripe
  - event: invoice.paid
    path: /stripe
    set:
      data.object.amount_paid: 5000
  - description: a custom event
    path: /stripe/custom
    body:
      id: "evt_{{id 24}}"
      object: event
      type: custom.thing
      created: "{{unix}}"
      data: {object: {customer: "cus_{{id 14 cus}}"}}
`), 0o600)
	r := runCLI(t, "", "fire", "--file", file, "--to", srv.URL, "--secret", secret)
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if len(rc.got) != 3 || rc.invalid != 0 {
		t.Fatalf("got %d, %d invalid", len(rc.got), rc.invalid)
	}
	type ev struct {
		Type string
		Data struct {
			Object map[string]any
		}
		Created any
	}
	var evs []ev
	for _, g := range rc.got {
		var e ev
		if err := json.Unmarshal(g.Body, &e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
		if g.Headers.Get("X-Test-Run") != "default-run" {
			t.Errorf("env default: %q", g.Headers.Get("X-Test-Run"))
		}
	}
	if evs[0].Type != "customer.created" || evs[1].Type != "invoice.paid" || evs[2].Type != "custom.thing" {
		t.Errorf("order: %v %v %v", evs[0].Type, evs[1].Type, evs[2].Type)
	}
	if evs[0].Data.Object["id"] != evs[1].Data.Object["customer"] || evs[1].Data.Object["customer"] != evs[2].Data.Object["customer"] {
		t.Errorf("customer ids differ across the sequence: %v %v %v", evs[0].Data.Object["id"], evs[1].Data.Object["customer"], evs[2].Data.Object["customer"])
	}
	if evs[1].Data.Object["amount_paid"] != float64(5000) {
		t.Errorf("set: %v", evs[1].Data.Object["amount_paid"])
	}
	if _, ok := evs[2].Created.(float64); !ok {
		t.Errorf("{{unix}} in a YAML body is a number: %T", evs[2].Created)
	}
	if rc.got[2].Path != "/stripe/custom" {
		t.Errorf("path %q", rc.got[2].Path)
	}
}

func TestFireFileErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ content, want string }{
		{"provider: stripe\nevent: invoice.paid\nheaderz: {}\n", `bad.yaml:3: field "headerz": unknown field`},
		{"provider: stripe\nbody: |\n  {\"a\": \"{{nope}}\"}\n", `bad.yaml:3: field "body": unknown placeholder {{nope}}`},
		{"provider: strpe\nbody: '{}'\n", `bad.yaml:1: field "provider": unknown provider "strpe"; did you mean stripe?`},
		{"provider: stripe\nevents:\n  - event: invoice.paid\n  - event: nope.nope\n", `bad.yaml:4: field "event": unknown event "nope.nope"`},
		{"provider: stripe\nheaders: [a, b]\n", `bad.yaml:2: field "headers": want a mapping`},
		{"provider: stripe\nbody: {a: 1\n", `bad.yaml:1: did not find expected ',' or '}'`},
		{"provider: stripe\nheaders:\n  A: 1\n   B: 2\n", `bad.yaml:4: mapping values are not allowed in this context`},
		{"provider: generic\nsigning: {header: X-Sig, algorithm: md5}\nbody: '{}'\n", `field "signing": hmac scheme: unknown hash "md5"`},
		// A set path that the body does not have is an error of the file.
		{"provider: stripe\nevent: invoice.paid\nset:\n  data.object.amount_paid: 5\n  data.object.nope: 1\n", `bad.yaml:5: field "set": --set data.object.nope: path does not exist`},
		{"provider: stripe\nevent: invoice.paid\nunset:\n  - id\n  - data.nope\n", `bad.yaml:5: field "unset": --unset data.nope: path does not exist`},
	}
	for _, tc := range cases {
		file := filepath.Join(dir, "bad.yaml")
		os.WriteFile(file, []byte(tc.content), 0o600)
		r := runCLI(t, "", "fire", "--file", file, "--secret", "s", "--print")
		if r.code == 0 || !strings.Contains(r.err, "Error: "+file) || !strings.Contains(r.err, strings.TrimPrefix(tc.want, "bad.yaml")) {
			t.Errorf("%q:\n got %q\nwant %q", tc.content, r.err, tc.want)
		}
	}
}

func TestFireGenericSigning(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "g.yaml")
	os.WriteFile(file, []byte(`provider: generic
signing:
  header: X-Acme-Signature
  algorithm: sha512
  encoding: base64
  prefix: "v1="
  template: "{timestamp}.{body}"
  timestamp_header: X-Acme-Timestamp
body: {"hello": "world"}
`), 0o600)
	r := runCLI(t, "", "fire", "--file", file, "--secret", "k", "--print", "--timestamp", "1700000000")
	if r.code != 0 || !strings.Contains(r.out, "X-Acme-Timestamp: 1700000000") || !strings.Contains(r.out, "X-Acme-Signature: v1=") {
		t.Fatalf("%+v", r)
	}
}

func TestFireCountAndJSON(t *testing.T) {
	const secret = "gh"
	rc, srv := newReceiver(t, "github", secret)
	r := runCLI(t, "", "fire", "github", "push", "--to", srv.URL, "--secret", secret, "--count", "40", "--concurrency", "4")
	if r.code != 0 || !strings.Contains(r.out, "40 requests") || !strings.Contains(r.out, "40×200") || !strings.Contains(r.out, "p95") {
		t.Fatalf("%+v", r)
	}
	ids := map[string]bool{}
	for _, g := range rc.got {
		ids[g.Headers.Get("X-GitHub-Delivery")] = true
	}
	if len(ids) != 40 || rc.invalid != 0 {
		t.Errorf("%d distinct deliveries of %d, %d invalid", len(ids), len(rc.got), rc.invalid)
	}

	r = runCLI(t, "", "fire", "github", "push", "--to", srv.URL, "--secret", secret, "--count", "3", "--output", "json")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.code != 0 || len(lines) != 4 {
		t.Fatalf("%+v", r)
	}
	for _, l := range lines[:3] {
		var rec fireRecord
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Type != "request" || rec.Status != 200 || !rec.OK || rec.Verdict != "pass" || rec.Expect != "2xx" || rec.Provider != "github" || rec.Event != "push" {
			t.Errorf("record %q: %v", l, err)
		}
	}
	var sum summaryRecord
	if err := json.Unmarshal([]byte(lines[3]), &sum); err != nil || sum.Type != "summary" || sum.Verdict != "pass" || sum.Count != 3 || sum.Passed != 3 || sum.Statuses["200"] != 3 {
		t.Errorf("summary record %q: %v", lines[3], err)
	}
	if keys := jsonKeys(t, lines[3]); keys != "count,elapsed_ms,errors,expect,failed,max_ms,p50_ms,p95_ms,p99_ms,passed,rate,statuses,type,verdict" {
		t.Errorf("summary keys %s", keys)
	}
	if !strings.Contains(r.err, "3 requests") {
		t.Errorf("summary on stderr: %q", r.err)
	}
}

// Every fire ends with its verdict: the last line for a person, whether one
// request was sent or many; per record and in a summary record for JSON.
// Exit codes follow --expect.
func TestFireVerdict(t *testing.T) {
	const secret = "gh"
	rc, srv := newReceiver(t, "github", secret)
	lastLine := func(s string) string {
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		return lines[len(lines)-1]
	}
	fire := func(args ...string) testRun {
		return runCLI(t, "", append([]string{"fire", "github", "push", "--to", srv.URL, "--secret", secret}, args...)...)
	}

	r := fire()
	if r.code != 0 || lastLine(r.out) != "✓ 1 of 1 requests got 2xx" {
		t.Errorf("single, met: %+v", r)
	}
	r = fire("--count", "4", "--concurrency", "2")
	if r.code != 0 || lastLine(r.out) != "✓ 4 of 4 requests got 2xx" || !strings.Contains(r.out, "4 requests in ") {
		t.Errorf("count, met: %+v", r)
	}
	r = fire("--expect", "4xx")
	if r.code != 1 || lastLine(r.out) != "✗ 1 of 1 requests did not get 4xx" {
		t.Errorf("single, missed: %+v", r)
	}

	rc.mu.Lock()
	rc.status = 500
	rc.mu.Unlock()
	r = fire("--count", "3")
	if r.code != 1 || lastLine(r.out) != "✗ 3 of 3 requests did not get 2xx" {
		t.Errorf("count, missed: %+v", r)
	}
	r = fire("--json")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.code != 1 || len(lines) != 2 {
		t.Fatalf("json, missed: %+v", r)
	}
	var rec fireRecord
	var sum summaryRecord
	if json.Unmarshal([]byte(lines[0]), &rec) != nil || rec.Verdict != "fail" || rec.OK || rec.Status != 500 {
		t.Errorf("record %q", lines[0])
	}
	if json.Unmarshal([]byte(lines[1]), &sum) != nil || sum.Verdict != "fail" || sum.Count != 1 || sum.Failed != 1 || sum.Passed != 0 || sum.Statuses["500"] != 1 {
		t.Errorf("summary %q", lines[1])
	}
	if !strings.Contains(r.err, "1 of 1 requests did not get 2xx") {
		t.Errorf("stderr %q", r.err)
	}
}

func TestFixturesCommands(t *testing.T) {
	r := runCLI(t, "", "fixtures", "list", "--json")
	var entries []fixtureEntry
	if err := json.Unmarshal([]byte(r.out), &entries); err != nil || len(entries) < 75 {
		t.Fatalf("list --json: %v, %d entries", err, len(entries))
	}
	r = runCLI(t, "", "fixtures", "list", "stripe")
	if !strings.Contains(r.out, "stripe\tinvoice.paid\tAn invoice was paid\n") || strings.Contains(r.out, "\x1b[") {
		t.Errorf("list (pipe): %q", r.out)
	}
	r = runCLI(t, "", "fixtures", "show", "shopify", "orders/create")
	if r.code != 0 || !strings.Contains(r.out, "X-Shopify-Topic: orders/create") || !strings.Contains(r.err, "signing: hmac in X-Shopify-Hmac-Sha256") {
		t.Errorf("show: %+v", r)
	}
	r = runCLI(t, "", "fixtures", "keygen", "sendgrid")
	if r.code != 0 || !strings.Contains(r.out, "public key (configure your app):") {
		t.Errorf("keygen: %+v", r)
	}
	r = runCLI(t, "", "fixtures", "keygen", "stripe")
	if r.code != 1 || !strings.Contains(r.err, "key pairs are for sendgrid, discord") {
		t.Errorf("keygen stripe: %+v", r)
	}
}

func TestFixturesListTTY(t *testing.T) {
	var out bytes.Buffer
	f := &Factory{IO: &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: io.Discard, StdoutTTY: true, NoColor: true}, Getenv: func(string) string { return "" }, Now: time.Now}
	if code := Run(context.Background(), []string{"fixtures", "list", "svix"}, f); code != 0 {
		t.Fatal(code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "PROVIDER  EVENT         DESCRIPTION") || !strings.HasPrefix(lines[1], "svix      invoice.paid  ") ||
		!strings.HasPrefix(lines[2], "          ping          ") || strings.Contains(out.String(), "\x1b[") {
		t.Errorf("table:\n%s", out.String())
	}
}

// A query in --to (a token, a tenant) is part of the URL the request goes
// to, and, for Twilio, of the URL it signs: the request must carry it, in
// the --print output as on the wire.
func TestFireKeepsTargetQuery(t *testing.T) {
	const secret = "tok"
	rc, srv := newReceiver(t, "twilio", secret)
	for _, ev := range []string{"sms.received", "conversations.message_added"} {
		r := runCLI(t, "", "fire", "twilio", ev, "--to", srv.URL+"/sms?tenant=7", "--secret", secret)
		if r.code != 0 {
			t.Fatalf("%s: %+v", ev, r)
		}
		got := rc.got[len(rc.got)-1]
		if !strings.HasPrefix(got.Query, "tenant=7") {
			t.Errorf("%s: query %q, want tenant=7 first", ev, got.Query)
		}
		p := runCLI(t, "", "fire", "twilio", ev, "--to", srv.URL+"/sms?tenant=7", "--secret", secret, "--print")
		if line, _, _ := strings.Cut(p.out, "\r\n"); !strings.HasPrefix(line, "POST /sms?tenant=7") {
			t.Errorf("%s: --print request line %q", ev, line)
		}
	}
	if rc.invalid != 0 {
		t.Errorf("%d of %d deliveries did not verify against the signed URL", rc.invalid, len(rc.got))
	}
}

// pflag turns the first `quoted` word of a flag's usage into its value
// name, so backquotes in a usage garble --help ("--event hookctl events list").
func TestVerifyHelpFlagNames(t *testing.T) {
	r := runCLI(t, "", "verify", "--help")
	for _, want := range []string{"--event string", "-p, --provider string"} {
		if !strings.Contains(r.out+r.err, want) {
			t.Errorf("help lacks %q:\n%s", want, r.out+r.err)
		}
	}
}

// An {{env NAME}} without a default whose variable is unset is an error,
// not a silently empty value.
func TestFireEnvUnset(t *testing.T) {
	file := filepath.Join(t.TempDir(), "env.yaml")
	os.WriteFile(file, []byte("provider: generic\nbody: {\"token\": \"{{env HOOKCTL_TEST_UNSET}}\", \"d\": \"{{env HOOKCTL_TEST_UNSET2 fallback}}\"}\n"), 0o600)
	r := runCLI(t, "", "fire", "--file", file, "--secret", "s", "--print")
	if r.code == 0 || !strings.Contains(r.err, "HOOKCTL_TEST_UNSET is not set") || strings.Contains(r.err, "UNSET2") {
		t.Fatalf("%+v", r)
	}
}

// TestFireBodyEscaped: the app's response body is shown through
// inspect.Printable: controls (ESC[2J cleared the screen, OSC 0 set the
// window title), a bidi override and bytes that are not UTF-8 are escaped,
// and a body cut inside a character does not end in a stray byte.
func TestFireBodyEscaped(t *testing.T) {
	for body, want := range map[string]string{
		"ok\x1b[2J\x1b]0;pwned\x07":       `ok\x1b[2J\x1b]0;pwned\x07`,
		"see /admin/\u202etxt.exe":        `see /admin/\u202etxt.exe`,
		"caf\xe9 cr\xe8me":                `caf\xe9 cr\xe8me`, // Latin-1: the text was "[10 bytes of binary data]"
		strings.Repeat("a", 511) + "é...": "aaaa…",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
		r := runCLI(t, "", "fire", "github", "push", "--to", srv.URL, "--secret", "s")
		srv.Close()
		if r.code != 0 || !strings.Contains(r.out, want) || strings.ContainsAny(r.out, "\x1b\x07\u202e") || strings.Contains(r.out, `\xc3`) {
			t.Errorf("app answered %q; fire printed %q", body, r.out)
		}
	}
}

// jsonKeys is the sorted, comma-separated keys of one JSON object.
func jsonKeys(t *testing.T, line string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}
