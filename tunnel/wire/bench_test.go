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

func BenchmarkEncodeResponse(b *testing.B) {
	var m Message
	if err := json.Unmarshal(sentMessages(b)[7], &m); err != nil {
		b.Fatal(err)
	}
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			Encode(&m)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			json.Marshal(&m)
		}
	})
}

func BenchmarkEncodeEvent(b *testing.B) {
	var m Message
	if err := json.Unmarshal(sentMessages(b)[4], &m); err != nil {
		b.Fatal(err)
	}
	m.Event.Query = "x=1" // no escapes: the fast path
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			Encode(&m)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			json.Marshal(&m)
		}
	})
}
