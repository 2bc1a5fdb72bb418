package tunnel

import (
	"bytes"
	"fmt"
	json "github.com/goccy/go-json"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/hookctl/hookctl/internal/glob"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// Route kinds: what a route looks at.
const (
	RoutePath   = "path"   // the request path, by prefix
	RouteHeader = "header" // a header's values, by glob
	RouteJSON   = "json"   // a field of a JSON body, by glob
)

// Route sends the requests it matches to Target.
//
// A path route (Kind RoutePath) matches requests whose path starts with
// Prefix, in whole segments. The path is kept as it is: /github/push with a
// route /github=localhost:3001 arrives as localhost:3001/github/push.
//
// A header route matches when one of the values of header Field matches
// Glob; a JSON route when the body is JSON and the field at Field (a dotted
// path: data.object.type; a number indexes an array) is a string, number,
// boolean or null whose text matches Glob. In a glob, * stands for any run
// of characters; everything else is literal and case-sensitive.
type Route struct {
	Kind   string
	Prefix string   // RoutePath
	Field  string   // RouteHeader: the header name; RouteJSON: the field path
	Glob   string   // RouteHeader, RouteJSON: the value pattern, unescaped
	Target *url.URL // where matching requests go

	path []string // RouteJSON: Field split at its dots
}

// routeUsage is the part of every route error that says what is wanted.
const routeUsage = `want /PREFIX=TARGET, header:NAME=GLOB=TARGET or json:FIELD=GLOB=TARGET, ` +
	`e.g. /github=3001, 'header:X-GitHub-Event=push=3001' or 'json:type=invoice.*=3002'`

// ParseRoute parses a --route value:
//
//	/PREFIX=TARGET           /github=localhost:3001 (also path:/PREFIX=TARGET)
//	header:NAME=GLOB=TARGET  header:X-GitHub-Event=pull_request*=3001
//	json:FIELD=GLOB=TARGET   json:data.object.type=invoice.*=3002
//
// NAME, FIELD and PREFIX end at the first '='; GLOB ends at the next '='
// not written as \= (\* is a literal star, \\ a backslash), and TARGET,
// read by capture.ParseTarget, is all the rest, '=' included.
func ParseRoute(s string) (Route, error) {
	bad := func(format string, args ...any) (Route, error) {
		return Route{}, fmt.Errorf("route %s: %s", quote(s), fmt.Sprintf(format, args...))
	}
	kind, rest, _ := strings.Cut(s, ":")
	kind = strings.ToLower(kind)
	switch {
	case strings.HasPrefix(s, "/"):
		kind, rest = RoutePath, s
	case kind == RoutePath && strings.HasPrefix(rest, "/"):
	case kind == RouteHeader || kind == RouteJSON:
	case kind == RoutePath:
		return bad("the prefix must start with '/'; %s", routeUsage)
	case strings.Contains(s, "="):
		k, _, _ := strings.Cut(s, "=")
		if strings.Contains(k, ":") {
			return bad("unknown kind %s; %s", quote(kind), routeUsage)
		}
		return bad("the prefix %s must start with '/'; %s", quote(k), routeUsage)
	default:
		return bad("%s", routeUsage)
	}

	field, rest, ok := strings.Cut(rest, "=")
	if !ok {
		return bad("no '=' after %s; %s", quote(field), routeUsage)
	}
	r := Route{Kind: kind}
	var target string
	switch kind {
	case RoutePath:
		r.Prefix, target = field, rest
		if p := strings.TrimSuffix(r.Prefix, "/"); p != "" {
			r.Prefix = p
		}
	case RouteHeader:
		if field == "" {
			return bad("no header name before '='; %s", routeUsage)
		}
		if !httpguts.ValidHeaderFieldName(field) {
			return bad("%s is not a header name", quote(field))
		}
		r.Field = field
	case RouteJSON:
		if field == "" {
			return bad("no field before '='; %s", routeUsage)
		}
		r.path = strings.Split(field, ".")
		for _, seg := range r.path {
			if seg == "" {
				return bad("field %s has an empty segment; write fields as a.b.c", quote(field))
			}
		}
		r.Field = field
	}
	if kind != RoutePath {
		glob, tail, err := cutGlob(rest)
		if err != nil {
			return bad("value: %v", err)
		}
		switch {
		case tail == nil:
			return bad("no '=TARGET' after the value %s (a '=' in the value is written \\=)", quote(rest))
		case glob == "":
			return bad("empty value after %s; use * to match any value", quote(field+"="))
		}
		r.Glob, target = glob, *tail
	}
	if strings.TrimSpace(target) == "" {
		return bad("no target after the last '='; %s", routeUsage)
	}
	u, err := capture.ParseTarget(target)
	if err != nil {
		return bad("%v", err)
	}
	r.Target = u
	return r, nil
}

// globEscapedStar marks a literal '*' in an unescaped glob; it cannot occur
// in a --route value (a NUL cannot be passed in an argument).
const globEscapedStar = glob.LiteralStar

// cutGlob reads an escaped glob up to the first unescaped '='. It returns
// the glob with \= and \\ undone and \* kept as globEscapedStar, and the
// text after the '=' (nil when there is none).
func cutGlob(s string) (string, *string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '=':
			tail := s[i+1:]
			return b.String(), &tail, nil
		case '\\':
			if i+1 == len(s) {
				return "", nil, fmt.Errorf("%s ends in a lone backslash (escapes are \\=, \\* and \\\\)", quote(s))
			}
			i++
			switch s[i] {
			case '=', '\\':
				b.WriteByte(s[i])
			case '*':
				b.WriteByte(globEscapedStar)
			default:
				return "", nil, fmt.Errorf("%s has an unknown escape \\%c (escapes are \\=, \\* and \\\\)", quote(s), s[i])
			}
		case globEscapedStar:
			return "", nil, fmt.Errorf("%s holds a NUL byte", quote(s))
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil, nil
}

// globEscaper writes a glob back as it is typed.
var globEscaper = strings.NewReplacer(`\`, `\\`, "=", `\=`, string(globEscapedStar), `\*`)

// String spells the route's matcher the way it is written, without its
// target: /github, header:X-GitHub-Event=push, json:type=invoice.*. It is
// the "route" of a delivery.
func (r Route) String() string {
	switch r.Kind {
	case "":
		return ""
	case RoutePath:
		return r.Prefix
	}
	g := globEscaper.Replace(r.Glob)
	return r.Kind + ":" + r.Field + "=" + g
}

// matchPath reports whether the route's prefix covers path in whole segments.
func (r Route) matchPath(path string) bool {
	return r.Prefix == "/" || path == r.Prefix || strings.HasPrefix(path, r.Prefix+"/")
}

// match reports whether a header or JSON route accepts req; body is the
// request's parsed JSON body, read once per request by the caller.
func (r Route) match(req *capture.Request, body *jsonBody) bool {
	switch r.Kind {
	case RoutePath:
		return r.matchPath(req.Path)
	case RouteHeader:
		for _, h := range req.Headers {
			if strings.EqualFold(h.Name, r.Field) && glob.Match(r.Glob, h.Value) {
				return true
			}
		}
	case RouteJSON:
		v, ok := body.field(req.Body, r.path)
		return ok && glob.Match(r.Glob, v)
	}
	return false
}

// jsonBody is a request body decoded on first use, so that requests are
// decoded at most once, and only when a JSON route is asked.
type jsonBody struct {
	done bool
	v    any // nil also when the body is not JSON
}

// field returns the text of the scalar at path in body.
func (b *jsonBody) field(body []byte, path []string) (string, bool) {
	if !b.done {
		b.done = true
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil && !dec.More() {
			b.v = v
		}
	}
	v := b.v
	if v == nil {
		return "", false
	}
	for _, seg := range path {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return "", false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) || seg != strconv.Itoa(i) {
				return "", false
			}
			v = x[i]
		default:
			return "", false
		}
	}
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case nil:
		return "null", true
	}
	return "", false // an object or an array
}

// quote puts s in double quotes for an error, escaping only what would not
// print: a user's backslashes are shown as typed.
func quote(s string) string {
	for _, c := range s {
		if c == '"' || !strconv.IsPrint(c) {
			return strconv.Quote(s)
		}
	}
	return `"` + s + `"`
}
