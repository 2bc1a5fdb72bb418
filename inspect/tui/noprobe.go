package tui

import (
	"os"

	"github.com/muesli/termenv"

	"github.com/hookctl/hookctl/inspect/tui/internal/noprobe"
)

// By now bubbletea's init has run with TERM=dumb, so it did not query the
// terminal (see package noprobe). Put TERM back, and termenv's default
// Output, whose colour profile was chosen for "dumb", as they would have been.
func init() {
	noprobe.Restore()
	termenv.SetDefaultOutput(termenv.NewOutput(os.Stdout))
}
