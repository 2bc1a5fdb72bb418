package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/fixtures"
	"github.com/hookctl/hookctl/fixtures/check"
	"github.com/hookctl/hookctl/tunnel/capture"
)

type checkOptions struct {
	IO     *IOStreams
	Now    func() time.Time
	Getenv func(string) string

	To, Provider, Event, Secret, SignedURL string
	JUnit                                  string
	outputFlags
	Only, Skip                []string
	Timeout, AckWarn, AckFail time.Duration
	Burst, BurstConcurrency   int
	OversizeMiB               int
	Strict                    bool
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
deliveries are acknowledged fast.

Each check passes, warns, fails (the endpoint answered wrongly), errors (it could not be
checked: the endpoint could not be reached, or the request not built) or is skipped (it does
not apply to the provider).

Exit status:
  0  every selected check passed, warned or was skipped (with --strict: no warnings)
  1  a check failed or errored, the endpoint could not be reached, or --strict and a warning
  2  usage: a bad flag, provider, event or check name
  130 interrupted

Checks: ` + strings.Join(check.Checks(), ", "),
		Example: `  hookctl check --to http://localhost:3000/webhooks/stripe --provider stripe --secret whsec_...
  hookctl check --to :3000/hooks --provider github --secret s3cret --junit report.xml
  hookctl check --to :3000/hooks --provider stripe --secret whsec_... --skip oversized-body,burst
  hookctl check --to :3000/hooks --provider github --secret s3cret --strict -o json`,
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
	opts.outputFlags.register(cmd, "one NDJSON record per check, then a summary record")
	fl.StringSliceVar(&opts.Only, "only", nil, "run only these checks (comma-separated)")
	fl.StringSliceVar(&opts.Skip, "skip", nil, "skip these checks (comma-separated)")
	fl.DurationVar(&opts.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fl.DurationVar(&opts.AckWarn, "ack-warn", time.Second, "warn when p95 acknowledgement time reaches this")
	fl.DurationVar(&opts.AckFail, "ack-fail", 2*time.Second, "fail when p95 acknowledgement time reaches this")
	fl.IntVar(&opts.Burst, "burst", 100, "events in the burst check")
	fl.IntVar(&opts.BurstConcurrency, "burst-concurrency", 20, "concurrent senders in the burst check")
	fl.IntVar(&opts.OversizeMiB, "oversize-mib", 10, "body size of the oversized-body check, in MiB")
	fl.BoolVar(&opts.Strict, "strict", false, "warnings fail the run (exit 1; <failure> in the JUnit report)")
	return cmd
}

func checkRun(ctx context.Context, opts *checkOptions) error {
	if err := opts.outputFlags.resolve(); err != nil {
		return err
	}
	if opts.To == "" || opts.Provider == "" {
		return &FlagError{Err: errors.New("--to and --provider are required")}
	}
	target, err := parseToFlag(opts.To)
	if err != nil {
		return err
	}
	p, err := fixtures.LookupProvider(opts.Provider)
	if err != nil {
		return WithHint(&FlagError{Err: err}, "`hookctl fixtures list` shows every provider")
	}
	var ev *fixtures.Fixture
	if opts.Event != "" {
		if ev, err = p.Lookup(opts.Event); err != nil {
			return &FlagError{Err: err}
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
	jsonOut := opts.JSON
	enc := json.NewEncoder(opts.IO.Out)
	progress := func(r check.Result) {
		if jsonOut {
			_ = enc.Encode(newCheckRecord(r, opts.Strict))
			return
		}
		writeCheckResult(opts.IO.Out, cs, r)
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
	var sumEnc *json.Encoder // the summary record's, for JSON output
	if jsonOut {
		sumEnc = enc
	}
	sum := checkSummary(results, opts.Strict)
	if err != nil {
		if errors.Is(err, check.ErrUnknownCheck) {
			return &FlagError{Err: err} // refused before any check ran
		}
		var de *capture.DeliveryError
		if !errors.As(err, &de) {
			writeFailSummary(sumEnc, sum)
			return err
		}
		// Nothing listens: one Error line, and reports that say so
		// check by check (status error), not a missing file.
		if jsonOut {
			for _, r := range results {
				_ = enc.Encode(newCheckRecord(r, opts.Strict))
			}
		}
		writeFailSummary(sumEnc, sum)
		if werr := writeCheckJUnit(opts, p.Name, target.Redacted(), started, results); werr != nil {
			return werr
		}
		if de.Refused() {
			return err // "connection refused: is your app listening on …?": the hint is the message
		}
		return WithHint(err, fmt.Sprintf("is your app listening on %s?", target.Host))
	}
	if err := writeCheckJUnit(opts, p.Name, target.Redacted(), started, results); err != nil {
		writeFailSummary(sumEnc, sum)
		return err
	}
	text := fmt.Sprintf("%d passed, %d warned, %d failed, %d skipped", sum.Passed, sum.Warned, sum.Failed, sum.Skipped)
	if sum.Errors > 0 {
		text += fmt.Sprintf(", %d errored", sum.Errors)
	}
	if jsonOut {
		_ = enc.Encode(sum)
		fmt.Fprintln(opts.IO.ErrOut, text)
	} else {
		fmt.Fprintln(opts.IO.Out, text)
	}
	if !check.Passed(results) {
		return &ExitCodeError{Code: ExitError}
	}
	if n := sum.Warned; opts.Strict && n > 0 {
		what := "warnings fail"
		if n == 1 {
			what = "warning fails"
		}
		fmt.Fprintf(opts.IO.ErrOut, "%d %s the run (--strict)\n", n, what)
		return &ExitCodeError{Code: ExitError}
	}
	return nil
}

// checkRecord is the NDJSON record of one check: its result, typed, and
// its verdict in the words of fire's and replay's records.
type checkRecord struct {
	Type string `json:"type"` // recordCheck
	// Verdict is what the check makes of the run: pass (passed, skipped,
	// or warned without --strict), fail (failed, or warned with --strict)
	// or error (could not be checked). Status keeps the check's own word.
	Verdict string `json:"verdict"`
	check.Result
}

func newCheckRecord(r check.Result, strict bool) checkRecord {
	v := verdictPass
	switch {
	case r.Status == check.Fail, r.Status == check.Warn && strict:
		v = verdictFail
	case r.Status == check.Error:
		v = verdictError
	}
	return checkRecord{Type: recordCheck, Verdict: v, Result: r}
}

// checkSummary is check's summary record. The run passes when no check
// failed or errored and, with strict, none warned.
func checkSummary(results []check.Result, strict bool) summaryRecord {
	counts := map[check.Status]int{}
	for _, r := range results {
		counts[r.Status]++
	}
	passed := check.Passed(results) && (!strict || counts[check.Warn] == 0)
	return summaryRecord{Type: recordSummary, Verdict: runVerdict(passed), Count: len(results),
		Passed: counts[check.Pass], Failed: counts[check.Fail], Errors: counts[check.Error],
		SummaryChecks: &SummaryChecks{Warned: counts[check.Warn], Skipped: counts[check.Skip]}}
}

// writeCheckJUnit writes the --junit report, if asked for.
func writeCheckJUnit(opts *checkOptions, provider, target string, started time.Time, results []check.Result) error {
	if opts.JUnit == "" {
		return nil
	}
	f, err := os.Create(opts.JUnit)
	if err != nil {
		return fmt.Errorf("write JUnit report: %w", err)
	}
	werr := check.WriteJUnit(f, provider, target, started, results, opts.Strict)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write JUnit report: %w", werr)
	}
	return nil
}

// writeCheckResult prints one check's result for a person: the verdict and
// name on one line, the evidence and the fix below.
func writeCheckResult(w io.Writer, cs *ColorScheme, r check.Result) {
	var mark string
	switch r.Status {
	case check.Pass:
		mark = cs.Green.Sprint("✓ pass") + " "
	case check.Warn:
		mark = cs.Yellow.Sprint("! warn") + " "
	case check.Fail:
		mark = cs.Red.Sprint("✗ fail") + " "
	case check.Error:
		// One cell wider than the others: one space less keeps
		// the names aligned.
		mark = cs.Red.Sprint("? error")
	default:
		mark = cs.Faint.Sprint("- skip") + " "
	}
	fmt.Fprintf(w, "%s %-19s %s\n", mark, r.Name, r.Title)
	fmt.Fprintf(w, "        %s\n", cs.Faint.Sprint(r.Evidence))
	if r.Hint != "" {
		fmt.Fprintf(w, "        %s %s\n", cs.Yellow.Sprint("fix:"), r.Hint)
	}
}
