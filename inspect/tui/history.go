package tui

import (
	"fmt"
	"net/url"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// The copy-as-curl view and paging older events from the relay's store.

// textContent is the copy-as-curl view: the command broken to the width,
// with control characters a text body may carry (CR, tab, C1) shown escaped
// rather than sent to the terminal — the clipboard has the exact command.
func (m *Model) textContent() string {
	return wrap(printable(shellLines(m.text, m.width), true), m.width)
}

func (m *Model) loadOlder(before string) tea.Cmd {
	ctx, h := m.ctx, m.history
	return func() tea.Msg {
		evs, err := h.Older(ctx, before, historyPage)
		return historyMsg{events: evs, err: err}
	}
}

// historyLoaded puts an older page in front of the list. The bounds then
// evict from the newest end, since that is where the user is not looking.
func (m *Model) historyLoaded(msg historyMsg) {
	m.loadingOlder = false
	if msg.err != nil {
		m.setNotice(fmt.Sprintf("history: %v", msg.err), true)
		return
	}
	if len(msg.events) < historyPage {
		m.historyDone = true
	}
	m.setNotice("", false)
	first := len(m.entries) == 0
	var older []*entry
	for i := len(msg.events) - 1; i >= 0; i-- {
		ev := msg.events[i]
		if ev.Request == nil || m.byID[ev.Request.ID] != nil {
			continue
		}
		e := &entry{req: ev.Request, resp: ev.Response}
		if ev.Request.ReplayOf != "" {
			m.replays++
		}
		if e.resp == nil {
			m.pending++
		} else if failed(e.resp) {
			m.failed++
		}
		m.received++
		m.bytes += e.size()
		m.byID[ev.Request.ID] = e
		older = append(older, e)
	}
	m.entries = append(older, m.entries...)
	// Renumber so seq stays increasing from oldest to newest.
	for i, e := range m.entries {
		e.seq = uint64(i + 1)
	}
	m.seq = uint64(len(m.entries))
	for len(m.entries) > m.limit || (m.bytes > m.maxBytes && len(m.entries) > 1) {
		m.newerDropped = true
		e := m.entries[len(m.entries)-1]
		m.bytes -= e.size()
		if e.resp == nil {
			m.pending--
		}
		delete(m.byID, e.req.ID)
		m.entries = m.entries[:len(m.entries)-1]
		if m.sel == e {
			m.sel = nil
		}
	}
	m.refilter()
	if !first && len(older) > 0 {
		// Stay on the entry the user was on, or just above the new page's end.
		if m.sel == nil || m.cursor() < 0 {
			m.sel = older[len(older)-1]
		}
		m.follow = false
	}
	m.afterChange()
}

// reloadNewest starts over from the newest stored page, for G after paging
// back far enough that the newest events were evicted (they could not be
// reached again otherwise).
func (m *Model) reloadNewest() tea.Cmd {
	clear(m.entries)
	m.entries, m.visible, m.byID = nil, nil, map[string]*entry{}
	m.bytes, m.pending, m.failed, m.replays, m.received, m.seq = 0, 0, 0, 0, 0, 0
	m.sel, m.offset, m.follow = nil, 0, true
	m.historyDone, m.newerDropped, m.loadingOlder = false, false, true
	m.setNotice("loading the newest events…", false)
	return m.loadOlder("")
}

func parseTarget(s string) *url.URL {
	u, err := capture.ParseTarget(s)
	if err != nil {
		return nil
	}
	return u
}
