// Package capture defines the one shape a captured webhook request has, from
// the relay's ingress through the store, the wire, the forwarder, the
// inspector and replay. Bodies are raw bytes and headers keep every value in
// order, so nothing is re-encoded on the way.
package capture

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Header is one header field. A header sent several times appears several
// times, in the order the sender wrote the values.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Headers is an ordered list of header fields.
type Headers []Header

// HeadersFrom converts an http.Header. Names are sorted so the result is
// stable; the values of each name keep their order.
func HeadersFrom(h http.Header) Headers {
	names := make([]string, 0, len(h))
	n := 0
	for k, vs := range h {
		names = append(names, k)
		n += len(vs)
	}
	sort.Strings(names)
	out := make(Headers, 0, n)
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, Header{Name: k, Value: v})
		}
	}
	return out
}

// HeadersInOrder builds the list from the field names as the sender wrote
// them, in the order sent, and the values net/http parsed for them: the
// i-th name spelled any way that canonicalises to k gets h[k][i]. ok is
// false when names and h do not line up exactly (a name h lacks, or a
// different number of values); the caller then uses HeadersFrom(h).
func HeadersInOrder(names []string, h http.Header) (hs Headers, ok bool) {
	total := 0
	for _, vs := range h {
		total += len(vs)
	}
	if len(names) != total {
		return nil, false
	}
	// Values used so far per name, keyed by the address of the name's
	// first value: it identifies the name without building its canonical
	// string. A few names are counted in an array on the stack.
	var (
		few [24]struct {
			first *string
			n     int
		}
		nfew int
		used map[*string]int
	)
	if len(h) > len(few) {
		used = make(map[*string]int, len(h))
	}
	next := func(first *string) int {
		if used != nil {
			j := used[first]
			used[first] = j + 1
			return j
		}
		for i := range nfew {
			if few[i].first == first {
				few[i].n++
				return few[i].n - 1
			}
		}
		few[nfew].first, few[nfew].n = first, 1
		nfew++
		return 0
	}
	out := make(Headers, len(names))
	var buf [64]byte
	for i, name := range names {
		vs, found := h[name]
		if !found {
			if b := canonicalKey(&buf, name); b != nil {
				vs = h[string(b)]
			} else {
				vs = h[http.CanonicalHeaderKey(name)]
			}
		}
		if len(vs) == 0 {
			return nil, false
		}
		j := next(&vs[0])
		if j >= len(vs) {
			return nil, false
		}
		out[i] = Header{Name: name, Value: vs[j]}
	}
	// As many names as values, none past its name's values: every value
	// was used once.
	return out, true
}

// canonicalKey writes http.CanonicalHeaderKey(name) into buf and returns
// it, or nil when it does not fit or name is not a token (which net/http
// leaves as it is): a map lookup with string(bytes) does not allocate.
func canonicalKey(buf *[64]byte, name string) []byte {
	if len(name) > len(buf) {
		return nil
	}
	b := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case !isTokenByte(c):
			return nil
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b[i] = c
		upper = c == '-'
	}
	return b
}

// isTokenByte reports whether c may appear in a field name (an RFC 9110
// token).
func isTokenByte(c byte) bool { return tokenBytes[c] }

var tokenBytes = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

// HTTP converts the list back to an http.Header, keeping value order.
func (hs Headers) HTTP() http.Header {
	h := make(http.Header, len(hs))
	hs.AddTo(h)
	return h
}

// AddTo adds the list's values to h under their canonical names, after
// any h already has, keeping value order. The first value of each name
// shares one slice with the others' (a second value copies out), so a
// list costs one allocation, not one per name.
func (hs Headers) AddTo(h http.Header) {
	vals := make([]string, len(hs))
	for i, f := range hs {
		k := http.CanonicalHeaderKey(f.Name)
		if vs, ok := h[k]; ok {
			h[k] = append(vs, f.Value)
			continue
		}
		vals[i] = f.Value
		h[k] = vals[i : i+1 : i+1]
	}
}

// Get returns the first value of the named header, matched case-insensitively.
func (hs Headers) Get(name string) string {
	for _, f := range hs {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Request is a captured HTTP request.
type Request struct {
	ID       string `json:"id"`
	Endpoint string `json:"endpoint"`
	Method   string `json:"method"`
	Path     string `json:"path"`  // after /h/{endpoint}, escaped as sent; starts with "/"
	Query    string `json:"query"` // raw query, without "?"
	// ForceQuery is set when the request line had a "?" with nothing after
	// it, so that it is delivered the same way.
	ForceQuery bool      `json:"force_query,omitempty"`
	Headers    Headers   `json:"headers"`
	Body       []byte    `json:"body"` // raw bytes (base64 in JSON)
	Host       string    `json:"host,omitempty"`
	Proto      string    `json:"proto,omitempty"` // "http" or "https", as the sender used it
	RemoteAddr string    `json:"remote_addr,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	ReplayOf   string    `json:"replay_of,omitempty"` // id of the original when this is a replay
	// Raw holds the exact bytes of strings that are not valid UTF-8 (see SetRaw).
	Raw map[string][]byte `json:"raw,omitempty"`
}

// URI returns the path and query as sent to the endpoint.
func (r *Request) URI() string {
	if r.Query == "" && !r.ForceQuery {
		return r.Path
	}
	return r.Path + "?" + r.Query
}

// Response is what a target answered to a delivery, or why it did not.
type Response struct {
	Status   int           `json:"status,omitempty"`
	Headers  Headers       `json:"headers,omitempty"`
	Body     []byte        `json:"body,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"` // set when no response was received
	At       time.Time     `json:"at"`
	// Route names the listen --route that picked the target ("/github",
	// "header:X-GitHub-Event=push", "json:type=invoice.*"); empty for the
	// default target. Skipped is set, with Error, when no route accepted
	// the request under --route-only and it was not sent.
	Route   string `json:"route,omitempty"`
	Skipped bool   `json:"skipped,omitempty"`
	// Raw holds the exact bytes of header strings that are not valid UTF-8 (see Request.SetRaw).
	Raw map[string][]byte `json:"raw,omitempty"`
}

// TruncatedHeader names the header added to a response whose body was cut:
// its value is the body's real size in bytes.
const TruncatedHeader = "X-Hookctl-Truncated"

// Truncate cuts the body to at most max bytes. A cut body loses its
// Content-Length and gains TruncatedHeader with the size it had; realSize is
// that size when the caller read only part of the body (0: len(Body)).
func (r *Response) Truncate(max, realSize int64) {
	if max < 0 || int64(len(r.Body)) <= max {
		return
	}
	if realSize < int64(len(r.Body)) {
		realSize = int64(len(r.Body))
	}
	r.Body = r.Body[:max]
	kept := r.Headers[:0:0]
	for _, h := range r.Headers {
		if !strings.EqualFold(h.Name, "Content-Length") && !strings.EqualFold(h.Name, TruncatedHeader) {
			kept = append(kept, h)
		}
	}
	r.Headers = append(kept, Header{Name: TruncatedHeader, Value: strconv.FormatInt(realSize, 10)})
}

// hopByHop lists the headers that describe one connection, not the message
// (RFC 9110 section 7.6.1). They are never forwarded.
var hopByHop = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// RemoveHopByHop deletes hop-by-hop headers, including those named by
// Connection, from h. Names are matched case-insensitively: h may hold
// names as a sender wrote them.
func RemoveHopByHop(h http.Header) {
	var named []string
	for k, vs := range h {
		if strings.EqualFold(k, "Connection") {
			for _, v := range vs {
				for _, name := range strings.Split(v, ",") {
					if name = strings.TrimSpace(name); name != "" {
						named = append(named, name)
					}
				}
			}
		}
	}
	for k := range h {
		if slices.ContainsFunc(hopByHop, func(n string) bool { return strings.EqualFold(k, n) }) ||
			slices.ContainsFunc(named, func(n string) bool { return strings.EqualFold(k, n) }) {
			delete(h, k)
		}
	}
}

// clientHeaders are the names Go's HTTP client looks up or writes itself,
// by their canonical spelling: forwarded under another spelling, the client
// would miss them and add its own beside them (User-Agent,
// Accept-Encoding: gzip with transparent decompression, a second Host or
// Content-Length). They are forwarded canonical. So are the X-Forwarded-*
// names the forwarder rewrites.
var clientHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Trailer": true, "Te": true,
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Upgrade": true,
	"Proxy-Authorization": true, "Proxy-Authenticate": true,
	"User-Agent": true, "Accept-Encoding": true, "Range": true, "Expect": true,
	"Authorization": true, "Cookie": true, "Referer": true,
	"Idempotency-Key": true, "X-Idempotency-Key": true,
	"X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true,
}

// wireHeader converts the list to the http.Header a client request is sent
// with, keeping names as captured: net/http writes a map key as it is.
// All spellings of one name share the key of the first (the values of a
// name must keep their order, and the client writes keys sorted); names in
// clientHeaders are canonical.
func (hs Headers) wireHeader() http.Header {
	h := make(http.Header, len(hs))
	var key map[string]string // canonical name → key used, for names seen in several spellings
	for _, f := range hs {
		c := http.CanonicalHeaderKey(f.Name)
		k := f.Name
		if clientHeaders[c] {
			k = c
		} else if prev, ok := key[c]; ok {
			k = prev
		} else {
			if key == nil {
				key = make(map[string]string, len(hs))
			}
			key[c] = k
		}
		h[k] = append(h[k], f.Value)
	}
	return h
}

// NewHTTPRequest builds the request that delivers r to target. Method, path
// (appended to the target's path prefix), raw query (after the target's own,
// if it has one), every header value and
// the body bytes are kept, and header names are spelled as captured (but
// see clientHeaders). Host is the target's. A path with a dot segment is
// refused (CheckPath). Hop-by-hop headers are dropped
// and X-Forwarded-Host/-Proto/-For describe the original request. The
// client writes different names in sorted order: the order they were sent
// in is not kept on the wire.
func (r *Request) NewHTTPRequest(ctx context.Context, target *url.URL) (*http.Request, error) {
	if err := CheckPath(r.Path); err != nil {
		return nil, fmt.Errorf("not delivered: %w", err)
	}
	base := *target
	base.Path, base.RawPath, base.RawQuery, base.Fragment = "", "", "", ""
	req, err := http.NewRequestWithContext(ctx, r.Method, base.String(), bytes.NewReader(r.Body))
	if err != nil {
		return nil, fmt.Errorf("build request for %s: %w", base.Redacted(), err)
	}
	// Opaque carries the path exactly as the sender escaped it; net/http
	// writes it to the request line untouched. An opaque value starting
	// with "//" would be written as "http://..." (absolute form, naming a
	// different host), so such a path goes through Path/RawPath instead.
	if p := joinPath(target.EscapedPath(), r.Path); strings.HasPrefix(p, "//") {
		unescaped, err := url.PathUnescape(p)
		if err != nil {
			return nil, fmt.Errorf("build request for %s: path %q: %w", base.Redacted(), p, err)
		}
		req.URL.Path, req.URL.RawPath = unescaped, p
	} else {
		req.URL.Opaque = p
	}
	// The target's own query (a token a receiver wants) comes first.
	req.URL.RawQuery, req.URL.ForceQuery = r.Query, r.ForceQuery
	if target.RawQuery != "" {
		req.URL.RawQuery = target.RawQuery
		if r.Query != "" {
			req.URL.RawQuery += "&" + r.Query
		}
	}
	req.Header = r.Headers.wireHeader()
	RemoveHopByHop(req.Header)
	req.Header.Del("Host")
	req.Header.Del("Content-Length")
	req.ContentLength = int64(len(r.Body))
	if len(r.Body) == 0 {
		req.Body = http.NoBody
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	if r.Host != "" {
		req.Header.Set("X-Forwarded-Host", r.Host)
	}
	if r.Proto != "" {
		req.Header.Set("X-Forwarded-Proto", r.Proto)
	}
	if ip := remoteIP(r.RemoteAddr); ip != "" {
		prior := req.Header.Values("X-Forwarded-For")
		if len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		req.Header.Set("X-Forwarded-For", ip)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		// An absent User-Agent must stay absent; net/http would add its own.
		req.Header["User-Agent"] = nil
	}
	return req, nil
}

// joinPath appends p to the prefix base with exactly one slash between them.
func joinPath(base, p string) string {
	if base == "" || base == "/" {
		return p
	}
	return strings.TrimSuffix(base, "/") + p
}

func remoteIP(addr string) string {
	if addr == "" {
		return ""
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// SplitRequestURI returns the path and query exactly as the sender wrote
// them on the request line, never a decoded or cleaned form; force reports
// a "?" with an empty query after it.
func SplitRequestURI(req *http.Request) (path, query string, force bool) {
	uri := req.RequestURI
	if !strings.HasPrefix(uri, "/") {
		// Absolute form (a proxy-style request line), or no request line
		// (handler called directly).
		path = req.URL.EscapedPath()
		return path, req.URL.RawQuery, req.URL.ForceQuery && req.URL.RawQuery == ""
	}
	path, query, hasQuery := strings.Cut(uri, "?")
	return path, query, hasQuery && query == ""
}
