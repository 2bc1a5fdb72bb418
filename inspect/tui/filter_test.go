package tui

import (
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// typeFilter types s into the filter as a user does: /, the keys, enter.
func typeFilter(m *Model, s string) {
	send(m, press("esc"), press("/"))
	for _, r := range s {
		if r == ' ' {
			send(m, tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}})
			continue
		}
		send(m, press(string(r)))
	}
	send(m, press("enter"))
}

func visibleIDs(m *Model) []string {
	var ids []string
	for _, e := range m.visible {
		ids = append(ids, e.req.ID)
	}
	return ids
}

// TestFilterTerms: header, sig and state terms against the fixture's mix
// (evt_0001 200, 0002 404 bad signature, 0003 no answer and no signature,
// 0004 500, 0005 pending), alone and combined with the older terms.
func TestFilterTerms(t *testing.T) {
	for _, c := range []struct{ filter, want string }{
		{"header:x-github-event=pull_request", "evt_0001 evt_0004 evt_0005"},
		{"header:X-GITHUB-EVENT=pull_*", "evt_0001 evt_0004 evt_0005"},
		{"header:X-GitHub-Event=push", ""},
		{"header:content-type=*form*", "evt_0002"},
		{"header:X-Hub-Signature-256", "evt_0001 evt_0002 evt_0004 evt_0005"},
		{"sig:invalid", "evt_0002"},
		{"sig:valid", "evt_0001 evt_0004 evt_0005"},
		{"sig:none", "evt_0003"},
		{"state:failed", "evt_0003 evt_0004"},
		{"state:delivered", "evt_0001 evt_0002"},
		{"state:pending", "evt_0005"},
		{"state:failed header:X-GitHub-Event=pull_request", "evt_0004"},
		{"state:failed POST /upload", "evt_0003"},
		{"STATE:FAILED sig:valid", "evt_0004"},
	} {
		m, _ := fixture(t, 100, 24, WithVerifier(fakeVerifier{}))
		typeFilter(m, c.filter)
		if got := strings.Join(visibleIDs(m), " "); got != c.want {
			t.Errorf("filter %q: got [%s], want [%s]", c.filter, got, c.want)
		}
		if m.filterErr != "" {
			t.Errorf("filter %q: error %q", c.filter, m.filterErr)
		}
		checkFrame(t, m, 100, 24)
	}
}

// TestFilterBadTermsExplained: a term the filter cannot take says what it
// takes on the status line; the frame stays whole and nothing panics.
func TestFilterBadTermsExplained(t *testing.T) {
	for _, c := range []struct{ filter, want string }{
		{"state:fialed", "state:fialed: want delivered, failed, pending"},
		{"sig:maybe", "sig:maybe: want sig:valid, sig:invalid or sig:none"},
		{"header:=push", "header:=push: want header:Name=value"},
		{"status:abc", "status:abc: want a code"},
	} {
		m, _ := fixture(t, 120, 24, WithVerifier(fakeVerifier{}))
		typeFilter(m, c.filter)
		if v := plain(m); !strings.Contains(v, c.want) {
			t.Errorf("filter %q: %q not shown:\n%s", c.filter, c.want, v)
		}
		checkFrame(t, m, 120, 24)
		typeFilter(m, "state:failed") // fixed: the message goes
		if v := plain(m); strings.Contains(v, "want") || len(m.visible) != 2 {
			t.Errorf("after fixing %q: %d visible, frame:\n%s", c.filter, len(m.visible), v)
		}
	}
	m, _ := fixture(t, 30, 8)
	typeFilter(m, "state:x sig:y header:= status:q")
	checkFrame(t, m, 30, 8)
}

// TestHelpShowsFilterSyntax: ? lists the filter terms beside the keys.
func TestHelpShowsFilterSyntax(t *testing.T) {
	m, _ := fixture(t, 100, 30)
	send(m, press("?"))
	v := plain(m)
	for _, s := range []string{"header:Name=glob", "sig:valid|invalid|none", "state:failed", "R replay failed in view"} {
		if !strings.Contains(v, s) {
			t.Errorf("help lacks %q:\n%s", s, v)
		}
	}
}

// TestReplayFailedConfirms: R asks first; anything but y sends nothing; y
// replays each failed event in view once, through the replay path, and
// sums up.
func TestReplayFailedConfirms(t *testing.T) {
	m, a := fixture(t, 100, 24)
	send(m, press("R"))
	if !strings.Contains(plain(m), "replay 2 failed events in view? y/N") {
		t.Fatalf("no confirmation asked:\n%s", plain(m))
	}
	for _, k := range []string{"n", "enter", "q", "R"} {
		send(m, press(k))
		if a.count() != 0 {
			t.Fatalf("%q replayed %d events without a y", k, a.count())
		}
		if k == "q" && m.quitting {
			t.Fatal("q at the prompt quit the inspector")
		}
		send(m, press("R")) // ask again for the next key
	}
	send(m, press("esc"))
	if a.count() != 0 || !strings.Contains(plain(m), "nothing replayed") {
		t.Fatalf("esc: %d replayed, frame:\n%s", a.count(), plain(m))
	}
	send(m, press("R"), press("y"))
	var of []string
	for _, r := range a.replays {
		of = append(of, r.ReplayOf)
	}
	if !slices.Equal(of, []string{"evt_0003", "evt_0004"}) {
		t.Fatalf("replayed copies of %v, want evt_0003 and evt_0004 once each", of)
	}
	if v := plain(m); !strings.Contains(v, "replayed 2 of 2 failed: 2 answered, 0 failed") {
		t.Fatalf("no summary:\n%s", v)
	}
	checkFrame(t, m, 100, 24)

	// Only what is in view: the filter narrows R.
	m, a = fixture(t, 100, 24)
	typeFilter(m, "/upload")
	send(m, press("R"), press("y"))
	if a.count() != 1 || a.replays[0].ReplayOf != "evt_0003" {
		t.Fatalf("filtered R replayed %d events", a.count())
	}
	// Nothing failed in view: nothing asked.
	typeFilter(m, "state:delivered")
	send(m, press("R"))
	if m.confirm != nil || !strings.Contains(plain(m), "no failed events in view") {
		t.Fatalf("R with nothing failed:\n%s", plain(m))
	}
}

// TestFilterSkippedIsFailed: an event --route-only did not send is
// skipped, and counts among the failed (as the status line and R have it).
func TestFilterSkippedIsFailed(t *testing.T) {
	m, _ := fixture(t, 100, 24)
	sk := jsonEvent(6)
	send(m, EventMsg{Request: sk, Response: &capture.Response{Error: "no route accepted the request", Skipped: true, Route: ""}})
	typeFilter(m, "state:skipped")
	if got := strings.Join(visibleIDs(m), " "); got != "evt_0006" {
		t.Fatalf("state:skipped: [%s]", got)
	}
	if !strings.Contains(plain(m), "skipped") {
		t.Fatalf("status column lacks skipped:\n%s", plain(m))
	}
	typeFilter(m, "state:failed")
	if got := strings.Join(visibleIDs(m), " "); got != "evt_0003 evt_0004 evt_0006" {
		t.Fatalf("state:failed: [%s]", got)
	}
}

// TestDetailShowsRoute: the route the forwarder chose is in the detail.
func TestDetailShowsRoute(t *testing.T) {
	m, _ := fixture(t, 100, 40)
	send(m, EventMsg{Request: jsonEvent(6), Response: &capture.Response{Status: 200, Route: "header:X-GitHub-Event=push"}})
	send(m, press("G"), press("enter"))
	if v := plain(m); !strings.Contains(v, "route     header:X-GitHub-Event=push") {
		t.Fatalf("no route in the detail:\n%s", v)
	}
}
