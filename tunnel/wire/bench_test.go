package wire

import (
	"encoding/json"
	"testing"
)

func BenchmarkDecodeEvent(b *testing.B)    { benchDecode(b, sentMessages(b)[4]) }
func BenchmarkDecodeResponse(b *testing.B) { benchDecode(b, sentMessages(b)[7]) }
func BenchmarkEncodeResponse(b *testing.B) { benchEncode(b, sentMessages(b)[7]) }
func BenchmarkEncodeEvent(b *testing.B)    { benchEncode(b, sentMessages(b)[4]) }

// benchDecode compares Decode with encoding/json on one message.
func benchDecode(b *testing.B, in []byte) {
	for _, c := range []struct {
		name   string
		decode func([]byte, *Message) error
	}{
		{"Decode", Decode},
		{"encoding/json", func(in []byte, m *Message) error { return json.Unmarshal(in, m) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				var m Message
				if err := c.decode(in, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchEncode compares Encode with encoding/json on the message in decodes to.
func benchEncode(b *testing.B, in []byte) {
	var m Message
	if err := json.Unmarshal(in, &m); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		encode func(*Message) ([]byte, error)
	}{
		{"Encode", Encode},
		{"encoding/json", func(m *Message) ([]byte, error) { return json.Marshal(m) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := c.encode(&m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
