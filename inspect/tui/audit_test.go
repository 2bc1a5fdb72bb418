package tui

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// asciiFixture is the fixture without colours, so that any escape sequence
// in a frame came from the captured request, not from a style.
func asciiFixture(t *testing.T, w, h int, opts ...Option) *Model {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	m, _ := fixture(t, w, h, append([]Option{WithStyles(NewStyles(r))}, opts...)...)
	return m
}

// TestControlCharactersNeverReachTheTerminal: a sender controls paths,
// headers, form fields and bodies; a control character in any of them must
// be shown, not interpreted (ESC[2J cleared the real screen, OSC 0 set the
// window title, CR overwrote the row).
func TestControlCharactersNeverReachTheTerminal(t *testing.T) {
	for name, r := range map[string]*capture.Request{
		"form": {Method: "POST", Path: "/inj", Headers: capture.Headers{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}},
			Body: []byte("a=%1b%5b2J%1b%5b31mRED&b=%1b]0;pwned%07&c=%C2%9B2J")},
		"text": {Method: "POST", Path: "/t", Headers: capture.Headers{{Name: "Content-Type", Value: "text/plain"}},
			Body: []byte("safe\rEVIL\ttab\u009b2J")},
		"json": {Method: "POST", Path: "/j", Headers: capture.Headers{{Name: "Content-Type", Value: "application/json"}},
			Body: []byte("{\"a\":\"\u009b2J\x7f\"}")},
		"header": {Method: "POST", Path: "/h\x1b[2J", Query: "q=\x1b]0;t\x07",
			Headers: capture.Headers{{Name: "X-Evil", Value: "a\x1b[2Jb\rc"}}},
	} {
		t.Run(name, func(t *testing.T) {
			m := asciiFixture(t, 80, 40)
			r.ID, r.ReceivedAt = "evt_inj", t0
			send(m, EventMsg{Request: r, Response: ok(200, 1)})
			for _, k := range []string{"", "enter"} {
				if k != "" {
					send(m, press(k))
				}
				v := m.View()
				for _, bad := range []string{"\x1b", "\r", "\u009b", "\x07", "\x7f"} {
					if strings.Contains(v, bad) {
						t.Fatalf("after %q the frame contains %q:\n%q", k, bad, v)
					}
				}
				checkFrame(t, m, 80, 40)
			}
			if name == "form" && !strings.Contains(plain(m), `a = \x1b[2J\x1b[31mRED`) {
				t.Fatalf("form field not shown escaped:\n%s", plain(m))
			}
		})
	}
}

// TestInvisibleCharactersShownEscaped: a right-to-left override in a path
// displayed "/files/\u202efdp.exe" as "/files/exe.pdf"; bidi isolates,
// zero-width characters and a BOM made headers and bodies read differently
// from what was sent. They are shown as escapes in the list and the detail.
func TestInvisibleCharactersShownEscaped(t *testing.T) {
	hidden := "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u200e\u200f\u2028\u2029\ufeff\u061c"
	for name, c := range map[string]struct {
		r    *capture.Request
		want []string
	}{
		"path": {&capture.Request{Method: "POST", Path: "/files/\u202efdp.exe", Query: "a=\u2066b\u2069"},
			[]string{`/files/\u202efdp.exe?a=\u2066b\u2069`}},
		"header": {&capture.Request{Method: "POST", Path: "/h",
			Headers: capture.Headers{{Name: "X-A\u200b", Value: "ok\u202d\u2028x"}}},
			[]string{`X-A\u200b: ok\u202d\u2028x`}},
		"json": {&capture.Request{Method: "POST", Path: "/j", Headers: capture.Headers{{Name: "Content-Type", Value: "application/json"}},
			Body: []byte("{\"amount\":\"\u202e001\ufeff\"}")},
			[]string{`\u202e001\ufeff`}},
		"text": {&capture.Request{Method: "POST", Path: "/t", Headers: capture.Headers{{Name: "Content-Type", Value: "text/plain"}},
			Body: []byte("a\u200fb\u061cc\u2029d")},
			[]string{`a\u200fb\u061cc\u2029d`}},
		"form": {&capture.Request{Method: "POST", Path: "/f", Headers: capture.Headers{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}},
			Body: []byte("to=%E2%80%AEmoc.live&x=%E2%80%8B")},
			[]string{`to = \u202emoc.live`, `x = \u200b`}},
	} {
		t.Run(name, func(t *testing.T) {
			m := asciiFixture(t, 120, 40)
			c.r.ID, c.r.ReceivedAt = "evt_bidi", t0
			send(m, EventMsg{Request: c.r, Response: ok(200, 1)})
			views := []string{plain(m)}
			send(m, press("enter"))
			views = append(views, plain(m))
			for i, v := range views {
				if strings.ContainsAny(v, hidden) {
					t.Fatalf("view %d holds an invisible character:\n%q", i, v)
				}
				checkFrame(t, m, 120, 40)
			}
			if name == "path" && !strings.Contains(views[0], `/files/\u202efdp.exe`) {
				t.Fatalf("list row not escaped:\n%s", views[0])
			}
			for _, w := range c.want {
				if !strings.Contains(views[1], w) {
					t.Fatalf("detail lacks %q:\n%s", w, views[1])
				}
			}
		})
	}
}

// TestFeedFullNeverLosesAResponse: when the feed overflows it used to drop
// the oldest update of any kind — often the response to an event already on
// screen, whose row then said "pending" for ever.
func TestFeedFullNeverLosesAResponse(t *testing.T) {
	f := NewFeed(10)
	m := New(WithFeed(f), WithLimit(1000))
	shown := &capture.Request{ID: "evt_shown", Method: "POST", Path: "/a"}
	f.Event(shown)
	m.Update(f.wait(time.Time{}, 0)())
	// The UI stalls: the answer to the shown event, then a flood.
	f.Response("evt_shown", &capture.Response{Status: 200})
	for i := range 50 {
		id := fmt.Sprintf("evt_%03d", i)
		f.Event(&capture.Request{ID: id, Method: "POST", Path: "/flood"})
		f.Retry(id, errors.New("refused"), 1, time.Second)
		f.Response(id, &capture.Response{Status: 200})
		f.Conn(ConnMsg{State: ConnConnected, URL: "http://x/h/y"})
	}
	f.mu.Lock()
	n := len(f.q)
	f.mu.Unlock()
	if n > 12 {
		t.Fatalf("feed holds %d updates, limit 10", n)
	}
	m.Update(f.wait(time.Time{}, 0)())
	if e := m.byID["evt_shown"]; e == nil || e.resp == nil || e.resp.Status != 200 {
		t.Fatalf("the shown event lost its response: %+v", e)
	}
	if m.pending != 0 {
		t.Fatalf("%d rows left pending after every event was answered:\n%s", m.pending, plain(m))
	}
	if m.dropped == 0 || m.url != "http://x/h/y" {
		t.Fatalf("dropped=%d url=%q", m.dropped, m.url)
	}
}

// TestIDColumnTellsRowsApart: ids are time-ordered, so events received close
// together share a long prefix; at 80 columns the ID column showed
// "evt_01M89…" on every row.
func TestIDColumnTellsRowsApart(t *testing.T) {
	m := New(WithLocation(time.UTC))
	m.SetSize(80, 24)
	for _, id := range []string{"evt_01M890GY0X2FVBBHQ2PH6H2W1R", "evt_01M890GY23BZ8CXEKCW6HKF2RD"} {
		send(m, EventMsg{Request: &capture.Request{ID: id, Method: "POST", Path: "/x", ReceivedAt: t0}, Response: ok(200, 1)})
	}
	v := plain(m)
	if !strings.Contains(v, "H6H2W1R") || !strings.Contains(v, "W6HKF2RD") {
		t.Fatalf("ids not told apart:\n%s", v)
	}
	checkFrame(t, m, 80, 24)
}

// TestCurlShownRunsWhenCopiedOffScreen: the fallback for terminals without
// OSC 52 is the command on screen. Its lines were word-wrapped, breaking
// "curl ... --globoff 'URL' \" before the URL without a continuation, so
// the pasted command ran curl with no URL. Lines are now broken between
// arguments with " \".
func TestCurlShownRunsWhenCopiedOffScreen(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	long := &capture.Request{ID: "evt_1", Method: "POST", Path: "/webhooks/json/with/a/longer/path", Query: "x=1&y=it's",
		Headers: capture.Headers{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Quote", Value: "it's a 'quoted' value that is rather long, long enough to pass 80"}},
		Body:    []byte(`{"a":1}`), ReceivedAt: t0}
	text := &capture.Request{ID: "evt_2", Method: "PUT", Path: "/t", ReceivedAt: t0,
		Body: []byte("line one\n" + strings.Repeat("wörds and 'quotes' ", 12) + "x\n\nend")}
	binary := &capture.Request{ID: "evt_3", Method: "POST", Path: "/b", ReceivedAt: t0, Body: []byte{0, 1, 2, 0xff, '\'', '\\', ' ', 'x', 0x1b}}
	for _, r := range []*capture.Request{long, text, binary} {
		t.Run(r.ID, func(t *testing.T) { checkCurlShown(t, r) })
	}
}

func checkCurlShown(t *testing.T, r *capture.Request) {
	m := New(WithLocation(time.UTC), WithTargets("localhost:3000"), WithClipboard(func(string) error { return nil }))
	m.SetSize(80, 40)
	send(m, EventMsg{Request: r, Response: ok(200, 1)}, press("c"))
	checkFrame(t, m, 80, 40)
	lines := strings.Split(plain(m), "\n")
	// The screen pads lines with spaces: trim them, and the blank lines
	// after the command.
	var cmd []string
	for _, l := range lines[3 : len(lines)-1] {
		cmd = append(cmd, strings.TrimRight(l, " "))
	}
	shown := strings.TrimRight(strings.Join(cmd, "\n"), "\n")
	// Run the shown command with curl replaced by a function printing its
	// arguments, and compare with the original command's.
	args := func(c string) string {
		out, err := exec.Command("sh", "-c", `curl() { for a in "$@"; do printf '%s\n' "$a"; done; }; `+c).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s\n%s", err, out, c)
		}
		return string(out)
	}
	if got, want := args(shown), args(m.text); got != want {
		t.Fatalf("the command on screen is not the command copied:\n%s\n--- runs as\n%s--- want\n%s", shown, got, want)
	}
}

// TestClipboardErrorShown: why the command was not copied (too large, not a
// terminal) is in the notice, not a generic "unavailable".
func TestClipboardErrorShown(t *testing.T) {
	m := New(WithTargets("localhost:3000"), WithClipboard(func(string) error { return errors.New("900 KiB is too large") }))
	send(m, EventMsg{Request: &capture.Request{ID: "evt_1", Method: "POST", Path: "/"}}, press("c"))
	if !strings.Contains(m.Notice(), "900 KiB is too large") || !strings.Contains(plain(m), "curl") {
		t.Fatalf("notice %q", m.Notice())
	}
}

// TestTimesDoNotMislead: the time column showed only the time of day, so in
// hookctl inspect yesterday's 08:30 read as this morning's; retry and
// reconnect delays were relative ("retrying in 4.588s") and froze on screen,
// since nothing redraws them every second.
func TestTimesDoNotMislead(t *testing.T) {
	now := t0.Add(48 * time.Hour)
	m := New(WithLocation(time.UTC), WithClock(func() time.Time { return now }))
	m.SetSize(80, 24)
	old := &capture.Request{ID: "evt_old", Method: "POST", Path: "/old", ReceivedAt: t0}
	today := &capture.Request{ID: "evt_new", Method: "POST", Path: "/new", ReceivedAt: now.Add(-time.Minute)}
	send(m, EventMsg{Request: old, Response: ok(200, 1)}, EventMsg{Request: today})
	v := plain(m)
	if !strings.Contains(v, "Nov 25   POST    /old") || !strings.Contains(v, "08:29:00 POST    /new") {
		t.Fatalf("time column:\n%s", v)
	}
	send(m, RetryMsg{ID: "evt_new", Err: "connection refused", Attempt: 2, RetryIn: 5 * time.Second},
		ConnMsg{State: ConnReconnecting, Attempt: 3, Retry: 2 * time.Second}, press("enter"))
	v = plain(m)
	if !strings.Contains(v, "next attempt at 08:30:05") || !strings.Contains(v, "next at 08:30:02") {
		t.Fatalf("retry times:\n%s", v)
	}
}

// TestFloodKeepsTheSelection: with the list full, the entry the user moved
// to was evicted from under the cursor, which then jumped to the oldest row
// (evicted in turn a frame later): in a flood, nothing could be opened.
func TestFloodKeepsTheSelection(t *testing.T) {
	for _, filter := range []string{"", "/flood"} {
		m := New(WithLimit(50), WithLocation(time.UTC))
		m.SetSize(80, 24)
		add := func(i int) {
			send(m, EventMsg{Request: &capture.Request{ID: fmt.Sprintf("evt_%04d", i), Method: "POST", Path: "/flood", ReceivedAt: t0}, Response: ok(200, 1)})
		}
		for i := range 60 {
			add(i)
		}
		if filter != "" {
			send(m, press("/"))
			for _, r := range filter {
				send(m, press(string(r)))
			}
			send(m, press("enter"))
		}
		send(m, press("k"), press("k"))
		want := m.Selected().ID
		for i := 60; i < 400; i++ {
			add(i)
			if got := m.Selected(); got == nil || got.ID != want {
				t.Fatalf("filter %q: after event %d the selection is %v, want %s", filter, i, got, want)
			}
		}
		if m.Len() > 50 || m.Visible() > 50 || m.cursor() < 0 || !strings.Contains(plain(m), want) {
			t.Fatalf("len %d visible %d cursor %d; selection not on screen:\n%s", m.Len(), m.Visible(), m.cursor(), plain(m))
		}
		send(m, press("j"))
		if m.Selected().ID == want || m.cursor() != 1 {
			t.Fatalf("j from the kept row: %s at %d", m.Selected().ID, m.cursor())
		}
		send(m, press("enter"))
		sel := m.Selected()
		for i := 400; i < 500; i++ {
			add(i)
		}
		send(m, ResponseMsg{ID: sel.ID, Response: ok(201, 1)})
		if !strings.Contains(plain(m), sel.ID+" · 201") {
			t.Fatalf("the open event lost its update:\n%s", plain(m))
		}
		checkFrame(t, m, 80, 24)
	}
}

// TestOddInputNeverBreaksTheFrame throws bodies, paths and headers made of
// awkward pieces (escapes, CR, tabs, C1, invalid UTF-8, wide and zero-width
// runes, broken JSON and forms) at the list, the detail and the curl view:
// every frame keeps its size and carries no control character. The curl
// view passed a text body's CR and C1 characters to the terminal.
func TestOddInputNeverBreaksTheFrame(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cts := []string{"application/json", "application/x-www-form-urlencoded", "text/plain", "", "application/octet-stream"}
	pieces := []string{"{", "}", "\"", "\\", "%", "%1b", "%ff", "=", "&", "\x1b[", "\r", "\n", "\t", "\xff", "\xc2\x9b",
		"é", "漢字", "\u200b", "a", " ", "[", "]", ":", ",", "1e999", "-", "null", "\x00", "'"}
	m := asciiFixture(t, 80, 24)
	check := func(b []byte, where string) {
		t.Helper()
		checkFrame(t, m, 80, 24)
		if v := m.View(); t.Failed() || strings.ContainsAny(v, "\x1b\r\x00\u009b\t") {
			t.Fatalf("%s frame for body %q:\n%q", where, b, v)
		}
	}
	for i := range 400 {
		var b []byte
		for range rng.IntN(40) {
			b = append(b, pieces[rng.IntN(len(pieces))]...)
		}
		// The relay only stores what net/http accepts: no controls in the
		// path, query or header values (obs-text is allowed).
		clean := strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, string(b[:min(len(b), 24)]))
		r := &capture.Request{ID: "evt_f", Method: "POST", Path: "/" + url.PathEscape(clean), Query: clean,
			Headers: capture.Headers{{Name: "Content-Type", Value: cts[i%len(cts)]}, {Name: "X-H", Value: clean}}, Body: b, ReceivedAt: t0}
		send(m, EventMsg{Request: r, Response: &capture.Response{Status: 200, Headers: r.Headers, Body: b}})
		check(b, "list")
		send(m, press("enter"))
		check(b, "detail")
		send(m, press("c"))
		check(b, "curl")
		send(m, press("esc"), press("esc"))
	}
}

// TestRetryCountFits: the status column showed "retry 1…" from the tenth
// attempt on.
func TestRetryCountFits(t *testing.T) {
	m := New(WithLocation(time.UTC))
	m.SetSize(80, 24)
	send(m, EventMsg{Request: &capture.Request{ID: "evt_1", Method: "POST", Path: "/down", ReceivedAt: t0}},
		RetryMsg{ID: "evt_1", Err: "connection refused", Attempt: 12, RetryIn: time.Second})
	if v := plain(m); !strings.Contains(v, "retry12") {
		t.Fatalf("status column:\n%s", v)
	}
}

// TestFeedRedeliveredEventAfterDrop: an event whose notice was dropped in a
// flood, then delivered again after a reconnect, must get its response.
func TestFeedRedeliveredEventAfterDrop(t *testing.T) {
	f := NewFeed(2)
	m := New(WithFeed(f))
	x := &capture.Request{ID: "evt_x", Method: "POST", Path: "/x"}
	f.Event(x)
	f.Event(&capture.Request{ID: "evt_1", Method: "POST", Path: "/1"})
	f.Event(&capture.Request{ID: "evt_2", Method: "POST", Path: "/2"}) // drops evt_x
	m.Update(f.wait(time.Time{}, 0)())
	f.Event(x) // redelivered
	f.Response("evt_x", &capture.Response{Status: 200})
	m.Update(f.wait(time.Time{}, 0)())
	if e := m.byID["evt_x"]; e == nil || e.resp == nil {
		t.Fatalf("redelivered event has no response: %+v", e)
	}
}

// TestHeaderShowsTheTargetPort: at 80 columns with the embedded relay's URL
// the header read "→ http://localhost:3…", hiding the port.
func TestHeaderShowsTheTargetPort(t *testing.T) {
	m := New(WithURL("http://127.0.0.1:8787/h/quiet-raven-16"), WithTargets("http://localhost:3400"), WithConn(ConnMsg{State: ConnConnected}))
	m.SetSize(80, 24)
	if first := strings.Split(plain(m), "\n")[0]; !strings.Contains(first, "→ localhost:3400") {
		t.Fatalf("header: %q", first)
	}
}

// TestHistoryNewestComesBack: paging back in hookctl inspect beyond the list
// bound evicts the newest events; the header still said "last 1000 shown"
// and G stopped at the newest event left in memory, so the newest stored
// events could not be seen again without restarting.
func TestHistoryNewestComesBack(t *testing.T) {
	m := New(WithHistory(fakeHistory{total: 450}), WithLimit(250), WithLocation(time.UTC))
	m.SetSize(80, 24)
	runCmd(m, m.Init())
	for range 4 {
		send(m, press("g"), press("k"))
	}
	if m.Len() != 250 || m.byID["evt_0449"] != nil {
		t.Fatalf("len %d; newest still in memory", m.Len())
	}
	if v := plain(m); strings.Contains(v, "last 250 shown") || !strings.Contains(v, "G: newest") {
		t.Fatalf("header:\n%s", v)
	}
	send(m, press("G"))
	if m.Selected() == nil || m.Selected().ID != "evt_0449" || !m.Following() {
		t.Fatalf("G: selected %v", m.Selected())
	}
	if v := plain(m); !strings.Contains(v, "100 events") || strings.Contains(v, "G: newest") {
		t.Fatalf("after reload:\n%s", v)
	}
	send(m, press("g"), press("k"))
	if m.Len() != 200 {
		t.Fatalf("paging after reload: %d", m.Len())
	}
}

// TestEveryWidthFits: the header was not cut to the screen, so below about
// 56 columns a reconnecting state made line 1 wider than the terminal (which
// then wrapped and scrolled the whole frame). Every view at every width from
// 20 to 130 columns now fits.
func TestEveryWidthFits(t *testing.T) {
	m, _ := fixture(t, 80, 24, WithVerifier(fakeVerifier{}))
	send(m, ConnMsg{State: ConnReconnecting, Attempt: 12, Retry: 3 * time.Second})
	for w := 20; w <= 130; w++ {
		for _, h := range []int{6, 24} {
			send(m, tea.WindowSizeMsg{Width: w, Height: h})
			checkFrame(t, m, w, h)
			send(m, press("enter"))
			checkFrame(t, m, w, h)
			send(m, press("c"))
			checkFrame(t, m, w, h)
			send(m, press("esc"), press("esc"), press("?"))
			checkFrame(t, m, w, h)
			send(m, press("?"), press("k"))
			if t.Failed() {
				t.Fatalf("at %dx%d", w, h)
			}
		}
	}
}

// TestCRLFBodyReadsAsLines: escaping control characters must not put a
// \x0d at the end of every line of a CRLF body (multipart, for one).
func TestCRLFBodyReadsAsLines(t *testing.T) {
	got := printable("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--\r", true)
	if want := "--b\nContent-Disposition: form-data; name=\"a\"\n\n1\n--b--\\x0d"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestConnectionErrorShown: ConnMsg.Err was never drawn: with the relay
// unreachable the header said "reconnecting (attempt 5 …)" and nothing said
// why.
func TestConnectionErrorShown(t *testing.T) {
	m := New(WithConn(ConnMsg{State: ConnConnecting}))
	m.SetSize(80, 24)
	send(m, ConnMsg{State: ConnReconnecting, Attempt: 5, Retry: time.Second, Err: "dial tcp 127.0.0.1:1: connect: connection refused"})
	if v := plain(m); !strings.Contains(strings.Split(v, "\n")[1], "connection refused") {
		t.Fatalf("no reason shown:\n%s", v)
	}
	checkFrame(t, m, 80, 24)
	send(m, ConnMsg{State: ConnConnected})
	if v := plain(m); strings.Contains(v, "refused") {
		t.Fatalf("stale reason after reconnecting:\n%s", v)
	}
}

// TestColumnsSizedByContent: a 29-character ID was cut to 23 at 120 columns
// while PATH padded ~60 empty cells. Short paths now leave the ID whole, and
// a long path still leaves the ID its tail.
func TestColumnsSizedByContent(t *testing.T) {
	const id = "evt_01M890GY0X2FVBBHQ2PH6H2W1R"
	m := New(WithLocation(time.UTC))
	m.SetSize(120, 10)
	send(m, EventMsg{Request: &capture.Request{ID: id, Method: "POST", Path: "/x", ReceivedAt: t0}, Response: ok(200, 1)})
	if v := plain(m); !strings.Contains(v, id) {
		t.Fatalf("ID cut at 120 columns with a short path:\n%s", v)
	}
	if v := plain(m); strings.Contains(v, "/x        ") {
		t.Fatalf("PATH padded past its content:\n%s", v)
	}
	checkFrame(t, m, 120, 10)
	send(m, EventMsg{Request: &capture.Request{ID: id[:len(id)-1] + "Z", Method: "POST", Path: "/" + strings.Repeat("p", 200), ReceivedAt: t0}, Response: ok(200, 1)})
	m.SetSize(80, 10)
	if v := plain(m); !strings.Contains(v, "H6H2W1R") || !strings.Contains(v, "H6H2W1Z") {
		t.Fatalf("a long path took the ID's tail:\n%s", v)
	}
	checkFrame(t, m, 80, 10)
}
