package wire

import (
	gojson "github.com/goccy/go-json"
)

// Encode and Decode are the protocol's JSON codec: json.Marshal and
// json.Unmarshal with the same results, from github.com/goccy/go-json, a
// drop-in replacement for encoding/json without its reflection on every
// call. Each event costs the relay an Encode and the CLI a Decode, and each
// response the other way round; with encoding/json the event decode alone
// was the CLI's largest single cost. codec_test.go checks the two agree on
// every message peers send.

// Encode returns the JSON encoding of m.
func Encode(m *Message) ([]byte, error) { return gojson.Marshal(m) }

// Decode parses one JSON message into m. The strings of its event or
// response get back the exact bytes the JSON could not carry
// (capture.Request.RestoreRaw), so callers never see the lossy form.
func Decode(data []byte, m *Message) error {
	if err := gojson.Unmarshal(data, m); err != nil {
		return err
	}
	m.Event.RestoreRaw()
	m.Response.RestoreRaw()
	return nil
}
