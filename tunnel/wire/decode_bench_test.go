package wire

import (
	"encoding/json"
	"testing"
)

func BenchmarkDecodeEvent(b *testing.B) {
	in := sentMessages(b)[4]
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var m Message
			if err := Decode(in, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var m Message
			if err := json.Unmarshal(in, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodeResponse(b *testing.B) {
	in := sentMessages(b)[7]
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var m Message
			if err := Decode(in, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			var m Message
			if err := json.Unmarshal(in, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
