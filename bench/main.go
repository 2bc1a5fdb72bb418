// Command bench measures hookctl end to end with real processes on
// loopback: it builds and starts the relay-server binary (open mode, SQLite
// in a temporary --data, so capture is durable: WAL, synchronous=FULL; or
// several nodes on PostgreSQL, below), a
// fast HTTP app in this process, and the real `hookctl listen` binary in
// front of that app, then drives them with a Go HTTP load loop. Every figure
// is printed next to the same work done straight to the app (no relay) in
// the same run, against the targets of issue 10 (speed, CPU per event,
// memory) and, on PostgreSQL, issue 9. Latency is timed two ways: the
// sender's round trip, and delivery (send → the app, in this process, has
// read the body's last byte).
//
//	go run ./bench                                  # all scenarios, full size
//	go run ./bench -scenarios latency,throughput -json
//	go run ./bench -idle 2000 -backlog 2000         # smaller
//	go run ./bench -postgres                        # and again on 2 nodes sharing PostgreSQL
//
// With -postgres (a throwaway server this program starts) or -database URL
// (a server on which it may create databases), the latency, throughput and
// backlog scenarios run twice in one run: on one SQLite relay, then on
// -nodes relay processes sharing a fresh PostgreSQL database. The CLI
// connects to the first node and the senders spread their requests over all
// nodes in turn, so with 2 nodes half of them cross nodes (passthrough
// answers through the database's notifications).
//
// largebody, slowapp and flood are about big and many bodies: one random
// 20 MiB body at a time (send → the app has read it all, sha256-checked;
// the relay's and CLI's peak RSS), 1,500 × 32 KiB from 16 senders to an app
// that takes 50 ms each (the CLI at its default --concurrency), and a flood:
// 200 concurrent 1 MiB uploads, each on a fresh connection (the relay's
// peak RSS; answers by status, 503 with Retry-After allowed), then 1,000 ×
// 1 MiB from 32 senders that honour Retry-After while a 1-byte webhook goes
// to a second endpoint every 20 ms (its answer latency). Memory figures come
// with where the resident pages are (/proc/PID/smaps: Go heap arenas, other
// anonymous memory such as SQLite's, files) and the relay's GC trace.
//
// The listening CLI is the real binary, not tunnel.NewClient in this
// process: it is what users run (NDJSON output, forwarder, acks), and as a
// separate process it does not share this process's scheduler with the load
// loop. Each scenario is bounded by -scenario-timeout; all traffic stays on
// 127.0.0.1.
//
// Idle CLIs need a file descriptor each on both ends: this program raises
// its own RLIMIT_NOFILE to the hard limit, and the relay (a Go program) does
// the same at start, so the hard limit (ulimit -Hn) must be above the count
// plus a few hundred.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() { os.Exit(Main()) }

// Main parses the flags, runs the scenarios and prints the results.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		return 2
	}
	if opts.CPUProfile != "" {
		f, err := os.Create(opts.CPUProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "Error: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	res, err := run(ctx, opts, os.Stderr)
	if res != nil {
		if opts.JSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			enc.Encode(res)
		} else {
			res.print(os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

// Options are the program's flags.
type Options struct {
	Scenarios      []string
	RelayBin       string
	HookctlBin     string
	Body           int
	Latency        int // requests through the relay (and as many direct)
	Warmup         int
	Throughput     int // requests per side
	Senders        int
	CLIConcurrency int
	Idle           int
	Backlog        int
	Timeout        time.Duration // per scenario
	JSON           bool
	CPUProfile     string
	Postgres       bool   // start a throwaway PostgreSQL server
	Database       string // else this server's URL, where databases may be created
	Nodes          int    // relay nodes on PostgreSQL

	LargeBody   int           // largebody: body size in bytes
	LargeN      int           // largebody: sends each way
	SlowN       int           // slowapp: requests each way
	SlowBody    int           // slowapp: body size
	SlowDelay   time.Duration // slowapp: the app's time per request
	SlowSenders int           // slowapp: concurrent senders
	Uploads     int           // flood (a): concurrent uploads, a connection each
	FloodN      int           // flood (b): bodies to endpoint A
	FloodBody   int           // flood: body size
	FloodSend   int           // flood (b): concurrent senders to endpoint A
	FloodEvery  time.Duration // flood (b): interval of the small webhooks to endpoint B
}

// pgScenarios are the scenarios that run on PostgreSQL as well.
var pgScenarios = []string{"latency", "throughput", "backlog"}

var allScenarios = []string{"latency", "throughput", "backlog", "idle", "largebody", "slowapp", "flood"}

// defaultScenarios run without -scenarios: all of them, about 45 s in all
// on 2 cores (latency, throughput, backlog and idle about 20 s; largebody
// 2 s, slowapp 10 s, flood 11-14 s).
var defaultScenarios = allScenarios

func parseFlags(args []string, stderr io.Writer) (*Options, error) {
	o := &Options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scen := fs.String("scenarios", strings.Join(defaultScenarios, ","), "comma-separated scenarios to run: "+strings.Join(allScenarios, ", "))
	fs.StringVar(&o.RelayBin, "relay-bin", "", "relay-server binary (default: built from this module into a temporary directory)")
	fs.StringVar(&o.HookctlBin, "hookctl-bin", "", "hookctl binary (default: built from this module into a temporary directory)")
	fs.IntVar(&o.Body, "body", 1024, "request body size in bytes")
	fs.IntVar(&o.Latency, "latency-n", 2000, "latency: requests at 1 sender, through the relay and as many direct")
	fs.IntVar(&o.Warmup, "warmup", 200, "latency, throughput: unmeasured requests first")
	fs.IntVar(&o.Throughput, "throughput-n", 20000, "throughput: requests through the relay and as many direct")
	fs.IntVar(&o.Senders, "senders", 16, "throughput: concurrent senders")
	fs.IntVar(&o.CLIConcurrency, "cli-concurrency", 16, "hookctl listen --concurrency (0: hookctl's default, the relay's window); slowapp always uses hookctl's default")
	fs.IntVar(&o.Idle, "idle", 10000, "idle: connected CLIs")
	fs.IntVar(&o.Backlog, "backlog", 10000, "backlog: events stored before the CLI connects")
	fs.DurationVar(&o.Timeout, "scenario-timeout", 60*time.Second, "bound on each scenario")
	fs.BoolVar(&o.JSON, "json", false, "print the results as JSON on stdout")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write this process's CPU profile (senders and app) to the file")
	fs.BoolVar(&o.Postgres, "postgres", false, "also run "+strings.Join(pgScenarios, ", ")+" on -nodes relays sharing a throwaway PostgreSQL server this program starts (initdb; needs the server binaries)")
	fs.StringVar(&o.Database, "database", "", "like -postgres, on this PostgreSQL server instead, postgres://...; the bench creates a database per scenario there and drops it after")
	fs.IntVar(&o.Nodes, "nodes", 2, "relay nodes on PostgreSQL")
	fs.IntVar(&o.LargeBody, "largebody-bytes", 20<<20, "largebody: size of the one random body")
	fs.IntVar(&o.LargeN, "largebody-n", 5, "largebody: sends one after another, through the relay and as many direct")
	fs.IntVar(&o.SlowN, "slowapp-n", 1500, "slowapp: requests through the relay and as many direct")
	fs.IntVar(&o.SlowBody, "slowapp-bytes", 32<<10, "slowapp: body size")
	fs.DurationVar(&o.SlowDelay, "slowapp-delay", 50*time.Millisecond, "slowapp: how long the app sleeps before each answer")
	fs.IntVar(&o.SlowSenders, "slowapp-senders", 16, "slowapp: concurrent senders")
	fs.IntVar(&o.Uploads, "flood-uploads", 200, "flood (a): concurrent uploads to one endpoint, each on a fresh connection")
	fs.IntVar(&o.FloodN, "flood-n", 1000, "flood (b): bodies sent to endpoint A, retried after 503 until answered")
	fs.IntVar(&o.FloodBody, "flood-bytes", 1<<20, "flood: body size of the uploads and of the flood to endpoint A")
	fs.IntVar(&o.FloodSend, "flood-senders", 32, "flood (b): concurrent senders to endpoint A")
	fs.DurationVar(&o.FloodEvery, "flood-every", 20*time.Millisecond, "flood (b): interval of the 1-byte webhooks to endpoint B")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return nil, errors.New("unexpected arguments")
	}
	if o.Postgres && o.Database != "" {
		fmt.Fprintln(stderr, "-postgres and -database exclude each other: -postgres starts a server, -database names one")
		return nil, errors.New("bad -postgres/-database")
	}
	if o.Database != "" {
		if u, err := url.Parse(o.Database); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			fmt.Fprintln(stderr, "-database: want a postgres:// URL")
			return nil, errors.New("bad -database")
		}
	}
	if o.Nodes < 1 {
		fmt.Fprintln(stderr, "-nodes: want at least 1")
		return nil, errors.New("bad -nodes")
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"largebody-bytes", int64(o.LargeBody)}, {"largebody-n", int64(o.LargeN)},
		{"slowapp-n", int64(o.SlowN)}, {"slowapp-bytes", int64(o.SlowBody)}, {"slowapp-senders", int64(o.SlowSenders)},
		{"flood-uploads", int64(o.Uploads)}, {"flood-n", int64(o.FloodN)}, {"flood-bytes", int64(o.FloodBody)},
		{"flood-senders", int64(o.FloodSend)}, {"flood-every", int64(o.FloodEvery)},
	} {
		if f.v <= 0 {
			fmt.Fprintf(stderr, "-%s: want a positive value\n", f.name)
			return nil, errors.New("bad -" + f.name)
		}
	}
	for _, s := range strings.Split(*scen, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allScenarios, s) {
			fmt.Fprintf(stderr, "unknown scenario %q: want some of %s\n", s, strings.Join(allScenarios, ", "))
			return nil, errors.New("bad -scenarios")
		}
		o.Scenarios = append(o.Scenarios, s)
	}
	return o, nil
}

// run builds what is missing and runs the chosen scenarios. It returns the
// results so far with the first error.
func run(ctx context.Context, o *Options, log io.Writer) (*Results, error) {
	nofile := raiseNofile()
	tmp, err := os.MkdirTemp("", "hookctl-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if o.RelayBin == "" {
		o.RelayBin = filepath.Join(tmp, "relay-server")
		if err := goBuild(ctx, o.RelayBin, "github.com/hookctl/hookctl/relay-server", log); err != nil {
			return nil, err
		}
	}
	if o.HookctlBin == "" {
		o.HookctlBin = filepath.Join(tmp, "hookctl")
		if err := goBuild(ctx, o.HookctlBin, "github.com/hookctl/hookctl/cmd/hookctl", log); err != nil {
			return nil, err
		}
	}
	res := &Results{
		Cores:       runtime.NumCPU(),
		GoVersion:   runtime.Version(),
		Body:        o.Body,
		CLI:         fmt.Sprintf("hookctl listen binary, --concurrency %d", o.CLIConcurrency),
		LoadBefore:  loadAvg(),
		StartedAt:   time.Now().UTC(),
		NofileLimit: nofile,
	}
	backends := []backend{{name: "sqlite", nodes: 1}}
	if o.Postgres || o.Database != "" {
		pg, about, stopPG, err := startPostgres(ctx, o, tmp, log)
		if err != nil {
			return nil, err
		}
		defer stopPG()
		backends = append(backends, pg)
		res.PostgreSQL = about
	}
	b := &bench{o: o, tmp: tmp, log: log, body: bytes.Repeat([]byte("x"), o.Body)}
	var firstErr error
	for _, name := range o.Scenarios {
		for _, be := range backends {
			if be.name == "postgres" && !slices.Contains(pgScenarios, name) {
				continue
			}
			b.be = be
			s := Scenario{Name: name, Backend: be.name, Nodes: be.nodes}
			fmt.Fprintf(log, "bench: %s ...\n", s.label())
			err := b.scenario(ctx, &s)
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", s.label(), err)
			}
			res.Scenarios = append(res.Scenarios, s)
			if ctx.Err() != nil {
				res.LoadAfter = loadAvg()
				return res, firstErr
			}
		}
	}
	res.LoadAfter = loadAvg()
	return res, firstErr
}

// scenario runs one scenario on b.be, bounded by -scenario-timeout, and
// fills in s.
func (b *bench) scenario(ctx context.Context, s *Scenario) error {
	sctx, cancel := context.WithTimeout(ctx, b.o.Timeout)
	defer cancel()
	t0 := time.Now()
	var err error
	switch s.Name {
	case "latency":
		err = b.latency(sctx, s)
	case "throughput":
		err = b.throughput(sctx, s)
	case "backlog":
		err = b.backlog(sctx, s)
	case "idle":
		err = b.idle(sctx, s)
	case "largebody":
		err = b.largeBody(sctx, s)
	case "slowapp":
		err = b.slowApp(sctx, s)
	case "flood":
		err = b.flood(sctx, s)
	}
	s.Seconds = time.Since(t0).Seconds()
	s.LoadAvg = loadAvg()
	if err != nil {
		s.Error = err.Error()
	}
	return err
}

type bench struct {
	o    *Options
	tmp  string
	log  io.Writer
	body []byte
	seq  atomic.Int64
	be   backend // the running scenario's

	sqliteRate float64 // events/s of this run's SQLite throughput scenario, 0 before it ran
}
