package sqlite

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// TestMarshalJSONMatchesEncodingJSON: the columns hold what encoding/json
// wrote before, byte for byte.
func TestMarshalJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	hs := capture.Headers{{Name: "Content-Type", Value: "text/html; <a&b>"}, {Name: "X-Latin", Value: "caf\xe9"}, {Name: "X-E", Value: "\u2028é😀\x00"}}
	for _, v := range []any{
		capture.Headers{},
		hs,
		map[string][]byte{"h.1.value": []byte("caf\xe9"), "a": {0xff}, "path": nil},
		&capture.Response{Status: 200, Headers: hs, Body: []byte("ok"), Duration: 1234567, At: at},
		&capture.Response{Error: "forward to x: context deadline exceeded", Duration: -1, At: at, Raw: map[string][]byte{"z": {1}, "b": {0xfe}}},
		&capture.Response{},
	} {
		want, werr := json.Marshal(v)
		got, gerr := marshalJSON(v)
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
			t.Errorf("marshalJSON(%#v) = %s, %v; encoding/json: %s, %v", v, got, gerr, want, werr)
		}
	}
}
