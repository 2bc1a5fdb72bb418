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

	"github.com/aymanbagabas/go-osc52/v2"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/hookctl/hookctl/fixtures"
	"github.com/hookctl/hookctl/inspect/tui"
	"github.com/hookctl/hookctl/replay"
	"github.com/hookctl/hookctl/tunnel"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// This file wires the inspector (inspect/tui) to the tunnel, the relay API,
// replay and the fixtures' verifiers. The TUI itself knows none of them.

// apiRecorder records replays through the relay's HTTP API.
type apiRecorder struct{ api *tunnel.APIClient }

var _ replay.Recorder = apiRecorder{}

func (a apiRecorder) RecordReplay(ctx context.Context, orig string, req *capture.Request, resp *capture.Response) (string, error) {
	rec, err := a.api.RecordReplay(ctx, orig, &wire.ReplayRecord{Request: req, Response: resp})
	if err != nil {
		return "", err
	}
	if rec.Request == nil {
		return "", errors.New("the relay answered without the new event")
	}
	return rec.Request.ID, nil
}

// inspectorActions are the inspector's replay and pause: replays go to
// target and are recorded through the relay API; pause needs a tunnel
// client (listen), not available in `hookctl inspect`.
type inspectorActions struct {
	target func(*capture.Request) *url.URL // nil: no target
	rec    replay.Recorder
	now    func() time.Time
	client *tunnel.Client
	api    *tunnel.APIClient // lists the paused backlog; nil in inspect
}

var (
	_ tui.Actions = (*inspectorActions)(nil)
	_ tui.Backlog = (*inspectorActions)(nil)
)

func (a *inspectorActions) Replay(ctx context.Context, req *capture.Request) (*capture.Request, *capture.Response, error) {
	var target *url.URL
	if a.target != nil {
		target = a.target(req)
	}
	if target == nil {
		return nil, nil, errors.New("no replay target: start hookctl inspect with --to URL")
	}
	res := replay.Send(ctx, req, replay.Options{Target: target, Recorder: a.rec, Now: a.now})
	if res.RecordErr != nil && res.Request.ID == "" {
		// Delivered but not recorded: still show it, under a local id.
		res.Request.ID = "local-" + fmt.Sprint(a.now().UnixNano())
	}
	return res.Request, res.Response, nil
}

func (a *inspectorActions) SetPaused(_ context.Context, paused bool) error {
	if a.client == nil {
		return tui.ErrUnsupported
	}
	if paused {
		a.client.Pause()
	} else {
		a.client.Resume()
	}
	return nil
}

// backlogPage is how many of the newest stored events a paused inspector
// reads to count those waiting. The relay's API lists events (bodies
// included) but does not count them, so a longer backlog shows as "100+".
const backlogPage = 100

// Waiting lists the events of the listening endpoint that wait on the relay,
// for the paused inspector's "paused · 12 new".
func (a *inspectorActions) Waiting(ctx context.Context) ([]string, bool, error) {
	if a.client == nil || a.api == nil || a.client.Endpoint() == "" {
		return nil, false, tui.ErrUnsupported
	}
	recs, err := a.api.Events(ctx, tunnel.EventsQuery{Endpoint: a.client.Endpoint(), Limit: backlogPage})
	if err != nil {
		return nil, false, err
	}
	var ids []string
	for _, r := range recs {
		if r.State == wire.StatePending && r.Request != nil {
			ids = append(ids, r.Request.ID)
		}
	}
	more := len(recs) == backlogPage && recs[len(recs)-1].State == wire.StatePending
	return ids, more, nil
}

// apiHistory pages stored events for `hookctl inspect`.
type apiHistory struct {
	api      *tunnel.APIClient
	endpoint string
}

func (h apiHistory) Older(ctx context.Context, before string, limit int) ([]tui.EventMsg, error) {
	recs, err := h.api.Events(ctx, tunnel.EventsQuery{Endpoint: h.endpoint, Limit: limit, Before: before})
	if err != nil {
		return nil, err
	}
	out := make([]tui.EventMsg, 0, len(recs))
	for _, r := range recs {
		out = append(out, tui.EventMsg{Request: r.Request, Response: r.Response})
	}
	return out, nil
}

// feedObserver reports a listen session to the inspector's feed, then to
// next (listen's own observer, which remembers the endpoint).
type feedObserver struct {
	feed *tui.Feed
	next tunnel.Observer
}

func (o feedObserver) StateChanged(s tunnel.Status) {
	c := tui.ConnMsg{Attempt: s.Attempt, Retry: s.RetryIn, URL: s.URL, Backlog: s.Pending}
	if s.Err != nil {
		c.Err = s.Err.Error()
	}
	switch s.State {
	case tunnel.StateConnecting:
		c.State = tui.ConnConnecting
	case tunnel.StateConnected:
		c.State = tui.ConnConnected
	case tunnel.StateReconnecting:
		c.State = tui.ConnReconnecting
	default:
		c.State = tui.ConnOffline
	}
	o.feed.Conn(c)
	o.next.StateChanged(s)
}

func (o feedObserver) EventReceived(r *capture.Request) {
	o.feed.Event(r)
	o.next.EventReceived(r)
}

func (o feedObserver) EventDelivered(r *capture.Request, resp *capture.Response) {
	o.feed.Response(r.ID, resp)
	o.next.EventDelivered(r, resp)
}

func (o feedObserver) DeliveryFailed(r *capture.Request, err error, attempt int, retryIn time.Duration) {
	o.feed.Retry(r.ID, err, attempt, retryIn)
	o.next.DeliveryFailed(r, err, attempt, retryIn)
}

// signerVerifier is the inspector's signature column: a provider scheme and
// secret from --verify provider:secret.
type signerVerifier struct {
	s   *replay.ProviderSigner
	now func() time.Time
}

// Verify checks r as of when it was received: the badge is about what the
// sender sent, and the inspector verifies lazily, when a row is first
// drawn — possibly long after (hookctl inspect, scrolling back).
func (v signerVerifier) Verify(r *capture.Request) tui.Signature {
	at, src := r.ReceivedAt, fixtures.AsOfReceived
	if at.IsZero() {
		at, src = v.now(), fixtures.AsOfNow
	}
	res := v.s.CheckKnown(r, at, fixtures.Known{AsOf: src})
	switch {
	case res.Valid:
		return tui.Signature{State: tui.SigValid}
	case res.Reason == fixtures.ReasonMissingHeader:
		return tui.Signature{State: tui.SigUnknown, Detail: strings.TrimSpace(res.Explain())}
	}
	return tui.Signature{State: tui.SigInvalid, Detail: strings.TrimSpace(res.Explain())}
}

// parseVerify parses --verify provider:secret.
func parseVerify(spec string) (*replay.ProviderSigner, error) {
	provider, secret, ok := strings.Cut(spec, ":")
	if !ok || provider == "" || secret == "" {
		return nil, &FlagError{Err: fmt.Errorf("--verify %q: want provider:secret, e.g. stripe:whsec_...", spec)}
	}
	return replay.NewProviderSigner(provider, secret)
}

// inspectorOptions are the model options every inspector gets from the
// process: styles for the stream, editor, clipboard, clock.
func (f *Factory) inspectorOptions(ctx context.Context) []tui.Option {
	r := lipgloss.NewRenderer(f.IO.Out)
	if f.IO.NoColor {
		r.SetColorProfile(termenv.Ascii)
	}
	r.SetHasDarkBackground(darkBackground(f.Getenv("COLORFGBG")))
	editor := f.Getenv("VISUAL")
	if editor == "" {
		editor = f.Getenv("EDITOR")
	}
	return []tui.Option{
		tui.WithStyles(tui.NewStyles(r)),
		tui.WithEditor(editor),
		tui.WithClipboard(osc52Clipboard(f.IO.ErrOut, f.IO.StderrTTY, f.Getenv("TERM"))),
		tui.WithClock(f.Now),
		tui.WithContext(ctx),
	}
}

// darkBackground reports whether the terminal's background is dark, from
// COLORFGBG ("fg;bg" as ANSI colour numbers, set by rxvt, Konsole and
// others), and dark without it. The renderer would otherwise ask the
// terminal (OSC 11) the first time something asked, and wait up to 5 s for
// a terminal that never answers, with Bubble Tea already reading its
// input. The inspector's colours are the same on either background, so
// nothing is lost by not asking.
func darkBackground(colorfgbg string) bool {
	_, bg, ok := strings.Cut(colorfgbg, ";")
	if i := strings.LastIndexByte(bg, ';'); i >= 0 {
		bg = bg[i+1:] // "fg;default;bg"
	}
	n, err := strconv.Atoi(bg)
	if !ok || err != nil || n < 0 || n > 15 {
		return true
	}
	_, _, l := termenv.ConvertToRGB(termenv.ANSIColor(n)).Hsl()
	return l < 0.5 // as termenv decides
}

// maxClipboard bounds what copy-as-curl sends through OSC 52. Terminals cap
// the sequence (or stall on it), and a multi-megabyte body would otherwise be
// written to the terminal base64-encoded — 26 MB for a 20 MB body — while the
// screen waits; hookctl events export writes such a command to a file.
const maxClipboard = 512 << 10

// osc52Clipboard copies text with an OSC 52 sequence written to w, the
// terminal on stderr, so it never interleaves with a frame being written to
// stdout. term is $TERM: the Linux console does not parse OSC 52 and prints
// its base64 payload over the screen, so there (and on a dumb terminal)
// nothing is written.
func osc52Clipboard(w io.Writer, tty bool, term string) func(string) error {
	var mu sync.Mutex
	return func(s string) error {
		if !tty {
			return errors.New("stderr is not a terminal")
		}
		if term == "linux" || term == "dumb" {
			return fmt.Errorf("TERM=%s has no OSC 52 clipboard", term)
		}
		if len(s) > maxClipboard {
			return fmt.Errorf("%d KiB is too large for the terminal clipboard (hookctl events export ID --format curl > replay.sh)", len(s)>>10)
		}
		mu.Lock()
		defer mu.Unlock()
		_, err := osc52.New(s).WriteTo(w)
		return err
	}
}

// runInspector runs m full-screen on the terminal until the user quits or
// ctx ends.
func (f *Factory) runInspector(ctx context.Context, m *tui.Model) error {
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithAltScreen(),
		tea.WithInput(f.IO.In), tea.WithOutput(f.IO.Out), tea.WithoutSignalHandler())
	_, err := p.Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// listenInspector runs the inspector for a `hookctl listen` session on a
// terminal. listen builds it before the tunnel client, passes its observer
// to the client, then calls run instead of client.Run.
type listenInspector struct {
	f       *Factory
	feed    *tui.Feed
	model   *tui.Model
	actions *inspectorActions
}

// newListenInspector builds the inspector for listen. targetFor picks where
// r replays a request (the forwarder's routes, header and JSON ones
// included); relayURL and token reach the
// relay API to record replays; verify is the --verify value ("" for none).
func newListenInspector(ctx context.Context, f *Factory, relayURL, token string, targetFor func(*capture.Request) *url.URL, targets []string, verify string) (*listenInspector, error) {
	api, err := tunnel.NewAPIClient(relayURL, token)
	if err != nil {
		return nil, err
	}
	li := &listenInspector{f: f, feed: tui.NewFeed(0)}
	li.actions = &inspectorActions{target: targetFor, rec: apiRecorder{api}, now: f.Now, api: api}
	opts := append(f.inspectorOptions(ctx),
		tui.WithFeed(li.feed), tui.WithActions(li.actions), tui.WithTargets(targets...),
		tui.WithTargetFor(func(path string) *url.URL { return targetFor(&capture.Request{Path: path}) }), tui.WithConn(tui.ConnMsg{State: tui.ConnConnecting}))
	if verify != "" {
		s, err := parseVerify(verify)
		if err != nil {
			return nil, err
		}
		opts = append(opts, tui.WithVerifier(signerVerifier{s: s, now: f.Now}))
	}
	li.model = tui.New(opts...)
	return li, nil
}

// observer wraps listen's observer so the inspector sees every report.
func (li *listenInspector) observer(next tunnel.Observer) tunnel.Observer {
	return feedObserver{feed: li.feed, next: next}
}

// run runs the tunnel client and the inspector together. Quitting the
// inspector stops the client; a client that ends on its own (a permanent
// refusal) closes the inspector and its error is returned.
func (li *listenInspector) run(ctx context.Context, client *tunnel.Client) error {
	li.actions.client = client
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() {
		err := client.Run(ctx)
		li.feed.Conn(tui.ConnMsg{State: tui.ConnOffline, Err: errString(err)})
		runErr <- err
		cancel() // a client that stopped by itself takes the inspector down
	}()
	uiErr := li.f.runInspector(ctx, li.model)
	cancel()
	err := <-runErr
	li.feed.Close()
	if u := li.model.URL(); u != "" {
		// The alternate screen is gone: leave the essentials behind.
		fmt.Fprintf(li.f.IO.ErrOut, "Webhook URL: %s (%d events this session)\n", u, li.model.Received())
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if uiErr != nil && !errors.Is(uiErr, context.Canceled) {
		return uiErr
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// discardOutput is listen's line output while the inspector owns the screen.
type discardOutput struct{}

func (discardOutput) Event(*capture.Request, *capture.Response)                  {}
func (discardOutput) EventFailed(*capture.Request, *capture.Response, int)       {}
func (discardOutput) DeliveryFailed(*capture.Request, error, int, time.Duration) {}
