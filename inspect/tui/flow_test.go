package tui

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"sync"
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

// TestFlowEdit presses e: the editor (a script) runs through
// tea.ExecProcess, and the edited request is replayed.
func TestFlowEdit(t *testing.T) {
	dir := t.TempDir()
	editor := dir + "/ed.sh"
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/opened/closed/' \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	feed := NewFeed(0)
	a := &fakeActions{}
	m := New(WithFeed(feed), WithActions(a), WithEditor(editor), WithLocation(time.UTC), WithFrameInterval(time.Millisecond))
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30))
	feed.Event(jsonEvent(1))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("evt_0001")) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
	tm.Type("e")
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("replayed")) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	if a.count() != 1 || !strings.Contains(string(a.replays[0].Body), `"closed"`) || a.replays[0].ReplayOf != "evt_0001" {
		t.Fatalf("replays: %d %+v", a.count(), a.replays)
	}
	feed.Close()
}

// backlogActions are fakeActions that can see the relay's queue.
type backlogActions struct {
	*fakeActions
	mu   sync.Mutex
	ids  []string
	more bool
}

func (a *backlogActions) Waiting(context.Context) ([]string, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.ids), a.more, nil
}

func (a *backlogActions) set(more bool, ids ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ids, a.more = ids, more
}

// TestFlowPausedBacklog: paused, the relay sends nothing, so the status line
// said "⏸ paused" however many webhooks were waiting. It now counts the
// events waiting on the relay that the list does not show, live, and the
// count goes on resume.
func TestFlowPausedBacklog(t *testing.T) {
	feed := NewFeed(0)
	a := &backlogActions{fakeActions: &fakeActions{}}
	m := New(WithFeed(feed), WithActions(a), WithConn(ConnMsg{State: ConnConnected}), WithLocation(time.UTC),
		WithFrameInterval(time.Millisecond))
	m.poll = 5 * time.Millisecond
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30))
	waitFor := func(s string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
			teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
	}
	feed.Event(jsonEvent(1))
	waitFor("evt_0001")

	// evt_0001 is pending on the relay too (not acked yet): it is listed,
	// so it is not new.
	a.set(false, "evt_0001")
	tm.Type("p")
	waitFor("forwarding paused")
	a.set(false, "evt_0003", "evt_0002", "evt_0001")
	waitFor("paused · 2 new")
	a.set(false, "evt_0005", "evt_0004", "evt_0003", "evt_0002", "evt_0001")
	waitFor("paused · 4 new")
	a.set(true, "evt_0005", "evt_0004", "evt_0003", "evt_0002", "evt_0001")
	waitFor("paused · 4+ new")

	tm.Type("p")
	waitFor("forwarding resumed")
	tm.Type("q")
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	if fm.Paused() || strings.Contains(plain(fm), "new") || fm.backlog.n != 0 {
		t.Fatalf("count not cleared on resume (%+v):\n%s", fm.backlog, plain(fm))
	}
	feed.Close()
}

// TestFlowReplayFailed runs R in a headless program: the user filters to
// the failed events, presses R, confirms, and the one failed event is
// replayed once through the feed-driven model.
func TestFlowReplayFailed(t *testing.T) {
	feed := NewFeed(0)
	a := &fakeActions{}
	m := New(WithFeed(feed), WithActions(a), WithTargets("localhost:3000"), WithConn(ConnMsg{State: ConnConnected}),
		WithLocation(time.UTC), WithClock(func() time.Time { return t0.Add(time.Minute) }), WithFrameInterval(time.Millisecond))
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30))
	// The duration only guards against a hang; the waits are for what the
	// screen shows, not for time.
	waitFor := func(s string) {
		t.Helper()
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
			teatest.WithDuration(2*time.Minute), teatest.WithCheckInterval(5*time.Millisecond))
	}
	feed.Event(jsonEvent(1))
	feed.Response("evt_0001", ok(200, 12))
	feed.Event(jsonEvent(2))
	feed.Response("evt_0002", ok(503, 7))
	waitFor("1 failed")
	tm.Type("/state:failed")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(`filter "state:failed": 1`)
	tm.Type("R")
	waitFor("replay 1 failed event in view? y/N")
	tm.Type("y")
	waitFor("replayed 1 of 1 failed: 1 answered, 0 failed")
	tm.Type("q")
	tm.FinalModel(t, teatest.WithFinalTimeout(2*time.Minute))
	if a.count() != 1 || a.replays[0].ReplayOf != "evt_0002" {
		t.Fatalf("replays=%d, want one copy of evt_0002", a.count())
	}
	feed.Close()
}
