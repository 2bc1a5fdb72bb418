package cli

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
)

// syncBuffer is a bytes.Buffer written by listen's goroutines and read by
// the test, which waits for content with waitFor.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) waitFor(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		if m := re.FindStringSubmatch(s.String()); m != nil {
			return m[len(m)-1]
		}
		select {
		case <-s.changed:
		case <-deadline.C:
			t.Fatalf("no match for %s in:\n%s", re, s.String())
		}
	}
}

func startTestRelay(t *testing.T) string {
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
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
	})
	return "http://" + ln.Addr().String()
}

// On a terminal the log is coloured and uses clock times, unless NO_COLOR.
func TestListenLogOnTerminal(t *testing.T) {
	relayURL := startTestRelay(t)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))
	defer app.Close()

	for _, noColor := range []bool{false, true} {
		out, errOut := newSyncBuffer(), newSyncBuffer()
		f, _, _ := testFactory(t, nil)
		f.IO = &IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut, StdoutTTY: true, StderrTTY: true, NoColor: noColor}
		opts := &ListenOptions{IO: f.IO, Factory: f, relayFlags: relayFlags{Relay: relayURL}, Forward: app.URL,
			outputFlags: outputFlags{Output: "log"}, Concurrency: 4, Reply: "passthrough", Timeout: 5 * time.Second}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- listenRun(ctx, opts) }()
		url := errOut.waitFor(t, regexp.MustCompile(`Webhook URL: (?:\x1b\[1m)?(http://\S+/h/[a-z0-9-]+)`))
		res, err := http.Post(url+"/tty", "text/plain", strings.NewReader("hi"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Errorf("sender got %d", res.StatusCode)
		}
		line := out.waitFor(t, regexp.MustCompile(`(?m)^(\d\d:\d\d:\d\d  POST    /tty .*)$`))
		hasANSI := strings.Contains(line, "\x1b[32m201\x1b[0m")
		if hasANSI == noColor {
			t.Errorf("NO_COLOR=%v: line %q", noColor, line)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listenRun after cancel = %v", err)
		}
		// The generated endpoint is remembered for this relay.
		cfg, err := loadConfig(f)
		if err != nil || cfg.Endpoints[relayURL] == "" || !strings.HasSuffix(url, "/h/"+cfg.Endpoints[relayURL]) {
			t.Errorf("endpoints %v for %s, %v", cfg.Endpoints, url, err)
		}
	}
}

// listen to a remote relay runs on one P unless GOMAXPROCS says otherwise.
func TestListenMaxProcs(t *testing.T) {
	relayURL := startTestRelay(t)
	for _, env := range []map[string]string{nil, {"GOMAXPROCS": "2"}} {
		errOut := newSyncBuffer()
		f, _, _ := testFactory(t, env)
		f.IO.ErrOut = errOut
		var set []int
		f.SetMaxProcs = func(n int) { set = append(set, n) }
		opts := &ListenOptions{IO: f.IO, Factory: f, relayFlags: relayFlags{Relay: relayURL}, Forward: "3000",
			outputFlags: outputFlags{Output: "log"}, Concurrency: 1, Reply: "ack", Timeout: 5 * time.Second}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- listenRun(ctx, opts) }()
		errOut.waitFor(t, regexp.MustCompile(`Webhook URL: (http://\S+)`))
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("listenRun after cancel = %v", err)
		}
		want := []int{1}
		if env["GOMAXPROCS"] != "" {
			want = nil
		}
		if !slices.Equal(set, want) {
			t.Errorf("GOMAXPROCS=%q: SetMaxProcs calls %v, want %v", env["GOMAXPROCS"], set, want)
		}
	}
}
