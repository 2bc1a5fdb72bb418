package cli

import (
	"os"
	"path/filepath"
	"regexp"
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
