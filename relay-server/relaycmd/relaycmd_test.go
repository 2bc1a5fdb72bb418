package relaycmd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/relay-server/relaycmd"
	"github.com/hookctl/hookctl/relay-server/store/pgtest"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/tunnel/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgRun{m}) }

// pgRun runs the tests through pgtest.Main, which stops the PostgreSQL
// server the tests started, before goleak looks for leaks.
type pgRun struct{ m *testing.M }

func (p pgRun) Run() int { return pgtest.Main(p.m) }

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1024": 1024, "25MiB": 25 << 20, "10MB": 10e6, "1kib": 1024, "2 GiB": 2 << 30, "512b": 512, "1.5KiB": 1536,
	} {
		got, err := relaycmd.ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "ten", "5XB", "0"} {
		if _, err := relaycmd.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute,
	} {
		got, err := relaycmd.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "7x", "-1h", "0d"} {
		if _, err := relaycmd.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

func TestTokenCreate(t *testing.T) {
	data := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := relaycmd.Run(context.Background(), []string{"token", "create", "--data", data, "--name", "alice"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	tok := strings.TrimSuffix(stdout.String(), "\n")
	if !regexp.MustCompile(`^hkt_[a-z2-7]{32}$`).MatchString(tok) || stderr.Len() != 0 {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	st, err := sqlite.Open(filepath.Join(data, "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := sha256.Sum256([]byte(tok))
	if got, err := st.TokenByHash(context.Background(), h[:]); err != nil || got.Name != "alice" {
		t.Errorf("stored token = %+v, %v", got, err)
	}
	stdout.Reset()
	if code := relaycmd.Run(context.Background(), []string{"token", "create", "--data", data}, &stdout, &stderr); code != relaycmd.ExitUsage {
		t.Errorf("without --name: exit %d", code)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--max-body", "lots"},
		{"--retention", "forever"},
		{"--tls-cert", "x.pem"},
		{"--no-such-flag"},
		{"--database", "mysql://db/hookctl"},
		{"token", "list", "--database", "relay.db"},
	} {
		var stdout, stderr bytes.Buffer
		if code := relaycmd.Run(context.Background(), append(args, "--data", t.TempDir()), &stdout, &stderr); code != relaycmd.ExitUsage {
			t.Errorf("%v: exit %d, stderr %s", args, code, stderr.String())
		}
		if !strings.HasPrefix(stderr.String(), "Error: ") {
			t.Errorf("%v: stderr %q", args, stderr.String())
		}
	}
}

// A database that does not answer is an error with a hint, at once, for
// the server and for admin commands; nothing falls back to SQLite.
func TestDatabaseUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "postgres://hookctl:pw@" + l.Addr().String() + "/hookctl?connect_timeout=5"
	l.Close() // nothing listens there now
	data := t.TempDir()
	for _, args := range [][]string{
		{"--addr", "127.0.0.1:0", "--open", "--database", url},
		{"token", "create", "--name", "alice", "--database", url},
		{"endpoints", "list", "--database", url},
	} {
		code, stdout, stderr := run(t, append(args, "--data", data)...)
		if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "Error: ") ||
			!strings.Contains(stderr, "Hint: check the --database URL") || strings.Contains(stderr, ":pw@") {
			t.Errorf("%v: exit %d, stdout %q\n%s", args[:2], code, stdout, stderr)
		}
	}
	if entries, _ := os.ReadDir(data); len(entries) > 1 {
		t.Errorf("a PostgreSQL relay wrote SQLite files in --data: %v", entries)
	}
}

var listening = regexp.MustCompile(`listening on (https?://[0-9.:\[\]]+)`)

// lineWriter hands complete stderr lines to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		select {
		case w.lines <- line:
		default:
		}
	}
}

func waitURL(t *testing.T, lines <-chan string) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case line := <-lines:
			if m := listening.FindStringSubmatch(line); m != nil {
				return m[1]
			}
		case <-timeout:
			t.Fatal("relay-server did not print its address")
		}
	}
}

func TestServeInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lineWriter{lines: make(chan string, 100)}
	done := make(chan int, 1)
	go func() {
		done <- relaycmd.Run(ctx, []string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--open"}, io.Discard, stderr)
	}()
	base := waitURL(t, stderr.lines)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(base + wire.HealthzPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz %d", resp.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d after shutdown", code)
	}
}

// buildRelay builds the relay-server binary into a temporary directory.
func buildRelay(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "relay-server")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/hookctl/hookctl/relay-server")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type proc struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{} // closed when the process has been waited for
	err    error
}

func (p *proc) wait() error {
	<-p.exited
	return p.err
}

func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	return startProcTee(t, bin, io.Discard, args...)
}

// startProcTee is startProc with the process's stderr also copied to tee.
func startProcTee(t *testing.T, bin string, tee io.Writer, args ...string) *proc {
	t.Helper()
	lines := &lineWriter{lines: make(chan string, 1000)}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = io.MultiWriter(tee, lines)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		p.wait()
	})
	p.url = waitURL(t, lines.lines)
	return p
}

// TestCrashDurability kills the relay with SIGKILL while senders stream at
// it, restarts it on the same data, and checks that every event a sender
// saw accepted is delivered to a CLI connecting afterwards.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildRelay(t)
	data := t.TempDir()
	p := startProc(t, bin, "--addr", "127.0.0.1:0", "--data", data, "--open")

	const senders = 8
	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		count    atomic.Int64
		wg       sync.WaitGroup
	)
	tr := &http.Transport{MaxIdleConnsPerHost: senders}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for g := 0; g < senders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				body := fmt.Sprintf(`{"sender":%d,"seq":%d}`, g, i)
				resp, err := client.Post(fmt.Sprintf("%s/h/crash/s%d/%d", p.url, g, i), "application/json", strings.NewReader(body))
				if err != nil {
					return // the relay is gone
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					return
				}
				if resp.StatusCode/100 != 2 {
					t.Errorf("sender %d: %d %s", g, resp.StatusCode, b)
					return
				}
				var q struct{ ID string }
				if err := json.Unmarshal(b, &q); err != nil || q.ID == "" {
					t.Errorf("sender %d: answer %s", g, b)
					return
				}
				mu.Lock()
				accepted[q.ID] = true
				mu.Unlock()
				count.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for count.Load() < 300 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d events accepted", count.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait()
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d events accepted before SIGKILL", len(accepted))

	p2 := startProc(t, bin, "--addr", "127.0.0.1:0", "--data", data, "--open")
	cfg, err := websocket.NewConfig(strings.Replace(p2.url, "http", "ws", 1)+wire.ListenPath, p2.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	recv := func() wire.Message {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m wire.Message
		if err := websocket.JSON.Receive(conn, &m); err != nil {
			t.Fatalf("receive: %v", err)
		}
		return m
	}
	if err := websocket.JSON.Send(conn, wire.Message{Type: wire.TypeHello, Version: wire.Version, Endpoint: "crash"}); err != nil {
		t.Fatal(err)
	}
	welcome := recv()
	if welcome.Type != wire.TypeWelcome || welcome.Pending < len(accepted) {
		t.Fatalf("welcome %+v, want at least %d pending", welcome, len(accepted))
	}
	delivered := map[string]bool{}
	for len(delivered) < welcome.Pending {
		m := recv()
		if m.Type != wire.TypeEvent {
			continue
		}
		delivered[m.Event.ID] = true
		if err := websocket.JSON.Send(conn, wire.Message{Type: wire.TypeAck, ID: m.Event.ID}); err != nil {
			t.Fatal(err)
		}
	}
	for id := range accepted {
		if !delivered[id] {
			t.Errorf("accepted event %s lost", id)
		}
	}
	t.Logf("%d pending after restart, all %d accepted delivered", welcome.Pending, len(accepted))

	// SIGTERM shuts down gracefully with exit status 0.
	conn.Close()
	p2.cmd.Process.Signal(syscall.SIGTERM)
	if err := p2.wait(); err != nil {
		t.Errorf("after SIGTERM: %v", err)
	}
}

// serveInProcess runs relay-server with args until the test ends and
// returns its address.
func serveInProcess(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lineWriter{lines: make(chan string, 100)}
	done := make(chan int, 1)
	go func() { done <- relaycmd.Run(ctx, args, io.Discard, stderr) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("relay-server %v: exit %d after shutdown", args, code)
		}
	})
	return waitURL(t, stderr.lines)
}

// A second relay-server on a data directory that one already serves is
// refused at once, with a hint; admin commands still work beside it; and a
// relay that was SIGKILLed leaves no lock behind.
func TestDataDirectoryLock(t *testing.T) {
	data := t.TempDir()
	serveInProcess(t, "--addr", "127.0.0.1:0", "--data", data, "--open")

	code, stdout, stderr := run(t, "--addr", "127.0.0.1:0", "--data", data, "--open")
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "Error: another relay-server is serving "+data+"\n") ||
		!strings.Contains(stderr, "Hint: stop it, give this one its own --data, or run several nodes on one PostgreSQL database with --database") {
		t.Errorf("second relay on one --data: exit %d\n%s", code, stderr)
	}
	mustRun(t, "token", "create", "--data", data, "--name", "alice")
	if out := mustRun(t, "token", "list", "--data", data); !strings.Contains(out, "alice") {
		t.Errorf("token list beside a running relay:\n%s", out)
	}
	// Another directory is another relay.
	serveInProcess(t, "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--open")

	if testing.Short() {
		return
	}
	killed := t.TempDir()
	p := startProc(t, buildRelay(t), "--addr", "127.0.0.1:0", "--data", killed, "--open")
	if code, _, stderr := run(t, "--addr", "127.0.0.1:0", "--data", killed, "--open"); code != 1 || !strings.Contains(stderr, "another relay-server is serving") {
		t.Errorf("beside a relay process: exit %d\n%s", code, stderr)
	}
	p.cmd.Process.Kill()
	p.wait()
	serveInProcess(t, "--addr", "127.0.0.1:0", "--data", killed, "--open")
}
