package cli

import (
	"encoding/json"
	"encoding/xml"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookctl/hookctl/fixtures/check"
)

func TestCheckCommand(t *testing.T) {
	const secret = "whsec_check"
	_, srv := newReceiver(t, "stripe", secret)
	junit := filepath.Join(t.TempDir(), "report.xml")
	r := runCLI(t, "", "check", "--to", srv.URL+"/hooks", "--provider", "stripe", "--secret", secret,
		"--skip", "duplicate-delivery,oversized-body,malformed-json", "--junit", junit, "--ack-warn", "20s", "--ack-fail", "30s")
	// The test receiver verifies but does not parse JSON or dedupe; the
	// skipped checks would fail on it. Everything else passes.
	if r.code != 0 || !strings.Contains(r.out, "✓ pass  valid-signature") || !strings.Contains(r.out, "0 failed") {
		t.Fatalf("%+v", r)
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests int `xml:"tests,attr"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil || doc.Tests != 8 {
		t.Errorf("junit: %v tests=%d\n%s", err, doc.Tests, data)
	}

	// A wrong secret fails the valid check: exit 1, one NDJSON record per check.
	r = runCLI(t, "", "check", "--to", srv.URL, "--provider", "stripe", "--secret", "whsec_other",
		"--only", "valid-signature,wrong-secret", "-o", "json")
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.code != 1 || len(lines) != 3 {
		t.Fatalf("%+v", r)
	}
	var rec struct{ Type, Name, Status, Verdict, Hint string }
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec.Type != "check" || rec.Name != "valid-signature" || rec.Status != "fail" || rec.Verdict != "fail" || rec.Hint == "" {
		t.Errorf("%q: %v", lines[0], err)
	}
	if keys := jsonKeys(t, lines[0]); keys != "duration_ns,evidence,hint,name,status,statuses,title,type,verdict" {
		t.Errorf("check record keys %s", keys)
	}
	var sum summaryRecord
	if err := json.Unmarshal([]byte(lines[2]), &sum); err != nil || sum.Type != "summary" || sum.Verdict != "fail" || sum.Count != 2 ||
		sum.Passed != 1 || sum.Failed != 1 || sum.Errors != 0 || sum.SummaryChecks == nil || sum.Warned != 0 || sum.Skipped != 0 {
		t.Errorf("summary %q: %v", lines[2], err)
	}
	if keys := jsonKeys(t, lines[2]); keys != "count,errors,failed,passed,skipped,type,verdict,warned" {
		t.Errorf("summary keys %s", keys)
	}
	// A run that passes says so.
	r = runCLI(t, "", "check", "--to", srv.URL, "--provider", "stripe", "--secret", secret, "--only", "valid-signature,wrong-secret", "--json")
	lines = strings.Split(strings.TrimSpace(r.out), "\n")
	sum = summaryRecord{}
	if r.code != 0 || len(lines) != 3 || json.Unmarshal([]byte(lines[2]), &sum) != nil || sum.Verdict != "pass" || sum.Passed != 2 {
		t.Errorf("passing run: %+v", r)
	}

	r = runCLI(t, "", "check", "--to", srv.URL, "--provider", "stripe", "--secret", secret, "--only", "nope")
	if r.code != 2 || !strings.Contains(r.err, `unknown check "nope"`) {
		t.Errorf("%+v", r)
	}
	// A bad provider or event is a usage error too, as the help says.
	for _, bad := range [][]string{{"--provider", "nope"}, {"--provider", "stripe", "--event", "nope"}} {
		r = runCLI(t, "", append([]string{"check", "--to", srv.URL, "--secret", secret}, bad...)...)
		if r.code != 2 || !strings.Contains(r.err, `unknown`) {
			t.Errorf("%v: %+v", bad, r)
		}
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	r = runCLI(t, "", "check", "--to", addr, "--provider", "stripe", "--secret", secret)
	if r.code != 1 || !strings.Contains(r.err, "Error: connection refused: is your app listening on "+addr+"?") || strings.Contains(r.err, "Hint:") {
		t.Errorf("%+v", r)
	}
}

// TestCheckWarningsAndErrors: a warning passes the run unless --strict; an
// endpoint that cannot be reached is reported as errors (status "error",
// JUnit <error>), not failures, and exits 1.
func TestCheckWarningsAndErrors(t *testing.T) {
	const secret = "whsec_check"
	_, srv := newReceiver(t, "stripe", secret)
	// The test receiver does not parse JSON: malformed JSON is accepted, a
	// warning.
	args := []string{"check", "--to", srv.URL, "--provider", "stripe", "--secret", secret, "--only", "valid-signature,malformed-json"}
	r := runCLI(t, "", args...)
	if r.code != 0 || !strings.Contains(r.out, "! warn  malformed-json") || !strings.Contains(r.out, "1 passed, 1 warned, 0 failed, 0 skipped\n") {
		t.Fatalf("without --strict: %+v", r)
	}
	junit := filepath.Join(t.TempDir(), "strict.xml")
	r = runCLI(t, "", append(args, "--strict", "--junit", junit)...)
	if r.code != 1 || !strings.Contains(r.err, "1 warning fails the run (--strict)") {
		t.Fatalf("--strict: %+v", r)
	}
	// In JSON the summary counts the warning, and with --strict fails.
	for _, strict := range []bool{false, true} {
		a := append(append([]string{}, args...), "--json")
		want := "pass"
		if strict {
			a, want = append(a, "--strict"), "fail"
		}
		r = runCLI(t, "", a...)
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		// The warning's record: verdict pass, or fail with --strict.
		var warned struct{ Status, Verdict string }
		if err := json.Unmarshal([]byte(lines[1]), &warned); err != nil || warned.Status != "warn" || warned.Verdict != want {
			t.Errorf("strict=%v: warned record %q: %v", strict, lines[1], err)
		}
		var sum summaryRecord
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Type != "summary" || sum.Verdict != want ||
			sum.Count != 2 || sum.Passed != 1 || sum.Warned != 1 || sum.Failed != 0 {
			t.Errorf("strict=%v: summary %q: %v", strict, lines[len(lines)-1], err)
		}
	}
	if data, _ := os.ReadFile(junit); !strings.Contains(string(data), `type="CheckWarning"`) {
		t.Errorf("--strict report:\n%s", data)
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	junit = filepath.Join(t.TempDir(), "down.xml")
	r = runCLI(t, "", "check", "--to", addr, "--provider", "stripe", "--secret", secret, "--only", "valid-signature,burst",
		"-o", "json", "--junit", junit)
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	if r.code != 1 || len(lines) != 3 || !strings.Contains(r.err, "Error: connection refused: is your app listening on "+addr+"?") {
		t.Fatalf("unreachable: %+v", r)
	}
	for _, l := range lines[:2] {
		var rec struct{ Type, Name, Status, Verdict, Evidence string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Type != "check" || rec.Status != "error" || rec.Verdict != "error" || !strings.Contains(rec.Evidence, "connection refused") {
			t.Errorf("%q: %v", l, err)
		}
	}
	var sum summaryRecord
	if err := json.Unmarshal([]byte(lines[2]), &sum); err != nil || sum.Type != "summary" || sum.Verdict != "fail" || sum.Count != 2 || sum.Errors != 2 || sum.Passed != 0 {
		t.Errorf("unreachable summary %q: %v", lines[2], err)
	}
	data, _ := os.ReadFile(junit)
	if s := string(data); !strings.Contains(s, `errors="2"`) || !strings.Contains(s, `<error message="not run: `) || strings.Contains(s, "<failure") {
		t.Errorf("unreachable report:\n%s", s)
	}
}

// TestCheckResultLines: every verdict, error included, keeps the names in
// one column.
func TestCheckResultLines(t *testing.T) {
	var b strings.Builder
	for _, st := range []check.Status{check.Pass, check.Warn, check.Fail, check.Error, check.Skip} {
		writeCheckResult(&b, newColorScheme(false), check.Result{Name: "burst", Title: "t", Status: st, Evidence: "e"})
	}
	want := "✓ pass  burst               t\n        e\n" +
		"! warn  burst               t\n        e\n" +
		"✗ fail  burst               t\n        e\n" +
		"? error burst               t\n        e\n" +
		"- skip  burst               t\n        e\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
