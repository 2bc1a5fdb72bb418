package inspect

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable makes sender-written text (paths, header names and values, form
// fields, text bodies) safe to put on a terminal. Two kinds of character are
// shown as Go escapes instead of being written:
//
//   - controls (C0, DEL, C1), which a terminal acts on: ESC[2J clears the
//     screen, OSC 0 sets the window title, CR overwrites the line;
//   - invisible format characters (Unicode Cf, and the line and paragraph
//     separators U+2028/U+2029), which make the text shown lie: a right-to-left
//     override (U+202E) displays "/admin/‮txt.exe" as "/admin/exe.txt", a
//     zero-width space makes two different paths look the same.
//
// Invalid UTF-8 bytes are shown as \xNN. A tab is kept (it moves the cursor
// but hides nothing); newlines, and a CR right before one, are kept when
// multiline is set. Text without any of these is returned as is. Machine
// output (NDJSON, --json, exports) keeps the exact bytes and never goes
// through here.
func Printable(s string, multiline bool) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && !(multiline && lineEnd(s, i)) || c == 0x7f {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || hidden(r) && !joinsEmoji(s, i, n) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t' || multiline && lineEnd(s, i):
			// CRLF line ends (multipart bodies, many text formats) read as
			// line ends, not as a \x0d on every line.
			b.WriteByte(s[i])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case hidden(r) && joinsEmoji(s, i, n):
			b.WriteString(s[i : i+n])
		case hidden(r) && r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		case hidden(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// lineEnd reports whether s[i] is a newline or the CR of a CRLF.
func lineEnd(s string, i int) bool {
	return s[i] == '\n' || s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n'
}

// joinsEmoji reports whether s[i:i+n] is a zero-width joiner between two
// emoji ("👩‍💻" is woman, ZWJ, laptop): it is shown as it is, so emoji
// sequences in bodies stay readable. It hides nothing there: the joined
// emoji render as one picture or as two.
func joinsEmoji(s string, i, n int) bool {
	if s[i:i+n] != "\u200d" || i == 0 || i+n == len(s) {
		return false
	}
	prev, _ := utf8.DecodeLastRuneInString(s[:i])
	next, _ := utf8.DecodeRuneInString(s[i+n:])
	// Before the joiner an emoji may end in a variation selector or a
	// skin tone (Sk).
	return (unicode.Is(unicode.So, prev) || prev == 0xfe0f || unicode.Is(unicode.Sk, prev) && prev >= 0x1f3fb && prev <= 0x1f3ff) &&
		unicode.Is(unicode.So, next)
}

// hidden reports the non-ASCII runes Printable escapes: C1 controls, format
// characters (bidi embeddings, overrides, isolates and marks, zero-width
// space, joiners, word joiner, BOM, Arabic letter mark, tag characters) and
// the line and paragraph separators.
func hidden(r rune) bool {
	return r >= 0x80 && r <= 0x9f || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}
