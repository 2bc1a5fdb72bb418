package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/fixtures"
	"github.com/hookctl/hookctl/fixtures/check"
	"github.com/hookctl/hookctl/fixtures/fire"
)

type checkOptions struct {
	IO     *IOStreams
	Now    func() time.Time
	Getenv func(string) string

	To, Provider, Event, Secret, SignedURL string
	JUnit, Output                          string
	Only, Skip                             []string
	Timeout, AckWarn, AckFail              time.Duration
	Burst, BurstConcurrency                int
	OversizeMiB                            int
}

// NewCmdCheck builds `hookctl check`.
func NewCmdCheck(f *Factory) *cobra.Command {
	opts := &checkOptions{IO: f.IO, Now: f.Now, Getenv: f.Getenv}
	cmd := &cobra.Command{
		Use:   "check --to URL --provider PROVIDER --secret SECRET",
		Short: "Check that a webhook endpoint is production-ready (for CI)",
		Long: `Run a conformance suite against your webhook endpoint: valid events are accepted; tampered,
wrongly signed, unsigned and stale events are rejected with a 4xx; duplicates and out-of-order
events do not cause errors; bursts, malformed JSON and oversized bodies get no 5xx; valid
deliveries are acknowledged fast. Exits 0 only when every selected check passes.

Checks: ` + strings.Join(check.Checks(), ", "),
		Example: `  hookctl check --to http://localhost:3000/webhooks/stripe --provider stripe --secret whsec_...
  hookctl check --to :3000/hooks --provider github --secret s3cret --junit report.xml
  hookctl check --to :3000/hooks --provider stripe --secret whsec_... --skip oversized-body,burst`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return checkRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.To, "to", "", "the endpoint to check")
	fl.StringVarP(&opts.Provider, "provider", "p", "", "provider whose events and signatures to use")
	fl.StringVar(&opts.Secret, "secret", "", "signing secret the endpoint is configured with (default $HOOKCTL_SECRET)")
	fl.StringVar(&opts.Event, "event", "", "event for valid deliveries (default the provider's first)")
	fl.StringVar(&opts.SignedURL, "url", "", "for URL-signed providers: the URL registered with the provider")
	fl.StringVar(&opts.JUnit, "junit", "", "write a JUnit XML report to this file")
	fl.StringVarP(&opts.Output, "output", "o", "", "json: one NDJSON record per check")
	fl.StringSliceVar(&opts.Only, "only", nil, "run only these checks (comma-separated)")
	fl.StringSliceVar(&opts.Skip, "skip", nil, "skip these checks (comma-separated)")
	fl.DurationVar(&opts.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fl.DurationVar(&opts.AckWarn, "ack-warn", time.Second, "warn when p95 acknowledgement time reaches this")
	fl.DurationVar(&opts.AckFail, "ack-fail", 2*time.Second, "fail when p95 acknowledgement time reaches this")
	fl.IntVar(&opts.Burst, "burst", 100, "events in the burst check")
	fl.IntVar(&opts.BurstConcurrency, "burst-concurrency", 20, "concurrent senders in the burst check")
	fl.IntVar(&opts.OversizeMiB, "oversize-mib", 10, "body size of the oversized-body check, in MiB")
	return cmd
}

func checkRun(ctx context.Context, opts *checkOptions) error {
	if opts.Output != "" && opts.Output != "json" {
		return &FlagError{Err: fmt.Errorf("--output %q: only json is supported", opts.Output)}
	}
	if opts.To == "" || opts.Provider == "" {
		return &FlagError{Err: errors.New("--to and --provider are required")}
	}
	target, err := parseTarget(opts.To)
	if err != nil {
		return &FlagError{Err: err}
	}
	p, err := fixtures.LookupProvider(opts.Provider)
	if err != nil {
		return WithHint(err, "`hookctl fixtures list` shows every provider")
	}
	var ev *fixtures.Fixture
	if opts.Event != "" {
		if ev, err = p.Lookup(opts.Event); err != nil {
			return err
		}
	}
	secret := opts.Secret
	if secret == "" && opts.Getenv != nil {
		secret = opts.Getenv("HOOKCTL_SECRET")
	}
	if secret == "" {
		return WithHint(&FlagError{Err: errors.New("--secret is required")}, "pass the secret your endpoint verifies with: "+p.SecretHelp)
	}
	cs := opts.IO.ColorScheme()
	jsonOut := opts.Output == "json"
	enc := json.NewEncoder(opts.IO.Out)
	progress := func(r check.Result) {
		if jsonOut {
			_ = enc.Encode(r)
			return
		}
		var mark string
		switch r.Status {
		case check.Pass:
			mark = cs.Green.Sprint("✓ pass")
		case check.Warn:
			mark = cs.Yellow.Sprint("! warn")
		case check.Fail:
			mark = cs.Red.Sprint("✗ fail")
		default:
			mark = cs.Faint.Sprint("- skip")
		}
		fmt.Fprintf(opts.IO.Out, "%s  %-19s %s\n", mark, r.Name, r.Title)
		fmt.Fprintf(opts.IO.Out, "        %s\n", cs.Faint.Sprint(r.Evidence))
		if r.Hint != "" {
			fmt.Fprintf(opts.IO.Out, "        %s %s\n", cs.Yellow.Sprint("fix:"), r.Hint)
		}
	}
	started := opts.Now()
	if !jsonOut {
		fmt.Fprintf(opts.IO.ErrOut, "Checking %s as %s…\n", target.Redacted(), p.Title)
	}
	results, err := check.Run(ctx, check.Options{
		Target: target, Provider: p, Event: ev, Secret: secret, SignedURL: opts.SignedURL,
		Only: opts.Only, Skip: opts.Skip, Timeout: opts.Timeout, AckWarn: opts.AckWarn, AckFail: opts.AckFail,
		BurstCount: opts.Burst, BurstConcurrency: opts.BurstConcurrency, OversizeBytes: opts.OversizeMiB << 20,
		Now: opts.Now, Getenv: opts.Getenv, Progress: progress,
	})
	if err != nil {
		var de *fire.DeliveryError
		if errors.As(err, &de) {
			return WithHint(err, fmt.Sprintf("is your app listening on %s?", target.Host))
		}
		if strings.HasPrefix(err.Error(), "unknown check") {
			return &FlagError{Err: err}
		}
		return err
	}
	if opts.JUnit != "" {
		f, err := os.Create(opts.JUnit)
		if err != nil {
			return fmt.Errorf("write JUnit report: %w", err)
		}
		werr := check.WriteJUnit(f, p.Name, target.Redacted(), started, results)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write JUnit report: %w", werr)
		}
	}
	counts := map[check.Status]int{}
	for _, r := range results {
		counts[r.Status]++
	}
	summary := fmt.Sprintf("%d passed, %d warned, %d failed, %d skipped", counts[check.Pass], counts[check.Warn], counts[check.Fail], counts[check.Skip])
	if jsonOut {
		fmt.Fprintln(opts.IO.ErrOut, summary)
	} else {
		fmt.Fprintln(opts.IO.Out, summary)
	}
	if !check.Passed(results) {
		return &ExitCodeError{Code: ExitError}
	}
	return nil
}
