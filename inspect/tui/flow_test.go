package tui

import (
	"bytes"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"
)

// TestFlow runs the inspector in a headless program: an event arrives
// through the feed, the user opens it, replays it and sees the new row.
func TestFlow(t *testing.T) {
	feed := NewFeed(0)
	a := &fakeActions{}
	m := New(WithFeed(feed), WithActions(a), WithURL("http://127.0.0.1:8787/h/brave-otter-42"),
		WithTargets("localhost:3000"), WithConn(ConnMsg{State: ConnConnected}), WithLocation(time.UTC),
		WithClock(func() time.Time { return t0.Add(time.Minute) }), WithFrameInterval(time.Millisecond))
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30))
	waitFor := func(s string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
			teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
	}

	feed.Event(jsonEvent(1))
	waitFor("pending")
	feed.Response("evt_0001", ok(200, 12))
	waitFor("12ms")

	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor("── Request")
	tm.Type("r")
	waitFor("replayed → 200")
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
	waitFor("evt_replay1")

	tm.Type("q")
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	if fm.Len() != 2 || a.count() != 1 {
		t.Fatalf("len=%d replays=%d", fm.Len(), a.count())
	}
	if got := fm.Selected(); got == nil || got.ID != "evt_replay1" || got.ReplayOf != "evt_0001" {
		t.Fatalf("selected %+v, want the replay (following)", got)
	}
	feed.Close()
}
