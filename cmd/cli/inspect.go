package cli

import (
	"context"
	"errors"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/inspect/tui"
	"github.com/hookctl/hookctl/tunnel"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// InspectOptions are the inputs of `hookctl inspect`.
type InspectOptions struct {
	IO      *IOStreams
	Factory *Factory
	relayFlags
	Endpoint string
	To       string
	Verify   string
}

// NewCmdInspect builds `hookctl inspect`.
func NewCmdInspect(f *Factory) *cobra.Command {
	opts := &InspectOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Browse captured webhooks interactively",
		Long: `Browse the relay's stored webhooks in the interactive inspector, newest last;
moving up past the oldest loads older ones. With --to, r replays the selected
event there (recorded as a new event). On a pipe, use hookctl events list.`,
		Example: `  hookctl inspect
  hookctl inspect --endpoint brave-otter-42 --to 3000 --verify stripe:whsec_...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return inspectRun(cmd.Context(), opts)
		},
	}
	opts.relayFlags.register(cmd)
	cmd.Flags().StringVar(&opts.Endpoint, "endpoint", "", "only this endpoint's events")
	cmd.Flags().StringVar(&opts.To, "to", "", "replay target for r and e: a port, host:port or URL")
	cmd.Flags().StringVar(&opts.Verify, "verify", "", "check signatures: provider:secret, e.g. stripe:whsec_...")
	return cmd
}

func inspectRun(ctx context.Context, opts *InspectOptions) error {
	if !opts.IO.StdinTTY || !opts.IO.StdoutTTY {
		return WithHint(errors.New("hookctl inspect needs a terminal"), "hookctl events list and hookctl events show work on pipes")
	}
	var target *url.URL
	if opts.To != "" {
		t, err := parseToFlag(opts.To)
		if err != nil {
			return err
		}
		target = t
	}
	api, closeAPI, err := relayAPI(ctx, opts.Factory, opts.relayFlags)
	if err != nil {
		return err
	}
	defer closeAPI()
	m, err := newInspectModel(ctx, opts, api, target)
	if err != nil {
		return err
	}
	return opts.Factory.runInspector(ctx, m)
}

// newInspectModel builds the history inspector; tests drive it headless.
func newInspectModel(ctx context.Context, opts *InspectOptions, api *tunnel.APIClient, target *url.URL) (*tui.Model, error) {
	f := opts.Factory
	mopts := append(f.inspectorOptions(ctx),
		tui.WithHistory(apiHistory{api: api, endpoint: opts.Endpoint}),
	)
	actions := &inspectorActions{rec: apiRecorder{api}, now: f.Now}
	if target != nil {
		actions.target = func(*capture.Request) *url.URL { return target }
		mopts = append(mopts, tui.WithTargets(target.String()), tui.WithReplayTarget(target))
	}
	mopts = append(mopts, tui.WithActions(actions))
	where := "stored events"
	if opts.Endpoint != "" {
		where += " of " + opts.Endpoint
	}
	mopts = append(mopts, tui.WithURL(where))
	if opts.Verify != "" {
		s, err := parseVerify(opts.Verify)
		if err != nil {
			return nil, err
		}
		mopts = append(mopts, tui.WithVerifier(signerVerifier{s: s, now: f.Now}))
	}
	return tui.New(mopts...), nil
}
