// Package relaycmd is the relay-server command line: flags, the data
// directory, TLS, signals and exit codes around the relay library. Main is
// what the binary and testscript run.
package relaycmd

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/sync/errgroup"

	"github.com/hookctl/hookctl/internal/buildinfo"
	"github.com/hookctl/hookctl/relay-server/relay"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// Main runs relay-server with the process's arguments and streams.
func Main() int {
	return RunIO(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

// Run runs relay-server with args and no input. SIGINT and SIGTERM shut it
// down gracefully.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return RunIO(ctx, args, nil, stdout, stderr)
}

// RunIO is Run with an input stream: commands ask for confirmation on it
// when it is a terminal.
func RunIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newCmdRoot(&streams{in: stdin, interactive: stdin != nil && isTerminal(stdin), out: stdout, errOut: stderr, now: time.Now})
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var logged *loggedError
	if !errors.As(err, &logged) {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		var hint *hintError
		if errors.As(err, &hint) {
			fmt.Fprintf(stderr, "Hint: %s\n", hint.hint)
		}
	}
	var usage *usageError
	if errors.As(err, &usage) {
		return ExitUsage
	}
	return ExitError
}

type usageError struct{ err error }

// loggedError is an error the server's logger has already written, so
// that under --log-format json its last line is a JSON record as well,
// not a plain "Error:" line.
type loggedError struct{ err error }

func (e *loggedError) Error() string { return e.err.Error() }
func (e *loggedError) Unwrap() error { return e.err }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// serveOptions are the flags of the server.
type serveOptions struct {
	addr         string
	data         location
	publicURL    string
	maxBody      string
	maxInflight  string
	retention    string
	replyTimeout time.Duration
	rateLimit    float64
	rateBurst    int
	window       int
	open         bool
	trustProxy   bool
	lateHandoff  bool
	tlsCert      string
	tlsKey       string
	acmeDomain   string
	logLevel     string
	logFormat    string
	metricsAddr  string

	readHeaderTimeout time.Duration
	revokeCheck       time.Duration
}

// NewCmdRoot builds the command tree: the root serves; `token`,
// `endpoints` and `events` administer the data directory.
func NewCmdRoot(stdout, stderr io.Writer) *cobra.Command {
	return newCmdRoot(&streams{out: stdout, errOut: stderr, now: time.Now})
}

func newCmdRoot(ios *streams) *cobra.Command {
	stderr := ios.errOut
	opts := &serveOptions{}
	root := &cobra.Command{
		Use:   "relay-server",
		Short: "Run the hookctl webhook relay",
		Long: `relay-server gives webhooks a stable URL ({public-url}/h/{endpoint}/...), stores each
one durably before answering, and streams it to the hookctl listen connected for
that endpoint.

State lives in SQLite in --data (the default: one node, nothing to set up), or with
--database postgres://... (or $HOOKCTL_DATABASE_URL) in PostgreSQL, which several
relay-server nodes behind one load balancer share: a webhook may reach any node and
the CLI may be connected to any other. Schema migrations run at start, under a lock.
One relay-server process at a time may serve a --data directory.

With --acme-domain it listens on :443 with certificates from Let's Encrypt and on :80
for the ACME HTTP-01 challenge (and redirects other :80 traffic to https); --addr is
then ignored. The certificate cache lives in --data.

Probes: GET /healthz answers 200 while the process serves (liveness); GET /readyz
answers 200 when the store answers within 2s, else 503 with the reason (readiness:
send webhooks only to ready nodes).

Metrics: with --metrics-addr, GET /metrics on that address answers in the Prometheus
text format: webhooks by status code, events stored, pending events of the 10
endpoints with the most (the rest as endpoint="_other"), deliveries and their
latency, connected CLIs, store commit latency and size, handoff overflows, body
bytes in flight, Go and process metrics. They name endpoints, so they are never
served on --addr: give --metrics-addr a loopback or internal address only.

Logs (stderr, --log-format text or json): start-up and shutdown, sessions starting
and ending (endpoint, remote address, duration, events delivered), refused tokens
on the listen websocket and the API (endpoint and remote address, warn), token
revocations, store errors. Tokens, signing secrets and bodies are never logged.`,
		Example: `  relay-server --addr 127.0.0.1:8787 --data ./relay-data
  relay-server --data /var/lib/hookctl --acme-domain hooks.example.com
  relay-server token create --data ./relay-data --name alice
  relay-server token revoke --data ./relay-data alice
  relay-server endpoints list --data ./relay-data
  relay-server events purge --data ./relay-data --endpoint old-app --pending --yes
  relay-server --addr :8787 --database postgres://hookctl@db/hookctl --public-url https://hooks.example.com
  relay-server --addr :8787 --metrics-addr 127.0.0.1:9090 --log-format json
  relay-server token create --database postgres://hookctl@db/hookctl --name alice`,
		Version: buildinfo.Get().Short(),
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return &usageError{err} // an unknown command
			}
			return nil
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveRun(cmd.Context(), opts, stderr)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	f := root.Flags()
	f.StringVar(&opts.addr, "addr", "127.0.0.1:8787", "address to listen on")
	f.StringVar(&opts.data.data, "data", "relay-data", "state directory (SQLite database, ACME cache)")
	f.StringVar(&opts.data.database, "database", "", "PostgreSQL database shared by every node, postgres://... (default $"+databaseEnv+"; without it, SQLite in --data)")
	f.StringVar(&opts.publicURL, "public-url", "", "base of printed webhook URLs, e.g. https://hooks.example.com (default: from --addr)")
	f.StringVar(&opts.maxBody, "max-body", "25MiB", "largest webhook body accepted: bytes or a size such as 25MiB, 10MB")
	f.StringVar(&opts.maxInflight, "max-inflight", "", "webhook body bytes held at once across all senders, at least --max-body (default 64MiB, or --max-body when larger); beyond it webhooks get 503 with Retry-After, and one endpoint may hold half")
	f.StringVar(&opts.retention, "retention", "7d", "how long delivered events are kept, e.g. 7d, 36h (undelivered ones are kept until delivered)")
	f.DurationVar(&opts.replyTimeout, "reply-timeout", relay.DefaultReplyTimeout, "how long a sender waits for the local app's response before getting 202")
	f.Float64Var(&opts.rateLimit, "rate-limit", 0, "events per second per endpoint (0: unlimited)")
	f.IntVar(&opts.rateBurst, "rate-burst", 0, "burst size of the per-endpoint rate limit (default: the rate, at least 1)")
	f.IntVar(&opts.window, "window", relay.DefaultWindow, "most events in flight to one CLI")
	f.BoolVar(&opts.open, "open", false, "no tokens: any valid endpoint name works (for local use)")
	f.BoolVar(&opts.trustProxy, "trust-proxy", false, "take the sender's scheme and host from X-Forwarded-Proto and X-Forwarded-Host (behind a TLS-terminating proxy)")
	f.BoolVar(&opts.lateHandoff, "handoff-after-commit", false, "send an event to the connected CLI only once it is durable, instead of while its commit is in flight (senders are answered after the commit either way)")
	f.MarkHidden("handoff-after-commit")
	f.StringVar(&opts.tlsCert, "tls-cert", "", "TLS certificate file (PEM)")
	f.StringVar(&opts.tlsKey, "tls-key", "", "TLS key file (PEM)")
	f.StringVar(&opts.acmeDomain, "acme-domain", "", "get certificates for this domain automatically (listens on :443 and :80)")
	f.StringVar(&opts.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&opts.logFormat, "log-format", "text", "log lines on stderr as text (key=value) or json (one object a line, the start-up lines included)")
	f.StringVar(&opts.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at /metrics on this address, e.g. 127.0.0.1:9090 (default off; they name endpoints: keep it private)")
	f.DurationVar(&opts.readHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send request headers")
	f.MarkHidden("read-header-timeout")
	f.DurationVar(&opts.revokeCheck, "revoke-check", relay.DefaultRevokeCheck, "how often connected sessions of revoked tokens are looked for")
	f.MarkHidden("revoke-check")

	root.AddCommand(newCmdToken(ios), newCmdEndpoints(ios), newCmdEvents(ios), newCmdVersion(ios))
	for _, c := range root.Commands() {
		setUsageErrors(c)
	}
	return root
}

// newCmdVersion prints the relay's version, commit and build date.
func newCmdVersion(ios *streams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print relay-server's version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			info := buildinfo.Get()
			if asJSON {
				return json.NewEncoder(ios.out).Encode(info)
			}
			_, err := io.WriteString(ios.out, info.Text("relay-server"))
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"version":…,"commit":…,"date":…,"go":…,"platform":…}`)
	return cmd
}

// setUsageErrors makes flag errors of cmd and its subcommands usage errors
// (exit 2), like the root's.
func setUsageErrors(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	for _, c := range cmd.Commands() {
		setUsageErrors(c)
	}
}

func newCmdToken(ios *streams) *cobra.Command {
	stdout := ios.out
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens",
		Args:  cobra.NoArgs,
	}
	var (
		data location
		name string
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a token and print it on stdout (it is shown only once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return &usageError{errors.New("--name is required")}
			}
			return tokenCreateRun(cmd.Context(), data, name, stdout)
		},
	}
	dataFlag(create, &data)
	create.Flags().StringVar(&name, "name", "", "who the token is for")
	cmd.AddCommand(create, newCmdTokenList(ios), newCmdTokenRevoke(ios))
	return cmd
}

func tokenCreateRun(ctx context.Context, data location, name string, stdout io.Writer) error {
	st, err := data.open(ctx)
	if err != nil {
		return err
	}
	tok, err := relay.CreateToken(ctx, st, name, time.Now())
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

func serveRun(ctx context.Context, opts *serveOptions, stderr io.Writer) (err error) {
	maxBody, err := ParseSize(opts.maxBody)
	if err != nil {
		return &usageError{fmt.Errorf("--max-body: %w", err)}
	}
	maxInflight := max(int64(relay.DefaultMaxInflight), maxBody)
	if opts.maxInflight != "" {
		if maxInflight, err = ParseSize(opts.maxInflight); err != nil {
			return &usageError{fmt.Errorf("--max-inflight: %w", err)}
		}
	}
	if maxInflight < maxBody {
		return &usageError{fmt.Errorf("--max-inflight %s is below --max-body %s: every accepted body must fit", opts.maxInflight, opts.maxBody)}
	}
	retention, err := ParseDuration(opts.retention)
	if err != nil {
		return &usageError{fmt.Errorf("--retention: %w", err)}
	}
	if (opts.tlsCert == "") != (opts.tlsKey == "") {
		return &usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	if opts.acmeDomain != "" && opts.tlsCert != "" {
		return &usageError{errors.New("--acme-domain and --tls-cert exclude each other")}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(opts.logLevel)); err != nil {
		return &usageError{fmt.Errorf("--log-level: %w", err)}
	}
	var handler slog.Handler
	switch opts.logFormat {
	case "text":
		handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	case "json":
		handler = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
	default:
		return &usageError{fmt.Errorf("--log-format %q: want text or json", opts.logFormat)}
	}
	logger := slog.New(handler)
	say := &startup{w: stderr, log: logger, json: opts.logFormat == "json"}
	if say.json {
		defer func() {
			if err == nil {
				return
			}
			attrs := []any{"error", err.Error()}
			var hint *hintError
			if errors.As(err, &hint) {
				attrs = append(attrs, "hint", hint.hint)
			}
			logger.Error("relay-server stopped", attrs...)
			err = &loggedError{err}
		}()
	}

	unlock, err := opts.data.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st, err := opts.data.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()

	publicURL := opts.publicURL
	if publicURL == "" && opts.acmeDomain != "" {
		publicURL = "https://" + opts.acmeDomain
	}
	r, err := relay.New(relay.Config{
		PublicURL:          publicURL,
		MaxBody:            maxBody,
		MaxInflight:        maxInflight,
		Retention:          retention,
		Open:               opts.open,
		ReplyTimeout:       opts.replyTimeout,
		RateLimit:          opts.rateLimit,
		RateBurst:          opts.rateBurst,
		Window:             opts.window,
		Logger:             logger,
		TrustProxy:         opts.trustProxy,
		HandoffAfterCommit: opts.lateHandoff,
		ReadHeaderTimeout:  opts.readHeaderTimeout,
		RevokeCheck:        opts.revokeCheck,
	}, st)
	if err != nil {
		return &usageError{err}
	}

	mode := "tokens required"
	if opts.open {
		mode = "open mode, no tokens"
	}
	var metricsLn net.Listener
	if opts.metricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", opts.metricsAddr); err != nil {
			return fmt.Errorf("listen on --metrics-addr %s: %w", opts.metricsAddr, err)
		}
		defer metricsLn.Close()
		u := "http://" + metricsLn.Addr().String() + relay.MetricsPath
		say.line("metrics: "+u, "metrics", "url", u)
	}
	if opts.acmeDomain != "" {
		return withMetrics(ctx, r, metricsLn, func(ctx context.Context) error {
			return serveACME(ctx, r, opts, publicURL, mode, say)
		})
	}
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", opts.addr, err)
	}
	scheme := "http"
	if opts.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(opts.tlsCert, opts.tlsKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("TLS certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
		scheme = "https"
	}
	base := publicURL
	if base == "" {
		base = scheme + "://" + ln.Addr().String()
	}
	say.line(fmt.Sprintf("relay-server listening on %s://%s (%s; %s)", scheme, ln.Addr(), mode, opts.data),
		"relay-server listening", "url", scheme+"://"+ln.Addr().String(), "mode", mode, "state", opts.data.String())
	say.line(fmt.Sprintf("webhook URLs: %s/h/{endpoint}/...", base), "webhook URLs", "url", base+"/h/{endpoint}/...")
	return withMetrics(ctx, r, metricsLn, func(ctx context.Context) error { return r.Serve(ctx, ln) })
}

// startup prints the start-up lines: as text, or, with --log-format json,
// as log records, so that every line on stderr is one JSON object.
type startup struct {
	w    io.Writer
	log  *slog.Logger
	json bool
}

func (s *startup) line(text, msg string, attrs ...any) {
	if s.json {
		s.log.Info(msg, attrs...)
		return
	}
	fmt.Fprintln(s.w, text)
}

// withMetrics runs serve and, when metricsLn is set, the relay's metrics on
// it, until both end; either one failing stops the other.
func withMetrics(ctx context.Context, r *relay.Relay, metricsLn net.Listener, serve func(context.Context) error) error {
	if metricsLn == nil {
		return serve(ctx)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(ctx) })
	g.Go(func() error { return r.ServeMetrics(ctx, metricsLn) })
	return g.Wait()
}

// serveACME serves the relay on :443 with automatic certificates and the
// ACME challenge (plus a redirect to https) on :80.
func serveACME(ctx context.Context, r *relay.Relay, opts *serveOptions, publicURL, mode string, say *startup) error {
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(opts.acmeDomain),
		Cache:      autocert.DirCache(filepath.Join(opts.data.data, "autocert")),
	}
	ln443, err := net.Listen("tcp", ":443")
	if err != nil {
		return fmt.Errorf("listen on :443: %w", err)
	}
	ln80, err := net.Listen("tcp", ":80")
	if err != nil {
		ln443.Close()
		return fmt.Errorf("listen on :80 (ACME challenge): %w", err)
	}
	challenge := &http.Server{
		Handler:           m.HTTPHandler(nil),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    1 << 16,
	}
	say.line(fmt.Sprintf("relay-server listening on https://%s (:443, ACME challenge on :80; %s; %s)", opts.acmeDomain, mode, opts.data),
		"relay-server listening", "url", "https://"+opts.acmeDomain, "acme_challenge", ":80", "mode", mode, "state", opts.data.String())
	say.line(fmt.Sprintf("webhook URLs: %s/h/{endpoint}/...", publicURL), "webhook URLs", "url", publicURL+"/h/{endpoint}/...")
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.Serve(ctx, tls.NewListener(ln443, m.TLSConfig())) })
	g.Go(func() error {
		err := challenge.Serve(ln80)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve :80: %w", err)
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return challenge.Shutdown(sctx)
	})
	return g.Wait()
}

// ParseSize parses a byte count: a number of bytes, or a number with a unit
// (KB, MB, GB are powers of 1000; KiB, MiB, GiB of 1024; case-insensitive).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30},
		{"b", 1},
	}
	mult := int64(1)
	lower := strings.ToLower(t)
	for _, u := range units {
		if strings.HasSuffix(lower, u.suffix) {
			mult = u.mult
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n <= 0 || n*float64(mult) > 1<<40 {
		return 0, fmt.Errorf("size %q: want bytes or a number with KB, MB, GB, KiB, MiB or GiB", s)
	}
	return int64(n * float64(mult)), nil
}

// ParseDuration is time.ParseDuration plus a "d" (24h) unit in front:
// "7d", "1d12h", "36h".
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var days int64
	if i := strings.Index(t, "d"); i > 0 {
		n, err := strconv.ParseInt(t[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want e.g. 7d, 36h, 1d12h", s)
		}
		days, t = n, t[i+1:]
	}
	var rest time.Duration
	if t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			return 0, fmt.Errorf("duration %q: want e.g. 7d, 36h, 1d12h", s)
		}
		rest = d
	}
	d := time.Duration(days)*24*time.Hour + rest
	if d <= 0 {
		return 0, fmt.Errorf("duration %q: must be positive", s)
	}
	return d, nil
}
