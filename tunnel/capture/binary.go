package capture

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// JSON strings cannot carry bytes that are not valid UTF-8: encoders write
// U+FFFD for each such byte. HTTP allows them in header values (obs-text),
// and Go's server accepts them in the request line, so a Latin-1 header or a
// raw 0xE9 byte in a path would reach the app altered after a trip through
// the wire protocol or the store. Raw carries the exact bytes of those
// strings beside the lossy ones (base64, like bodies). It is nil, and absent
// from JSON, in the common case where every string is valid UTF-8, so that
// case costs one nil check; a peer that does not know it ignores it and sees
// the lossy string, as before.
//
// Keys of Raw:
//
//	path, query, host       Request.Path, Request.Query, Request.Host
//	header.N.name           Headers[N].Name  } both, when either is not
//	header.N.value          Headers[N].Value } valid UTF-8
//
// An entry is applied only while the string is still the lossy form of its
// bytes (for a header: both name and value), so an entry made stale by a
// later change is ignored rather than applied to the wrong string. Code that
// changes the strings of a decoded value calls SetRaw again before encoding
// it.

// SetRaw fills r.Raw from r's strings: the exact bytes of every one that is
// not valid UTF-8, or nil. Call it where the strings come from the outside
// (ingress, the app's response, a replay built from user input), after the
// last change to them and before they are encoded as JSON.
func (r *Request) SetRaw() {
	r.Raw = nil
	r.Raw = rawString(r.Raw, "path", r.Path)
	r.Raw = rawString(r.Raw, "query", r.Query)
	r.Raw = rawString(r.Raw, "host", r.Host) // from X-Forwarded-Host behind a trusted proxy
	r.Raw = rawHeaders(r.Raw, r.Headers)
}

// RestoreRaw puts the exact bytes recorded in r.Raw back into r's strings.
// Call it once where r was decoded from JSON. An entry whose string is no
// longer the lossy form of its bytes (the string was changed since SetRaw) is
// ignored, so a stale Raw never alters a string.
func (r *Request) RestoreRaw() {
	if r == nil || r.Raw == nil {
		return
	}
	restore(&r.Path, r.Raw["path"])
	restore(&r.Query, r.Raw["query"])
	restore(&r.Host, r.Raw["host"])
	restoreHeaders(r.Headers, r.Raw)
}

// SetRaw is Request.SetRaw for a response's headers.
func (r *Response) SetRaw() {
	r.Raw = rawHeaders(nil, r.Headers)
}

// RestoreRaw is Request.RestoreRaw for a response's headers.
func (r *Response) RestoreRaw() {
	if r == nil || r.Raw == nil {
		return
	}
	restoreHeaders(r.Headers, r.Raw)
}

func rawString(raw map[string][]byte, key, s string) map[string][]byte {
	if utf8.ValidString(s) {
		return raw
	}
	if raw == nil {
		raw = make(map[string][]byte)
	}
	raw[key] = []byte(s)
	return raw
}

func rawHeaders(raw map[string][]byte, hs Headers) map[string][]byte {
	for i, h := range hs {
		if utf8.ValidString(h.Name) && utf8.ValidString(h.Value) {
			continue
		}
		// Both strings, so that restoring can check the whole field: an
		// entry that no longer matches the header at its index is ignored.
		if raw == nil {
			raw = make(map[string][]byte)
		}
		n := "header." + strconv.Itoa(i) + "."
		raw[n+"name"] = []byte(h.Name)
		raw[n+"value"] = []byte(h.Value)
	}
	return raw
}

func restoreHeaders(hs Headers, raw map[string][]byte) {
	for i := range hs {
		n := "header." + strconv.Itoa(i) + "."
		name, value := raw[n+"name"], raw[n+"value"]
		if (name == nil && value == nil) || !matches(hs[i].Name, name) || !matches(hs[i].Value, value) {
			continue
		}
		restore(&hs[i].Name, name)
		restore(&hs[i].Value, value)
	}
}

// matches reports whether s is b, or what a JSON round trip made of b (nil b:
// no entry, anything matches).
func matches(s string, b []byte) bool {
	return b == nil || s == string(b) || s == Lossy(string(b))
}

// restore sets *s to b when *s is what a JSON round trip made of b.
func restore(s *string, b []byte) {
	if b != nil && *s != string(b) && matches(*s, b) {
		*s = string(b)
	}
}

// Lossy returns s as a JSON encoder writes it: every byte that is not part of
// a valid UTF-8 sequence replaced by U+FFFD.
func Lossy(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
