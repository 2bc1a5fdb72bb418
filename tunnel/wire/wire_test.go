package wire

import (
	"encoding/json"
	"testing"
)

func TestFeaturesJSON(t *testing.T) {
	m := Message{Type: TypeHello, Features: NewFeatures(FeatureResponseAck, "other")}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"hello","features":["response-ack","other"]}`; string(b) != want {
		t.Errorf("hello = %s, want %s", b, want)
	}
	var got Message
	if err := json.Unmarshal(b, &got); err != nil || got != m {
		t.Errorf("round trip = %+v, %v", got, err)
	}
	if !got.Features.Has(FeatureResponseAck) || got.Features.Has("response") || got.Features.Has("") {
		t.Errorf("Has on %q", got.Features)
	}
	// Without features nothing is written, and a peer's unknown or odd
	// names do no harm.
	if b, _ := json.Marshal(Message{Type: TypeWelcome}); string(b) != `{"type":"welcome"}` {
		t.Errorf("welcome without features = %s", b)
	}
	if err := json.Unmarshal([]byte(`{"features":["a,b","",null,"response-ack"]}`), &got); err != nil || got.Features != FeatureResponseAck {
		t.Errorf("features = %q, %v", got.Features, err)
	}
	if err := json.Unmarshal([]byte(`{"features":null}`), &got); err != nil || got.Features != "" {
		t.Errorf("null features = %q, %v", got.Features, err)
	}
	if got := NewFeatures("a", "b", "c").Intersect(NewFeatures("c", "a")); got != "a,c" {
		t.Errorf("Intersect = %q", got)
	}
}
