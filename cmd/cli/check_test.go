package cli

import (
	"encoding/json"
	"encoding/xml"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	if r.code != 1 || len(lines) != 2 {
		t.Fatalf("%+v", r)
	}
	var rec struct{ Name, Status, Hint string }
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec.Name != "valid-signature" || rec.Status != "fail" || rec.Hint == "" {
		t.Errorf("%q: %v", lines[0], err)
	}

	r = runCLI(t, "", "check", "--to", srv.URL, "--provider", "stripe", "--secret", secret, "--only", "nope")
	if r.code != 2 || !strings.Contains(r.err, `unknown check "nope"`) {
		t.Errorf("%+v", r)
	}

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	r = runCLI(t, "", "check", "--to", addr, "--provider", "stripe", "--secret", secret)
	if r.code != 1 || !strings.Contains(r.err, "connection refused") || !strings.Contains(r.err, "Hint: is your app listening on "+addr) {
		t.Errorf("%+v", r)
	}
}
