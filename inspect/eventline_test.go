package inspect

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"testing"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// checkEventLine compares appendEventRecord with the JSON encoder it
// stands in for; it returns whether the fast path took rec.
func checkEventLine(t *testing.T, rec EventRecord) bool {
	t.Helper()
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		want.Reset() // the encoder prints nothing; the fast path must refuse
	}
	got, ok := appendEventRecord(nil, &rec)
	if ok && string(got) != want.String() {
		t.Fatalf("%+v:\n got %s\nwant %s", rec, got, want.String())
	}
	return ok
}

func TestEventLineMatchesEncoder(t *testing.T) {
	at := time.Date(2026, 11, 25, 9, 0, 0, 123456789, time.UTC)
	base := EventRecord{Type: "event", ID: "evt_0123", Method: "POST", Path: "/a%2Fb/c", Query: "x=1&y=<2>", Status: 200, DurationMS: 1.234, ReceivedAt: at}
	if !checkEventLine(t, base) {
		t.Errorf("fast path refused %+v", base)
	}
	for _, edit := range []func(r *EventRecord){
		func(r *EventRecord) {
			r.Error = "forward to localhost:3000: context deadline exceeded"
			r.Status = 0
			r.DurationMS = 0
		},
		func(r *EventRecord) { r.Query = "" },
		func(r *EventRecord) { r.DurationMS = 30000 },
		func(r *EventRecord) { r.DurationMS = 0.001 },
		func(r *EventRecord) { r.DurationMS = 1e-7 },
		func(r *EventRecord) { r.DurationMS = 1e21 },
		func(r *EventRecord) { r.DurationMS = -2.5 },
		func(r *EventRecord) { r.DurationMS = math.NaN() },
		func(r *EventRecord) { r.DurationMS = math.Inf(1) },
		func(r *EventRecord) { r.Status = -1 },
		func(r *EventRecord) { r.ReceivedAt = time.Time{} },
		func(r *EventRecord) { r.ReceivedAt = at.In(time.FixedZone("x", 5*3600+1800)) },
		func(r *EventRecord) { r.ReceivedAt = at.In(time.FixedZone("x", 25*3600)) },
		func(r *EventRecord) { r.ReceivedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		func(r *EventRecord) { r.Path = `/"quoted"\back` },
		func(r *EventRecord) { r.Path = "/é\u2028\xff" },
		func(r *EventRecord) { r.Error = "line\nbreak\t" },
		func(r *EventRecord) { r.Method = "" },
	} {
		rec := base
		edit(&rec)
		checkEventLine(t, rec)
	}
}

func FuzzEventLine(f *testing.F) {
	f.Add("evt_1", "POST", "/a", "b=<c>", 200, 1.4, int64(1764061200123456789), "")
	f.Add("", "", "/\"\\", "\x00", 0, 0.0, int64(0), "é")
	f.Fuzz(func(t *testing.T, id, method, path, query string, status int, dur float64, at int64, errText string) {
		checkEventLine(t, EventRecord{Type: "event", ID: id, Method: method, Path: path, Query: query, Status: status,
			DurationMS: dur, ReceivedAt: time.Unix(0, at).UTC(), Error: errText})
	})
}

func BenchmarkEventLine(b *testing.B) {
	req := &capture.Request{ID: "evt_0123456789abcdef", Method: "POST", Path: "/hook", Query: "a=1", ReceivedAt: time.Now()}
	resp := &capture.Response{Status: 200, Duration: 1234 * time.Microsecond}
	r := NewJSONRenderer(io.Discard)
	b.ReportAllocs()
	for range b.N {
		r.Event(req, resp)
	}
}
