package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// NO_COLOR disables colour when present and not empty (no-color.org), as
// fatih/color itself reads it.
func TestNoColorEnv(t *testing.T) {
	t.Setenv("TERM", "xterm")
	for val, want := range map[string]bool{"": false, "1": true, "false": true} {
		t.Setenv("NO_COLOR", val)
		if got := SystemIO().NoColor; got != want {
			t.Errorf("NO_COLOR=%q: NoColor = %v, want %v", val, got, want)
		}
	}
}

// The error printed at exit is coloured by stderr's own decision: a piped
// stderr stays plain while stdout is a terminal, and a terminal stderr is
// coloured while stdout is piped, unless NO_COLOR is set.
func TestPrintErrorUsesStderrColour(t *testing.T) {
	err := &HintError{Err: errors.New("boom"), HintText: "try again"}
	for _, tc := range []struct {
		name                 string
		stdoutTTY, stderrTTY bool
		noColor              bool
		wantColour           bool
	}{
		{"stdout tty, stderr piped", true, false, false, false},
		{"stdout piped, stderr tty", false, true, false, true},
		{"both tty, NO_COLOR", true, true, true, false},
	} {
		var stderr, stdout bytes.Buffer
		f := &Factory{IO: &IOStreams{Out: &stdout, ErrOut: &stderr,
			StdoutTTY: tc.stdoutTTY, StderrTTY: tc.stderrTTY, NoColor: tc.noColor}}
		f.printError(err)
		got := stderr.String()
		if !strings.Contains(got, "boom") || !strings.Contains(got, "try again") {
			t.Fatalf("%s: stderr %q lacks the error or its hint", tc.name, got)
		}
		if hasEsc := strings.Contains(got, "\x1b["); hasEsc != tc.wantColour {
			t.Errorf("%s: stderr %q: escape codes = %v, want %v", tc.name, got, hasEsc, tc.wantColour)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: printError wrote to stdout: %q", tc.name, stdout.String())
		}
	}
}
