package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/fixtures"
	"github.com/hookctl/hookctl/tunnel/capture"
)

type verifyOptions struct {
	IO      *IOStreams
	Now     func() time.Time
	Getenv  func(string) string
	Factory *Factory
	relayFlags

	Event     string
	Provider  string
	Secret    string
	Request   string
	URL       string
	Tolerance time.Duration
	At        string
	outputFlags
	// TrySecrets are other secrets to test when the signature does not
	// match (another environment's, the one before a rotation).
	TrySecrets []string
}

// NewCmdVerify builds `hookctl verify`.
func NewCmdVerify(f *Factory) *cobra.Command {
	opts := &verifyOptions{IO: f.IO, Now: f.Now, Getenv: f.Getenv, Factory: f}
	cmd := &cobra.Command{
		Use:   "verify --provider PROVIDER --secret SECRET (--request FILE | --event ID)",
		Short: "Check a webhook's signature and explain why it fails",
		Long: `Verify a raw HTTP request (the format 'hookctl fire --print' writes, or a captured
request as JSON), or an event captured by the relay (--event), the way the provider's official verifier does. When it fails, name
every fault it can prove, in a fixed order: a missing or malformed header, a wrong
signature version (sha1= for sha256=, Stripe's v0=), a secret in the wrong form, a
mismatch and its cause when undoing it makes the signature match (trailing newline,
re-encoded JSON, line endings, URL, secret form, another --try-secret), and a
timestamp outside the tolerance (by how much). When it cannot tell a changed body
from a different secret it says so. For an --event that is a replay, the original
event proves how its body was changed.

Time: a file or stdin is judged as of now; an --event as of the time the relay
received it, as the inspector does. --at TIME overrides both: RFC 3339
(2026-01-02T15:04:05Z), unix seconds, or now.

--output json prints the verdict: provider, valid, reason, error, header, skew_ns,
url, likely_causes, and faults (every fault: reason, code, error, message, hint,
header, candidates, signed_at, skew_ns, tolerance_ns), as_of and as_of_source
(now, received or at). Exits 0 valid, 1 invalid.`,
		Example: `  hookctl verify --provider stripe --secret whsec_... --request captured.http
  hookctl fire github push --secret s --print | hookctl verify --provider github --secret s --request -
  hookctl verify --provider shopify --secret shpss_... --event evt_01J...
  hookctl verify -p stripe --secret whsec_live... --try-secret whsec_test... --event evt_01J... --at now -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return verifyRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Provider, "provider", "p", "", "provider whose scheme to verify (see 'hookctl fixtures list')")
	fl.StringVar(&opts.Secret, "secret", "", "secret in the provider's form; for Discord/SendGrid the public key (default $HOOKCTL_SECRET)")
	fl.StringVarP(&opts.Request, "request", "r", "", "raw HTTP request file, or - for stdin")
	fl.StringVar(&opts.Event, "event", "", "id of an event captured by the relay (see 'hookctl events list')")
	fl.StringVar(&opts.URL, "url", "", "for URL-signed providers: the URL registered with the provider (default: from the Host header)")
	fl.DurationVar(&opts.Tolerance, "tolerance", 0, "timestamp tolerance (default: the provider's; negative disables)")
	fl.StringVar(&opts.At, "at", "", "judge the timestamp as of TIME: RFC 3339, unix seconds or now (default: now; for --event its receive time)")
	fl.StringArrayVar(&opts.TrySecrets, "try-secret", nil, "another secret the request may be signed with, to prove a wrong secret (repeatable; $HOOKCTL_SECRET is tried too when --secret differs)")
	opts.outputFlags.register(cmd, "the result as one JSON document")
	opts.relayFlags.register(cmd)
	return cmd
}

func verifyRun(ctx context.Context, opts *verifyOptions) error {
	if err := opts.outputFlags.resolve(); err != nil {
		return err
	}
	if opts.Provider == "" {
		return &FlagError{Err: errors.New("--provider is required")}
	}
	p, err := fixtures.LookupProvider(opts.Provider)
	if err != nil {
		return WithHint(err, "`hookctl fixtures list` shows every provider")
	}
	secret := opts.Secret
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	if secret == "" {
		secret = opts.Getenv("HOOKCTL_SECRET")
	}
	if secret == "" {
		return WithHint(&FlagError{Err: errors.New("--secret is required")}, "pass "+p.SecretHelp)
	}
	var r *capture.Request
	switch {
	case opts.Request != "" && opts.Event != "":
		return &FlagError{Err: errors.New("give --request or --event, not both")}
	case opts.Request != "":
		if r, err = readRequestArg(opts.IO, opts.Request); err != nil {
			return err
		}
	case opts.Event != "":
		if r, err = relayEventRequest(ctx, opts.Factory, opts.relayFlags, opts.Event); err != nil {
			return err
		}
		if opts.URL == "" && p.Scheme.Info().URLSigned {
			opts.URL = relaySignedURL(r)
		}
	default:
		return &FlagError{Err: errors.New("--request FILE (or - for stdin) or --event ID is required")}
	}
	k := fixtures.Known{AsOf: fixtures.AsOfNow}
	now := opts.Now()
	switch {
	case opts.At == "now":
	case opts.At != "":
		if now, err = fixtures.ParseTimestamp(opts.At); err != nil {
			return &FlagError{Err: fmt.Errorf("--at: %w, or now", err)}
		}
		k.AsOf = fixtures.AsOfGiven
	case opts.Event != "" && !r.ReceivedAt.IsZero():
		// As the inspector does: was the signature valid when it arrived?
		now, k.AsOf = r.ReceivedAt, fixtures.AsOfReceived
	}
	if opts.Event != "" && r.ReplayOf != "" {
		// A replay's original is what the provider sent: it proves how
		// an edited body differs. Without it the verdict is only vaguer.
		if orig, err := relayEventRequest(ctx, opts.Factory, opts.relayFlags, r.ReplayOf); err == nil {
			k.Original, k.OriginalName = orig, "the original event "+r.ReplayOf
		}
	}
	for i, s := range opts.TrySecrets {
		k.Secrets = append(k.Secrets, fixtures.KnownSecret{Name: fmt.Sprintf("--try-secret #%d", i+1), Secret: s})
	}
	if env := opts.Getenv("HOOKCTL_SECRET"); env != "" && env != secret {
		k.Secrets = append(k.Secrets, fixtures.KnownSecret{Name: "$HOOKCTL_SECRET", Secret: env})
	}
	res := p.Check(r, fixtures.Params{Secret: secret, Time: now, URL: opts.URL, Tolerance: opts.Tolerance}, k)
	return printVerdict(opts.IO, res, opts.JSON)
}

// relayEventRequest fetches a captured request from the relay.
func relayEventRequest(ctx context.Context, f *Factory, fl relayFlags, id string) (*capture.Request, error) {
	api, closeAPI, err := relayAPI(ctx, f, fl)
	if err != nil {
		return nil, err
	}
	defer closeAPI()
	return fetchEvent(ctx, api, id)
}

// relaySignedURL is the public URL the provider posted to: the relay's
// /h/{endpoint} prefix followed by the captured path and query.
func relaySignedURL(r *capture.Request) string {
	if r.Host == "" || r.Endpoint == "" {
		return ""
	}
	proto := r.Proto
	if proto == "" {
		proto = "https"
	}
	return proto + "://" + r.Host + "/h/" + r.Endpoint + r.URI()
}

func readRequestArg(io_ *IOStreams, name string) (*capture.Request, error) {
	var rd io.Reader
	if name == "-" {
		rd = io_.In
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("open request: %w", err)
		}
		defer f.Close()
		rd = f
	}
	r, err := fixtures.ReadRequest(rd)
	if err != nil {
		return nil, WithHint(fmt.Errorf("%s: %w", name, err), "save a request with `hookctl fire … --print > req.http`, or pass a relay event")
	}
	return r, nil
}

// printVerdict prints the result and maps it to the exit code.
func printVerdict(s *IOStreams, res *fixtures.Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		cs := s.ColorScheme()
		text := res.Explain()
		if res.Valid {
			fmt.Fprint(s.Out, cs.Green.Sprint("✓ ")+text)
		} else {
			fmt.Fprint(s.Out, cs.Red.Sprint("✗ ")+text)
		}
	}
	if !res.Valid {
		return &ExitCodeError{Code: ExitError}
	}
	return nil
}
