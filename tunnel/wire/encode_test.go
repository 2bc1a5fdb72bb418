package wire

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// checkEncode compares Encode with json.Marshal; it returns whether the
// fast path took m.
func checkEncode(t *testing.T, m *Message) bool {
	t.Helper()
	want, werr := json.Marshal(m)
	got, gerr := Encode(m)
	if (werr == nil) != (gerr == nil) || string(got) != string(want) {
		t.Fatalf("%+v:\nEncode       %s, %v\njson.Marshal %s, %v", m, got, gerr, want, werr)
	}
	_, ok := appendMessage(nil, m)
	return ok
}

func TestEncodeMatchesMarshal(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	var msgs []Message
	for _, in := range sentMessages(t) {
		var m Message
		if err := json.Unmarshal(in, &m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	for i, m := range msgs {
		fast := checkEncode(t, &m)
		// Per-event messages and keepalives take the fast path; their
		// query strings need escaping (&), so events with one do not.
		wantFast := m.Type == TypePing || m.Type == TypeAck || m.Type == TypeResponse || (m.Type == TypeEvent && m.Event.Query == "")
		if fast != wantFast {
			t.Errorf("message %d (%s): fast path %v, want %v", i, m.Type, fast, wantFast)
		}
	}
	ev := &capture.Request{ID: "evt_1", Method: "POST", Path: "/a", Query: "x=1", Headers: capture.Headers{{Name: "A", Value: "b"}},
		Body: []byte{0, 0xff}, Host: "h", ReceivedAt: at}
	for _, m := range []Message{
		{},
		{Type: TypeEvent, Event: ev},
		{Type: TypeEvent, Event: &capture.Request{}},
		{Type: TypeEvent, Event: &capture.Request{Path: "/<a>"}},
		{Type: TypeEvent, Event: &capture.Request{Headers: capture.Headers{{Name: "X", Value: "é"}}}},
		{Type: TypeEvent, Event: &capture.Request{ReceivedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{Type: TypeResponse, ID: "e", Response: &capture.Response{}},
		{Type: TypeResponse, ID: "e", Response: &capture.Response{Headers: capture.Headers{}, Body: []byte{}, Duration: -5}},
		{Type: TypeResponse, ID: "e", Ack: true, Response: &capture.Response{Body: []byte("x"), Error: "boom"}},
		{Type: TypeResponse, ID: "e", Response: &capture.Response{Error: `say "no"`}},
		{Type: TypeResponse, ID: "e", Response: &capture.Response{Error: "a\nb"}},
		{Type: TypeResponse, ID: "e", Response: &capture.Response{At: at.In(time.FixedZone("x", -3600))}},
		{Type: TypeAck, ID: "evt_\x7f"},
		{Type: TypeAck, ID: "e", Version: 1},
		{Type: TypeHello, Features: NewFeatures(FeatureResponseAck), Reply: &ReplyOptions{}},
		{Type: TypeError, Code: CodeInternal, Permanent: true},
	} {
		checkEncode(t, &m)
	}
}

func FuzzEncode(f *testing.F) {
	f.Add("response", "evt_1", true, 200, "a", "b", []byte("ok"), int64(5), "", int64(1764064800123456789), "/p", "q=1")
	f.Add("event", "", false, 0, "<", "\x00", []byte(nil), int64(-1), "é", int64(0), "", "")
	f.Fuzz(func(t *testing.T, typ, id string, ack bool, status int, hname, hvalue string, body []byte, dur int64, errText string, at int64, path, query string) {
		ts := time.Unix(0, at).UTC()
		checkEncode(t, &Message{Type: typ, ID: id, Ack: ack, Response: &capture.Response{Status: status,
			Headers: capture.Headers{{Name: hname, Value: hvalue}}, Body: body, Duration: time.Duration(dur), Error: errText, At: ts}})
		checkEncode(t, &Message{Type: typ, Event: &capture.Request{ID: id, Method: hname, Path: path, Query: query, ForceQuery: ack,
			Headers: capture.Headers{{Name: hname, Value: hvalue}}, Body: body, Host: errText, ReceivedAt: ts}})
	})
}
