package relay

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"

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
