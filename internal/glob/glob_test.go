package glob

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "x", false},
		{"push", "push", true},
		{"push", "Push", false},
		{"push", "pushed", false},
		{"*", "", true},
		{"*", "anything", true},
		{"**", "x", true},
		{"invoice.*", "invoice.paid", true},
		{"invoice.*", "invoice.", true},
		{"invoice.*", "invoices.paid", false},
		{"*.paid", "invoice.paid", true},
		{"*.paid", "invoice.paid.x", false},
		{"*push*", "a-push-b", true},
		{"*push*", "pus", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "a-b-b-c", true},
		{"a*b*c", "acb", false},
		{"ab*ba", "aba", false}, // prefix and suffix may not overlap
		{"ab*ba", "abba", true},
		{"a\x00b", "a*b", true}, // LiteralStar is a literal star
		{"a\x00b", "axb", false},
		{"a\x00*", "a*bc", true},
		{"a\x00*", "abc", false},
	} {
		if got := Match(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}
