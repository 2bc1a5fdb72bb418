// Package noprobe keeps Bubble Tea v1 from querying the terminal when a
// program starts.
//
// bubbletea v1.3.10's package init (tea_init.go) calls
// lipgloss.HasDarkBackground, which makes termenv write an OSC 11
// background-colour query and a cursor-position request to stdout and wait
// up to termenv.OSCTimeout (5 s) for the answer. Every binary that links
// bubbletea pays it before main runs, whatever the command; in a terminal
// that never answers (script, docker run -t, some CI and editor ptys) that
// is a 5 s stall and escape sequences in the output. bubbletea offers no
// option to turn it off (v2 drops the query).
//
// termenv does not query when $TERM starts with "dumb". This package's
// init sets TERM=dumb, and Restore, called from an init of a package that
// imports bubbletea, puts it back. The order is the language's: packages
// are initialised in import-path order, each once its imports are, so a
// package that imports nothing but the standard library (this one) is
// initialised before github.com/muesli/termenv, which imports "os" too
// (https://go.dev/ref/spec#Package_initialization), and bubbletea, which
// imports termenv, comes later still. The query is then answered from
// COLORFGBG, or dark by default, without touching the terminal.
//
// Only init-time readers of TERM between the two see "dumb": fatih/color
// sets its global color.NoColor, which hookctl never consults, and termenv's
// default Output picks the Ascii profile, which package tui replaces.
package noprobe

import "os"

var term, hadTerm = os.LookupEnv("TERM")

func init() {
	os.Setenv("TERM", "dumb")
}

// Restore puts $TERM back as it was before this package's init.
func Restore() {
	if hadTerm {
		os.Setenv("TERM", term)
	} else {
		os.Unsetenv("TERM")
	}
}
