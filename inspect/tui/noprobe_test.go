package tui

import (
	"io"
	"regexp"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// TestColoursIgnoreBackground: every frame is the same on a dark and a light
// background, so the inspector loses nothing by never asking the terminal
// which it has (hookctl decides from COLORFGBG; see package noprobe). A style
// with lipgloss.AdaptiveColor fails this test: it would need the answer.
func TestColoursIgnoreBackground(t *testing.T) {
	model := func(dark bool) *Model {
		r := lipgloss.NewRenderer(io.Discard)
		r.SetColorProfile(termenv.ANSI256)
		r.SetHasDarkBackground(dark)
		m, _ := fixture(t, 100, 30, WithStyles(NewStyles(r)), WithVerifier(fakeVerifier{}))
		return m
	}
	colour := regexp.MustCompile(`\x1b\[[0-9;]*3[0-8][;m]`) // a foreground
	dark, light := model(true), model(false)
	for _, k := range []string{"", "down", "enter", "tab", "esc", "?", "esc", "/"} {
		if k != "" {
			send(dark, press(k))
			send(light, press(k))
		}
		d, l := dark.View(), light.View()
		if !colour.MatchString(d) {
			t.Fatalf("no colour after %q: %q", k, d)
		}
		if d != l {
			t.Fatalf("after %q the frame depends on the background:\ndark:  %q\nlight: %q", k, d, l)
		}
	}
}
