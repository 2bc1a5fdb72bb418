package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/fixtures/fire"
	"github.com/hookctl/hookctl/inspect"
	"github.com/hookctl/hookctl/replay"
	"github.com/hookctl/hookctl/tunnel"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// ReplayOptions are the inputs of `hookctl replay`.
type ReplayOptions struct {
	IO      *IOStreams
	Factory *Factory
	relayFlags

	IDs     []string // in the order given
	Shuffle bool
	// Selection picks the events to replay through the events list
	// query, instead of IDs.
	Selection   eventSelection
	To          string
	Edit        bool
	Resign      bool
	Provider    string
	Secret      string
	Count       int
	Concurrency int
	outputFlags
	Expect string // --expect, as fire reads it

	expect fire.Expect
	client *capture.Client // tests
}

// NewCmdReplay builds `hookctl replay`.
func NewCmdReplay(f *Factory) *cobra.Command {
	opts := &ReplayOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "replay EVENT_ID... --to URL",
		Short: "Send captured webhooks again",
		Long: `Send a captured webhook again, with the same method, path, query, headers and
body bytes, to --to (a port, host:port or URL with a path prefix). Each copy is
recorded on the relay as a new event linked to the original.

--edit opens the request in $VISUAL or $EDITOR first; saving it unchanged, or an
editor that fails, sends nothing. --resign replaces the signature with a fresh
one (new timestamp) using the provider's scheme, so receivers that reject old
timestamps accept the replay; without it the original headers go out untouched.

Several ids are replayed one event after another, in the order given (or
shuffled with --shuffle). Instead of ids, --state, --since, --until, --endpoint,
--before and --after select the events as 'hookctl events list' does, oldest
first; replays themselves are not selected again. A bulk replay shows its
progress on stderr and ends with a summary.

Exits 0 when every copy's answer is 2xx (or matches --expect, read as fire
reads it), 1 otherwise.`,
		Example: `  hookctl replay evt_01J... --to 3000
  hookctl replay evt_01J... --to localhost:3000 --edit --resign --provider stripe --secret whsec_...
  hookctl replay evt_01J... --to 3000 --count 5 --concurrency 5 --output json
  hookctl replay evt_A evt_B evt_C --to 3000 --shuffle
  hookctl replay --state failed --since 1h --to localhost:3000`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IDs = args
			return replayRun(cmd.Context(), opts)
		},
	}
	opts.relayFlags.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&opts.To, "to", "", "where to send it: a port (3000), host:port, or a URL with a path prefix (required)")
	fl.BoolVar(&opts.Edit, "edit", false, "edit the request in $EDITOR before sending")
	fl.BoolVar(&opts.Resign, "resign", false, "re-sign with a fresh timestamp (needs --provider and --secret)")
	fl.StringVar(&opts.Provider, "provider", "", "provider whose signature scheme to use (stripe, github, ...)")
	fl.StringVar(&opts.Secret, "secret", "", "signing secret for --resign, or to check an edited body")
	fl.IntVar(&opts.Count, "count", 1, "identical copies to send")
	fl.IntVar(&opts.Concurrency, "concurrency", 1, "copies in flight at once")
	opts.outputFlags.register(cmd, "one NDJSON record per copy sent, then a summary record")
	fl.StringVar(&opts.Expect, "expect", "2xx", "expected status: 2xx, 4xx, … or a code")
	fl.BoolVar(&opts.Shuffle, "shuffle", false, "replay the events in a random order")
	sel := &opts.Selection
	fl.StringVar(&sel.State, "state", "", "replay the events in this state: pending, delivered or failed")
	fl.StringVar(&sel.Since, "since", "", "replay the events received since a `time`: a duration ago (1h) or RFC 3339")
	fl.StringVar(&sel.Until, "until", "", "replay the events received before a `time`: a duration ago or RFC 3339")
	fl.StringVar(&sel.Endpoint, "endpoint", "", "replay this endpoint's events")
	fl.StringVar(&sel.Before, "before", "", "replay the events older than event `ID`")
	fl.StringVar(&sel.After, "after", "", "replay the events newer than event `ID`")
	return cmd
}

// replayRecord is the NDJSON record of one copy sent. Keys are stable;
// those fire's records have too (fireRecord) mean the same and follow the
// same rules: status absent when there was no answer, ok when the answer
// met --expect, latency_ms the time the try took.
type replayRecord struct {
	Type        string  `json:"type"` // recordReplay
	ID          string  `json:"id"`
	ReplayOf    string  `json:"replay_of"`
	Status      int     `json:"status,omitempty"`
	OK          bool    `json:"ok"`
	Verdict     string  `json:"verdict"` // pass, fail or error (deliveryVerdict)
	Expect      string  `json:"expect"`
	LatencyMS   float64 `json:"latency_ms"`
	Error       string  `json:"error,omitempty"`
	RecordError string  `json:"record_error,omitempty"`
}

func replayRun(ctx context.Context, opts *ReplayOptions) error {
	if err := opts.outputFlags.resolve(); err != nil {
		return err
	}
	if opts.Count < 1 || opts.Concurrency < 1 {
		return &FlagError{Err: errors.New("--count and --concurrency must be at least 1")}
	}
	var err error
	if opts.expect, err = fire.ParseExpect(opts.Expect); err != nil {
		return &FlagError{Err: err}
	}
	selecting := opts.Selection != (eventSelection{})
	switch {
	case selecting && len(opts.IDs) > 0:
		return &FlagError{Err: errors.New("give event ids or --state/--since/--until/--endpoint/--before/--after, not both")}
	case !selecting && len(opts.IDs) == 0:
		return &FlagError{Err: errors.New("which events? give an id, or select with e.g. --state failed --since 1h")}
	}
	bulk := selecting || len(opts.IDs) > 1
	if bulk && opts.Edit {
		return &FlagError{Err: errors.New("--edit replays one event: give one id")}
	}
	var query tunnel.EventsQuery
	if selecting {
		var err error
		if query, err = opts.Selection.query(opts.Factory.Now()); err != nil {
			return err
		}
		// In the order events came, unless the selection says otherwise.
		query.OldestFirst = opts.Selection.Before == ""
	}
	if opts.To == "" {
		return &FlagError{Err: errors.New("--to is required: where should the replay go? e.g. --to 3000")}
	}
	target, err := parseToFlag(opts.To)
	if err != nil {
		return err
	}
	if opts.Resign && (opts.Provider == "" || opts.Secret == "") {
		return &FlagError{Err: errors.New("--resign needs --provider and --secret")}
	}
	var signer *replay.ProviderSigner
	if opts.Provider != "" && opts.Secret != "" {
		if signer, err = replay.NewProviderSigner(opts.Provider, opts.Secret); err != nil {
			return &FlagError{Err: fmt.Errorf("--provider: %w", err)}
		}
	}

	api, closeAPI, err := relayAPI(ctx, opts.Factory, opts.relayFlags)
	if err != nil {
		return err
	}
	defer closeAPI()
	ropts := replay.Options{
		Target: target, Count: opts.Count, Concurrency: opts.Concurrency,
		Recorder: apiRecorder{api}, Now: opts.Factory.Now, Client: opts.client,
	}
	if opts.Resign {
		ropts.Signer = signer
	}
	if bulk {
		return replayBulk(ctx, opts, api, query, ropts)
	}

	req, err := fetchEvent(ctx, api, opts.IDs[0])
	if err != nil {
		return err
	}
	if opts.Edit {
		edited, err := editRequest(opts.Factory, req)
		if err != nil {
			return err
		}
		if !opts.Resign && replay.BodyChanged(req, edited) {
			warnEditedSignature(opts.IO, edited, signer, opts)
		}
		req = edited
	}
	results, err := replay.Run(ctx, req, ropts)
	if err != nil {
		var none replayTally
		writeFailSummary(opts.summaryEncoder(), none.summary(opts.expect))
		return err
	}
	return printReplays(opts, results)
}

// replayBulk replays several events, one after another: the ids given, or
// those query selects (read in full before the first is sent, so the
// replays it records are not selected again).
func replayBulk(ctx context.Context, opts *ReplayOptions, api *tunnel.APIClient, query tunnel.EventsQuery, ropts replay.Options) error {
	var reqs []*capture.Request
	if len(opts.IDs) > 0 {
		for _, id := range opts.IDs {
			req, err := fetchEvent(ctx, api, id)
			if err != nil {
				return err
			}
			reqs = append(reqs, req)
		}
	} else {
		err := api.EachEvent(ctx, query, 0, func(rec wire.EventRecord) error {
			if rec.Request != nil && rec.Request.ReplayOf == "" {
				reqs = append(reqs, rec.Request)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("select events: %w", err)
		}
		if len(reqs) == 0 {
			fmt.Fprintln(opts.IO.ErrOut, "No events selected: nothing sent.")
			if enc := opts.summaryEncoder(); enc != nil {
				var none replayTally
				return enc.Encode(none.summary(opts.expect)) // a JSON run still ends with its summary
			}
			return nil
		}
	}
	if opts.Shuffle {
		rand.Shuffle(len(reqs), func(i, j int) { reqs[i], reqs[j] = reqs[j], reqs[i] })
	}
	var total replayTally
	for i, req := range reqs {
		if opts.IO.StderrTTY {
			fmt.Fprintf(opts.IO.ErrOut, "\r\x1b[KReplaying %d/%d: %s", i+1, len(reqs), inspect.Printable(req.ID, false))
		}
		results, err := replay.Run(ctx, req, ropts)
		if err != nil {
			if opts.IO.StderrTTY {
				fmt.Fprint(opts.IO.ErrOut, "\r\x1b[K")
			}
			writeFailSummary(opts.summaryEncoder(), total.summary(opts.expect))
			return fmt.Errorf("replay %s (%d of %d): %w", req.ID, i+1, len(reqs), err)
		}
		if err := printReplayLines(opts, results, &total); err != nil {
			return err
		}
	}
	if opts.IO.StderrTTY {
		fmt.Fprint(opts.IO.ErrOut, "\r\x1b[K")
	}
	sum := total.summary(opts.expect)
	fmt.Fprintf(opts.IO.ErrOut, "Replayed %d events: %d sent, %d got %s, %d failed, %d got no answer\n",
		len(reqs), sum.Count, sum.Passed, opts.expect, sum.Failed, sum.Errors)
	return finishDeliveries(opts.IO, opts.summaryEncoder(), sum, total.firstErr, "")
}

// replayTally counts replayed copies as fire.Run counts requests.
type replayTally struct {
	fire.Summary
	firstErr error // the first copy's error that got no answer
}

// add counts one copy.
func (t *replayTally) add(r replay.Result) {
	t.Count++
	if r.Response.Error != "" {
		t.Errors++
		if t.firstErr == nil {
			t.firstErr = r.Err
			if t.firstErr == nil {
				t.firstErr = errors.New(r.Response.Error)
			}
		}
		return
	}
	if t.Statuses == nil {
		t.Statuses = map[int]int{}
	}
	t.Statuses[r.Response.Status]++
}

func (t *replayTally) summary(expect fire.Expect) summaryRecord {
	return deliverySummary(&t.Summary, expect)
}

// summaryEncoder writes the summary record for JSON output; nil for text.
func (opts *ReplayOptions) summaryEncoder() *json.Encoder {
	if !opts.JSON {
		return nil
	}
	return json.NewEncoder(opts.IO.Out)
}

// fetchEventRecord reads one stored event with its delivery, turning a 404
// into a clear error with a hint.
func fetchEventRecord(ctx context.Context, api *tunnel.APIClient, id string) (*wire.EventRecord, error) {
	rec, err := api.Event(ctx, id)
	if errors.Is(err, tunnel.ErrNotFound) {
		return nil, WithHint(fmt.Errorf("no event %q", id), "hookctl events list shows the ids")
	}
	if err != nil {
		return nil, fmt.Errorf("read event %s: %w", id, err)
	}
	return rec, nil
}

// fetchEvent reads one stored event's request.
func fetchEvent(ctx context.Context, api *tunnel.APIClient, id string) (*capture.Request, error) {
	rec, err := fetchEventRecord(ctx, api, id)
	if err != nil {
		return nil, err
	}
	if rec.Request == nil {
		return nil, fmt.Errorf("event %s: the relay returned no request", id)
	}
	return rec.Request, nil
}

// editRequest opens req in the user's editor and returns the edit.
func editRequest(f *Factory, req *capture.Request) (*capture.Request, error) {
	editor := f.Getenv("VISUAL")
	if editor == "" {
		editor = f.Getenv("EDITOR")
	}
	if editor == "" {
		return nil, WithHint(fmt.Errorf("%w; nothing sent", replay.ErrNoEditor), "EDITOR=vi hookctl replay ... --edit")
	}
	ef, err := replay.NewEditFile("", req)
	if err != nil {
		return nil, err
	}
	cmd, err := ef.Command(editor)
	if err != nil {
		ef.Result(err) // removes the file
		return nil, fmt.Errorf("%w; nothing sent", err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f.IO.In, f.IO.Out, f.IO.ErrOut
	return ef.Result(cmd.Run())
}

// warnEditedSignature says when an edited body no longer matches the
// signature it carries.
func warnEditedSignature(io *IOStreams, edited *capture.Request, signer *replay.ProviderSigner, opts *ReplayOptions) {
	cs := io.ErrColorScheme()
	fix := fmt.Sprintf("add --resign --provider %s --secret ...", orDefault(opts.Provider, "PROVIDER"))
	if signer != nil {
		if err := signer.Verify(edited, opts.Factory.Now()); err != nil {
			fmt.Fprintf(io.ErrOut, "%s the edited body no longer matches its signature: %s\n  %s\n",
				cs.Yellow.Sprint("Warning:"), strings.ReplaceAll(err.Error(), "\n", "\n  "), fix)
		}
		return
	}
	if hs := replay.SignatureHeaders(edited); len(hs) > 0 {
		fmt.Fprintf(io.ErrOut, "%s the body was edited but %s still signs the original; receivers that verify it will reject this replay.\n  %s\n",
			cs.Yellow.Sprint("Warning:"), hs[0], fix)
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// printReplays prints the copies of one event and the verdict; the exit
// is fire's (finishDeliveries).
func printReplays(opts *ReplayOptions, results []replay.Result) error {
	var tally replayTally
	if err := printReplayLines(opts, results, &tally); err != nil {
		return err
	}
	return finishDeliveries(opts.IO, opts.summaryEncoder(), tally.summary(opts.expect), tally.firstErr, "")
}

// printReplayLines prints one line (or NDJSON record) per copy and counts
// them in tally.
func printReplayLines(opts *ReplayOptions, results []replay.Result, tally *replayTally) error {
	cs := opts.IO.ColorScheme()
	ecs := opts.IO.ErrColorScheme()
	enc := json.NewEncoder(opts.IO.Out)
	for _, r := range results {
		answered := r.Response.Error == ""
		met := answered && opts.expect.Match(r.Response.Status)
		j := replayRecord{Type: recordReplay, ID: r.Request.ID, ReplayOf: r.Request.ReplayOf, Error: r.Response.Error,
			OK: met, Verdict: deliveryVerdict(answered, met), Expect: opts.expect.String(),
			LatencyMS: float64(r.Response.Duration.Microseconds()) / 1000}
		if answered {
			j.Status = r.Response.Status
		}
		tally.add(r)
		if r.RecordErr != nil {
			j.RecordError = r.RecordErr.Error()
			fmt.Fprintf(opts.IO.ErrOut, "%s %v\n", ecs.Yellow.Sprint("Warning:"), r.RecordErr)
		}
		if opts.JSON {
			if err := enc.Encode(j); err != nil {
				return err
			}
			continue
		}
		status := cs.Red.Sprint("error")
		switch {
		case j.Error != "":
		case j.Status >= 500:
			status = cs.Red.Sprint(j.Status)
		case j.Status >= 400:
			status = cs.Yellow.Sprint(j.Status)
		default:
			status = cs.Green.Sprint(j.Status)
		}
		line := fmt.Sprintf("%s %s", status, http.StatusText(j.Status))
		if j.Error != "" {
			line = status + " " + inspect.Printable(j.Error, false)
		} else {
			line += fmt.Sprintf(" in %.1fms", j.LatencyMS)
			if !met {
				line += cs.Faint.Sprintf(" (expected %s)", opts.expect)
			}
		}
		if j.ID != "" {
			line += "  " + cs.Faint.Sprintf("%s (replay of %s)", j.ID, j.ReplayOf)
		}
		fmt.Fprintln(opts.IO.Out, line)
	}
	return nil
}

// parseToFlag parses a --to target (capture.ParseTarget: a port, host:port
// or URL with a path prefix), as --forward does; a bad one is a usage error.
func parseToFlag(to string) (*url.URL, error) {
	t, err := capture.ParseTarget(to)
	if err != nil {
		return nil, &FlagError{Err: fmt.Errorf("--to: %w", err)}
	}
	return t, nil
}
