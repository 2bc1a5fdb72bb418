package cli

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// --json and -o json are one flag: the same output on every command, and
// -o log is -o text. Figures that vary from run to run (latencies) are
// blanked before comparing.
func TestOutputSpellingsAgree(t *testing.T) {
	const secret = "gh"
	_, srv := newReceiver(t, "github", secret)
	req := runCLI(t, "", "fire", "github", "push", "--secret", secret, "--print", "--timestamp", "1700000000")
	file := filepath.Join(t.TempDir(), "req.http")
	if err := os.WriteFile(file, []byte(req.out), 0o600); err != nil {
		t.Fatal(err)
	}
	volatile := regexp.MustCompile(`"(latency_ms|p50_ms|p95_ms|p99_ms|max_ms|elapsed_ms|rate|duration_ns)":[0-9.e+-]+|[0-9.]+(µs|ms|s)\b|[0-9]+ req/s`)
	for name, args := range map[string][]string{
		"version":  {"version"},
		"fixtures": {"fixtures", "list", "github"},
		"verify":   {"verify", "--provider", "github", "--secret", secret, "--request", file, "--at", "1700000000"},
		"fire":     {"fire", "github", "push", "--to", srv.URL, "--secret", secret, "--count", "2"},
		"check":    {"check", "--to", srv.URL, "--provider", "github", "--secret", secret, "--only", "valid-signature,tampered-body"},
	} {
		run := func(extra ...string) testRun {
			r := runCLI(t, "", append(append([]string{}, args...), extra...)...)
			r.out = volatile.ReplaceAllString(r.out, "N")
			r.err = volatile.ReplaceAllString(r.err, "N")
			return r
		}
		short, long := run("--json"), run("-o", "json")
		if short != long || short.out == "" {
			t.Errorf("%s: --json %+v\n-o json %+v", name, short, long)
		}
		text, logs := run("-o", "text"), run("-o", "log")
		if def := run(); text != logs || text != def || text == short {
			t.Errorf("%s: -o text %+v\n-o log %+v\ndefault %+v", name, text, logs, def)
		}
		if c := run("--json", "-o", "text"); c.code != ExitUsage || c.out != "" {
			t.Errorf("%s: --json -o text: %+v", name, c)
		}
	}
}

// lastSummary decodes the last line of a JSON stream as its summary.
func lastSummary(t *testing.T, out string) summaryRecord {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var sum summaryRecord
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Type != recordSummary {
		t.Fatalf("last line %q is not a summary: %v", lines[len(lines)-1], err)
	}
	return sum
}

// A stream that stops on an error still ends with its summary, and the
// verdict matches the exit code: fire whose request cannot be built, a
// bulk replay that meets an event it cannot send, check with nothing
// selected and nothing listening.
func TestErrorsEndWithFailSummary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()

	app := newReplayApp(t)
	r := runCLI(t, "", "fire", "github", "push", "--to", app.URL, "--secret", "s", "--count", "3", "--set", "ref={{env HOOKCTL_TEST_NOPE}}", "-o", "json")
	if sum := lastSummary(t, r.out); r.code != ExitError || sum.Verdict != verdictFail || !strings.Contains(r.err, "HOOKCTL_TEST_NOPE is not set") {
		t.Errorf("fire, build error: exit %d, %+v\n%s", r.code, sum, r.err)
	}

	good := storedStripeEvent(t)
	bad := storedStripeEvent(t)
	bad.Request.ID, bad.Request.Path = "evt_bad", "/a/../b"
	api := newFakeEventsAPI(t, good, bad)
	code, out, errOut := runWithEnv(t, map[string]string{"HOOKCTL_RELAY": api.URL}, "replay", "evt_stripe1", "evt_bad", "--to", app.URL, "--json")
	if sum := lastSummary(t, out); code != ExitError || sum.Verdict != verdictFail || sum.Count != 1 || sum.Passed != 1 || !strings.Contains(errOut, "evt_bad (2 of 2)") {
		t.Errorf("replay, error mid-bulk: exit %d, %+v\n%s\n%s", code, sum, out, errOut)
	}

	r = runCLI(t, "", "check", "--to", down, "--provider", "stripe", "--secret", "s", "--only", "burst", "--skip", "burst", "-o", "json")
	if sum := lastSummary(t, r.out); r.code != ExitError || sum.Verdict != verdictFail || sum.Count != 0 {
		t.Errorf("check, empty selection, nothing listening: exit %d, %+v", r.code, sum)
	}
}
