package tui

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// Update: messages, the event list'\''s state changes, keys and the filter.

// Update handles a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.SetSize(msg.Width, msg.Height)
		return m, nil
	case batchMsg:
		for _, u := range msg.msgs {
			m.apply(u)
		}
		m.dropped += msg.dropped
		m.lastBatch = msg.at
		m.afterChange()
		return m, m.feed.wait(m.lastBatch, m.frame)
	case feedClosedMsg:
		return m, nil
	case EventMsg, ResponseMsg, RetryMsg, ConnMsg:
		m.apply(msg)
		m.afterChange()
		return m, nil
	case replayDoneMsg:
		return m, m.replayDone(msg)
	case bulkDoneMsg:
		return m, m.bulkDone(msg)
	case editDoneMsg:
		return m, m.editDone(msg)
	case pausedMsg:
		if msg.err != nil {
			m.setNotice(fmt.Sprintf("pause: %v", msg.err), true)
			return m, nil
		}
		m.paused = msg.paused
		// A new generation: polls started before this change are stale.
		m.backlog = backlogState{gen: m.backlog.gen + 1}
		if !m.paused {
			m.setNotice("forwarding resumed", false)
			return m, nil
		}
		m.setNotice("forwarding paused: new events wait on the relay (p to resume)", false)
		return m, m.pollBacklog(0)
	case backlogMsg:
		if !m.paused || msg.gen != m.backlog.gen {
			return m, nil
		}
		if msg.err == nil {
			m.backlog.n, m.backlog.more = 0, msg.more
			for _, id := range msg.ids {
				if m.byID[id] == nil {
					m.backlog.n++
				}
			}
		}
		return m, m.pollBacklog(m.poll)
	case clipboardMsg:
		if msg.err != nil {
			m.setNotice(fmt.Sprintf("not copied: %v; the command is shown below", msg.err), true)
		} else {
			m.setNotice("curl command copied (OSC 52); shown below in case your terminal ignores it", false)
		}
		return m, nil
	case historyMsg:
		m.historyLoaded(msg)
		return m, nil
	case tea.KeyMsg:
		return m, m.handleKey(msg)
	}
	if m.mode == modeDetail || m.mode == modeText {
		var cmd tea.Cmd
		m.detail, cmd = m.detail.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m *Model) setNotice(s string, isErr bool) { m.notice, m.noticeErr = s, isErr }

// apply applies one feed update without re-rendering anything.
func (m *Model) apply(u tea.Msg) {
	switch u := u.(type) {
	case EventMsg:
		m.addEvent(u.Request, u.Response)
	case ResponseMsg:
		e := m.byID[u.ID]
		if e == nil {
			return // evicted, or never shown
		}
		m.setResponse(e, u.Response)
	case RetryMsg:
		if e := m.byID[u.ID]; e != nil && e.resp == nil {
			e.retry = &u
			e.retryAt = m.now().Add(u.RetryIn)
			e.line = ""
			if m.detailEntry == e && m.mode == modeDetail {
				m.setDetail(e, true)
			}
		}
	case ConnMsg:
		if u.URL == "" {
			u.URL = m.conn.URL
		}
		m.conn = u
		m.retryAt = time.Time{}
		if u.Retry > 0 {
			m.retryAt = m.now().Add(u.Retry)
		}
		if u.URL != "" {
			m.url = u.URL
		}
	}
}

func (m *Model) setResponse(e *entry, r *capture.Response) {
	if e.resp == nil && r != nil {
		m.pending--
	} else if e.resp != nil && r == nil {
		m.pending++
	}
	wasFailed, isFailed := e.resp != nil && failed(e.resp), r != nil && failed(r)
	if isFailed && !wasFailed {
		m.failed++
	} else if wasFailed && !isFailed {
		m.failed--
	}
	e.retry = nil
	m.bytes -= e.size()
	e.resp = r
	e.line = ""
	m.bytes += e.size()
	if m.detailEntry == e && m.mode == modeDetail {
		m.setDetail(e, true)
	}
}

func failed(r *capture.Response) bool { return r.Error != "" || r.Status >= 500 }

// addEvent appends (or updates) an event and evicts the oldest beyond the
// bounds.
func (m *Model) addEvent(r *capture.Request, resp *capture.Response) {
	if r == nil {
		return
	}
	if e := m.byID[r.ID]; e != nil && r.ID != "" {
		m.bytes -= e.size()
		e.req = r
		m.bytes += e.size()
		e.line, e.sigDone = "", false
		if resp != nil {
			m.setResponse(e, resp)
		}
		return
	}
	m.seq++
	e := &entry{seq: m.seq, req: r}
	m.received++
	if r.ReplayOf != "" {
		m.replays++
	}
	m.pending++
	m.entries = append(m.entries, e)
	m.bytes += e.size()
	if r.ID != "" {
		m.byID[r.ID] = e
	}
	if resp != nil {
		m.setResponse(e, resp)
	}
	if m.query.match(e, m.signature) {
		m.visible = append(m.visible, e)
	}
	m.evict()
}

// signature verifies e on first use. Verification (with a diagnosis when it
// fails) is done only for rows that are drawn or opened, so a flood costs
// at most a screenful of verifications per frame.
func (m *Model) signature(e *entry) Signature {
	if m.verifier == nil {
		return Signature{}
	}
	if !e.sigDone {
		e.sig, e.sigDone = m.verifier.Verify(e.req), true
	}
	return e.sig
}

// evict drops the oldest entries until the list is within its bounds. The
// newest entry always stays, and so does the entry the user is on (the open
// detail, or the selection when not following): in a flood it used to be
// evicted from under the cursor, which then jumped to the oldest row — itself
// evicted a frame later — so nothing could be opened.
func (m *Model) evict() {
	var pinned *entry
	switch {
	case m.mode == modeDetail && m.detailEntry != nil:
		pinned = m.detailEntry
	case !m.follow:
		pinned = m.sel
	}
	n, kept := 0, 0
	for n < len(m.entries)-1 && (len(m.entries)-n+kept > m.limit || m.bytes > m.maxBytes) {
		e := m.entries[n]
		n++
		if e == pinned {
			kept = 1
			continue
		}
		m.bytes -= e.size()
		if e.resp == nil {
			m.pending--
		}
		if e.req.ID != "" && m.byID[e.req.ID] == e {
			delete(m.byID, e.req.ID)
		}
	}
	if n == 0 {
		return
	}
	if kept == 1 {
		// The pinned entry takes the slot just before the survivors, which
		// belonged to a dropped entry; order by seq is kept.
		n--
		m.entries[n] = pinned
	}
	oldest := m.entries[n].seq
	if kept == 1 {
		oldest = m.entries[min(n+1, len(m.entries)-1)].seq
	}
	// Re-slicing instead of copying keeps eviction O(1); append moves the
	// live entries to a new array when the old one is used up, so the
	// backing array stays within about twice the limit.
	clear(m.entries[:n])
	m.entries = m.entries[n:]
	k := sort.Search(len(m.visible), func(i int) bool { return m.visible[i].seq >= oldest })
	if k > 0 {
		dropped := k
		if kept == 1 && slices.Contains(m.visible[:k], pinned) {
			// pinned is among the first k: keep it in front.
			m.visible[k-1] = pinned
			dropped--
		}
		clear(m.visible[:dropped])
		m.visible = m.visible[dropped:]
		m.offset = max(m.offset-dropped, 0)
	}
	if m.sel != nil && m.sel != pinned && m.sel.seq < oldest {
		m.sel = nil
	}
	if m.detailEntry != nil && m.detailEntry != pinned && m.detailEntry.seq < oldest && m.mode != modeDetail {
		m.detailEntry = nil
	}
}

// afterChange moves the selection after the list changed: to the newest
// entry when following, else keeps it.
func (m *Model) afterChange() {
	if len(m.visible) == 0 {
		m.sel = nil
		m.offset = 0
		return
	}
	if m.follow || m.sel == nil {
		if m.follow {
			m.sel = m.visible[len(m.visible)-1]
		} else {
			m.sel = m.visible[0]
		}
	}
	m.clampOffset()
}

// cursor is the selected entry's index in visible, or -1.
func (m *Model) cursor() int {
	if m.sel == nil {
		return -1
	}
	i := sort.Search(len(m.visible), func(i int) bool { return m.visible[i].seq >= m.sel.seq })
	if i < len(m.visible) && m.visible[i] == m.sel {
		return i
	}
	return -1
}

func (m *Model) clampOffset() {
	rows := m.listRows() - 1 // column header
	c := m.cursor()
	if c < 0 {
		m.offset = min(m.offset, max(len(m.visible)-rows, 0))
		return
	}
	if c < m.offset {
		m.offset = c
	}
	if c >= m.offset+rows {
		m.offset = c - rows + 1
	}
	m.offset = max(min(m.offset, len(m.visible)-rows), 0)
}

// move moves the selection by d rows; the list stops following unless the
// selection lands on the newest entry.
func (m *Model) move(d int) tea.Cmd {
	if len(m.visible) == 0 {
		return nil
	}
	c := m.cursor()
	if c < 0 {
		c = len(m.visible) - 1
	}
	if c+d < 0 && m.history != nil && !m.historyDone && !m.loadingOlder {
		m.loadingOlder = true
		m.setNotice("loading older events…", false)
		m.sel = m.visible[0]
		m.follow = false
		m.clampOffset()
		return m.loadOlder(m.oldestID())
	}
	c = max(min(c+d, len(m.visible)-1), 0)
	m.sel = m.visible[c]
	m.follow = c == len(m.visible)-1
	m.clampOffset()
	return nil
}

func (m *Model) oldestID() string {
	for _, e := range m.entries {
		if e.req.ID != "" {
			return e.req.ID
		}
	}
	return ""
}

func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	k := m.KeyMap
	if m.filtering {
		switch msg.Type {
		case tea.KeyEnter:
			m.filtering = false
			m.filter.Blur()
			return nil
		case tea.KeyEsc:
			m.filtering = false
			m.filter.Blur()
			m.filter.SetValue("")
			m.applyFilter()
			return nil
		case tea.KeyCtrlC:
			m.quitting = true
			return tea.Quit
		}
		var cmd tea.Cmd
		m.filter, cmd = m.filter.Update(msg)
		m.applyFilter()
		return cmd
	}
	if m.confirm != nil {
		return m.confirmReplayFailed(msg)
	}
	if m.bulk != nil && key.Matches(msg, k.Back) {
		m.bulk.cancelled = true
		m.setNotice("stopping the bulk replay after the current copy…", false)
		return nil
	}
	if key.Matches(msg, k.Quit) {
		m.quitting = true
		return tea.Quit
	}
	switch m.mode {
	case modeHelp:
		if key.Matches(msg, k.Help, k.Back) {
			m.mode = modeList
		}
		return nil
	case modeText:
		if key.Matches(msg, k.Back, k.Open) {
			m.mode = m.textReturn()
			return nil
		}
		var cmd tea.Cmd
		m.detail, cmd = m.detail.Update(msg)
		return cmd
	case modeDetail:
		switch {
		case key.Matches(msg, k.Back):
			m.mode = modeList
			m.detailEntry = nil
			return nil
		case key.Matches(msg, k.Replay):
			return m.replay(m.detailEntry)
		case key.Matches(msg, k.Edit):
			return m.edit(m.detailEntry)
		case key.Matches(msg, k.Copy):
			return m.copyCurl(m.detailEntry)
		case key.Matches(msg, k.Pause):
			return m.togglePause()
		case key.Matches(msg, k.Help):
			m.mode = modeHelp
			return nil
		}
		var cmd tea.Cmd
		m.detail, cmd = m.detail.Update(msg)
		return cmd
	}
	// list
	switch {
	case key.Matches(msg, k.Up):
		return m.move(-1)
	case key.Matches(msg, k.Down):
		return m.move(1)
	case key.Matches(msg, k.PageUp):
		return m.move(-(m.listRows() - 1))
	case key.Matches(msg, k.PageDown):
		return m.move(m.listRows() - 1)
	case key.Matches(msg, k.Top):
		return m.move(-len(m.visible))
	case key.Matches(msg, k.Bottom):
		if m.newerDropped && m.history != nil && !m.loadingOlder {
			return m.reloadNewest()
		}
		m.follow = true
		m.afterChange()
		return nil
	case key.Matches(msg, k.Open):
		if m.sel != nil {
			m.mode = modeDetail
			m.setDetail(m.sel, false)
		}
		return nil
	case key.Matches(msg, k.Back):
		if m.filter.Value() != "" {
			m.filter.SetValue("")
			m.applyFilter()
		}
		m.setNotice("", false)
		return nil
	case key.Matches(msg, k.Replay):
		return m.replay(m.sel)
	case key.Matches(msg, k.ReplayFailed):
		m.askReplayFailed()
		return nil
	case key.Matches(msg, k.Edit):
		return m.edit(m.sel)
	case key.Matches(msg, k.Copy):
		return m.copyCurl(m.sel)
	case key.Matches(msg, k.Filter):
		m.filtering = true
		return m.filter.Focus()
	case key.Matches(msg, k.Pause):
		return m.togglePause()
	case key.Matches(msg, k.Help):
		m.mode = modeHelp
		return nil
	}
	return nil
}

func (m *Model) textReturn() mode {
	if m.detailEntry != nil {
		m.setDetail(m.detailEntry, false)
		return modeDetail
	}
	return modeList
}

// applyFilter recomputes the visible list from the filter text.
func (m *Model) applyFilter() {
	m.refilter()
	if m.sel != nil && m.cursor() < 0 {
		m.sel = nil
	}
	m.afterChange()
}

// refilter parses the filter text and recomputes the visible list. A term
// it does not understand is reported on the status line, not dropped
// silently.
func (m *Model) refilter() {
	q, err := parseQuery(m.filter.Value())
	m.query, m.filterErr = q, ""
	if err != nil {
		m.filterErr = err.Error()
	}
	m.visible = m.visible[:0]
	for _, e := range m.entries {
		if m.query.match(e, m.signature) {
			m.visible = append(m.visible, e)
		}
	}
}
