package capture

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestRawRoundTrip(t *testing.T) {
	r := &Request{Method: "POST", Path: "/caf\xe9/\xff", Query: "q=\xe9&ok=1", Host: "h\xe9",
		Headers: Headers{{Name: "A", Value: "plain"}, {Name: "X-Name", Value: "caf\xe9"}, {Name: "X-Cut", Value: "ok\xe2\x82"}}}
	r.SetRaw()
	want := map[string][]byte{"path": []byte("/caf\xe9/\xff"), "query": []byte("q=\xe9&ok=1"), "host": []byte("h\xe9"),
		"header.1.name": []byte("X-Name"), "header.1.value": []byte("caf\xe9"),
		"header.2.name": []byte("X-Cut"), "header.2.value": []byte("ok\xe2\x82")}
	if !reflect.DeepEqual(r.Raw, want) {
		t.Fatalf("Raw = %q, want %q", r.Raw, want)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got Request
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Path == r.Path {
		t.Fatal("JSON carried the bytes: the test proves nothing")
	}
	got.RestoreRaw()
	if !reflect.DeepEqual(&got, r) {
		t.Errorf("restored %+v\nwant     %+v", got, r)
	}
	got.RestoreRaw() // twice is harmless
	if !reflect.DeepEqual(&got, r) {
		t.Errorf("restored twice %+v", got)
	}

	resp := &Response{Status: 200, Headers: Headers{{Name: "X-App", Value: "r\xe9sum\xe9"}}}
	resp.SetRaw()
	b, _ = json.Marshal(resp)
	var gotResp Response
	json.Unmarshal(b, &gotResp)
	gotResp.RestoreRaw()
	if gotResp.Headers[0].Value != "r\xe9sum\xe9" {
		t.Errorf("response header = %q", gotResp.Headers[0].Value)
	}
}

func TestRawNilWhenValid(t *testing.T) {
	r := &Request{Path: "/é", Query: "q=✓", Headers: Headers{{Name: "A", Value: "\ufffd"}}}
	r.SetRaw()
	resp := &Response{Headers: Headers{{Name: "A", Value: "b"}}}
	resp.SetRaw()
	if r.Raw != nil || resp.Raw != nil {
		t.Errorf("Raw = %q, %q; want nil", r.Raw, resp.Raw)
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "raw") {
		t.Errorf("JSON has raw: %s", b)
	}
}

// TestRawStaleIgnored: a Raw entry whose string was changed since SetRaw
// (an edited replay, a header removed before it) never overwrites it.
func TestRawStaleIgnored(t *testing.T) {
	r := &Request{Headers: Headers{{Name: "X-Drop", Value: "\xe9"}, {Name: "X-Keep", Value: "\ufffd"}}}
	r.SetRaw()
	b, _ := json.Marshal(r)
	var got Request
	json.Unmarshal(b, &got)
	got.Headers = got.Headers[1:] // X-Keep now at index 0, where X-Drop's bytes were
	got.Headers = append(got.Headers, Header{Name: "X-New", Value: "edited"})
	got.RestoreRaw()
	if got.Headers[0].Value != "\ufffd" || got.Headers[1].Value != "edited" {
		t.Errorf("headers = %q", got.Headers)
	}
	got = Request{Path: "/edited", Raw: map[string][]byte{"path": []byte("/caf\xe9")}}
	got.RestoreRaw()
	if got.Path != "/edited" {
		t.Errorf("path = %q", got.Path)
	}
}

// TestNewHTTPRequestSendsRawBytes: the request written to the app carries the
// exact bytes.
func TestNewHTTPRequestSendsRawBytes(t *testing.T) {
	r := &Request{Method: "POST", Path: "/caf\xe9", Query: "q=\xe9", Headers: Headers{{Name: "X-Name", Value: "caf\xe9"}}}
	target, _ := url.Parse("http://127.0.0.1:3000/base")
	req, err := r.NewHTTPRequest(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := req.Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "POST /base/caf\xe9?q=\xe9 HTTP/1.1\r\n") || !strings.Contains(out, "\r\nX-Name: caf\xe9\r\n") {
		t.Errorf("wrote %q", out)
	}
	if _, err := http.ReadRequest(bufio.NewReader(strings.NewReader(out))); err != nil {
		t.Errorf("Go cannot read it back: %v", err)
	}
}

// BenchmarkSetRaw is what ingress pays per webhook for a typical all-UTF-8
// request (GitHub's headers).
func BenchmarkSetRaw(b *testing.B) {
	r := &Request{Path: "/webhooks/github", Query: "x=1", Headers: Headers{
		{Name: "Accept", Value: "*/*"}, {Name: "Content-Type", Value: "application/json"},
		{Name: "User-Agent", Value: "GitHub-Hookshot/abc123"}, {Name: "X-Github-Delivery", Value: "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
		{Name: "X-Github-Event", Value: "push"}, {Name: "X-Github-Hook-Id", Value: "292430182"},
		{Name: "X-Github-Hook-Installation-Target-Id", Value: "79929171"}, {Name: "X-Github-Hook-Installation-Target-Type", Value: "repository"},
		{Name: "X-Hub-Signature", Value: "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6"},
		{Name: "X-Hub-Signature-256", Value: "sha256=d57c68ca6f92289e6987922ff26938930f6e66a2d161ef06abdf1859230aa23c"},
	}}
	for b.Loop() {
		r.SetRaw()
	}
	if r.Raw != nil {
		b.Fatal(r.Raw)
	}
}
