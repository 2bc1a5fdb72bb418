// Package glob is the one '*' wildcard matcher, shared by the CLI's header
// and JSON routes (tunnel) and the inspector's header filter (inspect/tui),
// so a pattern means the same thing in both.
package glob

import "strings"

// LiteralStar in a pattern matches a literal '*'. It is NUL, which cannot
// occur in a command-line argument, so a caller that reads escapes (\*)
// can mark one without a second pattern syntax.
const LiteralStar = '\x00'

// Match reports whether s matches pattern, where '*' matches any run of
// bytes (none included), LiteralStar a '*', and everything else itself,
// case-sensitively. Text around the stars must fit without overlapping:
// "ab*ba" does not match "aba".
func Match(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	for i := range parts {
		parts[i] = strings.ReplaceAll(parts[i], string(LiteralStar), "*")
	}
	if len(parts) == 1 {
		return s == parts[0]
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}
