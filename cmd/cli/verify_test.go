package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookctl/hookctl/fixtures"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// signedStripe renders and signs a Stripe event at t with the project's
// signer.
func signedStripe(t *testing.T, secret string, at time.Time) *capture.Request {
	t.Helper()
	p, _ := fixtures.LookupProvider("stripe")
	ev, _ := p.Lookup("invoice.paid")
	r, err := ev.Render(p, &fixtures.RenderContext{Now: at}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sign(r, fixtures.Params{Secret: secret, Time: at}); err != nil {
		t.Fatal(err)
	}
	return r
}

func writeRequest(t *testing.T, r *capture.Request) string {
	t.Helper()
	var b bytes.Buffer
	target, _ := url.Parse("https://example.com/webhooks")
	if err := fixtures.WriteRequest(&b, r, target); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "req.http")
	if err := os.WriteFile(file, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func faultCodes(res fixtures.Result) []string {
	var out []string
	for _, f := range res.Faults {
		out = append(out, f.Code)
	}
	return out
}

// TestVerifyFaults: every fault the request has is reported, in a fixed
// order, in the text and in JSON; a mismatch hookctl cannot explain says
// so rather than blaming the secret.
func TestVerifyFaults(t *testing.T) {
	const secret = "whsec_right"
	signedAt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fresh, stale := "2026-01-01T00:01:00Z", "2026-01-01T01:00:00Z"
	tampered := signedStripe(t, secret, signedAt)
	tampered.Body = bytes.Replace(tampered.Body, []byte(`"amount_paid": 2000`), []byte(`"amount_paid": 1`), 1)
	if bytes.Equal(tampered.Body, signedStripe(t, secret, signedAt).Body) {
		t.Fatal("the tamper changed nothing")
	}
	badHeader := signedStripe(t, secret, signedAt)
	badHeader.Headers = append(capture.Headers{{Name: "Stripe-Signature", Value: "garbage"}}, slices.DeleteFunc(badHeader.Headers, func(h capture.Header) bool { return h.Name == "Stripe-Signature" })...)
	v0 := signedStripe(t, secret, signedAt)
	for i, h := range v0.Headers {
		if h.Name == "Stripe-Signature" {
			v0.Headers[i].Value = strings.Replace(h.Value, "v1=", "v0=", 1)
		}
	}
	cases := []struct {
		name   string
		req    *capture.Request
		args   []string
		codes  []string
		text   []string // lines the human output holds
		reject string   // a phrase it must not hold
	}{
		{"valid", signedStripe(t, secret, signedAt), []string{"--secret", secret, "--at", fresh}, nil, []string{"✓ valid stripe signature"}, ""},
		{"stale only", signedStripe(t, secret, signedAt), []string{"--secret", secret, "--at", stale},
			[]string{fixtures.CauseStale}, []string{"timestamp too old: 55m0s outside the 5m0s tolerance", "signed at 2026-01-01T00:00:00Z, 1h0m0s before"}, "signature mismatch"},
		{"wrong secret only", signedStripe(t, secret, signedAt), []string{"--secret", "whsec_wrong", "--at", fresh},
			[]string{fixtures.CauseMismatch}, []string{"either the body changed after signing or the secret differs; hookctl cannot tell which"}, "timestamp"},
		{"stale and wrong secret", signedStripe(t, secret, signedAt), []string{"--secret", "whsec_wrong", "--at", stale},
			[]string{fixtures.CauseMismatch, fixtures.CauseStale}, []string{"signature mismatch; timestamp too old", "cannot tell which", "not authenticated"}, "most likely"},
		{"wrong secret, the right one known", signedStripe(t, secret, signedAt), []string{"--secret", "whsec_wrong", "--try-secret", "whsec_other", "--try-secret", secret, "--at", stale},
			[]string{fixtures.CauseOtherSecret, fixtures.CauseStale}, []string{"the signature matches --try-secret #2"}, "cannot tell"},
		{"tampered body", tampered, []string{"--secret", secret, "--at", fresh},
			[]string{fixtures.CauseMismatch}, []string{"either the body changed after signing or the secret differs; hookctl cannot tell which"}, "the secret differs from the one"},
		{"malformed header", badHeader, []string{"--secret", secret, "--at", fresh},
			[]string{fixtures.CauseHeaderMalformed}, []string{"malformed Stripe-Signature"}, ""},
		{"wrong version and stale", v0, []string{"--secret", secret, "--at", stale},
			[]string{string(fixtures.ReasonWrongVersion), fixtures.CauseStale}, []string{"only v0=", "timestamp too old"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := writeRequest(t, tc.req)
			args := append([]string{"verify", "-p", "stripe", "-r", file}, tc.args...)
			v := runCLI(t, "", args...)
			if want := map[bool]int{true: 0, false: 1}[tc.codes == nil]; v.code != want {
				t.Fatalf("exit %d, want %d: %+v", v.code, want, v)
			}
			for _, s := range tc.text {
				if !strings.Contains(v.out, s) {
					t.Errorf("output lacks %q:\n%s", s, v.out)
				}
			}
			if tc.reject != "" && strings.Contains(v.out, tc.reject) {
				t.Errorf("output says %q:\n%s", tc.reject, v.out)
			}
			j := runCLI(t, "", append(args, "-o", "json")...)
			var res fixtures.Result
			if err := json.Unmarshal([]byte(j.out), &res); err != nil {
				t.Fatalf("json: %v\n%s", err, j.out)
			}
			if got := faultCodes(res); !slices.Equal(got, tc.codes) || res.Valid != (tc.codes == nil) || res.AsOfSource != fixtures.AsOfGiven {
				t.Errorf("json faults %v (valid %v, as of %q), want %v:\n%s", got, res.Valid, res.AsOfSource, tc.codes, j.out)
			}
			if !strings.Contains(j.out, `"faults": [`) {
				t.Errorf("faults is not a list:\n%s", j.out)
			}
		})
	}
}

// TestVerifyEventReceiveTime: verify --event judges the timestamp as of
// when the relay received the event, as the inspector does; --at now
// judges it as of now. A real relay stores a real signed delivery.
func TestVerifyEventReceiveTime(t *testing.T) {
	relayURL := startTestRelay(t)
	const secret = "whsec_evt"
	r := signedStripe(t, secret, time.Now())
	req, err := http.NewRequest("POST", relayURL+"/h/verify-ep/stripe", bytes.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = r.Headers.HTTP()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ack struct{ ID string }
	if err := json.Unmarshal(body, &ack); err != nil || ack.ID == "" {
		t.Fatalf("relay answered %d %s", resp.StatusCode, body)
	}
	env := map[string]string{"HOOKCTL_RELAY": relayURL}
	run := func(args ...string) (int, fixtures.Result, string) {
		f, out, errOut := testFactory(t, env)
		later := time.Now().Add(time.Hour) // the event is an hour old by now
		f.Now = func() time.Time { return later }
		code := Run(t.Context(), append([]string{"verify", "-p", "stripe", "--secret", secret, "--event", ack.ID, "-o", "json"}, args...), f)
		var res fixtures.Result
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("%v: %s %s", err, out, errOut)
		}
		return code, res, out.String()
	}
	if code, res, out := run(); code != 0 || !res.Valid || res.AsOfSource != fixtures.AsOfReceived {
		t.Fatalf("as of receipt: exit %d\n%s", code, out)
	}
	code, res, out := run("--at", "now")
	if code != 1 || res.AsOfSource != fixtures.AsOfNow || !slices.Equal(faultCodes(res), []string{fixtures.CauseStale}) {
		t.Fatalf("--at now: exit %d\n%s", code, out)
	}
	// A replay edited after signing: its original proves what changed.
	app := newReplayApp(t)
	editor := filepath.Join(t.TempDir(), "ed.sh")
	os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/\"amount_paid\": 2000/\"amount_paid\": 1/' \"$1\"\n"), 0o755)
	code, rout, rerr := runWithEnv(t, map[string]string{"HOOKCTL_RELAY": relayURL, "EDITOR": editor}, "replay", ack.ID, "--to", app.URL, "--edit", "--output", "json")
	var rj replayRecord
	for _, line := range strings.Split(strings.TrimSpace(rout), "\n") {
		var rec replayRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("replay: %v %q", err, line)
		}
		if rec.Type == "replay" {
			rj = rec
		}
	}
	if code != 0 || rj.ID == "" || rj.ID == ack.ID {
		t.Fatalf("replay: exit %d %s %s", code, rout, rerr)
	}
	vf, vout, _ := testFactory(t, env)
	Run(t.Context(), []string{"verify", "-p", "stripe", "--secret", secret, "--event", rj.ID, "-o", "json"}, vf)
	var rres fixtures.Result
	if err := json.Unmarshal(vout.Bytes(), &rres); err != nil || rres.Valid || len(rres.Faults) != 1 || rres.Faults[0].Code != fixtures.CauseBodyModified ||
		!strings.Contains(rres.Faults[0].Message, "amount_paid is 1, was 2000") || !strings.Contains(rres.Faults[0].Message, ack.ID) {
		t.Fatalf("edited replay: %v\n%s", err, vout)
	}

	f, _, errOut := testFactory(t, env)
	if code := Run(t.Context(), []string{"verify", "-p", "stripe", "--secret", secret, "--event", ack.ID, "--at", "yesterday"}, f); code != ExitUsage || !strings.Contains(errOut.String(), "or now") {
		t.Fatalf("--at yesterday: exit %d %s", code, errOut)
	}
}
