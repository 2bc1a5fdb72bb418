package capture

import (
	"context"
	"strings"
	"testing"
)

// TestParseTarget is the one table for every flag that names where a request
// goes: --forward, --route targets and each command's --to.
func TestParseTarget(t *testing.T) {
	for in, want := range map[string]string{
		"3000":                              "http://localhost:3000",
		":3000":                             "http://localhost:3000",
		" 3000 ":                            "http://localhost:3000",
		"3000/":                             "http://localhost:3000/",
		"3007/edited":                       "http://localhost:3007/edited",
		":3007/x":                           "http://localhost:3007/x",
		"3000?token=t":                      "http://localhost:3000?token=t",
		"3000/hook?token=t":                 "http://localhost:3000/hook?token=t",
		"localhost":                         "http://localhost",
		"localhost:3000":                    "http://localhost:3000",
		"localhost:3000/prefix":             "http://localhost:3000/prefix",
		"127.0.0.1:8080":                    "http://127.0.0.1:8080",
		"[::1]:8080/h":                      "http://[::1]:8080/h",
		"3000.example.com":                  "http://3000.example.com",
		"app.test:8443/hooks":               "http://app.test:8443/hooks",
		"https://app.test:8443/hooks/":      "https://app.test:8443/hooks/",
		"http://localhost:3000/h?sig=a%2Fb": "http://localhost:3000/h?sig=a%2Fb",
		"HTTP://localhost:3000":             "http://localhost:3000",
	} {
		u, err := ParseTarget(in)
		if err != nil || u.String() != want {
			t.Errorf("ParseTarget(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for in, why := range map[string]string{
		"":                       "empty",
		"   ":                    "empty",
		"0":                      "out of range",
		"70000":                  "out of range",
		":0/x":                   "out of range",
		"localhost:99999":        "out of range",
		"localhost:":             "out of range",
		"http://localhost:0/x":   "out of range",
		":":                      "want a port",
		":abc":                   "want a port",
		"ftp://x":                "scheme",
		"http://":                "no host",
		"https://:3000":          "no host",
		"localhost:3000/#frag":   "fragment",
		"localhost:3000/x y\x7f": "invalid",
	} {
		_, err := ParseTarget(in)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseTarget(%q) = %v; want an error saying %q", in, err, why)
		}
	}
}

func TestTargetQueryComesFirst(t *testing.T) {
	for _, c := range []struct{ target, query, want string }{
		{"3000/h?token=t", "a=1", "token=t&a=1"},
		{"3000/h?token=t", "", "token=t"},
		{"3000/h", "a=1&a=2", "a=1&a=2"},
	} {
		u, err := ParseTarget(c.target)
		if err != nil {
			t.Fatal(err)
		}
		hr, err := (&Request{Method: "POST", Path: "/x", Query: c.query}).NewHTTPRequest(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		if hr.URL.RawQuery != c.want {
			t.Errorf("%s + ?%s: query %q, want %q", c.target, c.query, hr.URL.RawQuery, c.want)
		}
		if got := hr.URL.RequestURI(); !strings.HasPrefix(got, "/h/x") {
			t.Errorf("%s: request URI %q, want the path under /h", c.target, got)
		}
	}
}
