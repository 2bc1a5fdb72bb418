package cli

import "testing"

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
