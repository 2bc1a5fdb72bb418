package tui

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/hookctl/hookctl/internal/glob"
)

// query is a parsed filter: every term must match. A term is
//
//	method:POST or an upper-case method (POST)   the request method
//	status:404, 404, 4xx, err, pending           the local status
//	path:/x or /x                                the path contains it
//	header:X-GitHub-Event=push                   a header (name in any case)
//	                                             whose value matches the glob
//	                                             ('*' any run); header:Name
//	                                             alone: the header is present
//	sig:valid, sig:invalid, sig:none             the signature verdict (none:
//	                                             no signature to check)
//	state:delivered, failed, pending, retrying,  the delivery state (failed:
//	      skipped                                no answer or 5xx, as counted
//	                                             in the status line)
//	anything else                                path, query, id, method or
//	                                             the first 64 KiB of the body
//	                                             contain it (case-insensitive
//	                                             except the body)
type query struct{ terms []term }

type termKind uint8

const (
	termText termKind = iota
	termMethod
	termStatus
	termPath
	termHeader
	termSig
	termState
)

type term struct {
	kind  termKind
	value string
	lower string
	name  string // termHeader: the header name
	has   bool   // termHeader: a value glob was given
}

// FilterSyntax is the filter's syntax as the help screen shows it.
var FilterSyntax = []string{
	"text                    path, query, id, method or body contain it",
	"POST, method:POST       the method",
	"404, 4xx, err, pending  the status (err: no answer)",
	"/x, path:/x             the path contains /x",
	"header:Name=glob        a header matches (name in any case, * in value)",
	"header:Name             the header is present",
	"sig:valid|invalid|none  the signature verdict",
	"state:failed            or delivered, pending, retrying, skipped",
	"all terms must match:   state:failed header:X-GitHub-Event=push",
}

var sigStates = map[string]bool{"valid": true, "invalid": true, "none": true, "unknown": true}

var deliveryStates = map[string]bool{"delivered": true, "failed": true, "pending": true, "retrying": true, "skipped": true}

const bodySearchLimit = 64 << 10

var methods = map[string]bool{
	"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true,
	"HEAD": true, "OPTIONS": true, "TRACE": true, "CONNECT": true,
}

// parseQuery parses the filter text. A known key with a value it does not
// take (state:fialed) is an error naming what it takes; the query returned
// then holds the terms that did parse.
func parseQuery(s string) (query, error) {
	var q query
	var errs []string
	for _, f := range strings.Fields(s) {
		t := term{kind: termText, value: f}
		if k, v, ok := strings.Cut(f, ":"); ok && v != "" {
			switch strings.ToLower(k) {
			case "method":
				t = term{kind: termMethod, value: strings.ToUpper(v)}
			case "status":
				if !isStatusTerm(strings.ToLower(v)) {
					errs = append(errs, fmt.Sprintf("status:%s: want a code (404), a class (5xx), err or pending", v))
					continue
				}
				t = term{kind: termStatus, value: strings.ToLower(v)}
			case "path":
				t = term{kind: termPath, value: v}
			case "header":
				name, glob, has := strings.Cut(v, "=")
				if name == "" {
					errs = append(errs, fmt.Sprintf("%s: want header:Name=value", f))
					continue
				}
				t = term{kind: termHeader, name: name, value: glob, has: has}
			case "sig":
				if !sigStates[strings.ToLower(v)] {
					errs = append(errs, fmt.Sprintf("sig:%s: want sig:valid, sig:invalid or sig:none", v))
					continue
				}
				t = term{kind: termSig, value: strings.ToLower(v)}
			case "state":
				if !deliveryStates[strings.ToLower(v)] {
					errs = append(errs, fmt.Sprintf("state:%s: want delivered, failed, pending, retrying or skipped", v))
					continue
				}
				t = term{kind: termState, value: strings.ToLower(v)}
			}
		}
		if t.kind == termText {
			switch {
			case methods[f]:
				t.kind = termMethod
			case isStatusTerm(strings.ToLower(f)):
				t = term{kind: termStatus, value: strings.ToLower(f)}
			case strings.HasPrefix(f, "/"):
				t.kind = termPath
			}
		}
		t.lower = strings.ToLower(t.value)
		q.terms = append(q.terms, t)
	}
	if errs != nil {
		return q, fmt.Errorf("filter: %s", strings.Join(errs, "; "))
	}
	return q, nil
}

func isStatusTerm(s string) bool {
	if s == "err" || s == "pending" {
		return true
	}
	if len(s) != 3 || s[0] < '1' || s[0] > '5' {
		return false
	}
	if s[1:] == "xx" {
		return true
	}
	_, err := strconv.Atoi(s)
	return err == nil
}

// match reports whether e matches every term; sig gives e's signature
// verdict (computed only when a sig: term asks).
func (q query) match(e *entry, sig func(*entry) Signature) bool {
	for _, t := range q.terms {
		if !t.match(e, sig) {
			return false
		}
	}
	return true
}

func (t term) match(e *entry, sig func(*entry) Signature) bool {
	r := e.req
	switch t.kind {
	case termMethod:
		return strings.EqualFold(r.Method, t.value)
	case termPath:
		return strings.Contains(strings.ToLower(r.Path), t.lower)
	case termHeader:
		for _, h := range r.Headers {
			if strings.EqualFold(h.Name, t.name) && (!t.has || glob.Match(t.value, h.Value)) {
				return true
			}
		}
		return false
	case termSig:
		switch s := sig(e).State; t.value {
		case "valid":
			return s == SigValid
		case "invalid":
			return s == SigInvalid
		default: // none, unknown
			return s == SigNone || s == SigUnknown
		}
	case termState:
		return deliveryState(e) == t.value || (t.value == "pending" && e.resp == nil) ||
			(t.value == "failed" && e.resp != nil && failed(e.resp))
	case termStatus:
		switch {
		case t.value == "pending":
			return e.resp == nil
		case t.value == "err":
			return e.resp != nil && e.resp.Error != ""
		case e.resp == nil || e.resp.Error != "":
			return false
		case strings.HasSuffix(t.value, "xx"):
			return e.resp.Status/100 == int(t.value[0]-'0')
		default:
			return strconv.Itoa(e.resp.Status) == t.value
		}
	}
	for _, s := range []string{r.Path, r.Query, r.ID, r.Method} {
		if strings.Contains(strings.ToLower(s), t.lower) {
			return true
		}
	}
	b := r.Body
	if len(b) > bodySearchLimit {
		b = b[:bodySearchLimit]
	}
	return bytes.Contains(b, []byte(t.value))
}

// deliveryState is e's most specific state: retrying is also pending, and
// skipped (not sent under --route-only) is also failed, as the status
// line's failed count and R have it.
func deliveryState(e *entry) string {
	switch {
	case e.resp == nil && e.retry != nil:
		return "retrying"
	case e.resp == nil:
		return "pending"
	case e.resp.Skipped:
		return "skipped"
	case failed(e.resp):
		return "failed"
	}
	return "delivered"
}
