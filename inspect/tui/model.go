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
	"net/url"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

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
	filterErr   string     // why a filter term was not understood
	confirm     []*entry   // failed events R offers to replay, awaiting y/N
	bulk        *bulkState // a bulk replay in progress
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
