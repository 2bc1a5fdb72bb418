package relaycmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store/pgtest"
	"github.com/hookctl/hookctl/relay-server/store/postgres"
	"github.com/hookctl/hookctl/tunnel"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// startLogged is startProc with the process's stderr also kept in a file,
// for the failure report.
func startLogged(t *testing.T, bin, logPath string, args ...string) *proc {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return startProcTee(t, bin, f, args...)
}

// startCluster starts n relay-server processes of bin on one fresh
// PostgreSQL database, each logging to node<i>.log in logDir. It returns
// them and the database's URL.
func startCluster(t *testing.T, bin, logDir string, n int, extra ...string) ([]*proc, string) {
	t.Helper()
	db := pgtest.URL(t)
	nodes := make([]*proc, n)
	for i := range nodes {
		args := append([]string{"--addr", "127.0.0.1:0", "--database", db, "--open"}, extra...)
		nodes[i] = startLogged(t, bin, filepath.Join(logDir, fmt.Sprintf("node%d.log", i)), args...)
	}
	return nodes, db
}

// balancer is a load balancer in front of relay nodes, as a user would
// put one: ordinary requests go round-robin across the live nodes, a
// listen websocket to the first live node in the list (so the test knows
// which node holds the CLI). A node that refuses a connection is marked
// down and skipped from then on; the request goes to the next one.
type balancer struct {
	nodes []*url.URL
	down  []atomic.Bool
	next  atomic.Uint64
	tr    *http.Transport

	mu      sync.Mutex
	sockets []int // the node each listen websocket went to, in order
}

func newBalancer(t *testing.T, nodes []*proc) (*balancer, *httptest.Server) {
	b := &balancer{
		down: make([]atomic.Bool, len(nodes)),
		tr: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
		},
	}
	for _, p := range nodes {
		u, err := url.Parse(p.url)
		if err != nil {
			t.Fatal(err)
		}
		b.nodes = append(b.nodes, u)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(b.nodes[0]) // RoundTrip picks the node
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: b,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "balancer: "+err.Error(), http.StatusBadGateway)
		},
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(func() {
		srv.Close()
		b.tr.CloseIdleConnections()
	})
	return b, srv
}

func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	upgrade := req.Header.Get("Upgrade") != ""
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body) // so that it can go to another node
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	order := make([]int, len(b.nodes))
	start := 0
	if !upgrade {
		start = int(b.next.Add(1) % uint64(len(b.nodes)))
	}
	for i := range order {
		order[i] = (start + i) % len(b.nodes)
	}
	err := errors.New("no live relay node")
	for _, i := range order {
		if b.down[i].Load() {
			continue
		}
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host = b.nodes[i].Scheme, b.nodes[i].Host
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
			out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			out.ContentLength = int64(len(body))
		}
		var resp *http.Response
		resp, err = b.tr.RoundTrip(out)
		if err == nil {
			if upgrade {
				b.mu.Lock()
				b.sockets = append(b.sockets, i)
				b.mu.Unlock()
			}
			return resp, nil
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			return nil, err // sent, or partly: not retried
		}
		b.down[i].Store(true)
	}
	return nil, err
}

func (b *balancer) socketNodes() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sockets)
}

// app is the local app behind the CLI: it answers every event with its id,
// as the relay's 202 does, and counts deliveries.
type app struct {
	mu    sync.Mutex
	count map[string]int
	body  map[string]string
	total int
}

func (a *app) Deliver(_ context.Context, req *capture.Request) (*capture.Response, error) {
	a.mu.Lock()
	if a.count[req.ID] == 0 {
		a.body[req.ID] = string(req.Body)
	}
	a.count[req.ID]++
	a.total++
	a.mu.Unlock()
	return &capture.Response{
		Status:  http.StatusOK,
		Headers: capture.Headers{{Name: "Content-Type", Value: "application/json"}},
		Body:    fmt.Appendf(nil, `{"id":%q}`, req.ID),
		At:      time.Now(),
	}, nil
}

// cliLog records the CLI's connection states.
type cliLog struct {
	start time.Time
	mu    sync.Mutex
	lines []string
	conns int // welcomes received
}

func (o *cliLog) StateChanged(s tunnel.Status) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s.State == tunnel.StateConnected {
		o.conns++
	}
	line := fmt.Sprintf("%6.3fs cli %s", time.Since(o.start).Seconds(), s.State)
	if s.Session != "" {
		line += fmt.Sprintf(" session %s pending %d", s.Session, s.Pending)
	}
	if s.Err != nil {
		line += fmt.Sprintf(" after %v (retry in %v)", s.Err, s.RetryIn)
	}
	o.lines = append(o.lines, line)
}
func (o *cliLog) EventReceived(*capture.Request)                             {}
func (o *cliLog) EventDelivered(*capture.Request, *capture.Response)         {}
func (o *cliLog) DeliveryFailed(*capture.Request, error, int, time.Duration) {}

func (o *cliLog) connections() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.conns
}

func (o *cliLog) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(o.lines, "\n")
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("timed out after %v waiting for %s", d, what)
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// accepted is what a sender saw acknowledged with a 2xx.
type accepted struct {
	body   string
	sender int
	target string // node0..2 or "balancer"
	status int
	at     time.Duration // since the start
}

// TestClusterNodeKilled runs three relay processes on one PostgreSQL
// database behind a load balancer, with a CLI connected through the
// balancer and senders posting to every node. Mid-stream the node holding
// the CLI is killed with SIGKILL: the CLI reconnects through the balancer
// to a surviving node, and every webhook a sender saw acknowledged with a
// 2xx reaches the CLI.
func TestClusterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildRelay(t)
	logDir := t.TempDir()
	start := time.Now()
	nodes, db := startCluster(t, bin, logDir, 3, "--reply-timeout", "500ms")
	lb, front := newBalancer(t, nodes)

	a := &app{count: map[string]int{}, body: map[string]string{}}
	obs := &cliLog{start: start}
	// The CLI waits a second before it reconnects (the real one waits
	// 125-250ms first), so that webhooks keep arriving at the survivors
	// while no CLI is connected: their senders get a 202 at the reply
	// timeout, and the events come from the backlog.
	cli, err := tunnel.NewClient(tunnel.Config{RelayURL: front.URL, Endpoint: "cluster", Forwarder: a, Observer: obs,
		Backoff: func(int) time.Duration { return time.Second }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cliDone := make(chan error, 1)
	go func() { cliDone <- cli.Run(ctx) }()
	stopCLI := sync.OnceFunc(func() {
		cancel()
		if err := <-cliDone; err != nil {
			t.Errorf("CLI: %v", err)
		}
	})
	defer stopCLI()
	report := func() {
		t.Logf("CLI states:\n%s", obs)
		for i := range nodes {
			b, _ := os.ReadFile(filepath.Join(logDir, fmt.Sprintf("node%d.log", i)))
			t.Logf("node%d (%s) stderr:\n%s", i, nodes[i].url, b)
		}
	}
	if !waitUntil(t, 30*time.Second, "the CLI's first session", func() bool { return obs.connections() == 1 }) {
		report()
		return
	}
	if s := lb.socketNodes(); !slices.Equal(s, []int{0}) {
		t.Fatalf("listen websockets went to nodes %v, want [0]", s)
	}

	const (
		senders   = 8 // 0-5 post to node g%3, 6-7 through the balancer
		maxEvents = 4000
	)
	var (
		mu       sync.Mutex
		acked    = map[string]accepted{}
		statuses = map[int]int{}
		count    atomic.Int64 // len(acked)
		sent     atomic.Int64 // requests begun
		dead     atomic.Int32 // the killed node, -1 before
		badGw    atomic.Int64 // 502s from the balancer
		refused  atomic.Int64 // connection errors from the dead node
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	dead.Store(-1)
	tr := &http.Transport{MaxIdleConnsPerHost: senders}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for g := range senders {
		node, base, target := g%3, "", ""
		if g < 6 {
			base, target = nodes[node].url, fmt.Sprintf("node%d", node)
		} else {
			node, base, target = -1, front.URL, "balancer"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if sent.Add(1) > maxEvents {
					return
				}
				body := fmt.Sprintf(`{"sender":%d,"seq":%d}`, g, i)
				resp, err := client.Post(fmt.Sprintf("%s/h/cluster/s%d/%d", base, g, i), "application/json", strings.NewReader(body))
				var b []byte
				if err == nil {
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if err != nil {
					if node >= 0 && int32(node) == dead.Load() {
						refused.Add(1)
						return // the node is gone: not an acknowledgement
					}
					t.Errorf("sender %d to %s: %v", g, target, err)
					return
				}
				if node < 0 && resp.StatusCode == http.StatusBadGateway {
					badGw.Add(1) // the balancer's request died with the node
					continue
				}
				if resp.StatusCode/100 != 2 {
					t.Errorf("sender %d to %s: %d %s", g, target, resp.StatusCode, b)
					return
				}
				var q struct{ ID string }
				if err := json.Unmarshal(b, &q); err != nil || q.ID == "" {
					t.Errorf("sender %d to %s: %d answer %q", g, target, resp.StatusCode, b)
					return
				}
				mu.Lock()
				if _, dup := acked[q.ID]; dup {
					t.Errorf("id %s acknowledged twice", q.ID)
				}
				acked[q.ID] = accepted{body: body, sender: g, target: target, status: resp.StatusCode, at: time.Since(start)}
				statuses[resp.StatusCode]++
				mu.Unlock()
				count.Add(1)
			}
		}()
	}
	stopSenders := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopSenders()

	if !waitUntil(t, 60*time.Second, "300 acknowledged webhooks", func() bool { return count.Load() >= 300 }) {
		stopSenders()
		report()
		return
	}
	dead.Store(0)
	atKill := count.Load()
	killAt := time.Since(start)
	if err := nodes[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	nodes[0].wait()
	t.Logf("%.3fs: SIGKILL node0 (holding the CLI) after %d acknowledged", killAt.Seconds(), atKill)

	reconnected := waitUntil(t, 30*time.Second, "the CLI reconnected through the balancer to a surviving node", func() bool {
		s := lb.socketNodes()
		return obs.connections() >= 2 && len(s) >= 2 && s[len(s)-1] != 0
	})
	var reconnectedAt time.Duration
	if reconnected {
		reconnectedAt = time.Since(start)
		// The survivors keep taking webhooks for a while.
		waitUntil(t, 30*time.Second, "1000 more acknowledged after the kill", func() bool {
			return count.Load() >= atKill+1000 || sent.Load() >= maxEvents
		})
	}
	stopSenders()
	sendersDone := time.Since(start)
	if t.Failed() {
		report()
		return
	}

	mu.Lock()
	defer mu.Unlock()
	missing := func() []string {
		a.mu.Lock()
		defer a.mu.Unlock()
		var m []string
		for id := range acked {
			if a.count[id] == 0 {
				m = append(m, id)
			}
		}
		return m
	}
	if !waitUntil(t, 60*time.Second, "every acknowledged webhook delivered to the CLI", func() bool { return len(missing()) == 0 }) {
		lost := missing()
		slices.Sort(lost)
		t.Errorf("%d of %d acknowledged webhooks not delivered (kill at %.3fs, CLI reconnected at %.3fs)",
			len(lost), len(acked), killAt.Seconds(), reconnectedAt.Seconds())
		st, err := postgres.Open(context.Background(), db, postgres.Options{})
		for i, id := range lost {
			if i == 30 {
				t.Errorf("... and %d more", len(lost)-30)
				break
			}
			ac := acked[id]
			state := "?"
			if err == nil {
				if rec, gerr := st.GetEvent(context.Background(), id); gerr == nil {
					state = fmt.Sprintf("%s attempts %d", rec.State, rec.Attempts)
				} else {
					state = gerr.Error()
				}
			}
			t.Errorf("lost %s: sender %d via %s got %d at %.3fs; in the database: %s", id, ac.sender, ac.target, ac.status, ac.at.Seconds(), state)
		}
		if err == nil {
			st.Close()
		}
		report()
		return
	}
	deliveredAt := time.Since(start)
	stopCLI()

	a.mu.Lock()
	defer a.mu.Unlock()
	dups, extra := 0, 0
	for id, n := range a.count {
		dups += n - 1
		ac, ok := acked[id]
		if !ok {
			extra++ // accepted, but the sender never read its answer
			continue
		}
		if a.body[id] != ac.body {
			t.Errorf("%s: delivered body %q, sender posted %q", id, a.body[id], ac.body)
		}
	}
	t.Logf("%d acknowledged (%d before the kill; statuses %v), %d requests begun, %d refused by the dead node, %d balancer 502s",
		len(acked), atKill, statuses, sent.Load(), refused.Load(), badGw.Load())
	t.Logf("%d deliveries of %d distinct events: %d duplicates, %d delivered without an acknowledgement",
		a.total, len(a.count), dups, extra)
	t.Logf("timeline: kill %.3fs, CLI reconnected %.3fs (websockets to nodes %v), senders stopped %.3fs, all delivered %.3fs",
		killAt.Seconds(), reconnectedAt.Seconds(), lb.socketNodes(), sendersDone.Seconds(), deliveredAt.Seconds())
	if testing.Verbose() {
		t.Logf("CLI states:\n%s", obs)
	}
}

// lbApp is a local app that hands every event to the test.
type lbApp struct{ events chan *capture.Request }

func (a lbApp) Deliver(_ context.Context, req *capture.Request) (*capture.Response, error) {
	a.events <- req
	return &capture.Response{Status: http.StatusOK, Body: []byte("app got " + req.ID), At: time.Now()}, nil
}

// loadBalancer is one of the configurations in deploy/.
type loadBalancer struct {
	name, file string
	// prepare adapts the rendered configuration to a private directory
	// and returns the command lines that check it and run it in the
	// foreground.
	prepare func(t *testing.T, bin, dir, conf string) (string, [][]string)
}

var loadBalancers = []loadBalancer{
	{"nginx", "nginx.conf", func(t *testing.T, bin, dir, conf string) (string, [][]string) {
		// Everything nginx writes goes to dir: the distribution's paths
		// are for the system's nginx.
		out, _ := exec.Command(bin, "-V").CombinedOutput()
		paths := []string{"client_body", "proxy"}
		for _, m := range []string{"fastcgi", "uwsgi", "scgi"} {
			if !strings.Contains(string(out), "--without-http_"+m+"_module") {
				paths = append(paths, m)
			}
		}
		var extra strings.Builder
		for _, p := range paths {
			fmt.Fprintf(&extra, "    %s_temp_path %s;\n", p, filepath.Join(dir, p))
		}
		fmt.Fprintf(&extra, "    access_log %s;\n", filepath.Join(dir, "access.log"))
		if !strings.Contains(conf, "\nhttp {\n") {
			t.Fatal("nginx.conf: no http block")
		}
		conf = strings.Replace(conf, "\nhttp {\n", "\nhttp {\n"+extra.String(), 1)
		global := "daemon off; pid " + filepath.Join(dir, "nginx.pid") + ";"
		if os.Geteuid() == 0 {
			global += " user root;" // the workers can reach dir
		}
		base := []string{bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr", "-g", global}
		return conf, [][]string{append(slices.Clone(base), "-t"), base}
	}},
	{"haproxy", "haproxy.cfg", func(t *testing.T, bin, dir, conf string) (string, [][]string) {
		f := filepath.Join(dir, "haproxy.cfg")
		return conf, [][]string{{bin, "-c", "-f", f}, {bin, "-f", f, "-db"}}
	}},
}

// TestLoadBalancerConfigs runs deploy/nginx.conf and deploy/haproxy.cfg in
// front of three relay nodes, when nginx or haproxy is installed: a
// webhook through the balancer gets its answer, and a CLI whose websocket
// goes through it receives the event, with the sender's host and scheme.
func TestLoadBalancerConfigs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	paths := map[string]string{}
	var missing []string
	for _, lb := range loadBalancers {
		if path, err := exec.LookPath(lb.name); err == nil {
			paths[lb.name] = path
		} else {
			missing = append(missing, fmt.Sprintf("%s is not installed (%v)", lb.name, err))
		}
	}
	if len(paths) == 0 {
		t.Skip(strings.Join(missing, "; "))
	}
	nodes, _ := startCluster(t, buildRelay(t), t.TempDir(), 3, "--trust-proxy")
	for _, lb := range loadBalancers {
		t.Run(lb.name, func(t *testing.T) {
			path, ok := paths[lb.name]
			if !ok {
				t.Skipf("%s is not installed", lb.name)
			}
			testLoadBalancer(t, lb, path, nodes)
		})
	}
}

func testLoadBalancer(t *testing.T, lb loadBalancer, bin string, nodes []*proc) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", lb.file))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	listen := freeAddr(t)
	subst := map[string]string{"127.0.0.1:8780": listen}
	for i, p := range nodes {
		subst[fmt.Sprintf("127.0.0.1:878%d", i+1)] = strings.TrimPrefix(p.url, "http://")
	}
	for from, to := range subst {
		if !strings.Contains(conf, from) {
			t.Fatalf("deploy/%s does not mention %s", lb.file, from)
		}
		conf = strings.ReplaceAll(conf, from, to)
	}
	dir := t.TempDir()
	conf, cmds := lb.prepare(t, bin, dir, conf)
	if err := os.WriteFile(filepath.Join(dir, lb.file), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cmds[0][0], cmds[0][1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmds[0], " "), err, out)
	}
	logPath := filepath.Join(dir, lb.name+".out")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(cmds[1][0], cmds[1][1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	showLog := func() {
		out, _ := os.ReadFile(logPath)
		t.Logf("%s output:\n%s", lb.name, out)
	}

	base := "http://" + listen
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	ready := waitUntil(t, 20*time.Second, lb.name+" serving /healthz", func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		resp, err := client.Get(base + wire.HealthzPath)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	select {
	case <-exited:
		showLog()
		t.Fatalf("%s exited", lb.name)
	default:
	}
	if !ready {
		showLog()
		return
	}

	endpoint := "lb-" + lb.name
	events := make(chan *capture.Request, 16)
	obs := &cliLog{start: time.Now()}
	cli, err := tunnel.NewClient(tunnel.Config{RelayURL: base, Endpoint: endpoint, Forwarder: lbApp{events}, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cliDone := make(chan error, 1)
	go func() { cliDone <- cli.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-cliDone; err != nil {
			t.Errorf("CLI: %v", err)
		}
	}()
	if !waitUntil(t, 20*time.Second, "the CLI connected through "+lb.name, func() bool { return obs.connections() >= 1 }) {
		t.Logf("CLI states:\n%s", obs)
		showLog()
		return
	}

	// Round-robin spreads these over the nodes; the last body is over
	// nginx's default 1 MiB limit.
	bodies := []string{`{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`, `{"n":5}`, strings.Repeat("x", 3<<20)}
	for i, body := range bodies {
		resp, err := client.Post(fmt.Sprintf("%s/h/%s/pay/%d?x=%d", base, endpoint, i, i), "application/json", strings.NewReader(body))
		if err != nil {
			showLog()
			t.Fatalf("webhook %d: %v", i, err)
		}
		answer, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode/100 != 2 {
			showLog()
			t.Fatalf("webhook %d through %s: %d %.200s (%v)", i, lb.name, resp.StatusCode, answer, err)
		}
		var ev *capture.Request
		select {
		case ev = <-events:
		case <-time.After(20 * time.Second):
			t.Logf("CLI states:\n%s", obs)
			showLog()
			t.Fatalf("webhook %d: answered %d %.200s but not delivered", i, resp.StatusCode, answer)
		}
		if string(ev.Body) != body || ev.Path != fmt.Sprintf("/pay/%d", i) || ev.Query != fmt.Sprintf("x=%d", i) {
			t.Errorf("webhook %d delivered as %s %s?%s with %d bytes", i, ev.Method, ev.Path, ev.Query, len(ev.Body))
		}
		if ev.Host != listen || ev.Proto != "http" || ev.Headers.HTTP().Get("X-Forwarded-Proto") != "http" || ev.Headers.HTTP().Get("X-Forwarded-Host") != listen {
			t.Errorf("webhook %d: host %q proto %q, X-Forwarded-Proto %q X-Forwarded-Host %q; want %s over http",
				i, ev.Host, ev.Proto, ev.Headers.HTTP().Get("X-Forwarded-Proto"), ev.Headers.HTTP().Get("X-Forwarded-Host"), listen)
		}
		if resp.StatusCode != http.StatusOK || string(answer) != "app got "+ev.ID {
			t.Errorf("webhook %d: sender got %d %.200q, want the app's answer", i, resp.StatusCode, answer)
		}
	}
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
