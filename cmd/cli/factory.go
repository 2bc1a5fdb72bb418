package cli

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/fatih/color"
	"github.com/mattn/go-isatty"
)

// Factory holds what commands take from the process. Commands receive it in
// their constructor and pass plain values further down.
type Factory struct {
	IO     *IOStreams
	Getenv func(string) string
	Now    func() time.Time

	// SetMaxProcs sets GOMAXPROCS (runtime.GOMAXPROCS); nil leaves the
	// process alone, as tests do.
	SetMaxProcs func(int)

	// ConfigDir and DataDir locate hookctl's config file and the embedded
	// relay's state. Empty means the platform default.
	ConfigDir string
	DataDir   string
}

// SystemFactory returns a Factory bound to the real process.
func SystemFactory() *Factory {
	return &Factory{
		IO:          SystemIO(),
		Getenv:      os.Getenv,
		Now:         time.Now,
		SetMaxProcs: func(n int) { runtime.GOMAXPROCS(n) },
	}
}

// ConfigPath returns the directory of hookctl's config file:
// $HOOKCTL_CONFIG_DIR, else the platform's user config dir + /hookctl.
func (f *Factory) ConfigPath() (string, error) {
	if f.ConfigDir != "" {
		return f.ConfigDir, nil
	}
	if d := f.Getenv("HOOKCTL_CONFIG_DIR"); d != "" {
		return d, nil
	}
	if d := f.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "hookctl"), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "hookctl"), nil
}

// DataPath returns the directory of the embedded relay's state:
// $HOOKCTL_DATA_DIR, else $XDG_DATA_HOME/hookctl, else ~/.local/share/hookctl
// (on macOS and Windows, the user config dir + /hookctl/data).
func (f *Factory) DataPath() (string, error) {
	if f.DataDir != "" {
		return f.DataDir, nil
	}
	if d := f.Getenv("HOOKCTL_DATA_DIR"); d != "" {
		return d, nil
	}
	if d := f.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "hookctl"), nil
	}
	if home, err := os.UserHomeDir(); err == nil && isXDGPlatform() {
		return filepath.Join(home, ".local", "share", "hookctl"), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "hookctl", "data"), nil
}

// IOStreams are the three standard streams plus what is known about them.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	StdinTTY  bool
	StdoutTTY bool
	StderrTTY bool
	NoColor   bool // NO_COLOR is set, or the caller asked for none

	// TermWidth, when set, reports the terminal's columns.
	TermWidth func() int
}

// SystemIO returns the process's streams.
func SystemIO() *IOStreams {
	noColor := os.Getenv("NO_COLOR") != "" // present and not empty (no-color.org)
	return &IOStreams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		StdinTTY:  isTerminal(os.Stdin),
		StdoutTTY: isTerminal(os.Stdout),
		StderrTTY: isTerminal(os.Stderr),
		NoColor:   noColor || os.Getenv("TERM") == "dumb",
	}
}

func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// ColorScheme holds the colours used on a stream. Each is a *color.Color
// with colouring forced on or off for this stream; the global color.NoColor
// is never consulted.
type ColorScheme struct {
	Enabled                                 bool
	Red, Green, Yellow, Blue, Cyan, Magenta *color.Color
	Bold, Faint                             *color.Color
}

// ColorScheme returns the colours for stdout: on only when stdout is a
// terminal and NO_COLOR is unset.
func (s *IOStreams) ColorScheme() *ColorScheme {
	return newColorScheme(s.StdoutTTY && !s.NoColor)
}

// ErrColorScheme returns the colours for stderr.
func (s *IOStreams) ErrColorScheme() *ColorScheme {
	return newColorScheme(s.StderrTTY && !s.NoColor)
}

func newColorScheme(enabled bool) *ColorScheme {
	mk := func(attrs ...color.Attribute) *color.Color {
		c := color.New(attrs...)
		if enabled {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c
	}
	return &ColorScheme{
		Enabled: enabled,
		Red:     mk(color.FgRed),
		Green:   mk(color.FgGreen),
		Yellow:  mk(color.FgYellow),
		Blue:    mk(color.FgBlue),
		Cyan:    mk(color.FgCyan),
		Magenta: mk(color.FgMagenta),
		Bold:    mk(color.Bold),
		Faint:   mk(color.Faint),
	}
}
