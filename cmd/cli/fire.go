package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/fixtures"
	"github.com/hookctl/hookctl/fixtures/fire"
	"github.com/hookctl/hookctl/inspect"
)

type fireOptions struct {
	IO     *IOStreams
	Now    func() time.Time
	Getenv func(string) string

	Provider, Event string
	File            string
	To              string
	SignedURL       string
	Secret          string
	Set, SetNew     []string
	Unset           []string
	Headers         []string
	Body            string
	Print           bool
	Expect          string
	Count           int
	Concurrency     int
	outputFlags
	Timestamp string
	Timeout   time.Duration
}

// NewCmdFire builds `hookctl fire`.
func NewCmdFire(f *Factory) *cobra.Command {
	opts := &fireOptions{IO: f.IO, Now: f.Now, Getenv: f.Getenv}
	cmd := &cobra.Command{
		Use:   "fire PROVIDER EVENT --to URL --secret SECRET",
		Short: "Send a signed provider event to your app",
		Long: `Fire a realistic provider event at your webhook endpoint, signed exactly as the
provider signs it, with fresh ids and timestamps. Exits 0 when the answer is 2xx
(or matches --expect), 1 otherwise.

A fixture file (--file, YAML or JSON) gives method, path, headers and a body with
placeholders ({{uuid}}, {{id 24}}, {{unix}}, {{now}}, {{env NAME}}…), the signing
provider, and optionally a sequence of events fired in order.`,
		Example: `  hookctl fire stripe payment_intent.succeeded --to localhost:3000/webhooks --secret whsec_...
  hookctl fire github push --to :3000/gh --secret s3cret --set repository.name=api --set ref=refs/heads/main
  hookctl fire stripe invoice.paid --to :3000/hooks --secret whsec_... --set 'data.object.id=in_{{id 24}}'
  hookctl fire shopify orders/create --secret shpss_... --print
  hookctl fire --file ./fixtures/order-paid.yaml --to localhost:3000/hooks --secret whsec_...
  hookctl fire stripe invoice.paid --to :3000/hooks --secret whsec_... --count 1000 --concurrency 20`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.File != "" {
				if len(args) > 0 {
					return &FlagError{Err: errors.New("give either PROVIDER EVENT or --file, not both")}
				}
				return nil
			}
			if len(args) != 2 {
				return &FlagError{Err: errors.New("want PROVIDER EVENT (see `hookctl fixtures list`), or --file")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				opts.Provider, opts.Event = args[0], args[1]
			}
			return fireRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.To, "to", "", "target URL (localhost:3000/path and :3000/path work)")
	fl.StringVar(&opts.Secret, "secret", "", "signing secret in the provider's form, or private key for Discord/SendGrid (default $HOOKCTL_SECRET)")
	fl.StringVar(&opts.SignedURL, "url", "", "for URL-signed providers (Twilio, Square, HubSpot): the URL registered with the provider, if not the --to URL")
	fl.StringVarP(&opts.File, "file", "f", "", "fire the event(s) of a fixture file (YAML or JSON)")
	fl.StringArrayVar(&opts.Set, "set", nil, "set a body field: dotted.path=value (numbers, true/false/null and JSON are typed, other text is a string; {{placeholders}} render at each request, {{lbrace}} is a literal {{; see docs/fixtures.md); repeatable")
	fl.StringArrayVar(&opts.SetNew, "set-new", nil, "like --set, creating the field if missing")
	fl.StringArrayVar(&opts.Unset, "unset", nil, "remove a body field; repeatable")
	fl.StringArrayVarP(&opts.Headers, "header", "H", nil, "set a header: 'Name: value'; repeatable")
	fl.StringVar(&opts.Body, "body", "", "replace the body: @file, @- for stdin, or literal text")
	fl.BoolVar(&opts.Print, "print", false, "print the signed HTTP request instead of sending it")
	fl.StringVar(&opts.Expect, "expect", "2xx", "expected status: 2xx, 4xx, … or a code")
	fl.IntVarP(&opts.Count, "count", "n", 1, "number of distinct events to fire")
	fl.IntVarP(&opts.Concurrency, "concurrency", "c", 1, "concurrent senders")
	opts.outputFlags.register(cmd, "one NDJSON record per request, then a summary record")
	fl.StringVar(&opts.Timestamp, "timestamp", "", "sign at this time instead of now: unix seconds or RFC 3339 (produces stale events on purpose)")
	fl.DurationVar(&opts.Timeout, "timeout", 10*time.Second, "per-request timeout")
	return cmd
}

// fireRecord is the NDJSON record of one request.
type fireRecord struct {
	Type      string  `json:"type"` // recordRequest
	Seq       int     `json:"seq"`
	Provider  string  `json:"provider"`
	Event     string  `json:"event"`
	URL       string  `json:"url"`
	Status    int     `json:"status,omitempty"`
	OK        bool    `json:"ok"`
	Verdict   string  `json:"verdict"` // pass, fail or error (deliveryVerdict)
	Expect    string  `json:"expect"`
	LatencyMS float64 `json:"latency_ms"`
	Body      string  `json:"body,omitempty"`
	Error     string  `json:"error,omitempty"`
}

func fireRun(ctx context.Context, opts *fireOptions) error {
	if err := opts.outputFlags.resolve(); err != nil {
		return err
	}
	if opts.Count < 1 || opts.Concurrency < 1 {
		return &FlagError{Err: errors.New("--count and --concurrency must be at least 1")}
	}
	expect, err := fire.ParseExpect(opts.Expect)
	if err != nil {
		return &FlagError{Err: err}
	}
	clock := opts.Now
	if opts.Timestamp != "" {
		t, err := fixtures.ParseTimestamp(opts.Timestamp)
		if err != nil {
			return &FlagError{Err: err}
		}
		clock = func() time.Time { return t }
	}
	overrides, err := parseOverrides(opts)
	if err != nil {
		return err
	}

	// What to fire: one catalog event, or a file's events in order.
	var events []*fixtures.Fixture
	reg := fixtures.Catalog()
	if opts.File != "" {
		data, err := os.ReadFile(opts.File)
		if err != nil {
			return fmt.Errorf("read fixture file: %w", err)
		}
		spec, err := fixtures.ParseFile(opts.File, data, reg)
		if err != nil {
			return err
		}
		events = spec.Events
	} else {
		prov, err := reg.Provider(opts.Provider)
		if err != nil {
			return WithHint(err, "`hookctl fixtures list` shows every provider and event")
		}
		ev, err := prov.Lookup(opts.Event)
		if err != nil {
			return WithHint(err, "`hookctl fixtures list "+prov.Name+"` shows its events")
		}
		events = []*fixtures.Fixture{ev}
	}
	if len(events) > 1 && opts.Concurrency > 1 {
		return &FlagError{Err: errors.New("a fixture file with several events fires them in order; --concurrency needs a single event")}
	}
	first, err := reg.Provider(events[0].Provider)
	if err != nil {
		return err
	}

	secret := opts.Secret
	if secret == "" && opts.Getenv != nil {
		secret = opts.Getenv("HOOKCTL_SECRET")
	}
	if secret == "" {
		hint := "pass " + first.SecretHelp
		if _, ok := first.Scheme.(fixtures.KeyGenerator); ok {
			hint = "create a key pair with `hookctl fixtures keygen " + first.Name + "` and pass the private key"
		}
		return WithHint(&FlagError{Err: errors.New("--secret is required to sign")}, hint)
	}

	toArg := opts.To
	if toArg == "" {
		if !opts.Print {
			return WithHint(&FlagError{Err: errors.New("--to is required")}, "give your endpoint, e.g. --to localhost:3000/webhooks, or --print to see the request")
		}
		toArg = "http://localhost/"
		if opts.SignedURL != "" {
			toArg = opts.SignedURL
		}
	}
	target, err := parseToFlag(toArg)
	if err != nil {
		return err
	}

	seq, err := fire.NewSequence(fire.SequenceOptions{Events: events, Target: target, SignedURL: opts.SignedURL,
		Secret: secret, Overrides: overrides, Now: clock, Getenv: opts.Getenv})
	if err != nil {
		return err
	}
	if len(events) > 1 {
		opts.Count *= len(events)
	}

	if opts.Print {
		for i := 0; i < opts.Count; i++ {
			r, err := seq.Build(i)
			if err != nil {
				return err
			}
			if i > 0 {
				fmt.Fprintln(opts.IO.Out)
			}
			if err := fixtures.WriteRequest(opts.IO.Out, r, target); err != nil {
				return err
			}
		}
		return nil
	}

	cs := opts.IO.ColorScheme()
	single := opts.Count == 1 || len(events) == opts.Count
	jsonOut := opts.JSON
	enc := json.NewEncoder(opts.IO.Out)
	var shown int
	var firstErr error
	report := func(res *fire.Result) {
		ev := seq.Event(res.Seq)
		ok := res.Err == nil && expect.Match(res.Status)
		if res.Err != nil && firstErr == nil {
			firstErr = res.Err
		}
		if jsonOut {
			rec := fireRecord{Type: recordRequest, Seq: res.Seq, Provider: ev.Provider, Event: ev.Event, URL: fire.RequestURL(target, res.Request),
				Status: res.Status, OK: ok, Verdict: deliveryVerdict(res.Err == nil, ok), Expect: expect.String(),
				LatencyMS: float64(res.Latency.Microseconds()) / 1000, Body: jsonBody(res.Body)}
			if res.Err != nil {
				rec.Error = res.Err.Error()
			}
			_ = enc.Encode(rec)
			return
		}
		if !single && (ok || shown >= 5) {
			return
		}
		shown++
		w := opts.IO.Out
		if !single {
			w = opts.IO.ErrOut
		}
		mark, status := cs.Green.Sprint("✓"), ""
		if !ok {
			mark = cs.Red.Sprint("✗")
		}
		if res.Err != nil {
			status = cs.Red.Sprint("no response")
		} else {
			status = fmt.Sprintf("%d %s", res.Status, httpStatusText(res.Status))
			if !ok {
				status = cs.Red.Sprint(status) + cs.Faint.Sprintf(" (expected %s)", expect)
			}
		}
		fmt.Fprintf(w, "%s %s  %s  %s %s → %s\n", mark, status, res.Latency.Round(100*time.Microsecond), ev.Provider, ev.Event, fire.RequestURL(target, res.Request))
		if res.Err != nil && single {
			return
		}
		if b := strings.TrimSpace(inspect.Printable(string(cutBody(res)), true)); b != "" && single {
			if int64(len(res.Body)) < res.BodySize {
				b += "…"
			}
			fmt.Fprintf(w, "  %s\n", cs.Faint.Sprint(strings.ReplaceAll(b, "\n", "\n  ")))
		}
	}
	var sumEnc *json.Encoder // the summary record's, for JSON output
	if jsonOut {
		sumEnc = enc
	}
	sum, err := fire.Run(ctx, fire.Options{Target: target, Count: opts.Count, Concurrency: opts.Concurrency, Timeout: opts.Timeout}, seq.Build, report)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		if sum != nil {
			writeFailSummary(sumEnc, fireSummary(sum, expect))
		}
		return err
	}
	// The verdict ends the output: a summary record for JSON, a line for
	// a person; a run that missed --expect also says so on stderr in JSON.
	if !single {
		w := opts.IO.Out
		if jsonOut {
			w = opts.IO.ErrOut
		}
		fmt.Fprintln(w, sum.String())
	}
	return finishDeliveries(opts.IO, sumEnc, fireSummary(sum, expect), firstErr,
		fmt.Sprintf("the app did not answer within %s (--timeout); webhook senders give up after a few seconds, so acknowledge first and work later", opts.Timeout))
}

// fireSummary is fire's summary record: the run's counts, with latencies.
func fireSummary(sum *fire.Summary, expect fire.Expect) summaryRecord {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	rec := deliverySummary(sum, expect)
	rec.SummaryLatency = &SummaryLatency{P50MS: ms(sum.P50), P95MS: ms(sum.P95), P99MS: ms(sum.P99), MaxMS: ms(sum.Max),
		ElapsedMS: ms(sum.Elapsed), Rate: sum.Rate}
	return rec
}

// jsonBody is the response body for --json: the text, or a note for bytes
// that are not UTF-8 (the encoder would make them U+FFFD). JSON escapes
// controls itself; the terminal's form is inspect.Printable's.
func jsonBody(b []byte) string {
	if !utf8.Valid(b) {
		return fmt.Sprintf("[%d bytes of binary data]", len(b))
	}
	return string(b)
}

// cutBody is the start of res's body that fire kept, without a character
// cut in two at its end, which would read as invalid bytes.
func cutBody(res *fire.Result) []byte {
	b := res.Body
	if int64(len(b)) == res.BodySize {
		return b
	}
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	return b
}

func httpStatusText(code int) string { return http.StatusText(code) }

func parseOverrides(opts *fireOptions) (*fixtures.Overrides, error) {
	o := &fixtures.Overrides{}
	kv := func(flag, s string) (fixtures.KV, error) {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fixtures.KV{}, &FlagError{Err: fmt.Errorf("--%s %q: want dotted.path=value", flag, s)}
		}
		p, err := fixtures.CommandLineKV(k, v)
		if err != nil {
			return fixtures.KV{}, &FlagError{Err: fmt.Errorf("--%s %q: %w", flag, s, err)}
		}
		return p, nil
	}
	for _, s := range opts.Set {
		p, err := kv("set", s)
		if err != nil {
			return nil, err
		}
		o.Set = append(o.Set, p)
	}
	for _, s := range opts.SetNew {
		p, err := kv("set-new", s)
		if err != nil {
			return nil, err
		}
		o.SetNew = append(o.SetNew, p)
	}
	o.Unset = opts.Unset
	for _, h := range opts.Headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, &FlagError{Err: fmt.Errorf("--header %q: want 'Name: value'", h)}
		}
		o.Headers = append(o.Headers, fixtures.KV{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	switch {
	case opts.Body == "":
	case opts.Body == "@-":
		b, err := io.ReadAll(opts.IO.In)
		if err != nil {
			return nil, fmt.Errorf("read body from stdin: %w", err)
		}
		o.Body = b
	case strings.HasPrefix(opts.Body, "@"):
		b, err := os.ReadFile(opts.Body[1:])
		if err != nil {
			return nil, fmt.Errorf("read --body: %w", err)
		}
		o.Body = append([]byte{}, b...) // non-nil even when empty: an empty body is a body
	default:
		o.Body = []byte(opts.Body)
	}
	return o, nil
}
