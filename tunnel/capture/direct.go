package capture

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"
)

// directMaxBody is the largest request body the direct transport sends. It
// writes the whole request before it reads the answer, so a body must fit in
// the sockets' buffers even if the app answers before reading it.
const directMaxBody = 64 << 10

// maxResponseHeader bounds a response's header block, as net/http's
// Transport does by default.
const maxResponseHeader = 10 << 20

// directTransport delivers plain-HTTP requests without a proxy on the
// calling goroutine: it writes the request and reads the answer on a kept
// connection itself, where net/http's Transport hands every request to a
// writer and a reader goroutine per connection and a timer goroutine per
// request. A delivery to a local app is then a write and a read, not half a
// dozen goroutine switches: the CLI's largest cost per event. The request
// and response bytes are net/http's (Request.Write, ReadResponse), so the
// app sees exactly what the Transport would send. Anything else (TLS, a
// proxy, Expect: 100-continue, a large body) goes through the Transport.
type directTransport struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	perHost int
	idleFor time.Duration

	mu   sync.Mutex
	idle map[string][]*directConn // by host:port, most recent last
}

// directConn is a kept connection.
type directConn struct {
	c     net.Conn
	lr    limitedConn
	br    *bufio.Reader
	bw    *bufio.Writer
	addr  string
	since time.Time // idle since
}

// limitedConn reads from c, failing once more than n bytes are read while
// n >= 0 (the response header).
type limitedConn struct {
	c net.Conn
	n int64
}

var errHeaderTooLarge = errors.New("response header too large")

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.c.Read(p)
	}
	if l.n == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.c.Read(p)
	l.n -= int64(k)
	return k, err
}

// accepts reports whether req can go the direct way.
func (t *directTransport) accepts(req *http.Request) bool {
	if req.URL.Scheme != "http" || req.ContentLength > directMaxBody || req.ContentLength < 0 {
		return false
	}
	_, expect := req.Header["Expect"]
	return !expect
}

func addrOf(req *http.Request) string {
	port := req.URL.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(req.URL.Hostname(), port)
}

// roundTrip sends req, the whole of it by deadline, and returns the answer;
// its body returns the connection for reuse once read to the end.
func (t *directTransport) roundTrip(req *http.Request, deadline time.Time) (*http.Response, error) {
	if err := checkHeader(req.Header); err != nil {
		return nil, err
	}
	if u := req.URL.User; u != nil && req.Header.Get("Authorization") == "" {
		// As http.Client does for a target with user info.
		p, _ := u.Password()
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+p)))
	}
	ctx := req.Context()
	dc, err := t.get(ctx, addrOf(req), deadline)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { dc.c.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		dc.c.Close()
		return nil, mapDirectError(ctx, err, whileHeaders)
	}
	if err := req.Write(dc.bw); err != nil {
		return fail(err)
	}
	if err := dc.bw.Flush(); err != nil {
		return fail(err)
	}
	dc.lr.n = maxResponseHeader
	var res *http.Response
	for {
		res, err = http.ReadResponse(dc.br, req)
		if err != nil {
			return fail(err)
		}
		// Informational answers precede the real one; 101 is final.
		if res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		res.Body.Close()
	}
	dc.lr.n = -1
	keep := !res.Close && res.StatusCode != http.StatusSwitchingProtocols
	res.Body = &directBody{rc: res.Body, t: t, dc: dc, ctx: ctx, stop: stop, keep: keep}
	return res, nil
}

// checkHeader refuses what net/http's Transport refuses to send.
func checkHeader(h http.Header) error {
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("net/http: invalid header field name %q", k)
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("net/http: invalid header field value for %q", k)
			}
		}
	}
	return nil
}

// The parts of a deadlineError's message, as http.Client words them.
const (
	whileHeaders = "Client.Timeout exceeded while awaiting headers"
	whileBody    = "Client.Timeout or context cancellation while reading body"
)

// deadlineError is a delivery past its timeout, worded as http.Client's.
type deadlineError struct{ while string }

func (e *deadlineError) Error() string {
	return "context deadline exceeded (" + e.while + ")"
}
func (e *deadlineError) Timeout() bool   { return true }
func (e *deadlineError) Temporary() bool { return true }
func (e *deadlineError) Is(target error) bool {
	return target == context.DeadlineExceeded
}

// mapDirectError names a failure as the Transport would: the context's
// error once it is done, a timeout past the deadline.
func mapDirectError(ctx context.Context, err error, while string) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &deadlineError{while}
	}
	return err
}

// get returns a kept connection to addr that is still open, or a new one.
func (t *directTransport) get(ctx context.Context, addr string, deadline time.Time) (*directConn, error) {
	now := time.Now()
	for {
		t.mu.Lock()
		list := t.idle[addr]
		if len(list) == 0 {
			t.mu.Unlock()
			break
		}
		dc := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[addr] = list[:len(list)-1]
		t.mu.Unlock()
		if now.Sub(dc.since) < t.idleFor && dc.open() {
			dc.c.SetDeadline(deadline)
			return dc, nil
		}
		dc.c.Close()
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	c, err := t.dial(dctx, "tcp", addr)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return nil, &deadlineError{whileHeaders}
		}
		return nil, err
	}
	c = NewRawConn(c)
	c.SetDeadline(deadline)
	dc := &directConn{c: c, addr: addr}
	dc.lr.c = c
	dc.br = bufio.NewReader(&dc.lr)
	dc.bw = bufio.NewWriter(c)
	return dc, nil
}

// open reports whether the peer has neither closed the idle connection nor
// sent anything on it (which would be out of turn), without waiting.
func (dc *directConn) open() bool {
	if dc.br.Buffered() > 0 {
		return false
	}
	sc, ok := dc.c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open, err := peekOpen(rc)
	return err == nil && open
}

// put keeps dc for the next request to its address.
func (t *directTransport) put(dc *directConn) {
	dc.c.SetDeadline(time.Time{})
	dc.since = time.Now()
	t.mu.Lock()
	if t.idle == nil {
		t.idle = map[string][]*directConn{}
	}
	if len(t.idle[dc.addr]) < t.perHost {
		t.idle[dc.addr] = append(t.idle[dc.addr], dc)
		dc = nil
	}
	t.mu.Unlock()
	if dc != nil {
		dc.c.Close()
	}
}

// closeIdle closes every kept connection.
func (t *directTransport) closeIdle() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, list := range idle {
		for _, dc := range list {
			dc.c.Close()
		}
	}
}

// directBody is a response body on a direct connection: read to its end, it
// gives the connection back; closed before, it closes the connection.
type directBody struct {
	rc   io.ReadCloser
	t    *directTransport
	dc   *directConn
	ctx  context.Context
	stop func() bool
	keep bool
	done bool
}

func (b *directBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(b.keep && b.dc.br.Buffered() == 0)
		return n, io.EOF
	}
	if err != nil {
		b.finish(false)
		return n, mapDirectError(b.ctx, err, whileBody)
	}
	return n, nil
}

func (b *directBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish releases the connection: kept when keep and the context's watch
// was stopped before it fired.
func (b *directBody) finish(keep bool) {
	b.done = true
	if b.stop() && keep {
		b.t.put(b.dc)
		return
	}
	b.dc.c.Close()
}
