package tui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
)

// Styles are the inspector's colours. Callers that must not colour (NO_COLOR)
// pass NewStyles with a renderer whose profile is termenv.Ascii.
type Styles struct {
	Title, URL, Faint, Bold                      lipgloss.Style
	Connected, Reconnecting, Offline, Paused     lipgloss.Style
	ColumnHeader, Selected                       lipgloss.Style
	Status2xx, Status3xx, Status4xx, Status5xx   lipgloss.Style
	StatusErr, Pending, Replay                   lipgloss.Style
	SigValid, SigInvalid, SigUnknown             lipgloss.Style
	Section                                      lipgloss.Style
	JSONKey, JSONString, JSONNumber, JSONLiteral lipgloss.Style
	Notice, Error                                lipgloss.Style

	// Help styles the key help; it is built from the same renderer so that
	// NO_COLOR reaches the footer too.
	Help help.Styles
}

// DefaultStyles returns the styles for the default renderer (stdout).
func DefaultStyles() Styles { return NewStyles(lipgloss.DefaultRenderer()) }

// NewStyles returns the default styles for renderer r.
func NewStyles(r *lipgloss.Renderer) Styles {
	s := r.NewStyle
	return Styles{
		Title:        s().Bold(true).Foreground(lipgloss.Color("213")),
		URL:          s().Underline(true),
		Faint:        s().Faint(true),
		Bold:         s().Bold(true),
		Connected:    s().Foreground(lipgloss.Color("2")),
		Reconnecting: s().Foreground(lipgloss.Color("3")),
		Offline:      s().Foreground(lipgloss.Color("1")),
		Paused:       s().Foreground(lipgloss.Color("3")).Bold(true),
		ColumnHeader: s().Faint(true).Bold(true),
		Selected:     s().Reverse(true),
		Status2xx:    s().Foreground(lipgloss.Color("2")),
		Status3xx:    s().Foreground(lipgloss.Color("6")),
		Status4xx:    s().Foreground(lipgloss.Color("3")),
		Status5xx:    s().Foreground(lipgloss.Color("1")),
		StatusErr:    s().Foreground(lipgloss.Color("1")).Bold(true),
		Pending:      s().Faint(true).Italic(true),
		Replay:       s().Foreground(lipgloss.Color("5")),
		SigValid:     s().Foreground(lipgloss.Color("2")),
		SigInvalid:   s().Foreground(lipgloss.Color("1")).Bold(true),
		SigUnknown:   s().Faint(true),
		Section:      s().Bold(true).Foreground(lipgloss.Color("4")),
		JSONKey:      s().Foreground(lipgloss.Color("4")),
		JSONString:   s().Foreground(lipgloss.Color("2")),
		JSONNumber:   s().Foreground(lipgloss.Color("6")),
		JSONLiteral:  s().Foreground(lipgloss.Color("5")),
		Notice:       s().Foreground(lipgloss.Color("6")),
		Error:        s().Foreground(lipgloss.Color("1")),
		Help: help.Styles{
			Ellipsis:       s().Foreground(lipgloss.Color("241")),
			ShortKey:       s().Foreground(lipgloss.Color("245")),
			ShortDesc:      s().Foreground(lipgloss.Color("241")),
			ShortSeparator: s().Foreground(lipgloss.Color("239")),
			FullKey:        s().Foreground(lipgloss.Color("245")),
			FullDesc:       s().Foreground(lipgloss.Color("241")),
			FullSeparator:  s().Foreground(lipgloss.Color("239")),
		},
	}
}
