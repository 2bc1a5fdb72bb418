package inspect

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// TestJSONRecordsMatchEncodingJSON: NDJSON records are written with
// github.com/goccy/go-json (listen prints one per event); every byte must be
// what encoding/json writes, for stable machine output.
func TestJSONRecordsMatchEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 123456789, time.UTC)
	odd := []string{"", "/a%2Fb", "x=1&y=<2>", `"quoted"\back`, "é€😀", "\u2028\u2029", "\x00\x1b[2J", "caf\xe9", "\u202e"}
	var recs []any
	for _, s := range odd {
		recs = append(recs,
			EventRecord{Type: "event", ID: "evt_1", Method: "POST", Path: s, Query: s, Status: 200, DurationMS: 1.234, ReceivedAt: at},
			EventRecord{Type: "event", ID: s, Method: s, Path: "/", Error: s, Route: s, State: "skipped", ReceivedAt: at.In(time.FixedZone("x", 5*3600+1800))},
			ErrorRecord{Type: "error", ID: "evt_1", Method: "GET", Path: s, Query: s, Error: s, Attempt: 2, RetryInMS: 250},
			ReadyRecord{Type: "ready", Ready: Ready{URL: "http://127.0.0.1:8787/h/" + s, Endpoint: s, Forward: []string{s}}},
		)
	}
	for _, d := range []float64{0, 0.001, 1e-7, 30000, 1e21, -2.5} {
		recs = append(recs, EventRecord{Type: "event", DurationMS: d, ReceivedAt: at})
	}
	recs = append(recs, EventRecord{Type: "event", DurationMS: math.NaN()}, ReadyRecord{Type: "ready", Ready: Ready{Forward: []string{}}})
	for _, rec := range recs {
		var want, got bytes.Buffer
		std := json.NewEncoder(&want)
		std.SetEscapeHTML(false)
		werr := std.Encode(rec)
		r := NewJSONRenderer(&got)
		gerr := r.enc.Encode(rec)
		if (werr == nil) != (gerr == nil) || (werr == nil && got.String() != want.String()) {
			t.Errorf("%+v:\n got %q %v\nwant %q %v", rec, got.String(), gerr, want.String(), werr)
		}
	}
}
