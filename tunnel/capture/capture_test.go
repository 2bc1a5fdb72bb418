package capture

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestRequestLineKeepsPathAsSent writes the forwarded request and checks the
// request line byte for byte, including paths that start with "//".
func TestRequestLineKeepsPathAsSent(t *testing.T) {
	for _, tc := range []struct {
		prefix, path, query string
		force               bool
		want                string
	}{
		{"", "/a%2Fb/c%20d", "x=%zz&y", false, "/a%2Fb/c%20d?x=%zz&y"},
		{"", "//double//slash", "", false, "//double//slash"},
		{"/api/", "/hook", "", false, "/api/hook"},
		{"", "", "", false, "/"},
		{"", "/empty-query", "", true, "/empty-query?"},
		{"", "//double", "", true, "//double?"},
	} {
		target, _ := url.Parse("http://localhost:3000" + tc.prefix)
		r := &Request{Method: "POST", Path: tc.path, Query: tc.query, ForceQuery: tc.force, Body: []byte("b"), Host: "relay.test", Proto: "https", RemoteAddr: "192.0.2.1:5555"}
		if got := r.URI(); tc.prefix == "" && tc.path != "" && got != tc.want {
			t.Errorf("URI() = %q, want %q", got, tc.want)
		}
		req, err := r.NewHTTPRequest(context.Background(), target)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := req.Write(&b); err != nil {
			t.Fatal(err)
		}
		line, _, _ := strings.Cut(b.String(), "\r\n")
		if want := "POST " + tc.want + " HTTP/1.1"; line != want {
			t.Errorf("request line %q, want %q", line, want)
		}
		parsed, err := http.ReadRequest(bufio.NewReader(strings.NewReader(b.String())))
		if err != nil {
			t.Fatal(err)
		}
		if parsed.Host != "localhost:3000" || parsed.Header.Get("X-Forwarded-Host") != "relay.test" ||
			parsed.Header.Get("X-Forwarded-Proto") != "https" || parsed.Header.Get("X-Forwarded-For") != "192.0.2.1" {
			t.Errorf("host %q headers %v", parsed.Host, parsed.Header)
		}
		if _, ok := parsed.Header["User-Agent"]; ok {
			t.Errorf("User-Agent added: %v", parsed.Header)
		}
	}
}

func TestResponseTruncate(t *testing.T) {
	r := &Response{
		Status:  200,
		Headers: Headers{{Name: "Content-Length", Value: "10"}, {Name: "X-A", Value: "1"}},
		Body:    []byte("0123456789"),
	}
	r.Truncate(10, 0)
	if len(r.Body) != 10 || len(r.Headers) != 2 {
		t.Fatalf("a body at the limit was changed: %q %v", r.Body, r.Headers)
	}
	r.Truncate(4, 0)
	if string(r.Body) != "0123" {
		t.Errorf("body %q, want 0123", r.Body)
	}
	want := Headers{{Name: "X-A", Value: "1"}, {Name: TruncatedHeader, Value: "10"}}
	if !reflect.DeepEqual(r.Headers, want) {
		t.Errorf("headers %v, want %v", r.Headers, want)
	}
	// Cutting again keeps one TruncatedHeader; the real size the caller
	// knows wins over the length in hand.
	r.Truncate(2, 1000)
	want[1].Value = "1000"
	if string(r.Body) != "01" || !reflect.DeepEqual(r.Headers, want) {
		t.Errorf("second cut: %q %v", r.Body, r.Headers)
	}
}

func TestHeadersInOrder(t *testing.T) {
	h := http.Header{"X-Github-Event": {"push"}, "X-Dup": {"1", "2"}, "Content-Type": {"a/b"}}
	got, ok := HeadersInOrder([]string{"x-dup", "X-GitHub-Event", "content-type", "X-DUP"}, h)
	want := Headers{{"x-dup", "1"}, {"X-GitHub-Event", "push"}, {"content-type", "a/b"}, {"X-DUP", "2"}}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("HeadersInOrder = %q %v, want %q", got, ok, want)
	}
	for _, names := range [][]string{
		{"x-dup", "X-GitHub-Event", "content-type"},                   // a value left over
		{"x-dup", "X-GitHub-Event", "content-type", "X-DUP", "x-dup"}, // a name too many
		{"x-dup", "X-GitHub-Event", "content-type", "X-Other"},        // a name h lacks
		{"x-dup", "x-dup", "x-dup", "content-type"},                   // counts differ
	} {
		if got, ok := HeadersInOrder(names, h); ok {
			t.Errorf("HeadersInOrder(%q) = %q, want not ok", names, got)
		}
	}
}

// Names are forwarded as captured, except those Go's client manages, and
// hop-by-hop names go whatever their case.
func TestForwardedHeaderNames(t *testing.T) {
	r := &Request{Method: "POST", Path: "/", Body: []byte("b"), RemoteAddr: "192.0.2.1:5555", Headers: Headers{
		{"X-GitHub-Event", "push"}, {"x-dup", "1"}, {"X-DUP", "2"}, {"user-agent", "UA/1"},
		{"connection", "x-hop, keep-alive"}, {"X-HOP", "h"}, {"keep-alive", "5"}, {"transfer-encoding", "chunked"},
		{"x-forwarded-for", "198.51.100.1"}, {"content-length", "99"}, {"accept-encoding", "br"},
	}}
	req, err := r.NewHTTPRequest(context.Background(), &url.URL{Scheme: "http", Host: "localhost:3000"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := req.Write(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\r\n")
	want := []string{"POST / HTTP/1.1", "Host: localhost:3000", "User-Agent: UA/1", "Content-Length: 1",
		"Accept-Encoding: br", "X-Forwarded-For: 198.51.100.1, 192.0.2.1", "X-GitHub-Event: push", "x-dup: 1", "x-dup: 2", "", "b"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("written\n%q, want\n%q", lines, want)
	}
}
