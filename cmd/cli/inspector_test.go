package cli

import (
	"bytes"
	"strings"
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

// TestClipboardBounded: copy as curl of a 20 MB body wrote 26 MB of OSC 52
// to the terminal (and said "copied"); above maxClipboard nothing is written
// and the error says how to get the command.
func TestClipboardBounded(t *testing.T) {
	var term bytes.Buffer
	clip := osc52Clipboard(&term, true, "xterm-256color")
	if err := clip("curl http://localhost:3000/"); err != nil || !strings.HasPrefix(term.String(), "\x1b]52;c;") {
		t.Fatalf("small copy: %v %q", err, term.String())
	}
	term.Reset()
	err := clip("curl --data-binary '" + strings.Repeat("x", maxClipboard) + "'")
	if err == nil || term.Len() != 0 || !strings.Contains(err.Error(), "events export") {
		t.Fatalf("large copy: err %v, %d bytes written", err, term.Len())
	}
	if err := osc52Clipboard(&term, false, "xterm")("x"); err == nil || term.Len() != 0 {
		t.Fatalf("not a terminal: %v", err)
	}
	// The Linux console prints an OSC 52 payload instead of parsing it.
	for _, tm := range []string{"linux", "dumb"} {
		if err := osc52Clipboard(&term, true, tm)("x"); err == nil || term.Len() != 0 {
			t.Fatalf("TERM=%s: %v, %q written", tm, err, term.String())
		}
	}
}

// TestDarkBackground: the inspector decides its background from COLORFGBG,
// as termenv would after asking the terminal, and dark without it.
func TestDarkBackground(t *testing.T) {
	for v, want := range map[string]bool{
		"": true, "15;0": true, "7;1": true, "0;15": false, "0;7": false,
		"0;default;15": false, "12;4": true, "default": true, "0;x": true, "0;200": true,
	} {
		if got := darkBackground(v); got != want {
			t.Errorf("COLORFGBG=%q: dark %v, want %v", v, got, want)
		}
	}
}
