// Package tui is hookctl's interactive inspector: a Bubble Tea model that
// lists webhooks as they arrive, shows one in detail, and replays, edits,
// copies or filters them.
//
// The model is in the Bubbles shape (New with options, KeyMap, Styles,
// SetSize, Update, View) and depends on its host only through the small
// interfaces in actions.go. Live updates come through a Feed: producers
// never block, and the model drains the feed at most once per frame, so a
// flood costs one render per frame, not one per event. The list is bounded
// by count and by body bytes; older events stay in the relay's store.
package tui

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/hookctl/hookctl/replay"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// Defaults.
const (
	DefaultLimit         = 1000     // events kept in memory
	DefaultMaxBytes      = 64 << 20 // body bytes kept in memory
	DefaultFrameInterval = time.Second / 30
	historyPage          = 100
)

type mode uint8

const (
	modeList mode = iota
	modeDetail
	modeHelp
	modeText // a block of text (curl command) over the list
)

// entry is one row.
type entry struct {
	seq  uint64
	req  *capture.Request
	resp *capture.Response
	sig  Signature

	sigDone bool      // sig computed (lazily: only rows that are drawn or opened)
	retry   *RetryMsg // the last failed attempt while pending
	retryAt time.Time // when the next attempt is due

	// The rendered row, reused while width and selection are unchanged:
	// a frame then costs a string join, not a lipgloss render per cell.
	line     string
	lineCols columns
	lineSel  bool
}

func (e *entry) size() int64 { return int64(len(e.req.Body)) + int64(respLen(e.resp)) }

func respLen(r *capture.Response) int {
	if r == nil {
		return 0
	}
	return len(r.Body)
}

// Model is the inspector.
type Model struct {
	KeyMap KeyMap
	Styles Styles
	Help   help.Model

	ctx       context.Context
	feed      *Feed
	actions   Actions
	verifier  Verifier
	history   History
	editor    string
	clipboard func(string) error
	now       func() time.Time
	loc       *time.Location
	frame     time.Duration
	poll      time.Duration // how often a paused inspector asks for the backlog
	limit     int
	maxBytes  int64

	url     string
	targets []string
	target  func(path string) *url.URL // copy-as-curl target for a path
	conn    ConnMsg
	retryAt time.Time // when the next reconnect attempt is due
	paused  bool
	backlog backlogState

	entries  []*entry // oldest first; at most limit
	bytes    int64
	byID     map[string]*entry
	seq      uint64
	visible  []*entry // entries matching the filter, oldest first
	sel      *entry
	offset   int // first visible row shown
	follow   bool
	received int // events seen, including evicted
	dropped  int // event notices the feed dropped in a flood
	replays  int
	failed   int
	pending  int // pending entries in memory

	mode        mode
	filter      textinput.Model
	filtering   bool
	query       query
	detail      viewport.Model
	detailEntry *entry
	text        string
	textEscaped bool // text has control characters the view shows escaped
	notice      string
	noticeErr   bool
	width       int
	height      int
	lastBatch   time.Time

	helpLine  string // cached footer help
	helpMode  mode
	helpWidth int

	loadingOlder bool
	historyDone  bool
	newerDropped bool // paging history evicted the newest events
	quitting     bool
}

// Option configures a Model.
type Option func(*Model)

// WithStyles sets the styles (NewStyles with a renderer for the output).
func WithStyles(s Styles) Option { return func(m *Model) { m.Styles = s } }

// WithFeed sets the live feed.
func WithFeed(f *Feed) Option { return func(m *Model) { m.feed = f } }

// WithActions sets the host's actions (replay, pause).
func WithActions(a Actions) Option { return func(m *Model) { m.actions = a } }

// WithVerifier turns on the signature column.
func WithVerifier(v Verifier) Option { return func(m *Model) { m.verifier = v } }

// WithHistory lets the user page older events from the relay's store.
func WithHistory(h History) Option { return func(m *Model) { m.history = h } }

// WithURL sets the webhook URL shown in the header.
func WithURL(u string) Option { return func(m *Model) { m.url = u } }

// WithTargets sets the forward targets shown in the header. The first, when
// it parses as a URL (or host:port), is where copy-as-curl points.
func WithTargets(ts ...string) Option {
	return func(m *Model) {
		m.targets = ts
		if len(ts) > 0 && m.target == nil {
			if u := parseTarget(ts[0]); u != nil {
				m.target = func(string) *url.URL { return u }
			}
		}
	}
}

// WithReplayTarget sets where copy-as-curl points.
func WithReplayTarget(u *url.URL) Option {
	return func(m *Model) { m.target = func(string) *url.URL { return u } }
}

// WithTargetFor sets where copy-as-curl points for a request path, for
// hosts that route path prefixes to different targets.
func WithTargetFor(f func(path string) *url.URL) Option { return func(m *Model) { m.target = f } }

// WithEditor sets the editor command ($VISUAL or $EDITOR) for edit-and-replay.
func WithEditor(cmd string) Option { return func(m *Model) { m.editor = cmd } }

// WithClipboard sets how text is copied (an OSC 52 writer, usually).
func WithClipboard(copy func(string) error) Option { return func(m *Model) { m.clipboard = copy } }

// WithClock sets the clock used for replays' receive times.
func WithClock(now func() time.Time) Option { return func(m *Model) { m.now = now } }

// WithLocation sets the time zone of the time column.
func WithLocation(loc *time.Location) Option { return func(m *Model) { m.loc = loc } }

// WithLimit bounds the events kept in memory.
func WithLimit(n int) Option { return func(m *Model) { m.limit = n } }

// WithMaxBytes bounds the body bytes kept in memory.
func WithMaxBytes(n int64) Option { return func(m *Model) { m.maxBytes = n } }

// WithFrameInterval sets the minimum time between two feed batches.
func WithFrameInterval(d time.Duration) Option { return func(m *Model) { m.frame = d } }

// WithContext sets the context actions run under.
func WithContext(ctx context.Context) Option { return func(m *Model) { m.ctx = ctx } }

// WithConn sets the initial connection state.
func WithConn(c ConnMsg) Option { return func(m *Model) { m.conn = c } }

// New returns an inspector.
func New(opts ...Option) *Model {
	m := &Model{
		KeyMap:   DefaultKeyMap(),
		Styles:   DefaultStyles(),
		Help:     help.New(),
		ctx:      context.Background(),
		now:      time.Now,
		loc:      time.Local,
		frame:    DefaultFrameInterval,
		poll:     2 * time.Second,
		limit:    DefaultLimit,
		maxBytes: DefaultMaxBytes,
		byID:     map[string]*entry{},
		follow:   true,
		width:    80,
		height:   24,
	}
	for _, o := range opts {
		o(m)
	}
	m.Help.Styles = m.Styles.Help
	m.filter = textinput.New()
	m.filter.PromptStyle, m.filter.TextStyle = m.Styles.Bold, lipgloss.NewStyle()
	m.filter.PlaceholderStyle = m.Styles.Faint
	m.filter.Prompt = "/"
	m.filter.Placeholder = "text, METHOD, status (404, 5xx, err, pending) or /path"
	m.filter.Cursor.SetMode(cursor.CursorStatic)
	m.detail = viewport.New(m.width, m.listRows())
	return m
}

// Init starts waiting on the feed and loads the first page of history.
func (m *Model) Init() tea.Cmd {
	var cmds []tea.Cmd
	if m.feed != nil {
		cmds = append(cmds, m.feed.wait(m.lastBatch, m.frame))
	}
	if m.history != nil {
		m.loadingOlder = true
		cmds = append(cmds, m.loadOlder(""))
	}
	return tea.Batch(cmds...)
}

// SetSize sets the screen size.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = max(w, 20), max(h, 6)
	m.Help.Width = m.width
	m.filter.Width = max(m.width-2, 1)
	m.detail.Width, m.detail.Height = m.width, m.listRows()
	if m.mode == modeDetail && m.detailEntry != nil {
		m.setDetail(m.detailEntry, false)
	} else if m.mode == modeText {
		m.detail.SetContent(m.textContent())
	}
	m.clampOffset()
}

// listRows is the number of rows between the header and the footer.
func (m *Model) listRows() int { return max(m.height-3, 1) }

// Len is the number of events in memory.
func (m *Model) Len() int { return len(m.entries) }

// Received is the number of events seen, including those evicted.
func (m *Model) Received() int { return m.received }

// URL is the webhook URL shown in the header.
func (m *Model) URL() string { return m.url }

// Visible is the number of events matching the filter.
func (m *Model) Visible() int { return len(m.visible) }

// Selected returns the selected event's request, or nil.
func (m *Model) Selected() *capture.Request {
	if m.sel == nil {
		return nil
	}
	return m.sel.req
}

// Following reports whether the list follows the newest event.
func (m *Model) Following() bool { return m.follow }

// InDetail reports whether the detail view is open.
func (m *Model) InDetail() bool { return m.mode == modeDetail }

// Paused reports whether forwarding is paused.
func (m *Model) Paused() bool { return m.paused }

// Notice returns the status line's message.
func (m *Model) Notice() string { return m.notice }

// Filter returns the current filter text.
func (m *Model) Filter() string { return m.filter.Value() }

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
	if m.query.match(e) {
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
	m.query = parseQuery(m.filter.Value())
	m.visible = m.visible[:0]
	for _, e := range m.entries {
		if m.query.match(e) {
			m.visible = append(m.visible, e)
		}
	}
	if m.sel != nil && m.cursor() < 0 {
		m.sel = nil
	}
	m.afterChange()
}

// --- actions -----------------------------------------------------------------

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
	m.query = parseQuery(m.filter.Value())
	m.visible = m.visible[:0]
	for _, e := range m.entries {
		if m.query.match(e) {
			m.visible = append(m.visible, e)
		}
	}
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
