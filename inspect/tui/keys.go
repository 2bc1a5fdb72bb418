package tui

import "github.com/charmbracelet/bubbles/key"

// KeyMap is the inspector's key bindings. It implements help.KeyMap.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Open, Back                              key.Binding
	Replay, ReplayFailed, Edit, Copy        key.Binding
	Filter, Pause, Help, Quit               key.Binding
}

// DefaultKeyMap returns the default bindings.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:           key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:         key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:       key.NewBinding(key.WithKeys("pgup", "b"), key.WithHelp("pgup", "page up")),
		PageDown:     key.NewBinding(key.WithKeys("pgdown", "f", " "), key.WithHelp("pgdn", "page down")),
		Top:          key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "oldest")),
		Bottom:       key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "newest, follow")),
		Open:         key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Back:         key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Replay:       key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "replay")),
		Edit:         key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit")),
		ReplayFailed: key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "replay failed in view")),
		Copy:         key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "curl")),
		Filter:       key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Pause:        key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause")),
		Help:         key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:         key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// ShortHelp is the one-line help in the footer.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Open, k.Replay, k.Edit, k.Copy, k.Filter, k.Pause, k.Help, k.Quit}
}

// DetailHelp is the footer help in the detail view.
func (k KeyMap) DetailHelp() []key.Binding {
	return []key.Binding{k.Back, k.Up, k.Down, k.Replay, k.Edit, k.Copy, k.Quit}
}

// FullHelp is the help screen.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Open, k.Back, k.Filter, k.Help, k.Quit},
		{k.Replay, k.ReplayFailed, k.Edit, k.Copy, k.Pause},
	}
}
