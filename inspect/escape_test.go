package inspect

import "testing"

func TestPrintable(t *testing.T) {
	for _, c := range []struct {
		in        string
		multiline bool
		want      string
	}{
		{"/plain/path?q=é&x=日本", false, "/plain/path?q=é&x=日本"},
		{"/h\x1b[2J", false, `/h\x1b[2J`},
		{"a\u009b2Jb", false, `a\u009b2Jb`},
		{"tab\there", false, "tab\there"},
		{"a\nb", false, `a\x0ab`},
		{"a\r\nb\r", true, "a\r\nb\\x0d"},
		{"a\rb\r\n", false, `a\x0db\x0d\x0a`},
		// A right-to-left override displayed "/files/‮fdp.exe" as
		// "/files/exe.pdf".
		{"/files/\u202efdp.exe", false, `/files/\u202efdp.exe`},
		{"\u202a\u202b\u202c\u202d\u202e", false, `\u202a\u202b\u202c\u202d\u202e`},
		{"\u2066x\u2067y\u2068z\u2069", false, `\u2066x\u2067y\u2068z\u2069`},
		{"a\u200bb\u200cc\u200dd\u200ee\u200ff", false, `a\u200bb\u200cc\u200dd\u200ee\u200ff`},
		// A joiner between emoji is part of the emoji; elsewhere it hides.
		{"👩\u200d💻 👍🏽\u200d👍 ❤️\u200d🔥", false, "👩\u200d💻 👍🏽\u200d👍 ❤️\u200d🔥"},
		{"\u200d💻 👩\u200d 👩\u200da a\u200d💻", false, `\u200d💻 👩\u200d 👩\u200da a\u200d💻`},
		{"line\u2028para\u2029end", true, `line\u2028para\u2029end`},
		{"\ufeff{}", true, `\ufeff{}`},
		{"\u061c\u2060\u00ad", false, `\u061c\u2060\u00ad`},
		{"tag\U000e0041", false, `tag\U000e0041`},
		{"bad\x9bbyte\xff", false, `bad\x9bbyte\xff`},
		// Right-to-left text itself is not hidden and stays as sent.
		{"שלום مرحبا", false, "שלום مرحبا"},
	} {
		if got := Printable(c.in, c.multiline); got != c.want {
			t.Errorf("Printable(%q, %v) = %q, want %q", c.in, c.multiline, got, c.want)
		}
	}
}
