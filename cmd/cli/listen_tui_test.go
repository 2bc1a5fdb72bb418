package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/tunnel"
)

// startRelayForTUI runs a real relay (open mode, SQLite in a temp dir) on
// 127.0.0.1 and returns its URL.
func startRelayForTUI(t *testing.T) string {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := relay.New(relay.Config{Open: true}, st)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return "http://" + ln.Addr().String()
}

// tuiScreen collects what the program writes, for polling.
type tuiScreen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *tuiScreen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *tuiScreen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ansi.Strip(s.buf.String())
}

func tuiWaitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestListenInspector runs `hookctl listen` against a real relay with
// stdin and stdout flagged as terminals: the inspector shows a webhook sent
// to the relay, r replays it to the app and the relay records the replay,
// q quits cleanly.
func TestListenInspector(t *testing.T) {
	relayURL := startRelayForTUI(t)
	app := newReplayApp(t)
	keysR, keysW := io.Pipe()
	out := &tuiScreen{}
	var errOut bytes.Buffer
	f, _, _ := testFactory(t, map[string]string{"HOOKCTL_RELAY": relayURL})
	f.IO = &IOStreams{In: keysR, Out: out, ErrOut: &errOut, StdinTTY: true, StdoutTTY: true, NoColor: true}

	code := make(chan int, 1)
	go func() { code <- Run(t.Context(), []string{"listen", "--forward", app.URL, "--endpoint", "tui-e2e"}, f) }()
	tuiWaitUntil(t, "connected", func() bool { return strings.Contains(out.text(), "connected") })

	resp, err := http.Post(relayURL+"/h/tui-e2e/hooks/github?y=1", "application/json", strings.NewReader(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("sender got %d, want the app's 201", resp.StatusCode)
	}
	tuiWaitUntil(t, "the event row", func() bool {
		return strings.Contains(out.text(), "/hooks/github?y=1") && strings.Contains(out.text(), "201")
	})

	keysW.Write([]byte("r"))
	tuiWaitUntil(t, "the replay", func() bool { return app.count() == 2 && strings.Contains(out.text(), "replayed") })
	if got := app.got[1].RequestURI; got != "/hooks/github?y=1" || !bytes.Equal(app.body[1], []byte(`{"n":1}`)) {
		t.Fatalf("replay delivered %s %q", got, app.body[1])
	}
	api, _ := tunnel.NewAPIClient(relayURL, "")
	recs, err := api.Events(t.Context(), tunnel.EventsQuery{Endpoint: "tui-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Request.ReplayOf != recs[1].Request.ID || recs[0].Response == nil || recs[0].Response.Status != 201 {
		t.Fatalf("relay events after replay: %+v", recs)
	}

	keysW.Write([]byte("q"))
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("listen exited %d: %s", c, errOut.String())
		}
		if !strings.Contains(errOut.String(), "/h/tui-e2e (2 events this session)") {
			t.Fatalf("no summary after the inspector closed: %q", errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not exit after q")
	}
	keysW.Close()
}

// TestListenInspectorPausedBacklog: paused, the relay sends nothing; the
// status line counts what waits there ("paused · 2 new") from the relay
// API; on resume the events arrive.
func TestListenInspectorPausedBacklog(t *testing.T) {
	relayURL := startRelayForTUI(t)
	app := newReplayApp(t)
	keysR, keysW := io.Pipe()
	out := &tuiScreen{}
	var errOut bytes.Buffer
	f, _, _ := testFactory(t, map[string]string{"HOOKCTL_RELAY": relayURL})
	f.IO = &IOStreams{In: keysR, Out: out, ErrOut: &errOut, StdinTTY: true, StdoutTTY: true, NoColor: true}

	code := make(chan int, 1)
	go func() {
		code <- Run(t.Context(), []string{"listen", "--forward", app.URL, "--endpoint", "tui-paused"}, f)
	}()
	tuiWaitUntil(t, "connected", func() bool { return strings.Contains(out.text(), "connected") })
	keysW.Write([]byte("p"))
	tuiWaitUntil(t, "paused", func() bool { return strings.Contains(out.text(), "forwarding paused") })

	// Passthrough senders wait for the app; they are answered after the
	// resume.
	sent := make(chan int, 2)
	for i := range 2 {
		go func() {
			resp, err := http.Post(relayURL+"/h/tui-paused/n"+strconv.Itoa(i), "application/json", strings.NewReader(`{}`))
			if err != nil {
				sent <- 0
				return
			}
			resp.Body.Close()
			sent <- resp.StatusCode
		}()
	}
	tuiWaitUntil(t, "the backlog count", func() bool { return strings.Contains(out.text(), "paused · 2 new") })
	keysW.Write([]byte("p"))
	tuiWaitUntil(t, "the waiting events", func() bool { return app.count() == 2 })
	<-sent
	<-sent

	keysW.Write([]byte("q"))
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("listen exited %d: %s", c, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not exit after q")
	}
	keysW.Close()
}
