package capture

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ParseTarget reads where a request is to be delivered: every --forward,
// --route target and --to means the same through it.
//
//	3000, :3000                    http://localhost:3000
//	3000/hooks, :3000/hooks        http://localhost:3000/hooks
//	host, host:port[/path]         http://host[:port][/path]
//	http(s)://host[:port][/path]   as written
//
// A path is a prefix: a request for /stripe sent to 3000/hooks arrives at
// /hooks/stripe. A query is kept and put before the request's own
// (?token=… for a receiver that wants one). A fragment, a scheme other than
// http or https, and a port outside 1–65535 are errors.
func ParseTarget(s string) (*url.URL, error) {
	in := s
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty target: want a port, host:port or URL, e.g. 3000 or localhost:3000/webhooks")
	}
	if !strings.Contains(s, "://") {
		rest := strings.TrimPrefix(s, ":")
		if n := digits(rest); n > 0 && (n == len(rest) || rest[n] == '/' || rest[n] == '?') {
			s = "localhost:" + rest // a port, perhaps with a path
		} else if strings.HasPrefix(s, ":") {
			return nil, fmt.Errorf("target %q: want a port after the colon, e.g. :3000", in)
		}
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("target %q: %w", in, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("target %q: the scheme must be http or https", in)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("target %q: no host", in)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return nil, fmt.Errorf("target %q: a fragment is never sent; leave it out", in)
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("target %q: port %q is out of range (1–65535)", in, p)
		}
	}
	return u, nil
}

// digits counts the decimal digits s starts with.
func digits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}
