package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/inspect"
	"github.com/hookctl/hookctl/tunnel"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// ListenOptions are the inputs of `hookctl listen`.
type ListenOptions struct {
	IO      *IOStreams
	Factory *Factory

	relayFlags
	Forward       string
	Routes        []string
	RouteOnly     bool
	AppDownStatus int
	Endpoint      string
	outputFlags
	Ordered      bool
	Concurrency  int
	Window       int
	Reply        string // passthrough, ack or status:NNN
	ReplyTimeout time.Duration
	Timeout      time.Duration
	Retry        int
	RetryBackoff time.Duration

	// Set by tests: called with the client once it exists (to pause, or to
	// learn the endpoint).
	onClient func(*tunnel.Client)

	// Verify is provider:secret for the inspector's signature column.
	Verify string
	// outputSet is true when --output or --json was given; otherwise a terminal gets
	// the interactive inspector (inspector.go).
	outputSet bool
}

// NewCmdListen builds `hookctl listen`.
func NewCmdListen(f *Factory) *cobra.Command {
	opts := &ListenOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "listen (--forward TARGET | --route-only) [--route ROUTE]...",
		Short: "Receive webhooks on a stable URL and forward them to your local app",
		Long: `Receive webhooks on a stable URL and forward them to your local app.

Every request sent to the printed URL is stored by the relay and delivered to
--forward with the same method, path, query, headers and body bytes; the sender
gets your app's response. Events sent while hookctl is not running are
delivered when it starts again. Without --relay (or HOOKCTL_RELAY, or a relay
in the config file) a relay runs inside hookctl on 127.0.0.1:8787.

--route sends some events elsewhere; routes are tried in the order given and
the first that matches wins (of path routes that match, the longest prefix):

  /PREFIX=TARGET            the path starts with PREFIX, in whole segments
  header:NAME=GLOB=TARGET   a value of header NAME (any case) matches GLOB
  json:FIELD=GLOB=TARGET    the JSON body's FIELD (a.b.c; 0 indexes an array)
                            is a string, number, boolean or null matching GLOB

In GLOB, * matches any characters; write a literal '=' as \=, '*' as \*.
TARGET is everything after that '='. Events no route takes go to --forward,
or with --route-only are not delivered: they are logged as skipped, acked and
recorded as failed with the reason, so "events list --state failed" shows
them and "replay" delivers them later.

When your app is down, a sender waiting for its answer (--reply passthrough)
gets 202 at once, the event being queued; --app-down-status 502 (or 503)
answers that instead, for providers that retry only on an error.`,
		Example: `  hookctl listen --forward 3000
  hookctl listen --forward localhost:3000/api --route /github=localhost:3001
  hookctl listen --forward 3000 --route 'header:X-GitHub-Event=push=3001' --route 'json:type=invoice.*=3002'
  hookctl listen --route-only --route 'json:data.object.object=charge=3001'
  hookctl listen --forward 3000 --app-down-status 502
  hookctl listen --relay https://relay.example --forward 3000 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.outputSet = outputGiven(cmd)
			return listenRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	opts.relayFlags.register(cmd)
	fl.StringVar(&opts.Forward, "forward", "", "where to deliver: a port (3000), host:port, or a URL with a path prefix (required unless --route-only)")
	fl.StringArrayVar(&opts.Routes, "route", nil, "send matching events elsewhere: /PREFIX=TARGET, header:NAME=GLOB=TARGET or json:FIELD=GLOB=TARGET (repeatable; the first that matches wins)")
	fl.BoolVar(&opts.RouteOnly, "route-only", false, "deliver only what a --route takes; skip the rest (logged, recorded as failed, replayable) instead of sending it to --forward")
	fl.IntVar(&opts.AppDownStatus, "app-down-status", 0, "passthrough: the status a sender gets at once when your app is down or gives no answer, e.g. 502 so the provider retries (default 202: queued)")
	fl.StringVar(&opts.Endpoint, "endpoint", "", "endpoint name (default: one generated once and remembered)")
	opts.outputFlags.register(cmd, "one NDJSON record per event and connection change, on stdout")
	fl.Lookup("output").Usage += "; on a terminal, without -o or --json: the interactive inspector"
	fl.StringVar(&opts.Verify, "verify", "", "inspector: check signatures with provider:secret, e.g. stripe:whsec_...")
	fl.BoolVar(&opts.Ordered, "ordered", false, "deliver strictly one event at a time, oldest first")
	fl.IntVar(&opts.Concurrency, "concurrency", 0, "deliveries to the app at once (default: as many as the relay has in flight, its window)")
	fl.IntVar(&opts.Window, "window", 0, "events in flight from the relay (default: the relay's)")
	fl.StringVar(&opts.Reply, "reply", "passthrough", "how the relay answers senders: passthrough, ack (202 at once) or status:NNN")
	fl.DurationVar(&opts.ReplyTimeout, "reply-timeout", 0, "passthrough: how long the relay waits for your app before answering 202 (default: the relay's, 8s)")
	fl.DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long to wait for your app's answer")
	fl.IntVar(&opts.Retry, "retry", 0, "retry an event up to N times when your app answers 5xx, 429 or 408, times out or is down; the relay keeps the schedule, and an event whose retries run out is failed (0: off)")
	fl.DurationVar(&opts.RetryBackoff, "retry-backoff", tunnel.DefaultRetryBackoff, "--retry: the first delay; each next one doubles, up to 1h, with jitter; a longer Retry-After from your app wins")
	return cmd
}

// parseReply turns --reply and --reply-timeout into wire options.
func parseReply(s string, timeout time.Duration) (*wire.ReplyOptions, error) {
	r := &wire.ReplyOptions{Timeout: timeout}
	switch {
	case s == "" || s == wire.ReplyPassthrough:
		r.Mode = wire.ReplyPassthrough
	case s == wire.ReplyAck:
		r.Mode = wire.ReplyAck
	case strings.HasPrefix(s, "status:"):
		n, err := strconv.Atoi(strings.TrimPrefix(s, "status:"))
		// The relay answers a sender with a final status only: 1xx is
		// refused there, so refuse it here as a usage error.
		if err != nil || n < 200 || n > 599 {
			return nil, fmt.Errorf("--reply %q: want status:NNN with NNN from 200 to 599", s)
		}
		r.Mode, r.Status = wire.ReplyStatus, n
	default:
		return nil, fmt.Errorf("--reply %q: want passthrough, ack or status:NNN", s)
	}
	return r, nil
}

// listenOutput is what listen prints to; inspect's renderers provide it.
type listenOutput interface {
	Event(*capture.Request, *capture.Response)
	EventFailed(*capture.Request, *capture.Response, int)
	DeliveryFailed(*capture.Request, error, int, time.Duration)
}

func listenRun(ctx context.Context, opts *ListenOptions) error {
	if err := opts.outputFlags.resolve(); err != nil {
		return err
	}
	if opts.Retry < 0 || (opts.Retry > 0 && opts.RetryBackoff <= 0) {
		return &FlagError{Err: errors.New("--retry must be 0 or more, and --retry-backoff positive")}
	}
	reply, err := parseReply(opts.Reply, opts.ReplyTimeout)
	if err != nil {
		return &FlagError{Err: err}
	}
	if opts.Concurrency < 0 {
		return &FlagError{Err: errors.New("--concurrency must be at least 1 (or 0, the default: the relay's window)")}
	}
	if opts.Endpoint != "" {
		if err := wire.CheckEndpointName(opts.Endpoint); err != nil {
			return &FlagError{Err: fmt.Errorf("--endpoint: %w", err)}
		}
	}
	if opts.AppDownStatus != 0 {
		// The relay answers a sender with a final status: 1xx cannot be one.
		if opts.AppDownStatus < 200 || opts.AppDownStatus > 599 {
			return &FlagError{Err: fmt.Errorf("--app-down-status %d: want a status from 200 to 599, e.g. 502 or 503 for the provider to retry", opts.AppDownStatus)}
		}
		if reply.Mode != wire.ReplyPassthrough {
			return &FlagError{Err: fmt.Errorf("--app-down-status needs --reply passthrough: with --reply %s the sender never waits for your app", opts.Reply)}
		}
		reply.DownStatus = opts.AppDownStatus
	}
	var routes []tunnel.Route
	for _, s := range opts.Routes {
		r, err := tunnel.ParseRoute(s)
		if err != nil {
			return &FlagError{Err: fmt.Errorf("--route: %w", err)}
		}
		routes = append(routes, r)
	}
	var target *url.URL
	switch {
	case opts.RouteOnly && len(routes) == 0:
		return &FlagError{Err: errors.New("--route-only needs at least one --route: which events should be delivered?")}
	case opts.RouteOnly && opts.Forward != "":
		return &FlagError{Err: errors.New("--route-only skips what no --route takes, so --forward would never be used: give one or the other")}
	case opts.RouteOnly:
	case opts.Forward == "":
		return &FlagError{Err: errors.New("--forward is required: where should webhooks go? e.g. --forward 3000 (or --route-only with --route)")}
	default:
		if target, err = capture.ParseTarget(opts.Forward); err != nil {
			return &FlagError{Err: fmt.Errorf("--forward: %w", err)}
		}
	}
	fwd, err := tunnel.NewForwarder(tunnel.ForwarderConfig{Target: target, Routes: routes, RouteOnly: opts.RouteOnly, Timeout: opts.Timeout, Now: opts.Factory.Now})
	if err != nil {
		return err
	}
	defer fwd.Close()

	relay, err := resolveRelay(opts.Factory, opts.relayFlags)
	if err != nil {
		return err
	}
	errOut := opts.IO.ErrOut
	ecs := opts.IO.ErrColorScheme()
	relayURL := relay.URL
	endpoint := opts.Endpoint
	remember := endpoint == ""
	if remember {
		endpoint = relay.Config.Endpoints[relay.key()]
	}
	if !relay.Embedded && opts.Factory.SetMaxProcs != nil && opts.Factory.Getenv("GOMAXPROCS") == "" {
		// Forwarding mostly waits on the relay and the app. With one P
		// the goroutines that hand an event along (reader, worker,
		// writer) run in turn on one thread instead of waking an idle
		// one for each handoff: about an eighth less CPU per event, and
		// at ~70 µs per 1 KiB event one core still carries over 10,000 a
		// second. The embedded relay keeps every core.
		opts.Factory.SetMaxProcs(1)
	}
	if relay.Embedded {
		emb, err := startEmbedded(ctx, opts.Factory)
		if err != nil {
			return err
		}
		defer emb.Close()
		relayURL = emb.URL
		if emb.Fallback {
			if err := embeddedFallback(errOut, emb, remember, opts.Endpoint); err != nil {
				return err
			}
		}
	}

	// A line per event: lines printed together go out in one write, and
	// whatever is left is written before listen returns.
	stdout := inspect.NewStreamWriter(opts.IO.Out)
	defer stdout.Close()
	errOut = stdout.Before(errOut) // stderr's lines stay in order with stdout's
	var out listenOutput
	var jsonOut *inspect.JSONRenderer
	if opts.JSON {
		jsonOut = inspect.NewJSONRenderer(stdout)
		out = jsonOut
	} else {
		cs := opts.IO.ColorScheme()
		out = inspect.NewLogRenderer(stdout, errOut, inspect.LogOptions{
			Styles: inspect.Styles{Success: cs.Green, Redirect: cs.Cyan, ClientError: cs.Yellow, ServerError: cs.Red, Faint: cs.Faint},
			TTY:    opts.IO.StdoutTTY,
			Now:    opts.Factory.Now,
		})
	}

	obs := &listenObserver{out: out}
	obs.onConnected = func(s tunnel.Status) {
		if obs.readyOnce {
			fmt.Fprintf(errOut, "%s reconnected to %s (%d pending)\n", ecs.Green.Sprint("✓"), relayURL, s.Pending)
			return
		}
		obs.readyOnce = true
		if remember && s.Endpoint != "" && relay.Config.Endpoints[relay.key()] != s.Endpoint {
			relay.Config.Endpoints[relay.key()] = s.Endpoint
			if err := relay.Config.save(); err != nil {
				fmt.Fprintf(errOut, "warning: could not remember endpoint %s: %v (the URL will change next time)\n", s.Endpoint, err)
			}
		}
		if jsonOut != nil {
			jsonOut.Ready(inspect.Ready{URL: s.URL, Endpoint: s.Endpoint, Forward: fwd.Targets()})
		}
		fmt.Fprintf(errOut, "Webhook URL: %s\n", ecs.Bold.Sprint(s.URL))
		fmt.Fprintf(errOut, "Forwarding:  %s\n", strings.Join(fwd.Targets(), ", "))
		if s.Pending > 0 {
			fmt.Fprintf(errOut, "Delivering %d pending events\n", s.Pending)
		}
	}
	obs.onReconnecting = func(s tunnel.Status) {
		fmt.Fprintf(errOut, "%s %v; reconnecting in %s (attempt %d)\n", ecs.Yellow.Sprint("!"), s.Err, s.RetryIn.Round(time.Millisecond), s.Attempt)
		if jsonOut != nil && s.Err != nil {
			jsonOut.Reconnecting(s.Err, s.Attempt, s.RetryIn)
		}
	}

	var observer tunnel.Observer = obs
	var insp *listenInspector
	if !opts.outputSet && opts.IO.StdinTTY && opts.IO.StdoutTTY {
		// The inspector owns the terminal; it shows what the log would.
		insp, err = newListenInspector(ctx, opts.Factory, relayURL, relay.Token, fwd.Target, fwd.Targets(), opts.Verify)
		if err != nil {
			return err
		}
		obs.out, errOut = discardOutput{}, io.Discard
		observer = insp.observer(obs)
	}

	client, err := tunnel.NewClient(tunnel.Config{
		RelayURL:    relayURL,
		Token:       relay.Token,
		Endpoint:    endpoint,
		Window:      opts.Window,
		Concurrency: opts.Concurrency,
		Ordered:     opts.Ordered,
		Reply:       reply,
		Forwarder:   fwd,
		Observer:    observer,
		Retry:       opts.Retry,
		// --retry-backoff's schedule.
		RetrySchedule: tunnel.RetrySchedule(opts.RetryBackoff),
	})
	if err != nil {
		return err
	}
	if opts.onClient != nil {
		opts.onClient(client)
	}
	if insp != nil {
		return insp.run(ctx, client)
	}
	if !opts.JSON {
		fmt.Fprintf(errOut, "Connecting to %s ...\n", relayURL)
	}
	err = client.Run(ctx)
	if err != nil && jsonOut != nil {
		jsonOut.Failed(err)
	}
	var perm *tunnel.PermanentError
	if errors.As(err, &perm) && perm.Code == wire.CodeForbidden && remember && endpoint != "" {
		return WithHint(err, fmt.Sprintf("endpoint %q is remembered in %s for %s but belongs to another token; remove it there or pass --endpoint", endpoint, relay.Config.path, relay.key()))
	}
	return err
}

// listenObserver adapts the tunnel's reports to listen's output.
type listenObserver struct {
	out            listenOutput
	mu             sync.Mutex
	readyOnce      bool
	onConnected    func(tunnel.Status)
	onReconnecting func(tunnel.Status)
}

func (o *listenObserver) StateChanged(s tunnel.Status) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch s.State {
	case tunnel.StateConnected:
		o.onConnected(s)
	case tunnel.StateReconnecting:
		o.onReconnecting(s)
	}
}

func (o *listenObserver) EventReceived(*capture.Request) {}

func (o *listenObserver) EventDelivered(req *capture.Request, resp *capture.Response) {
	o.out.Event(req, resp)
}

func (o *listenObserver) EventFailed(req *capture.Request, resp *capture.Response, attempts int) {
	o.out.EventFailed(req, resp, attempts)
}

func (o *listenObserver) DeliveryFailed(req *capture.Request, err error, attempt int, retryIn time.Duration) {
	o.out.DeliveryFailed(req, err, attempt, retryIn)
}
