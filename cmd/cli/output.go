package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/fixtures/fire"
	"github.com/hookctl/hookctl/inspect"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// Output formats. Every command that prints data takes them the same way:
// -o/--output text|json, and --json as its short form.
const (
	outputText = "text"
	outputJSON = "json"
)

// outputFlags is the output contract shared by every command that prints
// data. JSON output is one JSON document when the command prints one result
// (or one list), and NDJSON, one record per line, when it prints a stream
// (listen, fire, check, replay). Every NDJSON record names its "type"; fire,
// replay and check end with one summaryRecord. "log", listen's first name for text, is
// still accepted so existing scripts keep working.
type outputFlags struct {
	// Output is -o/--output as given; after resolve, "text" or "json".
	Output string
	// JSON is --json; after resolve, whether the output is JSON.
	JSON bool
}

// register adds -o/--output and --json to cmd. jsonDoc says what the JSON
// output is, e.g. "one NDJSON record per request".
func (o *outputFlags) register(cmd *cobra.Command, jsonDoc string) {
	fl := cmd.Flags()
	fl.StringVarP(&o.Output, "output", "o", "", "output `format`: text or json (json: "+jsonDoc+") (default text)")
	fl.BoolVar(&o.JSON, "json", false, "same as --output json")
}

// outputGiven reports whether cmd's command line chose a format.
func outputGiven(cmd *cobra.Command) bool {
	return cmd.Flags().Changed("output") || cmd.Flags().Changed("json")
}

// resolve checks the flags and settles them: Output becomes "text" or
// "json" and JSON says which. An unknown format, or --json with -o text, is
// a usage error.
func (o *outputFlags) resolve() error {
	format := strings.ToLower(strings.TrimSpace(o.Output))
	switch format {
	case "", outputText, "log":
		format = outputText
	case outputJSON:
	default:
		return &FlagError{Err: fmt.Errorf("--output %q: want text or json", o.Output)}
	}
	if o.JSON && format != outputJSON && strings.TrimSpace(o.Output) != "" {
		return &FlagError{Err: fmt.Errorf("--json and --output %s conflict: give one of them", o.Output)}
	}
	if o.JSON {
		format = outputJSON
	}
	o.Output, o.JSON = format, format == outputJSON
	return nil
}

// NDJSON record types. Every record of a stream names its type, so a reader
// can tell the records of one command from its closing summary.
const (
	recordRequest = "request" // fire: one request sent
	recordReplay  = "replay"  // replay: one copy sent
	recordCheck   = "check"   // check: one check's result
	recordSummary = "summary" // the last record of fire, replay and check
)

// Verdicts, in the records of fire and replay and in every summary record.
const (
	verdictPass  = "pass"  // a request: the answer met --expect; a run: everything passed
	verdictFail  = "fail"  // a request: another answer; a run: something did not pass
	verdictError = "error" // a request: no answer
)

// deliveryVerdict is a request's verdict: pass (answered as expected), fail
// (answered otherwise) or error (no answer).
func deliveryVerdict(answered, met bool) string {
	switch {
	case !answered:
		return verdictError
	case met:
		return verdictPass
	default:
		return verdictFail
	}
}

// runVerdict is a whole run's verdict.
func runVerdict(passed bool) string {
	if passed {
		return verdictPass
	}
	return verdictFail
}

// summaryRecord is the last NDJSON record of fire, replay and check, also
// of a run that stops on an error (writeFailSummary): the run's verdict,
// which matches the exit code, and counts. The keys the three share mean
// the same thing: count (requests sent; for check every check run, warned
// and skipped included, so count is passed + failed + errors + warned +
// skipped), passed, failed (judged and wrong: another answer than
// expected, a failed check) and errors (no verdict: no answer, a check that
// could not run). The embedded parts belong to the commands that fill them
// in; a nil part adds no keys.
type summaryRecord struct {
	Type    string `json:"type"` // "summary"
	Verdict string `json:"verdict"`
	Expect  string `json:"expect,omitempty"` // fire, replay: the expected status
	Count   int    `json:"count"`
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"`
	Errors  int    `json:"errors"`
	*SummaryStatuses
	*SummaryLatency
	*SummaryChecks
}

// SummaryStatuses counts the answers of fire and replay by HTTP status.
type SummaryStatuses struct {
	Statuses map[string]int `json:"statuses"`
}

// SummaryLatency holds fire's latency figures.
type SummaryLatency struct {
	P50MS     float64 `json:"p50_ms"`
	P95MS     float64 `json:"p95_ms"`
	P99MS     float64 `json:"p99_ms"`
	MaxMS     float64 `json:"max_ms"`
	ElapsedMS float64 `json:"elapsed_ms"`
	Rate      float64 `json:"rate"` // requests per second
}

// SummaryChecks counts check's verdicts that are neither pass nor fail.
type SummaryChecks struct {
	Warned  int `json:"warned"`
	Skipped int `json:"skipped"`
}

// deliverySummary is the summary record of the requests of fire and
// replay, counted in s: fire.Run's summary, or replay's tally.
func deliverySummary(s *fire.Summary, expect fire.Expect) summaryRecord {
	st := &SummaryStatuses{Statuses: map[string]int{}}
	passed := 0
	for code, n := range s.Statuses {
		st.Statuses[strconv.Itoa(code)] = n
		if expect.Match(code) {
			passed += n
		}
	}
	return summaryRecord{Type: recordSummary, Verdict: runVerdict(passed == s.Count), Expect: expect.String(),
		Count: s.Count, Passed: passed, Failed: s.Count - passed - s.Errors, Errors: s.Errors, SummaryStatuses: st}
}

// finishDeliveries ends the output of fire and replay with the run's
// verdict (writeDeliveryVerdict) and returns the exit: nil when every
// request met --expect; when none got an answer, the first delivery error
// (firstErr), whose message is the one diagnostic ("connection refused: is
// your app listening on …?"), with timeoutHint for a timeout; else exit 1,
// the output having said why.
func finishDeliveries(io *IOStreams, enc *json.Encoder, sum summaryRecord, firstErr error, timeoutHint string) error {
	var exit error
	said := false // exit's message is the diagnostic
	switch {
	case sum.Passed == sum.Count:
	case firstErr != nil && sum.Errors == sum.Count:
		exit, said = printableError{firstErr}, true
		var de *capture.DeliveryError
		if timeoutHint != "" && errors.As(firstErr, &de) && de.Timeout() {
			exit = WithHint(exit, timeoutHint)
		}
	default:
		exit = &ExitCodeError{Code: ExitError}
	}
	if err := writeDeliveryVerdict(io, enc, sum, said); err != nil {
		return err
	}
	return exit
}

// printableError shows err's text through inspect.Printable: a delivery
// error can carry the target's own text (an x509 error lists the names in
// the app's certificate as they are).
type printableError struct{ err error }

func (e printableError) Error() string { return inspect.Printable(e.err.Error(), false) }
func (e printableError) Unwrap() error { return e.err }

// writeDeliveryVerdict ends the output of fire and replay with the run's
// verdict: for JSON the summary record (enc writes stdout), and on a miss a
// line on stderr unless the error that ends the run says it (said); for a
// person one line on stdout.
func writeDeliveryVerdict(io *IOStreams, enc *json.Encoder, sum summaryRecord, said bool) error {
	missed := sum.Count - sum.Passed
	if enc != nil {
		if err := enc.Encode(sum); err != nil {
			return err
		}
		if missed > 0 && !said {
			fmt.Fprintln(io.ErrOut, missedText(missed, sum.Count, sum.Expect))
		}
		return nil
	}
	cs := io.ColorScheme()
	if missed == 0 {
		_, err := fmt.Fprintf(io.Out, "%s %d of %d requests got %s\n", cs.Green.Sprint("✓"), sum.Count, sum.Count, sum.Expect)
		return err
	}
	_, err := fmt.Fprintln(io.Out, cs.Red.Sprint("✗"), missedText(missed, sum.Count, sum.Expect))
	return err
}

// writeFailSummary ends a JSON stream that stops on an error with its
// summary, the verdict fail: every stream of fire, replay and check ends
// with one, and its verdict matches the exit code. enc is nil for text
// output, which the error ends.
func writeFailSummary(enc *json.Encoder, sum summaryRecord) {
	if enc == nil {
		return
	}
	sum.Verdict = verdictFail
	_ = enc.Encode(sum)
}

func missedText(missed, total int, expect string) string {
	return fmt.Sprintf("%d of %d requests did not get %s", missed, total, expect)
}
