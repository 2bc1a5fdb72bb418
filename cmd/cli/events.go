package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/inspect"
	"github.com/hookctl/hookctl/tunnel"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// NewCmdEvents builds `hookctl events` and its subcommands.
func NewCmdEvents(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show the events a relay has captured",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(NewCmdEventsList(f), NewCmdEventsShow(f), NewCmdEventsExport(f))
	return cmd
}

// EventsListOptions are the inputs of `hookctl events list`.
type EventsListOptions struct {
	IO      *IOStreams
	Factory *Factory
	relayFlags
	Endpoint string
	Limit    int
	JSON     bool
}

// NewCmdEventsList builds `hookctl events list`.
func NewCmdEventsList(f *Factory) *cobra.Command {
	opts := &EventsListOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List captured events, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return eventsListRun(cmd.Context(), opts)
		},
	}
	opts.relayFlags.register(cmd)
	cmd.Flags().StringVar(&opts.Endpoint, "endpoint", "", "only this endpoint's events")
	cmd.Flags().IntVar(&opts.Limit, "limit", 20, "how many events")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array of event records")
	return cmd
}

func eventsListRun(ctx context.Context, opts *EventsListOptions) error {
	if opts.Limit < 1 {
		return &FlagError{Err: errors.New("--limit must be at least 1")}
	}
	api, closeAPI, err := relayAPI(ctx, opts.Factory, opts.relayFlags)
	if err != nil {
		return err
	}
	defer closeAPI()
	recs, err := api.Events(ctx, tunnel.EventsQuery{Endpoint: opts.Endpoint, Limit: opts.Limit})
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	if opts.JSON {
		return writeJSON(opts.IO, recs)
	}
	if len(recs) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "No events yet.")
		return nil
	}
	rows := make([]inspect.Stored, len(recs))
	for i, r := range recs {
		rows[i] = storedOf(r)
	}
	return inspect.WriteTable(opts.IO.Out, rows, inspect.TableOptions{TTY: opts.IO.StdoutTTY, Now: opts.Factory.Now})
}

// EventsShowOptions are the inputs of `hookctl events show`.
type EventsShowOptions struct {
	IO      *IOStreams
	Factory *Factory
	relayFlags
	ID   string
	JSON bool
}

// NewCmdEventsShow builds `hookctl events show`.
func NewCmdEventsShow(f *Factory) *cobra.Command {
	opts := &EventsShowOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one captured event and your app's response",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			return eventsShowRun(cmd.Context(), opts)
		},
	}
	opts.relayFlags.register(cmd)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the event record as JSON (bodies base64)")
	return cmd
}

func eventsShowRun(ctx context.Context, opts *EventsShowOptions) error {
	api, closeAPI, err := relayAPI(ctx, opts.Factory, opts.relayFlags)
	if err != nil {
		return err
	}
	defer closeAPI()
	rec, err := fetchEventRecord(ctx, api, opts.ID)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(opts.IO, rec)
	}
	return inspect.WriteDetail(opts.IO.Out, storedOf(*rec))
}

func storedOf(r wire.EventRecord) inspect.Stored {
	return inspect.Stored{Req: r.Request, State: r.State, Attempts: r.Attempts, Resp: r.Response}
}

func writeJSON(io *IOStreams, v any) error {
	enc := json.NewEncoder(io.Out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// relayAPI returns a client for the resolved relay's HTTP API. With no relay
// configured it reads the embedded relay's store in-process (see
// openEmbeddedAPI); the returned func releases it.
func relayAPI(ctx context.Context, f *Factory, fl relayFlags) (*tunnel.APIClient, func(), error) {
	t, err := resolveRelay(f, fl)
	if err != nil {
		return nil, nil, err
	}
	if t.Embedded {
		return openEmbeddedAPI(ctx, f)
	}
	api, err := tunnel.NewAPIClient(t.URL, t.Token)
	if err != nil {
		return nil, nil, err
	}
	return api, func() {}, nil
}
