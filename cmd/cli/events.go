package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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
	All      bool
	Before   string
	After    string
	State    string
	Since    string // a duration ago ("1h") or an RFC 3339 time
	Until    string
	outputFlags
}

// NewCmdEventsList builds `hookctl events list`.
func NewCmdEventsList(f *Factory) *cobra.Command {
	opts := &EventsListOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List captured events, newest first",
		Long: `List captured events, newest first (oldest first with --after alone).

The list pages through the relay's API, so --limit may be any size, and --all
lists everything selected. States: pending (not yet delivered to a CLI),
delivered (your app answered 2xx), failed (your app's last answer was not 2xx,
there was none, or retries were exhausted).`,
		Example: `  hookctl events list --state failed --since 1h
  hookctl events list --limit 2000 --json
  hookctl events list --before evt_01J... --limit 100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return eventsListRun(cmd.Context(), opts)
		},
	}
	opts.relayFlags.register(cmd)
	cmd.Flags().StringVar(&opts.Endpoint, "endpoint", "", "only this endpoint's events")
	cmd.Flags().IntVar(&opts.Limit, "limit", 20, "how many events")
	cmd.Flags().BoolVar(&opts.All, "all", false, "every event selected (no --limit)")
	cmd.Flags().StringVar(&opts.Before, "before", "", "only events older than event `ID`")
	cmd.Flags().StringVar(&opts.After, "after", "", "only events newer than event `ID` (listed oldest first)")
	cmd.Flags().StringVar(&opts.State, "state", "", "only events in this state: pending, delivered or failed")
	cmd.Flags().StringVar(&opts.Since, "since", "", "only events received since a `time`: a duration ago (30m, 1h, 2d) or RFC 3339")
	cmd.Flags().StringVar(&opts.Until, "until", "", "only events received before a `time`: a duration ago or RFC 3339")
	opts.outputFlags.register(cmd, "one JSON array of event records")
	return cmd
}

// eventSelection is the event filter shared by `events list` and bulk
// `replay`: flags in, an API query out.
type eventSelection struct {
	Endpoint, Before, After, State, Since, Until string
}

func (sel eventSelection) query(now time.Time) (tunnel.EventsQuery, error) {
	// After alone reads on from an event: in the order events came.
	q := tunnel.EventsQuery{Endpoint: sel.Endpoint, Before: sel.Before, After: sel.After, OldestFirst: sel.After != "" && sel.Before == ""}
	switch sel.State {
	case "", wire.StatePending, wire.StateDelivered, wire.StateFailed:
		q.State = sel.State
	default:
		return q, &FlagError{Err: fmt.Errorf("--state %q: want pending, delivered or failed", sel.State)}
	}
	var err error
	if q.Since, err = parseTimeFlag("--since", sel.Since, now); err != nil {
		return q, err
	}
	if q.Until, err = parseTimeFlag("--until", sel.Until, now); err != nil {
		return q, err
	}
	return q, nil
}

// parseTimeFlag reads a time flag: "" (none), a duration before now (90s,
// 30m, 1h, 2d) or an RFC 3339 time.
func parseTimeFlag(name, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		var n int
		if n, err = strconv.Atoi(days); err == nil {
			d = time.Duration(n) * 24 * time.Hour
		}
	}
	if err != nil || d < 0 {
		return time.Time{}, &FlagError{Err: fmt.Errorf("%s %q: want a duration ago (30m, 1h, 2d) or an RFC 3339 time", name, s)}
	}
	return now.Add(-d), nil
}

func eventsListRun(ctx context.Context, opts *EventsListOptions) error {
	if err := opts.outputFlags.resolve(); err != nil {
		return err
	}
	if opts.Limit < 1 && !opts.All {
		return &FlagError{Err: errors.New("--limit must be at least 1")}
	}
	sel := eventSelection{Endpoint: opts.Endpoint, Before: opts.Before, After: opts.After, State: opts.State, Since: opts.Since, Until: opts.Until}
	q, err := sel.query(opts.Factory.Now())
	if err != nil {
		return err
	}
	api, closeAPI, err := relayAPI(ctx, opts.Factory, opts.relayFlags)
	if err != nil {
		return err
	}
	defer closeAPI()
	max := opts.Limit
	if opts.All {
		max = 0
	}
	recs := []wire.EventRecord{}
	err = api.EachEvent(ctx, q, max, func(r wire.EventRecord) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	if opts.JSON {
		return writeJSON(opts.IO, recs)
	}
	if len(recs) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "No events.")
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
	ID string
	outputFlags
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
	opts.outputFlags.register(cmd, "the event record as one JSON document, bodies base64")
	return cmd
}

func eventsShowRun(ctx context.Context, opts *EventsShowOptions) error {
	if err := opts.outputFlags.resolve(); err != nil {
		return err
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
	if opts.JSON {
		return writeJSON(opts.IO, rec)
	}
	return inspect.WriteDetail(opts.IO.Out, storedOf(*rec))
}

func storedOf(r wire.EventRecord) inspect.Stored {
	st := inspect.Stored{Req: r.Request, State: r.State, Attempts: r.Attempts, Resp: r.Response, Retries: r.Retries}
	if r.NextAttemptAt != nil {
		st.NextAttempt = *r.NextAttemptAt
	}
	return st
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
