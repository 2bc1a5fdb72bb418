package tui

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/lipgloss"

	"github.com/hookctl/hookctl/inspect"
)

// Limits on what the detail view renders of a body.
const (
	bodyShowLimit      = 256 << 10 // text shown
	bodyHighlightLimit = 64 << 10  // JSON highlighted token by token
	hexShowLimit       = 4 << 10   // binary bytes dumped
)

// renderBody renders a body for the detail view: JSON indented and
// highlighted, a form as its fields, text as is, anything else as a hex dump.
func renderBody(st *Styles, contentType string, body []byte) string {
	if len(body) == 0 {
		return st.Faint.Render("(no body)")
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case (strings.Contains(mt, "json") || mt == "" || mt == "text/plain") && json.Valid(body):
		var buf bytes.Buffer
		if len(body) <= bodyShowLimit && json.Indent(&buf, body, "", "  ") == nil {
			if buf.Len() <= bodyHighlightLimit {
				return highlightJSON(st, printable(buf.String(), true))
			}
			return printable(buf.String(), true)
		}
	case mt == "application/x-www-form-urlencoded" && isText(body):
		if s, ok := renderForm(st, string(body)); ok {
			return s
		}
	}
	if isText(body) {
		if len(body) > bodyShowLimit {
			return printable(string(body[:bodyShowLimit]), true) + "\n" + st.Faint.Render(fmt.Sprintf("… %d more bytes", len(body)-bodyShowLimit))
		}
		return printable(string(body), true)
	}
	n := min(len(body), hexShowLimit)
	s := strings.TrimRight(hex.Dump(body[:n]), "\n")
	if len(body) > n {
		s += "\n" + st.Faint.Render(fmt.Sprintf("… %d more bytes", len(body)-n))
	}
	return st.Faint.Render(fmt.Sprintf("binary, %d bytes", len(body))) + "\n" + s
}

func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return true
}

// renderForm lists form fields in the order sent, decoded.
func renderForm(st *Styles, s string) (string, bool) {
	var b strings.Builder
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, "&")
		if kv == "" {
			continue
		}
		k, v, hasValue := strings.Cut(kv, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return "", false
		}
		b.WriteString(st.JSONKey.Render(printable(dk, false)))
		if hasValue { // "x" is a bare key; "x=" an empty value
			b.WriteString(" = " + st.JSONString.Render(printable(dv, false)))
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n"), true
}

// highlightJSON colours indented JSON: keys, strings, numbers, literals.
func highlightJSON(st *Styles, s string) string {
	var b strings.Builder
	b.Grow(len(s) * 2)
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(s))
			tok := s[i:j]
			k := j
			for k < len(s) && s[k] == ' ' {
				k++
			}
			if k < len(s) && s[k] == ':' {
				b.WriteString(st.JSONKey.Render(tok))
			} else {
				b.WriteString(st.JSONString.Render(tok))
			}
			i = j
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && strings.IndexByte("0123456789.eE+-", s[j]) >= 0 {
				j++
			}
			b.WriteString(st.JSONNumber.Render(s[i:j]))
			i = j
		case c == 't' || c == 'f' || c == 'n':
			j := i
			for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
				j++
			}
			b.WriteString(st.JSONLiteral.Render(s[i:j]))
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// section is a heading line in the detail view.
func section(st *Styles, title string, width int) string {
	t := "── " + title + " "
	return st.Section.Render(t + strings.Repeat("─", max(width-lipgloss.Width(t), 0)))
}

// crlfTab lays out escaped text for the frame: a CRLF line end is a line
// end, and a tab four spaces, since a tab's width depends on the column it
// starts in and the frame's width is counted before the terminal sees it.
var crlfTab = strings.NewReplacer("\r\n", "\n", "\t", "    ")

// printable is inspect.Printable (controls and invisible characters shown
// escaped) laid out for the frame.
func printable(s string, multiline bool) string {
	s = inspect.Printable(s, multiline)
	if strings.ContainsAny(s, "\t\r") {
		s = crlfTab.Replace(s)
	}
	return s
}
