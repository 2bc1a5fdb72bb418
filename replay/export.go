package replay

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookctl/hookctl/fixtures"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// OriginalURL is where the request was sent: the relay's webhook URL for its
// endpoint. It is the default target of an export.
func OriginalURL(r *capture.Request) *url.URL {
	scheme := r.Proto
	if scheme == "" {
		scheme = "http"
	}
	host := r.Host
	if host == "" {
		host = "localhost"
	}
	u := &url.URL{Scheme: scheme, Host: host}
	if r.Endpoint != "" {
		u.Path = "/h/" + r.Endpoint
	}
	return u
}

// --- curl -------------------------------------------------------------------

// Curl returns a POSIX shell command that sends r to target with curl the way
// a replay would: same method, raw path, query, header values and body bytes.
// Headers curl adds on its own (Accept, User-Agent, Content-Type, Expect) are
// suppressed when the original did not have them. A body that is not plain
// text is piped in through printf with octal escapes, which every POSIX
// printf understands, so NUL bytes and invalid UTF-8 survive.
func Curl(r *capture.Request, target *url.URL) (string, error) {
	hreq, err := r.NewHTTPRequest(context.Background(), target)
	if err != nil {
		return "", err
	}
	full := hreq.URL.Scheme + "://" + hreq.URL.Host + hreq.URL.RequestURI()
	var b strings.Builder
	binary := len(r.Body) > 0 && !isPlainText(r.Body)
	if binary {
		b.WriteString("printf '")
		for _, c := range r.Body {
			fmt.Fprintf(&b, "\\%03o", c)
		}
		b.WriteString("' | \\\n  ")
	}
	b.WriteString("curl")
	if r.Method == http.MethodHead {
		b.WriteString(" --head")
	} else {
		b.WriteString(" --request " + shellQuote(r.Method))
	}
	b.WriteString(" --path-as-is --globoff " + shellQuote(full))
	names := make([]string, 0, len(hreq.Header))
	for k := range hreq.Header {
		names = append(names, k)
	}
	// Names sorted for a stable command; each name's values keep their order.
	slices.Sort(names)
	for _, k := range names {
		vs := hreq.Header[k]
		if vs == nil { // NewHTTPRequest's "send no such header"
			b.WriteString(" \\\n  --header " + shellQuote(k+":"))
			continue
		}
		for _, v := range vs {
			h := k + ": " + v
			if v == "" {
				h = k + ";" // curl's spelling of an empty header
			}
			b.WriteString(" \\\n  --header " + shellQuote(h))
		}
	}
	// Names are as captured (any case); curl matches them case-insensitively.
	has := func(name string) bool {
		return slices.ContainsFunc(names, func(k string) bool { return strings.EqualFold(k, name) })
	}
	for _, k := range []string{"Accept", "User-Agent", "Expect"} {
		if !has(k) {
			b.WriteString(" \\\n  --header " + shellQuote(k+":"))
		}
	}
	if len(r.Body) > 0 {
		if !has("Content-Type") {
			b.WriteString(" \\\n  --header " + shellQuote("Content-Type:"))
		}
		if binary {
			b.WriteString(" \\\n  --data-binary @-")
		} else {
			b.WriteString(" \\\n  --data-binary " + shellQuote(string(r.Body)))
		}
	}
	return b.String(), nil
}

// shellQuote quotes s for a POSIX shell: inside single quotes, each quote
// in s closes the string, is escaped with a backslash and reopens it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:@=+,%", c))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isPlainText reports whether b is UTF-8 text without control characters
// other than tab, CR and LF — safe to put inside single quotes on a command
// line.
func isPlainText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return true
}

// --- raw HTTP ----------------------------------------------------------------

// WriteRaw writes r as an HTTP/1.1 message: request line, headers, a blank
// line, then the body bytes — the format `hookctl fire --print` writes and
// `hookctl verify --request` reads (fixtures.WriteRequest, used here so the
// format has one writer). With a nil target the request is written as
// captured (its path, headers and Host); with a target, as a replay to it
// would send it (hop-by-hop headers dropped, X-Forwarded-* set).
func WriteRaw(w io.Writer, r *capture.Request, target *url.URL) error {
	if target == nil {
		return fixtures.WriteRequest(w, r, &url.URL{Host: r.Host})
	}
	hreq, err := r.NewHTTPRequest(context.Background(), target)
	if err != nil {
		return err
	}
	d := Clone(r)
	d.Path, d.Query, _ = strings.Cut(hreq.URL.RequestURI(), "?")
	d.Headers = capture.HeadersFrom(hreq.Header)
	return fixtures.WriteRequest(w, d, &url.URL{Host: hreq.URL.Host})
}

// ReadRaw parses the format WriteRaw writes. Unlike fixtures.ReadRequest it
// keeps the header order and spelling as written and ignores Content-Length,
// so that a request edited by hand parses: LF line ends are accepted, the protocol on the
// request line is optional, and the body is everything after the blank line
// (a stale Content-Length is ignored and dropped; delivery recomputes it).
func ReadRaw(rd io.Reader) (*capture.Request, error) {
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, err
	}
	head, body, ok := cutHead(data)
	if !ok {
		return nil, errors.New("raw request: no blank line after the headers")
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	parts := strings.Fields(lines[0])
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("raw request: bad request line %q", lines[0])
	}
	r := &capture.Request{Method: parts[0], Body: body}
	uri := parts[1]
	if u, err := url.Parse(uri); err == nil && u.IsAbs() {
		r.Host = u.Host
		r.Proto = u.Scheme
		uri = u.RequestURI()
	}
	r.Path, r.Query, _ = strings.Cut(uri, "?")
	if !strings.HasPrefix(r.Path, "/") {
		return nil, fmt.Errorf("raw request: path %q does not start with /", r.Path)
	}
	for i, l := range lines[1:] {
		if l == "" {
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("raw request: line %d: bad header %q", i+2, l)
		}
		value = strings.TrimSpace(value)
		switch textproto.CanonicalMIMEHeaderKey(name) {
		case "Host":
			r.Host = value
			continue
		case "Content-Length", "Transfer-Encoding":
			continue
		}
		r.Headers = append(r.Headers, capture.Header{Name: name, Value: value})
	}
	if len(r.Body) == 0 {
		r.Body = nil
	}
	return r, nil
}

func cutHead(data []byte) (head, body []byte, ok bool) {
	i := bytes.Index(data, []byte("\r\n\r\n"))
	j := bytes.Index(data, []byte("\n\n"))
	switch {
	case i >= 0 && (j < 0 || i <= j):
		return data[:i], data[i+4:], true
	case j >= 0:
		return data[:j], data[j+2:], true
	}
	// A request with no body may end right after its headers.
	if s := bytes.TrimRight(data, "\r\n"); len(s) > 0 && len(s) < len(data) {
		return s, nil, true
	}
	return nil, nil, false
}

// --- HAR 1.2 -----------------------------------------------------------------

// HAR types, after http://www.softwareishard.com/blog/har-12-spec/. Only what
// a webhook delivery has is filled in; required fields are always present.
type (
	HARFile struct {
		Log HARLog `json:"log"`
	}
	HARLog struct {
		Version string     `json:"version"`
		Creator HARCreator `json:"creator"`
		Entries []HAREntry `json:"entries"`
	}
	HARCreator struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	HAREntry struct {
		StartedDateTime string      `json:"startedDateTime"`
		Time            float64     `json:"time"`
		Request         HARRequest  `json:"request"`
		Response        HARResponse `json:"response"`
		Cache           struct{}    `json:"cache"`
		Timings         HARTimings  `json:"timings"`
		Comment         string      `json:"comment,omitempty"`
	}
	HARRequest struct {
		Method      string         `json:"method"`
		URL         string         `json:"url"`
		HTTPVersion string         `json:"httpVersion"`
		Cookies     []HARNameValue `json:"cookies"`
		Headers     []HARNameValue `json:"headers"`
		QueryString []HARNameValue `json:"queryString"`
		PostData    *HARPostData   `json:"postData,omitempty"`
		HeadersSize int            `json:"headersSize"`
		BodySize    int            `json:"bodySize"`
	}
	HARResponse struct {
		Status      int            `json:"status"`
		StatusText  string         `json:"statusText"`
		HTTPVersion string         `json:"httpVersion"`
		Cookies     []HARNameValue `json:"cookies"`
		Headers     []HARNameValue `json:"headers"`
		Content     HARContent     `json:"content"`
		RedirectURL string         `json:"redirectURL"`
		HeadersSize int            `json:"headersSize"`
		BodySize    int            `json:"bodySize"`
		Comment     string         `json:"comment,omitempty"`
	}
	HARNameValue struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	HARPostData struct {
		MimeType string         `json:"mimeType"`
		Params   []HARNameValue `json:"params"`
		Text     string         `json:"text"`
		// Encoding is "base64" when Text holds a binary body (as in
		// content.encoding; a common extension of postData).
		Encoding string `json:"encoding,omitempty"`
	}
	HARContent struct {
		Size     int    `json:"size"`
		MimeType string `json:"mimeType"`
		Text     string `json:"text,omitempty"`
		Encoding string `json:"encoding,omitempty"`
	}
	HARTimings struct {
		Send    float64 `json:"send"`
		Wait    float64 `json:"wait"`
		Receive float64 `json:"receive"`
	}
)

// HAR returns a HAR 1.2 log with one entry: r as delivered to target and
// resp, the answer it got (nil when there was none).
func HAR(r *capture.Request, resp *capture.Response, target *url.URL, creatorVersion string) ([]byte, error) {
	hreq, err := r.NewHTTPRequest(context.Background(), target)
	if err != nil {
		return nil, err
	}
	u := hreq.URL.Scheme + "://" + hreq.URL.Host + hreq.URL.RequestURI()
	e := HAREntry{
		StartedDateTime: r.ReceivedAt.UTC().Format(time.RFC3339Nano),
		Request: HARRequest{
			Method:      r.Method,
			URL:         u,
			HTTPVersion: "HTTP/1.1",
			Cookies:     []HARNameValue{},
			Headers:     harHeaders(capture.HeadersFrom(hreq.Header)),
			QueryString: harQuery(r.Query),
			HeadersSize: -1,
			BodySize:    len(r.Body),
		},
		Response: HARResponse{
			HTTPVersion: "HTTP/1.1",
			Cookies:     []HARNameValue{},
			Headers:     []HARNameValue{},
			HeadersSize: -1,
			BodySize:    -1,
		},
		Timings: HARTimings{Send: 0, Wait: -1, Receive: 0},
	}
	e.Request.Headers = append([]HARNameValue{{Name: "Host", Value: hreq.URL.Host}}, e.Request.Headers...)
	if len(r.Body) > 0 {
		pd := &HARPostData{MimeType: r.Headers.Get("Content-Type"), Params: []HARNameValue{}}
		if isPlainText(r.Body) {
			pd.Text = string(r.Body)
		} else {
			pd.Text, pd.Encoding = base64.StdEncoding.EncodeToString(r.Body), "base64"
		}
		e.Request.PostData = pd
	}
	if r.ReplayOf != "" {
		e.Comment = "replay of " + r.ReplayOf
	}
	if resp != nil && resp.Error == "" && resp.Status != 0 {
		ms := float64(resp.Duration) / float64(time.Millisecond)
		e.Time = ms
		e.Timings.Wait = ms
		e.Response.Status = resp.Status
		e.Response.StatusText = http.StatusText(resp.Status)
		e.Response.Headers = harHeaders(resp.Headers)
		e.Response.BodySize = len(resp.Body)
		c := HARContent{Size: len(resp.Body), MimeType: resp.Headers.Get("Content-Type")}
		if isPlainText(resp.Body) {
			c.Text = string(resp.Body)
		} else {
			c.Text, c.Encoding = base64.StdEncoding.EncodeToString(resp.Body), "base64"
		}
		e.Response.Content = c
	} else {
		// HAR has no "no response": status 0 is what browsers write for a
		// request that failed.
		e.Response.Content = HARContent{MimeType: "x-unknown"}
		if resp != nil {
			e.Response.Comment = resp.Error
		} else {
			e.Response.Comment = "not delivered"
		}
	}
	f := HARFile{Log: HARLog{
		Version: "1.2",
		Creator: HARCreator{Name: "hookctl", Version: creatorVersion},
		Entries: []HAREntry{e},
	}}
	return json.MarshalIndent(f, "", "  ")
}

func harHeaders(hs capture.Headers) []HARNameValue {
	out := make([]HARNameValue, 0, len(hs))
	for _, h := range hs {
		out = append(out, HARNameValue{Name: h.Name, Value: h.Value})
	}
	return out
}

// harQuery splits a raw query in order, keeping repeated names.
func harQuery(raw string) []HARNameValue {
	out := []HARNameValue{}
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		out = append(out, HARNameValue{Name: k, Value: v})
	}
	return out
}

// ValidateHAR checks that data is a HAR 1.2 log whose entries carry every
// field the specification requires.
func ValidateHAR(data []byte) error {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("har: %w", err)
	}
	log, err := obj(doc, "log")
	if err != nil {
		return err
	}
	if v, _ := log["version"].(string); v != "1.2" {
		return fmt.Errorf("har: log.version is %q, want 1.2", v)
	}
	creator, err := obj(log, "creator")
	if err != nil {
		return err
	}
	if err := has(creator, "log.creator", "name", "version"); err != nil {
		return err
	}
	entries, ok := log["entries"].([]any)
	if !ok {
		return errors.New("har: log.entries missing")
	}
	for i, raw := range entries {
		e, ok := raw.(map[string]any)
		where := "log.entries[" + strconv.Itoa(i) + "]"
		if !ok {
			return fmt.Errorf("har: %s is not an object", where)
		}
		if err := has(e, where, "startedDateTime", "time", "request", "response", "cache", "timings"); err != nil {
			return err
		}
		if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e["startedDateTime"])); err != nil {
			return fmt.Errorf("har: %s.startedDateTime: %w", where, err)
		}
		req, _ := e["request"].(map[string]any)
		if err := has(req, where+".request", "method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize", "bodySize"); err != nil {
			return err
		}
		if pd, ok := req["postData"].(map[string]any); ok {
			if err := has(pd, where+".request.postData", "mimeType", "text"); err != nil {
				return err
			}
		}
		resp, _ := e["response"].(map[string]any)
		if err := has(resp, where+".response", "status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL", "headersSize", "bodySize"); err != nil {
			return err
		}
		content, _ := resp["content"].(map[string]any)
		if err := has(content, where+".response.content", "size", "mimeType"); err != nil {
			return err
		}
		timings, _ := e["timings"].(map[string]any)
		if err := has(timings, where+".timings", "send", "wait", "receive"); err != nil {
			return err
		}
	}
	return nil
}

func obj(m map[string]any, key string) (map[string]any, error) {
	v, ok := m[key].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("har: %s missing or not an object", key)
	}
	return v, nil
}

func has(m map[string]any, where string, keys ...string) error {
	if m == nil {
		return fmt.Errorf("har: %s missing", where)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("har: %s.%s missing", where, k)
		}
	}
	return nil
}
