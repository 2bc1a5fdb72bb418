package cli

import (
	"testing"
	"time"

	"github.com/hookctl/hookctl/inspect/tui"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// TestSignatureBadgeAtReceiveTime: the badge says whether the sender's
// signature was valid when the event arrived. Verifying at the time the row
// is first drawn marked every valid Stripe event older than the 5-minute
// tolerance INVALID in hookctl inspect, and rows scrolled to after a flood.
func TestSignatureBadgeAtReceiveTime(t *testing.T) {
	s, err := parseVerify("stripe:whsec_test123")
	if err != nil {
		t.Fatal(err)
	}
	received := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	r := &capture.Request{ID: "evt_1", Method: "POST", Path: "/stripe", ReceivedAt: received,
		Headers: capture.Headers{{Name: "Content-Type", Value: "application/json"}},
		Body:    []byte(`{"id":"evt_x","object":"event"}`)}
	if err := s.Sign(r, received); err != nil {
		t.Fatal(err)
	}
	v := signerVerifier{s: s, now: func() time.Time { return received.Add(24 * time.Hour) }}
	if got := v.Verify(r); got.State != tui.SigValid {
		t.Fatalf("a day later the event shows %v: %s", got.State, got.Detail)
	}
	// A replay without --resign goes out now with the old signature: that
	// one is stale, and the badge says so.
	replayed := *r
	replayed.ReceivedAt = received.Add(24 * time.Hour)
	if got := v.Verify(&replayed); got.State != tui.SigInvalid {
		t.Fatalf("stale replay shows %v", got.State)
	}
}
