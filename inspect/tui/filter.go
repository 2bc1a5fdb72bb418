package tui

import (
	"bytes"
	"strconv"
	"strings"
)

// query is a parsed filter: every term must match. A term is
//
//	method:POST or an upper-case method (POST)   the request method
//	status:404, 404, 4xx, err, pending           the local status
//	path:/x or /x                                the path contains it
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
)

type term struct {
	kind  termKind
	value string
	lower string
}

const bodySearchLimit = 64 << 10

var methods = map[string]bool{
	"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true,
	"HEAD": true, "OPTIONS": true, "TRACE": true, "CONNECT": true,
}

func parseQuery(s string) query {
	var q query
	for _, f := range strings.Fields(s) {
		t := term{kind: termText, value: f}
		if k, v, ok := strings.Cut(f, ":"); ok && v != "" {
			switch strings.ToLower(k) {
			case "method":
				t = term{kind: termMethod, value: strings.ToUpper(v)}
			case "status":
				t = term{kind: termStatus, value: strings.ToLower(v)}
			case "path":
				t = term{kind: termPath, value: v}
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
	return q
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

func (q query) match(e *entry) bool {
	for _, t := range q.terms {
		if !t.match(e) {
			return false
		}
	}
	return true
}

func (t term) match(e *entry) bool {
	r := e.req
	switch t.kind {
	case termMethod:
		return strings.EqualFold(r.Method, t.value)
	case termPath:
		return strings.Contains(strings.ToLower(r.Path), t.lower)
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
