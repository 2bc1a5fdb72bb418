package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
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
// (listen, fire, check, replay). "log", listen's first name for text, is
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
