package wire

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// Decode is json.Unmarshal(data, m) for a zero m, with the same result and
// the same errors, only cheaper for the messages peers actually send: every
// event costs the CLI a decode (encoding/json's reflection was its largest
// single cost), and every response the relay.
//
// The fast path takes the common shape only: known keys (exact spelling,
// each once), strings without escapes or non-ASCII bytes, integers, and no
// trailing data. Anything else (an escaped string, a field added to Message
// and not taught here, a malformed message) is decoded again by
// encoding/json from scratch, so an unusual message is never decoded
// differently, only more slowly.
func Decode(data []byte, m *Message) error {
	d := decoder{data: data}
	if d.message(m) && d.end() {
		return nil
	}
	*m = Message{}
	return json.Unmarshal(data, m)
}

// decoder reads one JSON value. Its methods report false when the input
// leaves the fast path; the caller then starts over with encoding/json.
type decoder struct {
	data []byte
	i    int
}

func (d *decoder) ws() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) end() bool {
	d.ws()
	return d.i == len(d.data)
}

// peek returns the next byte after whitespace, or 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.i >= len(d.data) {
		return 0
	}
	return d.data[d.i]
}

func (d *decoder) consume(c byte) bool {
	if d.peek() != c {
		return false
	}
	d.i++
	return true
}

// null consumes a null literal if one comes next. On a zero destination
// (each key is seen once) encoding/json leaves the zero value for null,
// whatever the field's type.
func (d *decoder) null() bool {
	if d.peek() == 'n' && d.i+4 <= len(d.data) && string(d.data[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// rawString returns the bytes of a string without escapes, control or
// non-ASCII bytes (which encoding/json would transform or refuse).
func (d *decoder) rawString() ([]byte, bool) {
	if d.peek() != '"' {
		return nil, false
	}
	start := d.i + 1
	for j := start; j < len(d.data); j++ {
		c := d.data[j]
		switch {
		case c == '"':
			d.i = j + 1
			return d.data[start:j], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

func (d *decoder) str(s *string) bool {
	if d.null() {
		return true
	}
	start := d.i
	if b, ok := d.rawString(); ok {
		*s = string(b)
		return true
	}
	d.i = start
	return d.quoted(s)
}

// quoted decodes a string with escapes or UTF-8 as encoding/json does (a
// JSON encoder escapes &, < and > in every query string). Surrogate pairs
// and invalid UTF-8, which encoding/json transforms, leave the fast path.
func (d *decoder) quoted(s *string) bool {
	if d.peek() != '"' {
		return false
	}
	j := d.i + 1
	var out []byte
	for j < len(d.data) {
		c := d.data[j]
		switch {
		case c == '"':
			d.i = j + 1
			*s = string(out)
			return true
		case c < 0x20:
			return false
		case c < 0x80 && c != '\\':
			out = append(out, c)
			j++
		case c >= 0x80:
			r, n := utf8.DecodeRune(d.data[j:])
			if r == utf8.RuneError && n == 1 {
				return false
			}
			out = append(out, d.data[j:j+n]...)
			j += n
		default: // an escape
			if j+1 >= len(d.data) {
				return false
			}
			switch e := d.data[j+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				if j+6 > len(d.data) {
					return false
				}
				r, err := strconv.ParseUint(string(d.data[j+2:j+6]), 16, 16)
				if err != nil || utf16.IsSurrogate(rune(r)) {
					return false
				}
				out = utf8.AppendRune(out, rune(r))
				j += 4
			default:
				return false
			}
			j += 2
		}
	}
	return false
}

// object calls field for each key of an object (nothing for null); field
// decodes the value and returns the key's bit, or false for a key it does
// not know. A key seen twice leaves the fast path.
func (d *decoder) object(field func(key []byte) (bit uint32, ok bool)) bool {
	if d.null() {
		return true
	}
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	var seen uint32
	for {
		key, ok := d.rawString()
		if !ok || !d.consume(':') {
			return false
		}
		bit, ok := field(key)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return true
		default:
			return false
		}
	}
}

func (d *decoder) integer(bits int) (int64, bool) {
	if d.null() {
		return 0, true
	}
	d.ws()
	start := d.i
	if d.i < len(d.data) && d.data[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.data) && d.data[d.i] >= '0' && d.data[d.i] <= '9' {
		d.i++
	}
	n := d.i - digits
	if n == 0 || (n > 1 && d.data[digits] == '0') {
		return 0, false // not an integer, or a leading zero (invalid JSON)
	}
	if d.i < len(d.data) {
		switch d.data[d.i] {
		case '.', 'e', 'E':
			return 0, false // a number encoding/json refuses for an integer field
		}
	}
	v, err := strconv.ParseInt(string(d.data[start:d.i]), 10, bits)
	return v, err == nil
}

func (d *decoder) int(p *int) bool {
	v, ok := d.integer(strconv.IntSize)
	*p = int(v)
	return ok
}

func (d *decoder) int64(p *int64) bool {
	v, ok := d.integer(64)
	*p = v
	return ok
}

func (d *decoder) bool(p *bool) bool {
	if d.null() {
		return true
	}
	d.ws()
	switch {
	case d.i+4 <= len(d.data) && string(d.data[d.i:d.i+4]) == "true":
		d.i += 4
		*p = true
		return true
	case d.i+5 <= len(d.data) && string(d.data[d.i:d.i+5]) == "false":
		d.i += 5
		*p = false
		return true
	}
	return false
}

// bytes decodes base64 as encoding/json does for a []byte.
func (d *decoder) bytes(p *[]byte) bool {
	if d.null() {
		return true
	}
	s, ok := d.rawString()
	if !ok {
		return false
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(b, s)
	*p = b[:n]
	return err == nil
}

func (d *decoder) time(t *time.Time) bool {
	if d.null() {
		return true
	}
	start := d.i
	if _, ok := d.rawString(); !ok {
		return false
	}
	return t.UnmarshalJSON(d.data[start:d.i]) == nil
}

// stringArray returns the bytes of an array of strings, for a type with its
// own UnmarshalJSON.
func (d *decoder) stringArray() ([]byte, bool) {
	if d.null() {
		return []byte("null"), true
	}
	start := d.i
	if !d.consume('[') {
		return nil, false
	}
	if d.consume(']') {
		return d.data[start:d.i], true
	}
	for {
		if _, ok := d.rawString(); !ok {
			return nil, false
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return d.data[start:d.i], true
		default:
			return nil, false
		}
	}
}

func (d *decoder) headers(p *capture.Headers) bool {
	if d.null() {
		return true
	}
	if !d.consume('[') {
		return false
	}
	hs := capture.Headers{}
	if d.consume(']') {
		*p = hs
		return true
	}
	for {
		var h capture.Header
		ok := d.object(func(key []byte) (uint32, bool) {
			switch string(key) {
			case "name":
				return 1, d.str(&h.Name)
			case "value":
				return 2, d.str(&h.Value)
			}
			return 0, false
		})
		if !ok {
			return false
		}
		hs = append(hs, h)
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			*p = hs
			return true
		default:
			return false
		}
	}
}

func (d *decoder) request(p **capture.Request) bool {
	if d.null() {
		return true
	}
	r := &capture.Request{}
	ok := d.object(func(key []byte) (uint32, bool) {
		switch string(key) {
		case "id":
			return 1 << 0, d.str(&r.ID)
		case "endpoint":
			return 1 << 1, d.str(&r.Endpoint)
		case "method":
			return 1 << 2, d.str(&r.Method)
		case "path":
			return 1 << 3, d.str(&r.Path)
		case "query":
			return 1 << 4, d.str(&r.Query)
		case "force_query":
			return 1 << 5, d.bool(&r.ForceQuery)
		case "headers":
			return 1 << 6, d.headers(&r.Headers)
		case "body":
			return 1 << 7, d.bytes(&r.Body)
		case "host":
			return 1 << 8, d.str(&r.Host)
		case "proto":
			return 1 << 9, d.str(&r.Proto)
		case "remote_addr":
			return 1 << 10, d.str(&r.RemoteAddr)
		case "received_at":
			return 1 << 11, d.time(&r.ReceivedAt)
		case "replay_of":
			return 1 << 12, d.str(&r.ReplayOf)
		}
		return 0, false
	})
	*p = r
	return ok
}

func (d *decoder) response(p **capture.Response) bool {
	if d.null() {
		return true
	}
	r := &capture.Response{}
	ok := d.object(func(key []byte) (uint32, bool) {
		switch string(key) {
		case "status":
			return 1 << 0, d.int(&r.Status)
		case "headers":
			return 1 << 1, d.headers(&r.Headers)
		case "body":
			return 1 << 2, d.bytes(&r.Body)
		case "duration_ns":
			return 1 << 3, d.int64((*int64)(&r.Duration))
		case "error":
			return 1 << 4, d.str(&r.Error)
		case "at":
			return 1 << 5, d.time(&r.At)
		}
		return 0, false
	})
	*p = r
	return ok
}

func (d *decoder) reply(p **ReplyOptions) bool {
	if d.null() {
		return true
	}
	r := &ReplyOptions{}
	ok := d.object(func(key []byte) (uint32, bool) {
		switch string(key) {
		case "mode":
			return 1 << 0, d.str(&r.Mode)
		case "status":
			return 1 << 1, d.int(&r.Status)
		case "timeout":
			return 1 << 2, d.int64((*int64)(&r.Timeout))
		}
		return 0, false
	})
	*p = r
	return ok
}

func (d *decoder) features(p *Features) bool {
	raw, ok := d.stringArray()
	return ok && p.UnmarshalJSON(raw) == nil
}

func (d *decoder) message(m *Message) bool {
	if d.peek() != '{' {
		return false // null, or not an object: encoding/json decides
	}
	return d.object(func(key []byte) (uint32, bool) {
		switch string(key) {
		case "type":
			return 1 << 0, d.str(&m.Type)
		case "version":
			return 1 << 1, d.int(&m.Version)
		case "token":
			return 1 << 2, d.str(&m.Token)
		case "endpoint":
			return 1 << 3, d.str(&m.Endpoint)
		case "window":
			return 1 << 4, d.int(&m.Window)
		case "reply":
			return 1 << 5, d.reply(&m.Reply)
		case "features":
			return 1 << 6, d.features(&m.Features)
		case "url":
			return 1 << 7, d.str(&m.URL)
		case "session":
			return 1 << 8, d.str(&m.Session)
		case "pending":
			return 1 << 9, d.int(&m.Pending)
		case "max_body":
			return 1 << 10, d.int64(&m.MaxBody)
		case "code":
			return 1 << 11, d.str(&m.Code)
		case "message":
			return 1 << 12, d.str(&m.Text)
		case "permanent":
			return 1 << 13, d.bool(&m.Permanent)
		case "event":
			return 1 << 14, d.request(&m.Event)
		case "id":
			return 1 << 15, d.str(&m.ID)
		case "response":
			return 1 << 16, d.response(&m.Response)
		case "ack":
			return 1 << 17, d.bool(&m.Ack)
		}
		return 0, false
	})
}
