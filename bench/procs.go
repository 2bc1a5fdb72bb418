package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hookctl/hookctl/relay-server/store/pgserver"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// startRelays starts the scenario's relays: one on SQLite in its own
// --data, or b.be.nodes sharing a new PostgreSQL database, which stop drops.
func (b *bench) startRelays(ctx context.Context, name string, env ...string) ([]*relayProc, func(), error) {
	if b.be.name != "postgres" {
		r, err := b.startRelay(ctx, name, nil, env...)
		if err != nil {
			return nil, nil, err
		}
		return []*relayProc{r}, r.stop, nil
	}
	db := fmt.Sprintf("hookctl_bench_%d_%s", os.Getpid(), name)
	dbURL, err := pgserver.CreateDatabase(ctx, b.be.admin, db)
	if err != nil {
		return nil, nil, err
	}
	var relays []*relayProc
	stop := func() {
		var wg sync.WaitGroup
		for _, r := range relays {
			wg.Go(r.stop)
		}
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pgserver.DropDatabase(ctx, b.be.admin, db); err != nil {
			fmt.Fprintf(b.log, "bench: %v\n", err)
		}
	}
	for i := range b.be.nodes {
		r, err := b.startRelay(ctx, fmt.Sprintf("%s-node%d", name, i), []string{"--database", dbURL}, env...)
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("node %d: %w", i, err)
		}
		relays = append(relays, r)
	}
	return relays, stop, nil
}

// hookURLs are the ingress URLs of endpoint on each relay.
func hookURLs(relays []*relayProc, endpoint string) []string {
	out := make([]string, len(relays))
	for i, r := range relays {
		out[i] = r.URL + "/h/" + endpoint + "/hook"
	}
	return out
}

func goBuild(ctx context.Context, out, pkg string, log io.Writer) error {
	fmt.Fprintf(log, "bench: go build -o %s %s\n", out, pkg)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// raiseNofile lifts the soft RLIMIT_NOFILE to the hard limit and returns it.
func raiseNofile() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// relayProc is a running relay-server.
type relayProc struct {
	cmd  *exec.Cmd
	URL  string
	done chan struct{}
	err  error

	mu      sync.Mutex
	gctrace string // the last GODEBUG=gctrace line, when enabled
	gcPeak  gcHeap // the largest heap figures of all gctrace lines
	stderr  []string
}

func (b *bench) startRelay(ctx context.Context, name string, args []string, env ...string) (*relayProc, error) {
	data := filepath.Join(b.tmp, name)
	args = append([]string{"--addr", "127.0.0.1:0", "--open", "--data", data, "--log-level", "warn"}, args...)
	cmd := exec.Command(b.o.RelayBin, args...)
	cmd.Env = os.Environ()
	for _, e := range env {
		// GODEBUG settings add to the caller's, so experiments such as
		// GODEBUG=adaptivestackstart=0 go run ./bench reach the relay.
		if v, ok := strings.CutPrefix(e, "GODEBUG="); ok && os.Getenv("GODEBUG") != "" {
			e = "GODEBUG=" + os.Getenv("GODEBUG") + "," + v
		}
		cmd.Env = append(cmd.Env, e)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start relay-server: %w", err)
	}
	p := &relayProc{cmd: cmd, done: make(chan struct{})}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if u, ok := strings.CutPrefix(line, "relay-server listening on "); ok {
				u, _, _ = strings.Cut(u, " ")
				urlc <- u
				continue
			}
			p.mu.Lock()
			if strings.HasPrefix(line, "gc ") {
				p.gctrace = line
				if h, ok := parseGCHeap(line); ok {
					p.gcPeak = p.gcPeak.max(h)
				}
			} else if len(p.stderr) < 20 {
				p.stderr = append(p.stderr, line)
			}
			p.mu.Unlock()
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case p.URL = <-urlc:
	case <-p.done:
		return nil, fmt.Errorf("relay-server exited at start: %v: %s", p.err, strings.Join(p.stderr, "\n"))
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, errors.New("relay-server did not start within 10s")
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
	return p, nil
}

// stop ends the relay gracefully (SIGTERM), or kills it after 10s.
func (p *relayProc) stop() { stopProcess(p.cmd, p.done) }

// stopProcess sends cmd SIGTERM and waits for done (closed when it has
// exited), killing it after 10s.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// cliProc is a running `hookctl listen`.
type cliProc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	events  atomic.Int64 // NDJSON event lines printed
	errs    atomic.Int64 // NDJSON error lines printed
	started time.Time
}

func (b *bench) startCLI(ctx context.Context, relayURL, endpoint, forward string) (*cliProc, <-chan struct{}, error) {
	cfg := filepath.Join(b.tmp, "cli-"+endpoint)
	args := []string{"listen", "--relay", relayURL, "--endpoint", endpoint, "--forward", forward, "--output", "json"}
	if b.o.CLIConcurrency > 0 {
		args = append(args, "--concurrency", strconv.Itoa(b.o.CLIConcurrency))
	}
	cmd := exec.Command(b.o.HookctlBin, args...)
	cmd.Env = append(os.Environ(), "HOOKCTL_CONFIG_DIR="+cfg, "HOOKCTL_DATA_DIR="+cfg, "NO_COLOR=1", "HOOKCTL_TOKEN=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	var errBuf bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &errBuf, n: 4096}
	p := &cliProc{cmd: cmd, done: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start hookctl listen: %w", err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := false
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case bytes.HasPrefix(line, []byte(`{"type":"event"`)):
				p.events.Add(1)
			case bytes.HasPrefix(line, []byte(`{"type":"ready"`)):
				if !once {
					once = true
					close(ready)
				}
			case bytes.HasPrefix(line, []byte(`{"type":"error"`)):
				p.errs.Add(1)
			}
		}
	}()
	go func() {
		p.err = cmd.Wait()
		if p.err != nil {
			p.err = fmt.Errorf("%w: %s", p.err, errBuf.String())
		}
		close(p.done)
	}()
	return p, ready, nil
}

func (b *bench) startCLIReady(ctx context.Context, relayURL, endpoint, forward string) (*cliProc, error) {
	p, ready, err := b.startCLI(ctx, relayURL, endpoint, forward)
	if err != nil {
		return nil, err
	}
	select {
	case <-ready:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("hookctl listen exited: %v", p.err)
	case <-ctx.Done():
		p.stop()
		return nil, fmt.Errorf("waiting for hookctl listen to connect: %w", ctx.Err())
	}
}

// stop ends hookctl listen gracefully (SIGTERM), or kills it after 10s.
func (p *cliProc) stop() { stopProcess(p.cmd, p.done) }

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(b []byte) (int, error) {
	if l.n > 0 {
		k := min(len(b), l.n)
		l.w.Write(b[:k])
		l.n -= k
	}
	return len(b), nil
}

// setup starts the relays (with env added to their environment), the app
// and a CLI for endpoint, connected to the first relay.
func (b *bench) setup(ctx context.Context, name string, env ...string) ([]*relayProc, *app, *cliProc, func(), error) {
	relays, stopRelays, err := b.startRelays(ctx, name, env...)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	a, err := startApp()
	if err != nil {
		stopRelays()
		return nil, nil, nil, nil, err
	}
	c, err := b.startCLIReady(ctx, relays[0].URL, name, a.URL)
	if err != nil {
		a.close()
		stopRelays()
		return nil, nil, nil, nil, err
	}
	return relays, a, c, func() { c.stop(); stopRelays(); a.close() }, nil
}

// pids are the processes whose CPU time a scenario reports: the relays, the
// CLI and this program.
func pids(relays []*relayProc, c *cliProc) []int {
	var out []int
	for _, r := range relays {
		out = append(out, r.cmd.Process.Pid)
	}
	return append(out, c.cmd.Process.Pid, os.Getpid())
}

func healthz(ctx context.Context, base string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+wire.HealthzPath, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("healthz: status %d", res.StatusCode)
	}
	return nil
}
