package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"

	"github.com/hookctl/hookctl/replay"
	"github.com/hookctl/hookctl/tunnel/capture"
)

var t0 = time.Date(2026, 11, 25, 8, 30, 0, 0, time.UTC)

// fakeActions records what the inspector asks for.
type fakeActions struct {
	mu      sync.Mutex
	replays []*capture.Request
	paused  []bool
}

func (a *fakeActions) Replay(_ context.Context, r *capture.Request) (*capture.Request, *capture.Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.replays = append(a.replays, r)
	rec := replay.Clone(r)
	rec.ID = fmt.Sprintf("evt_replay%d", len(a.replays))
	return rec, &capture.Response{Status: 200, Duration: 3 * time.Millisecond, Body: []byte("ok"), At: r.ReceivedAt}, nil
}

func (a *fakeActions) SetPaused(_ context.Context, p bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.paused = append(a.paused, p)
	return nil
}

func (a *fakeActions) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.replays)
}

type fakeVerifier struct{}

func (fakeVerifier) Verify(r *capture.Request) Signature {
	switch v := r.Headers.Get("X-Hub-Signature-256"); {
	case v == "":
		return Signature{State: SigUnknown}
	case strings.HasSuffix(v, "good"):
		return Signature{State: SigValid}
	default:
		return Signature{State: SigInvalid, Detail: "sha256 mismatch\nmost likely: body was signed with another secret or modified\n"}
	}
}

func jsonEvent(i int) *capture.Request {
	return &capture.Request{
		ID:       fmt.Sprintf("evt_%04d", i),
		Endpoint: "brave-otter-42",
		Method:   "POST",
		Path:     "/webhooks/github",
		Query:    "x=1",
		Headers: capture.Headers{
			{Name: "Content-Type", Value: "application/json"},
			{Name: "X-Github-Event", Value: "pull_request"},
			{Name: "X-Hub-Signature-256", Value: "sha256=good"},
		},
		Body:       []byte(fmt.Sprintf(`{"action":"opened","number":%d,"draft":false,"labels":["bug","p1"],"sender":{"login":"octocat"}}`, i)),
		Host:       "127.0.0.1:8787",
		Proto:      "http",
		RemoteAddr: "127.0.0.1:50000",
		ReceivedAt: t0.Add(time.Duration(i) * time.Second),
	}
}

func ok(status int, ms int) *capture.Response {
	return &capture.Response{
		Status:   status,
		Headers:  capture.Headers{{Name: "Content-Type", Value: "application/json"}},
		Body:     []byte(`{"ok":true}`),
		Duration: time.Duration(ms) * time.Millisecond,
	}
}

// fixture is a model with a fixed mix of events.
func fixture(t testing.TB, w, h int, opts ...Option) (*Model, *fakeActions) {
	a := &fakeActions{}
	base := []Option{
		WithActions(a), WithURL("http://127.0.0.1:8787/h/brave-otter-42"), WithTargets("localhost:3000"),
		WithConn(ConnMsg{State: ConnConnected}), WithLocation(time.UTC), WithClock(func() time.Time { return t0.Add(time.Hour) }),
	}
	m := New(append(base, opts...)...)
	m.SetSize(w, h)
	send(m, EventMsg{Request: jsonEvent(1), Response: ok(200, 12)})
	form := jsonEvent(2)
	form.Method, form.Path, form.Query = "PUT", "/billing/stripe", ""
	form.Headers = capture.Headers{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}, {Name: "X-Hub-Signature-256", Value: "sha256=bad"}}
	form.Body = []byte("a=1&b=hello+world&a=2&x&y=")
	send(m, EventMsg{Request: form, Response: ok(404, 3)})
	bin := jsonEvent(3)
	bin.Path, bin.Headers = "/upload", capture.Headers{{Name: "Content-Type", Value: "application/octet-stream"}}
	bin.Body = []byte{0, 1, 2, 0xff, 0xfe, 'h', 'i', 0x7f}
	send(m, EventMsg{Request: bin, Response: &capture.Response{Error: "connection refused: is your app listening on localhost:3000?"}})
	send(m, EventMsg{Request: jsonEvent(4), Response: ok(500, 1500)})
	send(m, EventMsg{Request: jsonEvent(5)}) // pending
	return m, a
}

func send(m *Model, msgs ...tea.Msg) {
	for _, msg := range msgs {
		_, cmd := m.Update(msg)
		runCmd(m, cmd)
	}
}

// runCmd runs cmd and feeds its messages back, as the program would. Feed
// waits and exec commands are not run.
func runCmd(m *Model, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	msg := cmd()
	switch msg := msg.(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			runCmd(m, c)
		}
	case nil:
	default:
		_, next := m.Update(msg)
		runCmd(m, next)
	}
}

func press(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func plain(m *Model) string { return ansi.Strip(m.View()) }

func checkFrame(t *testing.T, m *Model, w, h int) {
	t.Helper()
	v := m.View()
	lines := strings.Split(v, "\n")
	if len(lines) != h {
		t.Errorf("%dx%d: view has %d lines, want %d", w, h, len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("%dx%d: line %d is %d cells wide: %q", w, h, i, n, ansi.Strip(l))
		}
	}
}

func TestFollowAndNavigate(t *testing.T) {
	m, _ := fixture(t, 80, 24)
	if !m.Following() || m.Selected().ID != "evt_0005" {
		t.Fatalf("follow=%v selected=%v, want following the newest", m.Following(), m.Selected().ID)
	}
	send(m, press("k"))
	if m.Following() || m.Selected().ID != "evt_0004" {
		t.Fatalf("after k: follow=%v selected=%s", m.Following(), m.Selected().ID)
	}
	send(m, EventMsg{Request: jsonEvent(6)})
	if m.Selected().ID != "evt_0004" {
		t.Fatalf("a new event moved the selection to %s", m.Selected().ID)
	}
	send(m, press("up"), press("up"), press("up"), press("up"), press("up"))
	if m.Selected().ID != "evt_0001" {
		t.Fatalf("up at the top: selected %s", m.Selected().ID)
	}
	send(m, press("j"))
	if m.Selected().ID != "evt_0002" {
		t.Fatalf("j: selected %s", m.Selected().ID)
	}
	send(m, press("G"))
	if !m.Following() || m.Selected().ID != "evt_0006" {
		t.Fatalf("G: follow=%v selected %s", m.Following(), m.Selected().ID)
	}
	send(m, EventMsg{Request: jsonEvent(7)})
	if m.Selected().ID != "evt_0007" {
		t.Fatalf("following: selected %s", m.Selected().ID)
	}
	send(m, press("enter"))
	if !m.InDetail() || !strings.Contains(plain(m), `"action": "opened"`) {
		t.Fatalf("enter: detail=%v\n%s", m.InDetail(), plain(m))
	}
	// The response arrives while the detail is open.
	send(m, ResponseMsg{ID: "evt_0007", Response: ok(201, 5)})
	if !strings.Contains(plain(m), "evt_0007 · 201") || !strings.Contains(ansi.Strip(m.detailContent(m.detailEntry)), "201 Created") {
		t.Fatalf("detail did not update with the response:\n%s", plain(m))
	}
	send(m, press("esc"))
	if m.InDetail() {
		t.Fatal("esc did not close the detail")
	}
	send(m, press("?"))
	if !strings.Contains(plain(m), "page down") {
		t.Fatalf("help view:\n%s", plain(m))
	}
	send(m, press("?"))
	_, cmd := m.Update(press("q"))
	if cmd == nil || cmd() != tea.Quit() {
		t.Fatal("q did not quit")
	}
}

func TestResize(t *testing.T) {
	m, _ := fixture(t, 120, 40, WithVerifier(fakeVerifier{}))
	for _, sz := range [][2]int{{120, 40}, {80, 24}, {100, 30}, {80, 24}, {60, 12}, {200, 60}} {
		send(m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		checkFrame(t, m, sz[0], sz[1])
		send(m, press("enter"))
		checkFrame(t, m, sz[0], sz[1])
		send(m, press("esc"), press("?"))
		checkFrame(t, m, sz[0], sz[1])
		send(m, press("?"))
	}
	// Many events at 80x24: the selection stays on screen.
	for i := 10; i < 100; i++ {
		send(m, EventMsg{Request: jsonEvent(i), Response: ok(200, 1)})
	}
	send(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	checkFrame(t, m, 80, 24)
	if !strings.Contains(plain(m), "evt_0099") {
		t.Fatalf("newest row not on screen:\n%s", plain(m))
	}
	for range 30 {
		send(m, press("k"))
	}
	if !strings.Contains(plain(m), m.Selected().ID) {
		t.Fatalf("selected %s not on screen:\n%s", m.Selected().ID, plain(m))
	}
}

func TestFilter(t *testing.T) {
	m, _ := fixture(t, 80, 24)
	type tc struct {
		q    string
		want int
	}
	for _, c := range []tc{
		{"PUT", 1}, {"method:post", 4}, {"5xx", 1}, {"404", 1}, {"err", 1}, {"pending", 1},
		{"/upload", 1}, {"path:webhooks", 3}, {"octocat", 3}, {"evt_0002", 1}, {"POST 2xx", 1}, {"nothing-matches", 0},
	} {
		send(m, press("/"))
		for _, r := range c.q {
			send(m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		}
		send(m, press("enter"))
		if m.Visible() != c.want {
			t.Errorf("filter %q: %d visible, want %d", c.q, m.Visible(), c.want)
		}
		checkFrame(t, m, 80, 24)
		send(m, press("esc"))
		if m.Visible() != 5 || m.Filter() != "" {
			t.Errorf("esc after %q: %d visible, filter %q", c.q, m.Visible(), m.Filter())
		}
	}
	// Events arriving under a filter are filtered too.
	send(m, press("/"), press("P"), press("U"), press("T"), press("enter"))
	send(m, EventMsg{Request: jsonEvent(9)})
	if m.Visible() != 1 {
		t.Errorf("POST arrived under filter PUT: %d visible", m.Visible())
	}
}

func TestReplayPauseCopy(t *testing.T) {
	var copied string
	m, a := fixture(t, 80, 24, WithClipboard(func(s string) error { copied = s; return nil }))
	send(m, press("k"), press("k"), press("k"), press("k")) // evt_0001
	send(m, press("r"))
	if a.count() != 1 {
		t.Fatalf("%d replays, want 1", a.count())
	}
	got := a.replays[0]
	if got.ReplayOf != "evt_0001" || string(got.Body) != string(jsonEvent(1).Body) || got.ID != "" {
		t.Fatalf("replayed %+v", got)
	}
	if m.Len() != 6 || m.byID["evt_replay1"] == nil || !strings.Contains(plain(m), "↻") || !strings.Contains(m.Notice(), "replayed → 200") {
		t.Fatalf("no replay row (len %d, notice %q):\n%s", m.Len(), m.Notice(), plain(m))
	}
	send(m, press("p"))
	if !m.Paused() || len(a.paused) != 1 || !a.paused[0] || !strings.Contains(plain(m), "paused") {
		t.Fatalf("p: paused=%v calls=%v", m.Paused(), a.paused)
	}
	send(m, press("p"))
	if m.Paused() {
		t.Fatal("second p did not resume")
	}
	send(m, press("c"))
	if !strings.HasPrefix(copied, "curl ") || !strings.Contains(copied, "http://localhost:3000/webhooks/github?x=1") {
		t.Fatalf("copied %q", copied)
	}
	if !strings.Contains(plain(m), "--data-binary") {
		t.Fatalf("curl command not shown:\n%s", plain(m))
	}
	send(m, press("esc"))
	if strings.Contains(plain(m), "--data-binary") {
		t.Fatal("esc did not close the curl view")
	}
	// Without a clipboard the command is still shown.
	m2, _ := fixture(t, 80, 24)
	send(m2, press("c"))
	if !strings.Contains(plain(m2), "curl --request POST") || !strings.Contains(m2.Notice(), "no clipboard") {
		t.Fatalf("fallback:\n%s", plain(m2))
	}
}

func TestEditAbortedSendsNothing(t *testing.T) {
	m, a := fixture(t, 80, 24, WithEditor("false"))
	e := m.sel
	f, err := replay.NewEditFile(t.TempDir(), e.req)
	if err != nil {
		t.Fatal(err)
	}
	// The editor exits non-zero.
	send(m, editDoneMsg{file: f, orig: e, err: fmt.Errorf("exit status 1")})
	if a.count() != 0 || !strings.Contains(m.Notice(), "nothing sent") {
		t.Fatalf("replays=%d notice=%q", a.count(), m.Notice())
	}
	// The editor saves the file unchanged.
	f, _ = replay.NewEditFile(t.TempDir(), e.req)
	send(m, editDoneMsg{file: f, orig: e})
	if a.count() != 0 || !strings.Contains(m.Notice(), "nothing sent") {
		t.Fatalf("unchanged: replays=%d notice=%q", a.count(), m.Notice())
	}
	// No editor configured.
	m2, a2 := fixture(t, 80, 24)
	send(m2, press("e"))
	if a2.count() != 0 || !strings.Contains(m2.Notice(), "EDITOR") {
		t.Fatalf("no editor: notice %q", m2.Notice())
	}
}

func TestEditReplaysAndWarns(t *testing.T) {
	m, a := fixture(t, 80, 24)
	send(m, press("k"), press("k"), press("k"), press("k"))
	e := m.sel
	f, err := replay.NewEditFile(t.TempDir(), e.req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(f.Path)
	os.WriteFile(f.Path, []byte(strings.Replace(string(data), "opened", "closed", 1)+"\n"), 0o600)
	send(m, editDoneMsg{file: f, orig: e})
	if a.count() != 1 {
		t.Fatalf("%d replays", a.count())
	}
	if got := string(a.replays[0].Body); !strings.Contains(got, `"closed"`) || strings.HasSuffix(got, "\n") {
		t.Fatalf("sent body %q", got)
	}
	if !strings.Contains(m.Notice(), "--resign") {
		t.Fatalf("no signature warning: %q", m.Notice())
	}
	if _, err := os.Stat(f.Path); !os.IsNotExist(err) {
		t.Fatal("edit file left behind")
	}
}

func TestGolden(t *testing.T) {
	for _, w := range []int{80, 120} {
		t.Run(fmt.Sprintf("list_%d", w), func(t *testing.T) {
			m, _ := fixture(t, w, 24, WithVerifier(fakeVerifier{}))
			send(m, ConnMsg{State: ConnReconnecting, Attempt: 3, Retry: 2 * time.Second})
			send(m, press("k"))
			golden.RequireEqual(t, []byte(plain(m)))
		})
		t.Run(fmt.Sprintf("detail_json_%d", w), func(t *testing.T) {
			m, _ := fixture(t, w, 40)
			send(m, press("k"), press("enter"))
			golden.RequireEqual(t, []byte(plain(m)))
		})
		t.Run(fmt.Sprintf("detail_form_invalid_%d", w), func(t *testing.T) {
			m, _ := fixture(t, w, 40, WithVerifier(fakeVerifier{}))
			send(m, press("k"), press("k"), press("k"), press("enter"))
			golden.RequireEqual(t, []byte(plain(m)))
		})
		t.Run(fmt.Sprintf("detail_binary_%d", w), func(t *testing.T) {
			m, _ := fixture(t, w, 30)
			send(m, press("k"), press("k"), press("enter"))
			golden.RequireEqual(t, []byte(plain(m)))
		})
	}
	t.Run("offline_paused_filtered_80", func(t *testing.T) {
		m, _ := fixture(t, 80, 24)
		send(m, ConnMsg{State: ConnOffline, Backlog: 12}, press("p"), press("/"), press("P"), press("O"), press("S"), press("T"), press("enter"))
		golden.RequireEqual(t, []byte(plain(m)))
	})
	t.Run("help_80", func(t *testing.T) {
		m, _ := fixture(t, 80, 24)
		send(m, press("?"))
		golden.RequireEqual(t, []byte(plain(m)))
	})
	t.Run("curl_80", func(t *testing.T) {
		m, _ := fixture(t, 80, 24)
		send(m, press("k"), press("k"), press("k"), press("c"))
		golden.RequireEqual(t, []byte(plain(m)))
	})
	t.Run("empty_80", func(t *testing.T) {
		m := New(WithURL("http://127.0.0.1:8787/h/brave-otter-42"), WithTargets("localhost:3000"), WithConn(ConnMsg{State: ConnConnected}))
		m.SetSize(80, 24)
		golden.RequireEqual(t, []byte(plain(m)))
	})
}

// TestFlood pushes 20,000 events through a feed into the model: the list
// stays bounded and the heap does not grow with the number of events.
func TestFlood(t *testing.T) {
	feed := NewFeed(0)
	m := New(WithFeed(feed), WithLimit(1000), WithFrameInterval(time.Millisecond), WithLocation(time.UTC))
	m.SetSize(120, 40)
	body := []byte(strings.Repeat("x", 1024))
	var heapAt5k uint64
	for i := range 20000 {
		r := &capture.Request{ID: fmt.Sprintf("evt_%06d", i), Method: "POST", Path: "/flood", Body: body, ReceivedAt: t0}
		feed.Event(r)
		feed.Response(r.ID, &capture.Response{Status: 200})
		if i%500 == 499 {
			// One frame: drain the feed and render.
			msg := feed.wait(time.Time{}, 0)()
			m.Update(msg)
			_ = m.View()
		}
		if i == 4999 {
			heapAt5k = heap()
		}
	}
	if m.Len() != 1000 || len(m.byID) != 1000 || m.Visible() != 1000 {
		t.Fatalf("len=%d byID=%d visible=%d, want 1000", m.Len(), len(m.byID), m.Visible())
	}
	if m.pending != 0 || m.received != 20000 {
		t.Fatalf("pending=%d received=%d", m.pending, m.received)
	}
	if m.Selected().ID != "evt_019999" {
		t.Fatalf("selected %s, want the newest", m.Selected().ID)
	}
	end := heap()
	t.Logf("heap after 5k events: %d KiB, after 20k: %d KiB", heapAt5k>>10, end>>10)
	if end > heapAt5k+4<<20 {
		t.Fatalf("heap grew from %d to %d bytes between 5k and 20k events", heapAt5k, end)
	}
	runtime.KeepAlive(m)
}

// TestFeedBoundsAndDrops: a full feed drops the oldest event notices,
// counts them, and keeps connection updates.
func TestFeedBoundsAndDrops(t *testing.T) {
	f := NewFeed(10)
	f.Conn(ConnMsg{State: ConnConnected})
	for i := range 25 {
		f.Event(&capture.Request{ID: fmt.Sprint(i)})
	}
	msgs, dropped := f.drain()
	if len(msgs) != 10 || dropped != 16 {
		t.Fatalf("%d queued, %d dropped", len(msgs), dropped)
	}
	if _, ok := msgs[0].(ConnMsg); !ok {
		t.Fatalf("conn update dropped: %#v", msgs[0])
	}
	m := New(WithFeed(f))
	m.Update(batchMsg{msgs: msgs, dropped: dropped})
	if !strings.Contains(plain(m), "16 skipped in flood") {
		t.Fatalf("drops not shown:\n%s", plain(m))
	}
	f.Close()
	if _, ok := f.wait(time.Time{}, 0)().(feedClosedMsg); !ok {
		t.Fatal("closed feed did not report closed")
	}
}

func TestBoundedByBytes(t *testing.T) {
	m := New(WithMaxBytes(10<<10), WithLimit(1000))
	for i := range 100 {
		send(m, EventMsg{Request: &capture.Request{ID: fmt.Sprint(i), Method: "POST", Path: "/", Body: make([]byte, 1024)}})
	}
	if m.Len() > 10 || m.bytes > 10<<10 {
		t.Fatalf("len=%d bytes=%d", m.Len(), m.bytes)
	}
}

type fakeHistory struct{ total int }

func (h fakeHistory) Older(_ context.Context, before string, limit int) ([]EventMsg, error) {
	end := h.total
	if before != "" {
		fmt.Sscanf(before, "evt_%d", &end)
	}
	var out []EventMsg
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, EventMsg{Request: jsonEvent(i), Response: ok(200, 1)})
	}
	return out, nil
}

func TestHistoryPaging(t *testing.T) {
	m := New(WithHistory(fakeHistory{total: 250}), WithLocation(time.UTC))
	m.SetSize(80, 24)
	runCmd(m, m.Init())
	if m.Len() != 100 || m.Selected().ID != "evt_0249" {
		t.Fatalf("first page: len=%d selected=%v", m.Len(), m.Selected())
	}
	send(m, press("g"))
	send(m, press("k")) // past the top: loads the next page
	if m.Len() != 200 || m.Selected().ID != "evt_0149" {
		t.Fatalf("second page: len=%d selected=%s", m.Len(), m.Selected().ID)
	}
	send(m, press("g"), press("k"), press("g"), press("k"))
	if m.Len() != 250 || m.Selected().ID != "evt_0000" {
		t.Fatalf("all pages: len=%d selected=%s", m.Len(), m.Selected().ID)
	}
	checkFrame(t, m, 80, 24)
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestRetryThenDelivered(t *testing.T) {
	m, _ := fixture(t, 80, 24)
	send(m, RetryMsg{ID: "evt_0005", Err: "connection refused: is your app listening on localhost:3000?", Attempt: 2, RetryIn: time.Second})
	if !strings.Contains(plain(m), "retry 2") || m.pending != 1 {
		t.Fatalf("pending=%d\n%s", m.pending, plain(m))
	}
	send(m, press("enter"))
	if !strings.Contains(ansi.Strip(m.detailContent(m.detailEntry)), "attempt 2 failed: connection refused") {
		t.Fatalf("detail:\n%s", plain(m))
	}
	send(m, press("esc"))
	failedBefore := m.failed
	send(m, ResponseMsg{ID: "evt_0005", Response: ok(200, 2)})
	if strings.Contains(plain(m), "retry 2") || m.pending != 0 || m.failed != failedBefore {
		t.Fatalf("after delivery: pending=%d failed=%d\n%s", m.pending, m.failed, plain(m))
	}
	// A failed answer replaced by a good one is no longer counted as failed.
	send(m, ResponseMsg{ID: "evt_0003", Response: ok(200, 2)})
	if m.failed != failedBefore-1 {
		t.Fatalf("failed=%d, want %d", m.failed, failedBefore-1)
	}
}

// TestVerifyLazily: a flood verifies only the rows that are drawn.
func TestVerifyLazily(t *testing.T) {
	v := &countingVerifier{}
	m := New(WithVerifier(v), WithLocation(time.UTC))
	m.SetSize(80, 24)
	for i := range 500 {
		send(m, EventMsg{Request: jsonEvent(i)})
	}
	_ = m.View()
	if v.n > 24 {
		t.Fatalf("%d verifications for one 24-line frame", v.n)
	}
}

type countingVerifier struct{ n int }

func (c *countingVerifier) Verify(r *capture.Request) Signature {
	c.n++
	return fakeVerifier{}.Verify(r)
}

// TestNoColor: styles built for an Ascii renderer (NO_COLOR) put no colour
// sequences anywhere on screen, footer help included.
func TestNoColor(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	m, _ := fixture(t, 80, 24, WithStyles(NewStyles(r)), WithVerifier(fakeVerifier{}))
	for _, k := range []string{"", "enter", "esc", "?"} {
		if k != "" {
			send(m, press(k))
		}
		if v := m.View(); strings.Contains(v, "\x1b[3") || strings.Contains(v, "\x1b[9") {
			t.Fatalf("colour sequence after %q: %q", k, v)
		}
	}
	if !strings.Contains(plain(m), "Keys") {
		t.Fatal("help not shown")
	}
}

// TestBacklogStaleAnswerIgnored: an answer to a poll made before a resume
// must not bring the count back.
func TestBacklogStaleAnswerIgnored(t *testing.T) {
	m := New(WithActions(&fakeActions{}))
	m.SetSize(80, 24)
	send(m, pausedMsg{paused: true})
	gen := m.backlog.gen
	send(m, backlogMsg{gen: gen, ids: []string{"evt_a", "evt_b"}})
	if !strings.Contains(plain(m), "paused · 2 new") {
		t.Fatalf("no count:\n%s", plain(m))
	}
	send(m, pausedMsg{paused: false}, backlogMsg{gen: gen, ids: []string{"evt_a", "evt_b", "evt_c"}})
	if m.backlog.n != 0 || strings.Contains(plain(m), "new") {
		t.Fatalf("stale answer shown after resume: %+v\n%s", m.backlog, plain(m))
	}
	// An error keeps the last count rather than showing 0.
	send(m, pausedMsg{paused: true})
	send(m, backlogMsg{gen: m.backlog.gen, ids: []string{"evt_a"}}, backlogMsg{gen: m.backlog.gen, err: errors.New("relay down")})
	if m.backlog.n != 1 {
		t.Fatalf("count after an error: %+v", m.backlog)
	}
}
