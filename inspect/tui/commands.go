package tui

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/hookctl/hookctl/replay"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// Actions on one event: replay, edit and replay, copy as curl, pause.

type replayDoneMsg struct {
	origID string
	req    *capture.Request
	resp   *capture.Response
	err    error
	warn   string
}

type editDoneMsg struct {
	file *replay.EditFile
	orig *entry
	err  error
}

type pausedMsg struct {
	paused bool
	err    error
}

type clipboardMsg struct{ err error }

type historyMsg struct {
	events []EventMsg
	err    error
}

func (m *Model) replay(e *entry) tea.Cmd {
	if e == nil {
		return nil
	}
	return m.replayRequest(e.req, "")
}

func (m *Model) replayRequest(r *capture.Request, warn string) tea.Cmd {
	if m.actions == nil {
		m.setNotice("replay is not available here", true)
		return nil
	}
	prepared, err := replay.Prepare(r, nil, m.now())
	if err != nil {
		m.setNotice(err.Error(), true)
		return nil
	}
	m.setNotice(fmt.Sprintf("replaying %s %s…", r.Method, r.URI()), false)
	ctx, a := m.ctx, m.actions
	return func() tea.Msg {
		req, resp, err := a.Replay(ctx, prepared)
		return replayDoneMsg{origID: r.ID, req: req, resp: resp, err: err, warn: warn}
	}
}

func (m *Model) replayDone(msg replayDoneMsg) tea.Cmd {
	if msg.err != nil {
		m.setNotice(fmt.Sprintf("replay failed: %v", msg.err), true)
		return nil
	}
	if msg.req != nil {
		m.addEvent(msg.req, msg.resp)
		m.afterChange()
	}
	var s string
	switch {
	case msg.resp == nil:
		s = "replayed"
	case msg.resp.Error != "":
		m.setNotice("replay: "+msg.resp.Error, true)
		return nil
	default:
		s = fmt.Sprintf("replayed → %d in %s", msg.resp.Status, fmtDuration(msg.resp.Duration))
	}
	if msg.warn != "" {
		m.setNotice(s+" · "+msg.warn, true)
	} else {
		m.setNotice(s, false)
	}
	return nil
}

func (m *Model) edit(e *entry) tea.Cmd {
	if e == nil {
		return nil
	}
	if m.actions == nil {
		m.setNotice("replay is not available here", true)
		return nil
	}
	if m.editor == "" {
		m.setNotice(replay.ErrNoEditor.Error()+": nothing sent", true)
		return nil
	}
	f, err := replay.NewEditFile("", e.req)
	if err != nil {
		m.setNotice(err.Error(), true)
		return nil
	}
	c, err := f.Command(m.editor)
	if err != nil {
		f.Result(err) // removes the file
		m.setNotice(err.Error()+": nothing sent", true)
		return nil
	}
	return tea.ExecProcess(c, func(err error) tea.Msg { return editDoneMsg{file: f, orig: e, err: err} })
}

func (m *Model) editDone(msg editDoneMsg) tea.Cmd {
	edited, err := msg.file.Result(msg.err)
	if err != nil {
		m.setNotice(err.Error(), !errors.Is(err, replay.ErrEditAborted))
		return nil
	}
	var warn string
	if replay.BodyChanged(msg.orig.req, edited) {
		if hs := replay.SignatureHeaders(edited); len(hs) > 0 {
			warn = fmt.Sprintf("body edited: %s no longer matches (hookctl replay %s --edit --resign)", hs[0], msg.orig.req.ID)
		}
	}
	return m.replayRequest(edited, warn)
}

// backlogState is what the status line says is waiting on the relay while
// paused.
type backlogState struct {
	gen  uint64 // bumped on every pause and resume
	n    int    // waiting events not in the list
	more bool   // more wait than the host counted
}

type backlogMsg struct {
	gen  uint64
	ids  []string
	more bool
	err  error
}

// pollBacklog asks the host, after d, which events wait on the relay. The
// answer re-arms it for as long as the pause lasts; an error keeps the last
// count (a relay that is briefly unreachable is not "0 new").
func (m *Model) pollBacklog(d time.Duration) tea.Cmd {
	b, ok := m.actions.(Backlog)
	if !ok {
		return nil
	}
	ctx, gen := m.ctx, m.backlog.gen
	ask := func() tea.Msg {
		ids, more, err := b.Waiting(ctx)
		return backlogMsg{gen: gen, ids: ids, more: more, err: err}
	}
	if d <= 0 {
		return ask
	}
	return tea.Tick(d, func(time.Time) tea.Msg { return ask() })
}

func (m *Model) togglePause() tea.Cmd {
	if m.actions == nil {
		m.setNotice("pause is not available here", true)
		return nil
	}
	want := !m.paused
	ctx, a := m.ctx, m.actions
	return func() tea.Msg { return pausedMsg{paused: want, err: a.SetPaused(ctx, want)} }
}

func (m *Model) copyCurl(e *entry) tea.Cmd {
	if e == nil {
		return nil
	}
	var t *url.URL
	if m.target != nil {
		t = m.target(e.req.Path)
	}
	if t == nil {
		t = replay.OriginalURL(e.req)
	}
	s, err := replay.Curl(e.req, t)
	if err != nil {
		m.setNotice(err.Error(), true)
		return nil
	}
	m.text = s
	m.textEscaped = printable(s, true) != s
	m.mode = modeText
	m.detail.SetContent(m.textContent())
	m.detail.GotoTop()
	if m.clipboard == nil {
		m.setNotice("no clipboard: copy the command below", true)
		return nil
	}
	cp := m.clipboard
	return func() tea.Msg { return clipboardMsg{err: cp(s)} }
}

// bulkState is a bulk replay (R) in progress: one copy at a time, in the
// order the events were received, through the same path as r.
type bulkState struct {
	queue          []*entry
	total, ok, bad int
	cancelled      bool
}

type bulkDoneMsg struct{ replayDoneMsg }

// askReplayFailed offers to replay the failed events in view. Nothing is
// sent until the user answers y.
func (m *Model) askReplayFailed() {
	if m.bulk != nil {
		m.setNotice("a bulk replay is running (esc stops it)", true)
		return
	}
	var fs []*entry
	for _, e := range m.visible {
		if e.resp != nil && failed(e.resp) {
			fs = append(fs, e)
		}
	}
	if len(fs) == 0 {
		m.setNotice("no failed events in view", false)
		return
	}
	m.confirm = fs
	m.setNotice(fmt.Sprintf("replay %d failed %s in view? y/N", len(fs), plural(len(fs), "event")), false)
}

// confirmReplayFailed takes the answer to askReplayFailed's question: y
// starts the bulk replay, any other key declines.
func (m *Model) confirmReplayFailed(msg tea.KeyMsg) tea.Cmd {
	fs := m.confirm
	m.confirm = nil
	if msg.String() != "y" && msg.String() != "Y" {
		m.setNotice("nothing replayed", false)
		return nil
	}
	if m.actions == nil {
		m.setNotice("replay is not available here", true)
		return nil
	}
	m.bulk = &bulkState{queue: fs, total: len(fs)}
	return m.bulkNext()
}

// bulkNext replays the next queued event, or reports the summary.
func (m *Model) bulkNext() tea.Cmd {
	b := m.bulk
	done := b.ok + b.bad
	if b.cancelled || len(b.queue) == 0 {
		m.bulk = nil
		s := fmt.Sprintf("replayed %d of %d failed: %d answered, %d failed", done, b.total, b.ok, b.bad)
		if b.cancelled {
			s += " · stopped"
		}
		m.setNotice(s, b.bad > 0)
		return nil
	}
	e := b.queue[0]
	b.queue = b.queue[1:]
	prepared, err := replay.Prepare(e.req, nil, m.now())
	if err != nil {
		b.bad++
		return m.bulkNext()
	}
	m.setNotice(fmt.Sprintf("replaying failed %d/%d (%d answered, %d failed) · esc stops", done+1, b.total, b.ok, b.bad), false)
	ctx, a, id := m.ctx, m.actions, e.req.ID
	return func() tea.Msg {
		req, resp, err := a.Replay(ctx, prepared)
		return bulkDoneMsg{replayDoneMsg{origID: id, req: req, resp: resp, err: err}}
	}
}

// bulkDone records one bulk copy's outcome and sends the next.
func (m *Model) bulkDone(msg bulkDoneMsg) tea.Cmd {
	if m.bulk == nil {
		return nil
	}
	if msg.req != nil {
		m.addEvent(msg.req, msg.resp)
		m.afterChange()
	}
	if msg.err != nil || msg.resp == nil || failed(msg.resp) {
		m.bulk.bad++
	} else {
		m.bulk.ok++
	}
	return m.bulkNext()
}
