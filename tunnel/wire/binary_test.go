package wire

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// rawRequest is an event whose path, query and a header value are not valid
// UTF-8, with Raw set as the relay's ingress sets it.
func rawRequest(at time.Time) *capture.Request {
	r := &capture.Request{ID: "evt_4", Endpoint: "alpha", Method: "POST", Path: "/caf\xe9", Query: "q=\xe9t\xe9",
		Headers: capture.Headers{{Name: "Content-Type", Value: "text/plain"}, {Name: "X-Name", Value: "caf\xe9"}},
		Body:    []byte("x"), ReceivedAt: at}
	r.SetRaw()
	return r
}

func rawResponse(at time.Time) *capture.Response {
	r := &capture.Response{Status: 200, Headers: capture.Headers{{Name: "X-App", Value: "r\xe9sum\xe9"}}, At: at}
	r.SetRaw()
	return r
}

// TestRawBytesSurviveTheWire: strings that are not UTF-8 decode to the exact
// bytes, on both sides.
func TestRawBytesSurviveTheWire(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, m := range []*Message{
		{Type: TypeEvent, Event: rawRequest(at)},
		{Type: TypeResponse, ID: "evt_4", Response: rawResponse(at), Ack: true},
	} {
		b, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		var got Message
		if err := Decode(b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, m) {
			t.Errorf("decoded %+v\nwant    %+v", got, m)
		}
	}
}

// TestRawOldPeers: a message from a peer that does not know Raw decodes as
// before (the lossy strings), and a peer that does not know Raw reads a new
// message, ignoring the field.
func TestRawOldPeers(t *testing.T) {
	var m Message
	old := `{"type":"event","event":{"id":"evt_1","path":"/caf\ufffd","headers":[{"name":"X","value":"caf\ufffd"}]}}`
	if err := Decode([]byte(old), &m); err != nil {
		t.Fatal(err)
	}
	if m.Event.Path != "/caf\ufffd" || m.Event.Headers[0].Value != "caf\ufffd" || m.Event.Raw != nil {
		t.Errorf("old message decoded as %+v", m.Event)
	}
	old = `{"type":"response","id":"evt_1","response":{"status":200,"headers":[{"name":"X","value":"caf\ufffd"}]}}`
	if err := Decode([]byte(old), &m); err != nil || m.Response.Headers[0].Value != "caf\ufffd" {
		t.Errorf("old response decoded as %+v, %v", m.Response, err)
	}

	b, err := Encode(&Message{Type: TypeEvent, Event: rawRequest(time.Time{})})
	if err != nil {
		t.Fatal(err)
	}
	// The event as this package's previous version declared it.
	var oldPeer struct {
		Type  string `json:"type"`
		Event *struct {
			Path    string          `json:"path"`
			Query   string          `json:"query"`
			Headers capture.Headers `json:"headers"`
		} `json:"event"`
	}
	if err := json.Unmarshal(b, &oldPeer); err != nil {
		t.Fatal(err)
	}
	if oldPeer.Event.Path != "/caf\ufffd" || oldPeer.Event.Query != "q=\ufffdt\ufffd" || oldPeer.Event.Headers[1].Value != "caf\ufffd" {
		t.Errorf("an old peer read %+v", oldPeer.Event)
	}
}
