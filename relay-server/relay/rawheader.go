package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// net/http hands handlers canonical header names in a map, which loses the
// case and the order the sender wrote. To capture them as sent, each plain
// TCP connection is a recordConn: while armed, it copies the bytes read
// from the socket up to the end of the header block (CRLFCRLF), then stops.
// Ingress takes that block, checks it is this request's (same request line,
// same names net/http parsed, same count per name) and pairs its names, in
// order, with net/http's values. Anything that does not line up exactly
// falls back to canonical names: values always come from net/http.
//
// A connection is armed when it is accepted, and again after a request
// whose body was read to its end (ingress) or that had none (API, not the
// listen websocket), so the next byte read from it is the first of the next
// request or later. The handler takes the block before it reads the body,
// so body bytes are never recorded. A block that starts late (bytes
// net/http read ahead, pipelining) lacks the exact request line or some
// names and does not match. Anything else (a body net/http discards after
// a 4xx, a hijacked websocket) leaves the connection disarmed for good:
// its reads then cost one atomic load. TLS
// connections are not wrapped (net/http needs the *tls.Conn), so HTTPS
// ingress keeps canonical names; HTTP/2 names are lower case on the wire
// anyway.

// recordListener wraps each accepted plain connection in a recordConn.
type recordListener struct {
	net.Listener
	limit int // bytes recorded at most: the server's header limit
}

func (l recordListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	if _, isTLS := c.(*tls.Conn); isTLS {
		return c, nil
	}
	rc := &recordConn{Conn: c, limit: l.limit}
	rc.recording.Store(true)
	return rc, nil
}

// recordConn is a connection that can record the next request's header
// block. Reads come from net/http's connection goroutine and its
// background reader; the handler takes the block on its own goroutine.
type recordConn struct {
	net.Conn
	limit     int
	recording atomic.Bool // mu's state, readable without it

	mu  sync.Mutex
	buf *[]byte // from headerBufs; nil until something is recorded
	// done: buf holds a whole header block; bad: what was recorded cannot
	// be a header block (over the limit).
	done, bad bool
}

var headerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func (c *recordConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.recording.Load() {
		c.record(p[:n])
	}
	return n, err
}

func (c *recordConn) record(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.recording.Load() { // taken while the read was blocked
		return
	}
	if c.buf == nil {
		c.buf = headerBufs.Get().(*[]byte)
	}
	from := max(len(*c.buf)-3, 0)
	*c.buf = append(*c.buf, p...)
	if i := bytes.Index((*c.buf)[from:], []byte("\r\n\r\n")); i >= 0 {
		*c.buf = (*c.buf)[:from+i+4]
		c.done = true
		c.recording.Store(false)
		return
	}
	if len(*c.buf) > c.limit {
		c.bad = true
		c.recording.Store(false)
	}
}

// take stops recording and returns the recorded header block, or "" when
// there is no whole one.
func (c *recordConn) take() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recording.Store(false)
	var block string
	if c.done && !c.bad {
		block = string(*c.buf)
	}
	c.reset()
	return block
}

// arm starts recording the next request's header block.
func (c *recordConn) arm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reset()
	c.recording.Store(true)
}

func (c *recordConn) reset() {
	if c.buf != nil {
		if cap(*c.buf) <= 64<<10 {
			*c.buf = (*c.buf)[:0]
			headerBufs.Put(c.buf)
		}
		c.buf = nil
	}
	c.done, c.bad = false, false
}

// CloseWrite keeps net/http's half-close of a TCP connection it is done
// with (http.Server closes the write side, then waits briefly).
func (c *recordConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

type recordConnKey struct{}

// withRecordConn is http.Server.ConnContext: the handler finds its
// connection's recorder in the request context, the way net/http itself
// passes per-connection values (http.LocalAddrContextKey).
func withRecordConn(ctx context.Context, c net.Conn) context.Context {
	if rc, ok := c.(*recordConn); ok {
		return context.WithValue(ctx, recordConnKey{}, rc)
	}
	return ctx
}

func recordConnOf(req *http.Request) *recordConn {
	rc, _ := req.Context().Value(recordConnKey{}).(*recordConn)
	return rc
}

// stop ends recording on the connection of req, if any.
func (c *recordConn) stop() {
	if c != nil {
		c.take()
	}
}

// rawHeaders returns req's headers with the names as the sender wrote
// them, in the order sent, from block (the recorded header block of req);
// ok is false when block is not exactly req's header block as net/http
// parsed it.
func rawHeaders(block string, req *http.Request) (capture.Headers, bool) {
	// net/http splits the request line at its first two spaces.
	line, rest, ok := strings.Cut(block, "\r\n")
	method, line, _ := strings.Cut(line, " ")
	uri, proto, _ := strings.Cut(line, " ")
	if !ok || method != req.Method || uri != req.RequestURI || proto != req.Proto {
		return nil, false
	}
	n := strings.Count(rest, "\r\n") - 1 // the last is the empty line
	if n < 0 {
		return nil, false
	}
	names := make([]string, 0, n)
	for {
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" {
			break
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok || !isToken(name) || strings.ContainsRune(line, '\n') {
			return nil, false
		}
		// net/http takes Host (into req.Host) and, for a chunked body,
		// Transfer-Encoding, Content-Length and Trailer out of the map.
		// They were never captured; leave them out here too.
		if strings.EqualFold(name, "Host") || strings.EqualFold(name, "Transfer-Encoding") ||
			strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Trailer") {
			if _, kept := req.Header[http.CanonicalHeaderKey(name)]; !kept {
				continue
			}
		}
		names = append(names, name)
	}
	if rest != "" {
		return nil, false
	}
	return capture.HeadersInOrder(names, req.Header)
}

// isToken reports whether s is a non-empty RFC 9110 token (a field name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenBytes[s[i]] {
			return false
		}
	}
	return true
}

var tokenBytes = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()
