package replay

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// TestReplayAddsNoAcceptEncoding: the original request had no
// Accept-Encoding; Go's default transport would add "gzip" and then
// decompress the answer, so the app saw a header the sender never sent and
// the recorded response lost its Content-Encoding and its bytes.
func TestReplayAddsNoAcceptEncoding(t *testing.T) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte("hello"))
	zw.Close()
	var gotAE []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAE = r.Header.Values("Accept-Encoding")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(zipped.Bytes())
	}))
	defer srv.Close()
	target, _ := url.Parse(srv.URL)
	r := &capture.Request{ID: "evt_1", Method: "POST", Path: "/x", Body: []byte("{}"),
		Headers: capture.Headers{{Name: "Content-Type", Value: "application/json"}}}
	res, err := Run(t.Context(), r, Options{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	if len(gotAE) != 0 {
		t.Errorf("the app received Accept-Encoding %q; the original had none", gotAE)
	}
	resp := res[0].Response
	if !bytes.Equal(resp.Body, zipped.Bytes()) || resp.Headers.Get("Content-Encoding") != "gzip" {
		t.Errorf("recorded response was altered: body %q, Content-Encoding %q", resp.Body, resp.Headers.Get("Content-Encoding"))
	}
}

// A replay's recorded response is the engine's, as the tunnel records one:
// hop-by-hop headers dropped, a body past the limit cut and marked.
func TestReplayResponseAsForwarded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Write(bytes.Repeat([]byte("x"), 100))
	}))
	defer srv.Close()
	target, _ := url.Parse(srv.URL)
	r := &capture.Request{ID: "evt_1", Method: "POST", Path: "/x"}
	res, err := Run(t.Context(), r, Options{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	resp := res[0].Response
	for _, h := range []string{"Connection", "X-Hop", "Keep-Alive"} {
		if v := resp.Headers.Get(h); v != "" {
			t.Errorf("recorded response keeps hop-by-hop %s: %q", h, v)
		}
	}
	if len(resp.Body) != 100 || resp.Headers.Get(capture.TruncatedHeader) != "" {
		t.Errorf("whole body: %d bytes, %s %q", len(resp.Body), capture.TruncatedHeader, resp.Headers.Get(capture.TruncatedHeader))
	}
	res, err = Run(t.Context(), r, Options{Target: target, Client: &capture.Client{MaxResponseBody: 10}})
	if err != nil {
		t.Fatal(err)
	}
	if resp := res[0].Response; len(resp.Body) != 10 || resp.Headers.Get(capture.TruncatedHeader) != "100" {
		t.Errorf("cut body: %d bytes, %s %q; want 10 and 100", len(resp.Body), capture.TruncatedHeader, resp.Headers.Get(capture.TruncatedHeader))
	}
}
