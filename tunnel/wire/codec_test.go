package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// sentMessages are messages as peers encode them.
func sentMessages(t testing.TB) [][]byte {
	at := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	msgs := []Message{
		{Type: TypePing},
		{Type: TypeHello, Version: Version, Token: "tok", Endpoint: "alpha", Window: 64,
			Reply: &ReplyOptions{Mode: ReplyStatus, Status: 204, Timeout: 8 * time.Second}, Features: NewFeatures(FeatureResponseAck)},
		{Type: TypeWelcome, Version: Version, Endpoint: "alpha", URL: "http://x/h/alpha", Session: "ses_1", Pending: 3, Window: 64, MaxBody: 25 << 20, Features: NewFeatures(FeatureResponseAck)},
		{Type: TypeError, Code: CodeReplaced, Text: "another hookctl listen connected", Permanent: true},
		{Type: TypeEvent, Event: &capture.Request{ID: "evt_1", Endpoint: "alpha", Method: "POST", Path: "/a%2Fb", Query: "x=1&y=",
			ForceQuery: true, Headers: capture.Headers{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Multi", Value: ""}},
			Body: bytes.Repeat([]byte{0, 1, 2, 0xff}, 300), Host: "h:1", Proto: "https", RemoteAddr: "127.0.0.1:5", ReceivedAt: at, ReplayOf: "evt_0"}},
		{Type: TypeEvent, Event: &capture.Request{ID: "evt_2", Method: "GET", Path: "/", ReceivedAt: at}}, // null headers and body
		{Type: TypeEvent, Event: &capture.Request{ID: "evt_3", Method: "POST", Path: "/", Headers: capture.Headers{}, Body: []byte{}}},
		{Type: TypeResponse, ID: "evt_1", Ack: true, Response: &capture.Response{Status: 201, Headers: capture.Headers{{Name: "A", Value: "b"}},
			Body: []byte("made"), Duration: 1234567, At: at}},
		{Type: TypeResponse, ID: "evt_2", Response: &capture.Response{Error: "forward to x: context deadline exceeded", Duration: -1, At: at}},
		{Type: TypeAck, ID: "evt_1"},
		{Type: TypeEvent, Event: rawRequest(at)},
		{Type: TypeResponse, ID: "evt_4", Response: rawResponse(at)},
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// Messages no peer of this version sends: odd spacing, escapes, wrong
// types, malformed JSON.
var oddMessages = []string{
	``, `null`, `[]`, `"x"`, `{}`, `{} `, ` {"type":"ping"}` + "\n", `{"type":"ping"}x`, `{"type":"ping"}{}`,
	`{"type" : "ping" , "id" : "a" }`, `{"type":"ping",}`, `{"type":"ping"`, `{"type":}`, `{type:"ping"}`,
	`{"TYPE":"ping"}`, `{"Type":"ping","type":"pong"}`, `{"type":"ping","type":"pong"}`, `{"unknown":1,"type":"ping"}`,
	`{"type":"p\u0069ng"}`, `{"query":"a=1\u0026b=\u003c\u003e"}`, `{"id":"\ud83d\ude00"}`, `{"id":"\ud83d"}`, `{"id":"\u00e9\u0000"}`,
	`{"id":"\x"}`, `{"id":"\u12"}`, `{"id":"\u12g4"}`, `{"id":"\"}`, `{"id":"\/\b\f\n\r\t\\"}`, `{"id":"é€😀"}`, `{"type":"pi\"ng"}`, `{"type":"héllo"}`, "{\"type\":\"\xff\"}", "{\"type\":\"a\tb\"}",
	`{"type":null}`, `{"type":1}`, `{"type":true}`, `{"event":null}`, `{"response":null,"reply":null,"features":null}`,
	`{"version":1.0}`, `{"version":1e2}`, `{"version":-0}`, `{"version":-}`, `{"version":01}`, `{"version":"1"}`,
	`{"version":99999999999999999999}`, `{"max_body":-9223372036854775808}`, `{"version":true}`,
	`{"permanent":truex}`, `{"permanent":false}`, `{"permanent":nul}`, `{"ack":null}`, `{"ack":1}`,
	`{"features":[]}`, `{"features":["a","b"]}`, `{"features":["a",1]}`, `{"features":[null]}`, `{"features":"a"}`,
	`{"event":{}}`, `{"event":{"body":"AAEC"}}`, `{"event":{"body":"AAE"}}`, `{"event":{"body":"AA\nEC"}}`, `{"event":{"body":""}}`,
	`{"event":{"body":null,"headers":null}}`, `{"event":{"headers":[]}}`, `{"event":{"headers":[null]}}`,
	`{"event":{"headers":[{"name":"a"},{"value":"b","name":"c"}]}}`, `{"event":{"headers":[{"name":"a","name":"b"}]}}`,
	`{"event":{"headers":[{"Name":"a"}]}}`, `{"event":{"headers":[{"name":"a"},]}}`, `{"event":{"headers":{}}}`,
	`{"event":{"received_at":"2026-11-25T10:00:00Z"}}`, `{"event":{"received_at":"2026-11-25T10:00:00+01:00"}}`,
	`{"event":{"received_at":"2026-11-25"}}`, `{"event":{"received_at":null}}`, `{"event":{"received_at":1}}`,
	`{"event":{"id":"a"},"event":{"method":"GET"}}`, `{"event":{"nope":1}}`, `{"event":[]}`,
	`{"response":{"status":200,"duration_ns":1.5}}`, `{"response":{"status":200,"at":"x"}}`,
	`{"reply":{"mode":"ack","status":0,"timeout":5}}`, `{"reply":{"timeout":"5s"}}`,
	// Keys matched case-insensitively, with Unicode's extra folds (ſ is s,
	// the Kelvin sign is k).
	`{"SESSION":"a"}`, `{"ſession":"a"}`, `{"acK":true}`, `{"to\u212aen":"a","token":"b"}`,
	`{"event":{"ſtatus":1,"bodY":"AA==","HEADERS":[{"NAME":"a","VALUE":"b"}]}}`, `{"response":{"ſtatus":201}}`,
}

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	inputs := sentMessages(t)
	for _, s := range oddMessages {
		inputs = append(inputs, []byte(s))
	}
	for _, in := range inputs {
		checkDecode(t, in)
	}
}

// checkDecode compares Decode with json.Unmarshal: both accept or both
// refuse (their error texts differ), and accepted input decodes the same.
func checkDecode(t *testing.T, in []byte) {
	t.Helper()
	var want, got Message
	werr := json.Unmarshal(in, &want)
	if werr == nil {
		want.Event.RestoreRaw() // as Decode does
		want.Response.RestoreRaw()
	}
	gerr := Decode(in, &got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: Decode error %v, encoding/json %v", in, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nDecode        %+v\nencoding/json %+v", in, got, want)
	}
}

func FuzzDecode(f *testing.F) {
	for _, in := range sentMessages(f) {
		f.Add(in)
	}
	for _, s := range oddMessages {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecode)
}

// checkEncode compares Encode with json.Marshal, byte for byte.
func checkEncode(t *testing.T, m *Message) {
	t.Helper()
	want, werr := json.Marshal(m)
	got, gerr := Encode(m)
	if (werr == nil) != (gerr == nil) || string(got) != string(want) {
		t.Fatalf("%+v:\nEncode       %s, %v\njson.Marshal %s, %v", m, got, gerr, want, werr)
	}
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
	for _, m := range msgs {
		checkEncode(t, &m)
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
	f.Add("event", "evt_\xff", false, 0, "X-\xe9", "caf\xe9", []byte{0xe9}, int64(0), "\xed\xa0\x80", int64(0), "/caf\xe9", "q=\xc3")
	f.Fuzz(func(t *testing.T, typ, id string, ack bool, status int, hname, hvalue string, body []byte, dur int64, errText string, at int64, path, query string) {
		ts := time.Unix(0, at).UTC()
		checkEncode(t, &Message{Type: typ, ID: id, Ack: ack, Response: &capture.Response{Status: status,
			Headers: capture.Headers{{Name: hname, Value: hvalue}}, Body: body, Duration: time.Duration(dur), Error: errText, At: ts}})
		checkEncode(t, &Message{Type: typ, Event: &capture.Request{ID: id, Method: hname, Path: path, Query: query, ForceQuery: ack,
			Headers: capture.Headers{{Name: hname, Value: hvalue}}, Body: body, Host: errText, ReceivedAt: ts}})
	})
}

// TestInvalidUTF8AsEncodingJSON: a webhook's path, query and header values
// are bytes as sent, which need not be UTF-8 (net/http accepts obs-text in
// header values and any byte above 0x7f on the request line). JSON strings
// cannot carry them: encoding/json writes each invalid byte as U+FFFD, and so
// must Encode, and both sides must read the result the same. (The exact
// bytes travel beside them in capture.Request.Raw; see binary_test.go.)
func TestInvalidUTF8AsEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"caf\xe9", "\xff", "a\xc3", "\xc3\x28", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xc0\xaf",
		"\xef\xbf\xbd", "\u2028\u2029", "<&>", "\x7f", "\x01\x1f", "ok\xe2\x82", "\xe2\x82\xac",
	} {
		m := &Message{Type: TypeEvent, ID: s, Event: &capture.Request{ID: "evt_" + s, Method: s, Path: "/" + s, Query: "q=" + s,
			Headers: capture.Headers{{Name: "X-" + s, Value: s}}, Host: s, RemoteAddr: s, ReplayOf: s}}
		checkEncode(t, m)
		enc, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		checkDecode(t, enc)
		// Unescaped in the input too: the bytes as a peer could send them.
		checkDecode(t, []byte(`{"type":"event","id":"`+s+`","event":{"path":"/`+s+`","headers":[{"name":"X","value":"`+s+`"}]}}`))
		checkDecode(t, []byte(`{"type":"response","id":"e","response":{"error":"`+s+`","headers":[{"name":"`+s+`","value":"`+s+`"}]}}`))
	}
}

// Decode keeps no part of its input: the relay and the CLI read each
// message into a buffer they reuse for the next one (ReadMessage), so a
// decoded message that shared its bytes would change under its holder.
func TestDecodeKeepsNothingOfItsInput(t *testing.T) {
	for _, in := range sentMessages(t) {
		var want Message
		if err := Decode(in, &want); err != nil {
			t.Fatal(err)
		}
		buf := bytes.Clone(in)
		var got Message
		if err := Decode(buf, &got); err != nil {
			t.Fatal(err)
		}
		for i := range buf {
			buf[i] = 'X'
		}
		var other Message // reuses the decoder's own buffers too
		if err := Decode(sentMessages(t)[0], &other); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("message %.60s changed once its input was overwritten:\n got %+v\nwant %+v", in, got, want)
		}
	}
}
