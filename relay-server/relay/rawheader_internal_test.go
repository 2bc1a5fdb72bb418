package relay

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// githubHead is a header block as GitHub sends it.
const githubHead = "POST /h/bench/hook HTTP/1.1\r\n" +
	"Host: relay.example.com\r\n" +
	"User-Agent: GitHub-Hookshot/a1b2c3d\r\n" +
	"Content-Length: 7000\r\n" +
	"Accept: */*\r\n" +
	"Content-Type: application/json\r\n" +
	"X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958\r\n" +
	"X-GitHub-Event: push\r\n" +
	"X-GitHub-Hook-ID: 292430182\r\n" +
	"X-GitHub-Hook-Installation-Target-ID: 79929171\r\n" +
	"X-GitHub-Hook-Installation-Target-Type: repository\r\n" +
	"X-Hub-Signature: sha1=7d38cdd689735b008b3c702edd92eea23791c5f6\r\n" +
	"X-Hub-Signature-256: sha256=d57c68ca6f92289e6987922ff26938930f6e66a2d161ef06abdf1859230aa23c\r\n" +
	"Accept-Encoding: gzip\r\n\r\n"

// oneRead is a connection whose first read returns data.
type oneRead struct {
	net.Conn
	data string
}

func (c *oneRead) Read(p []byte) (int, error) { return copy(p, c.data), nil }

// BenchmarkHeaderRecord is what a recorded request costs ingress: record
// the block as it is read, take it, pair its names with net/http's values.
// BenchmarkHeaderCanonical is the fallback, today's cost.
func BenchmarkHeaderRecord(b *testing.B) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(githubHead)))
	if err != nil {
		b.Fatal(err)
	}
	req.RequestURI = "/h/bench/hook"
	c := &recordConn{Conn: &oneRead{data: githubHead + strings.Repeat("x", 1000)}, limit: 1 << 20}
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		c.arm()
		c.Read(buf)
		hs, ok := rawHeaders(c.take(), req)
		if !ok || len(hs) != 12 || hs[5].Name != "X-GitHub-Event" {
			b.Fatalf("%v %q", ok, hs)
		}
	}
}

func BenchmarkHeaderCanonical(b *testing.B) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(githubHead)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if hs := capture.HeadersFrom(req.Header); len(hs) != 12 {
			b.Fatal(len(hs))
		}
	}
}

// A connection reads through a disarmed recorder: what a listen session
// pays per read.
func BenchmarkHeaderDisarmedRead(b *testing.B) {
	c := &recordConn{Conn: &oneRead{data: strings.Repeat("x", 512)}, limit: 1 << 20}
	buf := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		c.Read(buf)
	}
}

// chunkConn returns data in reads of at most n bytes.
type chunkConn struct {
	net.Conn
	data []byte
	n    int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[k:]
	return k, nil
}

// FuzzHeaderRecord is ingress's path for one request's bytes: recorded by
// a recordConn in reads of a fuzzed size under a fuzzed limit, parsed by
// net/http, paired by rawHeaders. The recorder must return exactly the
// header block or nothing, whatever the reads; rawHeaders must agree with
// wantRawHeaders, a plain reading of what it documents.
func FuzzHeaderRecord(f *testing.F) {
	f.Add([]byte(githubHead+strings.Repeat("x", 7000)), uint8(0), uint16(0))
	f.Add([]byte(githubHead), uint8(3), uint16(512))
	f.Add([]byte("POST /h/alpha/gh?a=1 HTTP/1.1\r\nHost: relay.test\r\nX-GitHub-Event: push\r\nx-dup: one\r\n"+
		"X-DUP: two\r\ncontent-length: 2\r\n\r\n{}"), uint8(1), uint16(0))
	f.Add([]byte("PUT /h/alpha/two HTTP/1.1\r\nuser-agent: Sender/2\r\nhost: relay.test\r\nTRANSFER-ENCODING: chunked\r\n"+
		"trailer: x-sum\r\nstripe-signature: t=1,v1=ab\r\n\r\n3\r\nabc\r\n0\r\nx-sum: 3\r\n\r\n"), uint8(7), uint16(0))
	f.Add([]byte("GET /h/alpha/pragma HTTP/1.1\r\nHost: x\r\npragma: no-cache\r\n\r\n"), uint8(0), uint16(0))
	f.Add([]byte("POST /h/a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"), uint8(0), uint16(0))
	// Malformed: LF endings, obs-fold, a bare CR, no end of the block.
	f.Add([]byte("POST /h/a HTTP/1.1\nHost: x\nX-A: 1\n\n"), uint8(0), uint16(0))
	f.Add([]byte("POST /h/a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n"), uint8(0), uint16(0))
	f.Add([]byte("POST /h/a HTTP/1.1\r\nHost: x\r\nX-A\r: 1\r\n\r\n"), uint8(0), uint16(0))
	f.Add([]byte("POST /h/a HTTP/1.1\r\nHost: x\r\nX-A:\n\r\n"), uint8(0), uint16(0)) // net/http takes the bare LF
	f.Add([]byte("POST /h/a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n"), uint8(0), uint16(16))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, limit16 uint16) {
		n, limit := int(chunk)+1, int(limit16)
		if limit == 0 {
			limit = MaxHeaderBytes + 4096
		}
		c := &recordConn{Conn: &chunkConn{data: data, n: n}, limit: limit}
		c.recording.Store(true)
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		block := c.take()

		// The block ends at the first CRLFCRLF, and is lost only when a
		// read that did not reach it took the recording past the limit.
		want := ""
		if end := bytes.Index(data, []byte("\r\n\r\n")) + 4; end >= 4 {
			want = string(data[:end])
			for b := n; b < end; b += n {
				if b > limit {
					want = ""
					break
				}
			}
		}
		if block != want {
			t.Fatalf("recorded %q (reads of %d, limit %d), want %q", block, n, limit, want)
		}
		if c.buf != nil || c.recording.Load() {
			t.Fatal("take left the recorder armed or holding a buffer")
		}

		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return // net/http answers 400; nothing is paired
		}
		for _, b := range []string{block, string(data)} {
			got, ok := rawHeaders(b, req)
			wantHs, wantOK := wantRawHeaders(b, req)
			if ok != wantOK || ok && !reflect.DeepEqual(got, wantHs) {
				t.Fatalf("rawHeaders(%q) = %q, %v; want %q, %v", b, got, ok, wantHs, wantOK)
			}
		}
	})
}

// wantRawHeaders is what rawHeaders documents, written plainly: block is
// req's request line, field lines and an empty line, each ending in CRLF;
// every field line is a token, a colon and a value; the names, leaving out
// those net/http took out of the map (Host, a chunked body's framing
// headers), are the map's keys as many times as each has values; the i-th
// name spelled any way gets its key's i-th value.
func wantRawHeaders(block string, req *http.Request) (capture.Headers, bool) {
	end := strings.Index(block, "\r\n\r\n")
	if end < 0 || end+4 != len(block) {
		return nil, false
	}
	lines := strings.Split(block[:end], "\r\n")
	if lines[0] != req.Method+" "+req.RequestURI+" "+req.Proto {
		return nil, false
	}
	var hs capture.Headers
	used := map[string]int{}
	for _, line := range lines[1:] {
		name, _, ok := strings.Cut(line, ":")
		if !ok || !httpguts.ValidHeaderFieldName(name) || strings.ContainsAny(line, "\n") {
			return nil, false
		}
		key := http.CanonicalHeaderKey(name)
		vs, kept := req.Header[key]
		if !kept && (key == "Host" || key == "Transfer-Encoding" || key == "Content-Length" || key == "Trailer") {
			continue
		}
		if used[key] >= len(vs) {
			return nil, false
		}
		hs = append(hs, capture.Header{Name: name, Value: vs[used[key]]})
		used[key]++
	}
	for key, vs := range req.Header {
		if used[key] != len(vs) {
			return nil, false
		}
	}
	if hs == nil {
		hs = capture.Headers{}
	}
	return hs, true
}
