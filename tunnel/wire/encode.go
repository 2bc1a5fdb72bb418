package wire

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// Encode is json.Marshal(m), byte for byte, only cheaper for the messages
// sent per event (event, response, ack) and keepalives.
//
// The fast path writes messages that set only type, event, id, response and
// ack, with strings of printable ASCII that json.Marshal leaves as they are
// (no quote, backslash, <, > or &). Anything else is left to json.Marshal.
func Encode(m *Message) ([]byte, error) {
	n := 256
	if m.Event != nil {
		n += base64.StdEncoding.EncodedLen(len(m.Event.Body)) + 64*len(m.Event.Headers)
	}
	if m.Response != nil {
		n += base64.StdEncoding.EncodedLen(len(m.Response.Body)) + 64*len(m.Response.Headers)
	}
	if b, ok := appendMessage(make([]byte, 0, n), m); ok {
		return b, nil
	}
	return json.Marshal(m)
}

func appendMessage(b []byte, m *Message) ([]byte, bool) {
	rest := *m
	rest.Type, rest.Event, rest.ID, rest.Response, rest.Ack = "", nil, "", nil, false
	if rest != (Message{}) {
		return nil, false // a field only encoding/json writes
	}
	e := encoder{b: b, ok: true}
	e.str(`{"type":`, m.Type)
	if m.Event != nil {
		e.request(`,"event":`, m.Event)
	}
	if m.ID != "" {
		e.str(`,"id":`, m.ID)
	}
	if m.Response != nil {
		e.response(`,"response":`, m.Response)
	}
	if m.Ack {
		e.raw(`,"ack":true`)
	}
	e.raw("}")
	return e.b, e.ok
}

type encoder struct {
	b  []byte
	ok bool // false once something needs encoding/json
}

func (e *encoder) raw(s string) { e.b = append(e.b, s...) }

// str writes key and s, quoted; s must need no escaping.
func (e *encoder) str(key, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			e.ok = false
			return
		}
	}
	e.b = append(e.b, key...)
	e.b = append(e.b, '"')
	e.b = append(e.b, s...)
	e.b = append(e.b, '"')
}

func (e *encoder) strOmitEmpty(key, s string) {
	if s != "" {
		e.str(key, s)
	}
}

func (e *encoder) int(key string, v int64) {
	e.b = append(e.b, key...)
	e.b = strconv.AppendInt(e.b, v, 10)
}

func (e *encoder) bytes(key string, p []byte) {
	e.b = append(e.b, key...)
	if p == nil {
		e.raw("null")
		return
	}
	e.b = append(e.b, '"')
	e.b = base64.StdEncoding.AppendEncode(e.b, p)
	e.b = append(e.b, '"')
}

func (e *encoder) headers(key string, hs capture.Headers) {
	e.b = append(e.b, key...)
	if hs == nil {
		e.raw("null")
		return
	}
	e.raw("[")
	for i, h := range hs {
		if i > 0 {
			e.raw(",")
		}
		e.str(`{"name":`, h.Name)
		e.str(`,"value":`, h.Value)
		e.raw("}")
	}
	e.raw("]")
}

// time writes t as its MarshalJSON does: quoted MarshalText.
func (e *encoder) time(key string, t time.Time) {
	e.b = append(e.b, key...)
	e.b = append(e.b, '"')
	b, err := t.AppendText(e.b)
	if err != nil {
		e.ok = false
		return
	}
	e.b = append(b, '"')
}

// request follows capture.Request's fields, in order, with their tags.
func (e *encoder) request(key string, r *capture.Request) {
	e.b = append(e.b, key...)
	e.str(`{"id":`, r.ID)
	e.str(`,"endpoint":`, r.Endpoint)
	e.str(`,"method":`, r.Method)
	e.str(`,"path":`, r.Path)
	e.str(`,"query":`, r.Query)
	if r.ForceQuery {
		e.raw(`,"force_query":true`)
	}
	e.headers(`,"headers":`, r.Headers)
	e.bytes(`,"body":`, r.Body)
	e.strOmitEmpty(`,"host":`, r.Host)
	e.strOmitEmpty(`,"proto":`, r.Proto)
	e.strOmitEmpty(`,"remote_addr":`, r.RemoteAddr)
	e.time(`,"received_at":`, r.ReceivedAt)
	e.strOmitEmpty(`,"replay_of":`, r.ReplayOf)
	e.raw("}")
}

// response follows capture.Response's fields, in order, with their tags.
func (e *encoder) response(key string, r *capture.Response) {
	e.b = append(e.b, key...)
	e.raw("{")
	n := len(e.b)
	if r.Status != 0 {
		e.int(`"status":`, int64(r.Status))
	}
	if len(r.Headers) > 0 {
		e.headers(comma(e.b, n)+`"headers":`, r.Headers)
	}
	if len(r.Body) > 0 {
		e.bytes(comma(e.b, n)+`"body":`, r.Body)
	}
	e.int(comma(e.b, n)+`"duration_ns":`, int64(r.Duration))
	if r.Error != "" {
		e.str(`,"error":`, r.Error)
	}
	e.time(`,"at":`, r.At)
	e.raw("}")
}

// comma separates a field from those written since n, if any.
func comma(b []byte, n int) string {
	if len(b) > n {
		return ","
	}
	return ""
}
