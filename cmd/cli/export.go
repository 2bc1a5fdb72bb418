package cli

import (
	"context"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/internal/buildinfo"
	"github.com/hookctl/hookctl/replay"
)

// EventsExportOptions are the inputs of `hookctl events export`.
type EventsExportOptions struct {
	IO      *IOStreams
	Factory *Factory
	relayFlags
	ID     string
	Format string
	To     string
}

// NewCmdEventsExport builds `hookctl events export`; NewCmdEvents adds it.
func NewCmdEventsExport(f *Factory) *cobra.Command {
	opts := &EventsExportOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "export EVENT_ID --format curl|har|http",
		Short: "Write a captured event as a curl command, a HAR file or raw HTTP",
		Long: `Write a captured event to stdout as a curl command (POSIX shell; binary bodies
are piped in with printf), a HAR 1.2 log with the recorded response, or raw
HTTP (request line, headers, blank line, body bytes: the format
hookctl fire --print writes and hookctl verify --request reads).

The request is addressed to --to (a port, host:port or URL with a path prefix),
as a replay there would send it; without --to, to the URL it was sent to.`,
		Example: `  hookctl events export evt_01J... --format curl --to 3000 | sh
  hookctl events export evt_01J... --format har > event.har
  hookctl events export evt_01J... --format http | hookctl verify --request - --provider stripe --secret whsec_...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			return eventsExportRun(cmd.Context(), opts)
		},
	}
	opts.relayFlags.register(cmd)
	cmd.Flags().StringVar(&opts.Format, "format", "curl", "curl, har or http")
	cmd.Flags().StringVar(&opts.To, "to", "", "address the request to this target (default: the URL it was sent to)")
	return cmd
}

func eventsExportRun(ctx context.Context, opts *EventsExportOptions) error {
	switch opts.Format {
	case "curl", "har", "http":
	default:
		return &FlagError{Err: fmt.Errorf("--format %q: want curl, har or http", opts.Format)}
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
	rec, err := fetchEventRecord(ctx, api, opts.ID)
	if err != nil {
		return err
	}
	if rec.Request == nil {
		return fmt.Errorf("event %s: the relay returned no request", opts.ID)
	}
	req := rec.Request
	t := target
	if t == nil {
		t = replay.OriginalURL(req)
	}
	switch opts.Format {
	case "curl":
		s, err := replay.Curl(req, t)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(opts.IO.Out, s)
		return err
	case "har":
		data, err := replay.HAR(req, rec.Response, t, buildinfo.Get().Version)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(opts.IO.Out, "%s\n", data)
		return err
	default:
		// As captured unless --to: the original path and Host.
		return replay.WriteRaw(opts.IO.Out, req, target)
	}
}
