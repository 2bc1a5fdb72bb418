package tui

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// View renders the screen: two header lines, the list (or the detail, help
// or text view), and a footer line. It is exactly height lines of at most
// width cells.
func (m *Model) View() string {
	if m.quitting {
		return ""
	}
	var b strings.Builder
	b.Grow(m.width * m.height * 2)
	b.WriteString(m.headerView())
	b.WriteByte('\n')
	rows := m.listRows()
	var body []string
	switch m.mode {
	case modeDetail:
		body = append([]string{m.detailTitle()}, strings.Split(m.detailViewport(rows-1), "\n")...)
	case modeText:
		title := "copy as curl · esc to close"
		if m.textEscaped {
			title += " · control and invisible characters shown escaped: use the clipboard or hookctl events export"
		}
		body = append([]string{m.Styles.Bold.Render(fit(title, m.width))}, strings.Split(m.detailViewport(rows-1), "\n")...)
	case modeHelp:
		body = append([]string{m.Styles.Bold.Render("Keys")}, strings.Split(m.Help.FullHelpView(m.KeyMap.FullHelp()), "\n")...)
		body = append(body, "", m.Styles.Bold.Render("Filter (/)"))
		for _, l := range FilterSyntax {
			body = append(body, "  "+l)
		}
	default:
		body = m.listView(rows)
	}
	for i := range rows {
		if i < len(body) {
			b.WriteString(ansi.Truncate(body[i], m.width, "…"))
		}
		b.WriteByte('\n')
	}
	b.WriteString(m.footerView())
	return b.String()
}

func (m *Model) detailViewport(h int) string {
	if m.detail.Height != h {
		m.detail.Height = h
	}
	return m.detail.View()
}

func (m *Model) headerView() string {
	st := &m.Styles
	right := m.connView()
	left := st.Title.Render("hookctl")
	where := m.url
	if where == "" {
		where = "(webhook URL once connected)"
	}
	if len(m.targets) > 0 {
		// "http://" says nothing about a local target and cost the port at
		// 80 columns ("→ http://localhost:3…").
		ts := make([]string, len(m.targets))
		for i, t := range m.targets {
			ts[i] = strings.TrimPrefix(t, "http://")
		}
		where += " → " + strings.Join(ts, ", ")
	}
	avail := m.width - lipgloss.Width(left) - lipgloss.Width(right) - 2
	line1 := left + " " + fit(where, max(avail, 0)) + " " + right

	counts := fmt.Sprintf("%d %s", m.received, plural(m.received, "event"))
	if m.failed > 0 {
		counts += fmt.Sprintf(" · %d failed", m.failed)
	}
	if m.pending > 0 {
		counts += fmt.Sprintf(" · %d pending", m.pending)
	}
	if m.replays > 0 {
		counts += fmt.Sprintf(" · %d %s", m.replays, plural(m.replays, "replay"))
	}
	switch {
	case m.newerDropped:
		counts += fmt.Sprintf(" · %d oldest shown (G: newest)", len(m.entries))
	case len(m.entries) < m.received:
		counts += fmt.Sprintf(" · last %d shown", len(m.entries))
	}
	if m.dropped > 0 {
		counts += fmt.Sprintf(" · %d skipped in flood (hookctl inspect)", m.dropped)
	}
	var r2 string
	if m.paused {
		p := "⏸ paused"
		switch {
		case m.backlog.more:
			p += fmt.Sprintf(" · %d+ new", m.backlog.n)
		case m.backlog.n > 0:
			p += fmt.Sprintf(" · %d new", m.backlog.n)
		}
		r2 = st.Paused.Render(p)
	}
	if q := m.filter.Value(); q != "" && !m.filtering {
		f := fmt.Sprintf("filter %q: %d", q, len(m.visible))
		if r2 != "" {
			r2 = f + " · " + r2
		} else {
			r2 = f
		}
	}
	if m.filterErr != "" {
		r2 = st.Error.Render(fit(printable(m.filterErr, false), max(m.width*2/3, 1))) + " " + r2
	}
	avail2 := m.width - lipgloss.Width(r2) - 1
	line2 := st.Faint.Render(fit(counts, max(avail2, 0))) + " " + r2
	if c := m.conn; c.Err != "" && (c.State == ConnReconnecting || c.State == ConnOffline) {
		// Why the tunnel is down (relay unreachable, refused token): the
		// state alone left the user guessing.
		e := " · " + printable(c.Err, false)
		line2 = st.Faint.Render(counts) + st.Error.Render(fit(e, max(avail2-lipgloss.Width(counts), 0))) + " " + r2
	}
	// On a narrow screen the connection state alone can be wider than it.
	return ansi.Truncate(line1, m.width, "…") + "\n" + ansi.Truncate(line2, m.width, "…")
}

func (m *Model) connView() string {
	st := &m.Styles
	c := m.conn
	switch c.State {
	case ConnConnecting:
		return st.Reconnecting.Render("◌ connecting")
	case ConnConnected:
		return st.Connected.Render("● connected")
	case ConnReconnecting:
		s := fmt.Sprintf("◌ reconnecting (attempt %d", c.Attempt)
		if !m.retryAt.IsZero() {
			// A clock time, not "next in 2s": the header is not redrawn
			// every second, and a countdown would freeze.
			s += ", next at " + m.retryAt.In(m.loc).Format("15:04:05")
		}
		return st.Reconnecting.Render(s + ")")
	case ConnOffline:
		s := "○ offline"
		if c.Backlog > 0 {
			s += fmt.Sprintf(" · %d queued on relay", c.Backlog)
		}
		return st.Offline.Render(s)
	}
	return ""
}

// columns are the list's column widths for the current width.
type columns struct{ path, id, width int }

func (m *Model) columns() columns {
	fixed := 2 + 8 + 1 + 7 + 1 + 1 + 7 + 1 + 6 + 1 + 6 + 1
	if m.verifier != nil {
		fixed += 8
	}
	return sizeColumns(m.width, fixed, m.visible)
}

// sizeColumns sizes PATH and ID by what the rows in view hold: both whole
// when they fit; otherwise the ID keeps at least a third of the room (its
// tail tells rows apart) and the path takes the rest. Spare room is left at
// the end of the row rather than padded into PATH.
func sizeColumns(width, fixed int, rows []*entry) columns {
	pathNeed, idNeed := len("PATH"), len("ID")
	for _, e := range rows {
		n := len(e.req.Path)
		if e.req.Query != "" || e.req.ForceQuery {
			n += 1 + len(e.req.Query)
		}
		pathNeed, idNeed = max(pathNeed, n), max(idNeed, len(e.req.ID))
	}
	avail := max(width-fixed, 16)
	id := idNeed
	if id+pathNeed > avail {
		id = min(idNeed, max(avail-pathNeed, avail/3, 8))
	}
	path := max(min(pathNeed, avail-id), 8)
	return columns{path: path, id: id, width: width}
}

func (m *Model) listView(rows int) []string {
	st := &m.Styles
	c := m.columns()
	head := "  " + fit("TIME", 8) + " " + fit("METHOD", 7) + " " + fit("PATH", c.path) + " " +
		fit("STATUS", 7) + " " + fitR("DUR", 6) + " " + fitR("SIZE", 6) + " " + fit("ID", c.id)
	if m.verifier != nil {
		head += " " + fit("SIG", 7)
	}
	out := []string{st.ColumnHeader.Render(head)}
	if len(m.visible) == 0 {
		msg := "waiting for webhooks…"
		switch {
		case m.filter.Value() != "":
			msg = "no events match the filter (esc clears it)"
		case m.history != nil && m.loadingOlder:
			msg = "loading…"
		case m.history != nil:
			msg = "no stored events"
		case m.url != "":
			msg = "waiting for webhooks… send one to " + m.url
		}
		return append(out, "", "  "+st.Faint.Render(msg))
	}
	end := min(m.offset+rows-1, len(m.visible))
	for _, e := range m.visible[m.offset:end] {
		out = append(out, m.rowView(e, c))
	}
	return out
}

func (m *Model) rowView(e *entry, c columns) string {
	selected := e == m.sel
	if e.line == "" || e.lineCols != c || e.lineSel != selected {
		e.line, e.lineCols, e.lineSel = m.renderRow(e, c, selected), c, selected
	}
	return e.line
}

func (m *Model) renderRow(e *entry, c columns, selected bool) string {
	st := &m.Styles
	r := e.req
	gutter := " "
	if selected {
		gutter = "›"
	}
	mark := " "
	if r.ReplayOf != "" {
		mark = "↻"
	}
	status, sstyle := statusText(st, e.resp)
	if e.resp == nil && e.retry != nil {
		status, sstyle = retryText(e.retry.Attempt), &st.Status4xx
	}
	dur, size := "", fmtSize(len(r.Body))
	if e.resp != nil && e.resp.Error == "" {
		dur = fmtDuration(e.resp.Duration)
	}
	cells := []struct {
		s     string
		style *lipgloss.Style
	}{
		{gutter + mark, nil},
		{fit(m.rowTime(r.ReceivedAt), 8) + " ", &st.Faint},
		{fit(printable(r.Method, false), 7) + " ", &st.Bold},
		{fit(printable(r.URI(), false), c.path) + " ", nil},
		{fit(status, 7) + " ", sstyle},
		{fitR(dur, 6) + " ", &st.Faint},
		{fitR(size, 6) + " ", &st.Faint},
		{fitTail(r.ID, c.id), &st.Faint},
	}
	if r.ReplayOf != "" {
		cells[0].style = &st.Replay
	}
	if m.verifier != nil {
		s, style := sigText(st, m.signature(e))
		cells = append(cells, struct {
			s     string
			style *lipgloss.Style
		}{" " + fit(s, 7), style})
	}
	var b strings.Builder
	for _, cell := range cells {
		if selected || cell.style == nil {
			b.WriteString(cell.s)
		} else {
			b.WriteString(cell.style.Render(cell.s))
		}
	}
	if selected {
		return st.Selected.Render(b.String())
	}
	return b.String()
}

// rowTime is the time column: the time of day for today's events, the date
// for older ones (hookctl inspect pages history), so that yesterday's
// 09:00 does not read as this morning's.
func (m *Model) rowTime(t time.Time) string {
	t = t.In(m.loc)
	ty, tm, td := t.Date()
	ny, nm, nd := m.now().In(m.loc).Date()
	if ty == ny && tm == nm && td == nd {
		return t.Format("15:04:05")
	}
	if ty == ny {
		return t.Format("Jan _2")
	}
	return t.Format("2006-01")
}

// retryText fits the 7-cell status column: "retry 12" was cut to "retry 1…",
// which reads as the first retry.
func retryText(attempt int) string {
	switch {
	case attempt < 10:
		return fmt.Sprintf("retry %d", attempt)
	case attempt < 100:
		return fmt.Sprintf("retry%d", attempt)
	}
	return "retry…"
}

func statusText(st *Styles, r *capture.Response) (string, *lipgloss.Style) {
	switch {
	case r == nil:
		return "pending", &st.Pending
	case r.Skipped:
		return "skipped", &st.StatusErr
	case r.Error != "":
		return "error", &st.StatusErr
	case r.Status >= 500:
		return fmt.Sprint(r.Status), &st.Status5xx
	case r.Status >= 400:
		return fmt.Sprint(r.Status), &st.Status4xx
	case r.Status >= 300:
		return fmt.Sprint(r.Status), &st.Status3xx
	}
	return fmt.Sprint(r.Status), &st.Status2xx
}

func sigText(st *Styles, s Signature) (string, *lipgloss.Style) {
	switch s.State {
	case SigValid:
		return "valid", &st.SigValid
	case SigInvalid:
		return "INVALID", &st.SigInvalid
	case SigUnknown:
		return "unknown", &st.SigUnknown
	}
	return "", &st.Faint
}

func (m *Model) footerView() string {
	st := &m.Styles
	if m.filtering {
		return ansi.Truncate(m.filter.View(), m.width, "…")
	}
	if m.notice != "" {
		style := st.Notice
		if m.noticeErr {
			style = st.Error
		}
		return style.Render(fit(m.notice, m.width))
	}
	// The help line changes only with the mode and width: render it once.
	if m.helpLine != "" && m.helpMode == m.mode && m.helpWidth == m.width {
		return m.helpLine
	}
	keys := m.KeyMap.ShortHelp()
	if m.mode == modeDetail {
		keys = m.KeyMap.DetailHelp()
	} else if m.mode != modeList {
		keys = []key.Binding{m.KeyMap.Back, m.KeyMap.Quit}
	}
	m.helpLine, m.helpMode, m.helpWidth = ansi.Truncate(m.Help.ShortHelpView(keys), m.width, "…"), m.mode, m.width
	return m.helpLine
}

func (m *Model) detailTitle() string {
	e := m.detailEntry
	if e == nil {
		return ""
	}
	s := printable(e.req.Method+" "+e.req.URI(), false)
	if e.req.ID != "" {
		s += " · " + e.req.ID
	}
	status, _ := statusText(&m.Styles, e.resp)
	s += " · " + status
	pct := fmt.Sprintf(" %3.0f%%", m.detail.ScrollPercent()*100)
	return m.Styles.Bold.Render(fit(s, m.width-len(pct))) + m.Styles.Faint.Render(pct)
}

// setDetail (re)builds the detail view's content for e.
func (m *Model) setDetail(e *entry, keepOffset bool) {
	m.detailEntry = e
	y := m.detail.YOffset
	m.detail.Width, m.detail.Height = m.width, m.listRows()-1
	m.detail.SetContent(wrap(m.detailContent(e), m.width))
	if keepOffset {
		m.detail.SetYOffset(y)
	} else {
		m.detail.GotoTop()
	}
}

func (m *Model) detailContent(e *entry) string {
	st := &m.Styles
	r := e.req
	w := m.width
	var b strings.Builder
	b.WriteString(section(st, "Request", w) + "\n")
	b.WriteString(st.Bold.Render(printable(r.Method+" "+r.URI(), false)+" HTTP/1.1") + "\n")
	if r.Host != "" {
		b.WriteString(st.Faint.Render("Host: ") + printable(r.Host, false) + "\n")
	}
	writeHeaders(&b, st, r.Headers)
	b.WriteString("\n" + renderBody(st, r.Headers.Get("Content-Type"), r.Body) + "\n\n")

	if sig := m.signature(e); sig.State != SigNone {
		s, style := sigText(st, sig)
		b.WriteString(section(st, "Signature", w) + "\n" + style.Render(s))
		// A reason may run over several lines (a verifier's hint on its
		// own line): each is shown as a line, not as an escaped \x0a.
		for i, l := range strings.Split(strings.TrimRight(sig.Detail, "\n"), "\n") {
			switch {
			case sig.Detail == "":
			case i == 0:
				b.WriteString(": " + printable(l, false))
			default:
				b.WriteString("\n  " + printable(l, false))
			}
		}
		b.WriteString("\n\n")
	}

	b.WriteString(section(st, "Response", w) + "\n")
	switch resp := e.resp; {
	case resp == nil && e.retry != nil:
		b.WriteString(st.Status4xx.Render(fmt.Sprintf("pending: attempt %d failed: ", e.retry.Attempt)) + printable(e.retry.Err, false) +
			st.Faint.Render(fmt.Sprintf(" (next attempt at %s)", e.retryAt.In(m.loc).Format("15:04:05"))) + "\n")
	case resp == nil:
		b.WriteString(st.Pending.Render("pending: waiting for the local app") + "\n")
	case resp.Error != "":
		b.WriteString(st.StatusErr.Render("no response: ") + printable(resp.Error, false) + "\n")
	default:
		status, style := statusText(st, resp)
		b.WriteString(style.Render(status+" "+http.StatusText(resp.Status)) +
			st.Faint.Render(fmt.Sprintf(" · %s · %s", fmtDuration(resp.Duration), fmtSize(len(resp.Body)))) + "\n")
		writeHeaders(&b, st, resp.Headers)
		b.WriteString("\n" + renderBody(st, resp.Headers.Get("Content-Type"), resp.Body) + "\n")
	}

	b.WriteString("\n" + section(st, "Timing", w) + "\n")
	b.WriteString(st.Faint.Render("received  ") + r.ReceivedAt.In(m.loc).Format("2006-01-02 15:04:05.000 MST") + "\n")
	if e.resp != nil && e.resp.Error == "" {
		b.WriteString(st.Faint.Render("answered  ") + "+" + fmtDuration(e.resp.Duration) + "\n")
	}
	if e.resp != nil && e.resp.Route != "" {
		b.WriteString(st.Faint.Render("route     ") + printable(e.resp.Route, false) + "\n")
	}
	if r.ReplayOf != "" {
		b.WriteString(st.Faint.Render("replay of ") + r.ReplayOf + "\n")
	}
	if r.ID != "" {
		b.WriteString(st.Faint.Render("event     ") + r.ID + "\n")
	}
	if r.RemoteAddr != "" {
		b.WriteString(st.Faint.Render("from      ") + r.RemoteAddr + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func writeHeaders(b *strings.Builder, st *Styles, hs capture.Headers) {
	for _, h := range hs {
		b.WriteString(st.Faint.Render(printable(h.Name, false)+":") + " " + printable(h.Value, false) + "\n")
	}
}

// fit truncates s to w cells with an ellipsis, or pads it with spaces.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	n := ansi.StringWidth(s)
	if n > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-n)
}

// fitTail is fit keeping the end of s: event ids share their leading
// (time) characters, so only the tail tells rows apart.
func fitTail(s string, w int) string {
	if w <= 1 || ansi.StringWidth(s) <= w {
		return fit(s, w)
	}
	return "…" + ansi.TruncateLeft(s, ansi.StringWidth(s)-(w-1), "")
}

// fitR is fit, right-aligned.
func fitR(s string, w int) string {
	n := ansi.StringWidth(s)
	if n >= w {
		return fit(s, w)
	}
	return strings.Repeat(" ", w-n) + s
}

// shellLines re-breaks a shell command (copy as curl) so that no line is
// wider than w and the command shown still runs when copied off the screen:
// between arguments with " \\" and an indent, inside a quoted argument with
// "'\\" and a new line starting "'", inside a bare word with "\\". A plain
// wrap broke "curl ... --globoff 'URL' \\" before the URL, and the pasted
// command ran curl without one.
func shellLines(s string, w int) string {
	if w < 8 {
		return s
	}
	var b strings.Builder
	quoted := false
	for i, l := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		quoted = breakShellLine(&b, l, w, quoted)
	}
	return b.String()
}

// breakShellLine writes line l (which starts inside a single-quoted string
// when quoted is set) to b, broken to at most w cells, and returns whether
// the line ends inside a quoted string.
func breakShellLine(b *strings.Builder, l string, w int, quoted bool) bool {
	var cur strings.Builder
	curW, lastSpace, seenWord := 0, -1, false
	flush := func(s string) {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	fits := ansi.StringWidth(l) <= w
	for i := 0; i < len(l); {
		r, n := utf8.DecodeRuneInString(l[i:])
		if r == '\\' && !quoted && i+1 < len(l) {
			_, n2 := utf8.DecodeRuneInString(l[i+1:])
			n += n2 // an escape pair stays together
		}
		unit := l[i : i+n]
		uw := ansi.StringWidth(unit)
		if !fits && curW+uw > w-2 {
			line := cur.String()
			switch {
			case lastSpace > 0:
				flush(line[:lastSpace] + " \\")
				line = "  " + line[lastSpace+1:]
			case quoted:
				flush(line + "'\\")
				line = "'"
			default:
				flush(line + "\\")
				line = ""
			}
			cur.Reset()
			cur.WriteString(line)
			curW, lastSpace = ansi.StringWidth(line), -1
		}
		switch {
		case unit == "'":
			quoted = !quoted
		case unit == " " && !quoted && seenWord:
			lastSpace = cur.Len()
		}
		if unit != " " {
			seenWord = true
		}
		cur.WriteString(unit)
		curW += uw
		i += len(unit)
	}
	b.WriteString(cur.String())
	return quoted
}

// wrap wraps every line of s at w cells.
func wrap(s string, w int) string {
	if w <= 0 {
		return s
	}
	return ansi.Wrap(s, w, "")
}

func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0ms"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func fmtSize(n int) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%dB", n)
	case n < 1000*1024:
		return fmt.Sprintf("%.1fk", float64(n)/1024)
	}
	return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}
