package capture

import (
	"net/url"
	"strings"
	"testing"
)

func TestCheckPath(t *testing.T) {
	refused := []string{
		"/..", "/../admin", "/api/../../admin", "/.", "/a/./b", "/a/..",
		"/%2e%2e/admin", "/%2E%2E/admin", "/.%2e/x", "/%2e./x", "/%2e",
		`/a\..\b`, "/a%5c..%5cb", "/a%2F..%2Fb", "/a%2f..", "..", "../x",
	}
	for _, p := range refused {
		if err := CheckPath(p); err == nil || !strings.Contains(err.Error(), "segment") {
			t.Errorf("CheckPath(%q) = %v, want a dot-segment error", p, err)
		}
	}
	allowed := []string{
		"", "/", "/a..b", "/...", "/.well-known/x", "/..a", "/a.", "/v1.2/x", "/%2e%2e%2e", "/a/b.json",
		"/%2", "/%", "/a%2", "/%zz/..x", "//x", "/a%2Fb", "/file..", "/.hidden/..config",
	}
	for _, p := range allowed {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v, want nil", p, err)
		}
	}
}

// TestDotSegmentsNotDelivered: a captured path with a dot segment is not
// turned into a request, whatever the target's prefix.
func TestDotSegmentsNotDelivered(t *testing.T) {
	target, _ := url.Parse("http://127.0.0.1:3000/api")
	for _, p := range []string{"/../../admin", "/%2e%2e/admin", "/x/."} {
		r := &Request{Method: "POST", Path: p}
		if _, err := r.NewHTTPRequest(t.Context(), target); err == nil || !strings.Contains(err.Error(), "segment") {
			t.Errorf("path %q: NewHTTPRequest = %v, want a dot-segment error", p, err)
		}
	}
	r := &Request{Method: "POST", Path: "/v1..2/hook"}
	req, err := r.NewHTTPRequest(t.Context(), target)
	if err != nil || req.URL.Opaque != "/api/v1..2/hook" {
		t.Errorf("NewHTTPRequest = %v, %v; want /api/v1..2/hook", req, err)
	}
}

func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"/a/../b", "/%2e%2E", `/a\.`, "/a..b", "/%2f.%2f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := CheckPath(p)
		// A plain reading of the rule: decode, read \ as /, split.
		d := p
		if u, uerr := url.PathUnescape(p); uerr == nil {
			d = u
		} else {
			return // the rule decodes escapes one by one; PathUnescape refuses the whole
		}
		dot := false
		for _, s := range strings.FieldsFunc(strings.ReplaceAll(d, `\`, "/")+"/", func(r rune) bool { return r == '/' }) {
			dot = dot || s == "." || s == ".."
		}
		if (err != nil) != dot {
			t.Fatalf("CheckPath(%q) = %v, but the decoded path %q has a dot segment: %v", p, err, d, dot)
		}
	})
}
