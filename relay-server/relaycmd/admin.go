package relaycmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gofrs/flock"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/postgres"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// streams are the process's standard streams as the commands see them.
type streams struct {
	in          io.Reader
	interactive bool // in is a terminal: a person can answer a question
	out, errOut io.Writer
	now         func() time.Time
}

// isTerminal reports whether f is an *os.File on a terminal.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && (isatty.IsTerminal(file.Fd()) || isatty.IsCygwinTerminal(file.Fd()))
}

// hintError is an error with a suggested fix; Run prints the hint on its
// own line after the error.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error, hint string) error { return &hintError{err: err, hint: hint} }

const dataHint = "point --data at the directory the relay runs with (relay-server --data DIR), or --database at its PostgreSQL database"

// databaseEnv names the PostgreSQL database when --database is not given.
const databaseEnv = "HOOKCTL_DATABASE_URL"

// location is where a relay keeps its state: a PostgreSQL database
// (--database, or $HOOKCTL_DATABASE_URL) shared by every node, else the
// SQLite file in the data directory.
type location struct {
	data     string
	database string
}

// url is the PostgreSQL database URL, "" for SQLite.
func (l location) url() string {
	if l.database != "" {
		return l.database
	}
	return os.Getenv(databaseEnv)
}

// String says where the state is, for the start-up line; a database
// URL's password is left out.
func (l location) String() string {
	u := l.url()
	if u == "" {
		return "data in " + l.data
	}
	if pu, err := url.Parse(u); err == nil {
		return "PostgreSQL " + pu.Redacted()
	}
	return "PostgreSQL"
}

// lockFile is the lock a serving relay holds in its data directory.
const lockFile = "relay.lock"

// lock keeps a second relay-server off l's data directory while this one
// serves it: two processes on one SQLite file would each accept webhooks
// that only the other's CLI could receive, and the other would not hear of
// them. The lock is the kernel's (flock), so a killed relay leaves nothing
// to clean up. PostgreSQL needs no lock: its nodes coordinate in the
// database. Admin commands do not lock; they share the file with a running
// relay.
func (l location) lock() (unlock func(), err error) {
	if l.url() != "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(l.data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	fl := flock.New(filepath.Join(l.data, lockFile))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock the data directory: %w", err)
	}
	if !ok {
		return nil, withHint(fmt.Errorf("another relay-server is serving %s", l.data),
			"stop it, give this one its own --data, or run several nodes on one PostgreSQL database with --database")
	}
	return func() { fl.Unlock() }, nil
}

// open opens the store at l, creating the SQLite database when missing.
func (l location) open(ctx context.Context) (store.Store, error) {
	if u := l.url(); u != "" {
		return openPostgres(ctx, u)
	}
	if err := os.MkdirAll(l.data, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return sqlite.Open(filepath.Join(l.data, "relay.db"))
}

func openPostgres(ctx context.Context, url string) (store.Store, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, &usageError{fmt.Errorf("--database: want a postgres:// URL")}
	}
	st, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		return nil, withHint(err, "check the --database URL (or $"+databaseEnv+") and that PostgreSQL accepts connections from this host")
	}
	return st, nil
}

// openExisting opens the relay's store, refusing to create a SQLite
// database: an admin command run with the wrong --data must not report an
// empty relay. The relay may be running on it: SQLite in WAL mode lets both
// processes use the file, each waiting for the other's write lock
// (busy_timeout); PostgreSQL is shared anyway.
func openExisting(ctx context.Context, l location) (store.Store, error) {
	if u := l.url(); u != "" {
		return openPostgres(ctx, u)
	}
	path := filepath.Join(l.data, "relay.db")
	if _, err := os.Stat(path); err != nil {
		return nil, withHint(fmt.Errorf("no relay database in %s: %w", l.data, err), dataHint)
	}
	return sqlite.Open(path)
}

// withStore runs fn on the relay's store and closes it.
func withStore(ctx context.Context, l location, fn func(st store.Store) error) error {
	st, err := openExisting(ctx, l)
	if err != nil {
		return err
	}
	err = fn(st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

// when formats a time for a table: relative on a terminal, RFC 3339 in a
// pipe; "-" for none.
func (ios *streams) when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if !isTerminal(ios.out) {
		return t.UTC().Format(time.RFC3339)
	}
	d := ios.now().Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// dataFlag adds --data and --database, where the relay keeps its state.
func dataFlag(cmd *cobra.Command, l *location) {
	cmd.Flags().StringVar(&l.data, "data", "relay-data", "state directory of the relay (SQLite)")
	cmd.Flags().StringVar(&l.database, "database", "", "PostgreSQL database of the relay's nodes, postgres://... (default $"+databaseEnv+")")
}

// tokenJSON is one token in `token list --json`; the keys are stable.
type tokenJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Endpoints int       `json:"endpoints"`
}

func newCmdTokenList(ios *streams) *cobra.Command {
	var (
		data    location
		asJSON  bool
		command = &cobra.Command{
			Use:   "list",
			Short: "List tokens: id, name, creation time, endpoints owned (never the secret)",
			Args:  cobra.NoArgs,
		}
	)
	command.RunE = func(cmd *cobra.Command, _ []string) error {
		return tokenListRun(cmd.Context(), ios, data, asJSON)
	}
	dataFlag(command, &data)
	command.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return command
}

func tokenListRun(ctx context.Context, ios *streams, data location, asJSON bool) error {
	var toks []store.TokenInfo
	if err := withStore(ctx, data, func(st store.Store) (err error) {
		toks, err = st.ListTokens(ctx)
		return err
	}); err != nil {
		return err
	}
	if asJSON {
		out := make([]tokenJSON, 0, len(toks))
		for _, t := range toks {
			out = append(out, tokenJSON{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, Endpoints: t.Endpoints})
		}
		return writeJSON(ios.out, out)
	}
	rows := make([][]string, 0, len(toks))
	for _, t := range toks {
		rows = append(rows, []string{t.ID, t.Name, ios.when(t.CreatedAt), fmt.Sprint(t.Endpoints)})
	}
	return table(ios.out, []string{"ID", "NAME", "CREATED", "ENDPOINTS"}, rows)
}

func newCmdTokenRevoke(ios *streams) *cobra.Command {
	var data location
	command := &cobra.Command{
		Use:   "revoke ID|NAME",
		Short: "Revoke a token: it can no longer listen or use the API",
		Long: `revoke deletes a token, by id or by name when exactly one token has it. New
connections and API calls with it are refused at once; a running relay ends
its connected hookctl listen sessions within 10 seconds. Its endpoints keep
their events and stay reserved to the revoked token (no other token can take
them); webhooks sent to them are still stored. Remove their events with
relay-server events purge --pending.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{errors.New("name the token to revoke: relay-server token revoke ID|NAME")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return tokenRevokeRun(cmd.Context(), ios, data, args[0])
		},
	}
	dataFlag(command, &data)
	return command
}

func tokenRevokeRun(ctx context.Context, ios *streams, data location, ref string) error {
	var tok store.TokenInfo
	err := withStore(ctx, data, func(st store.Store) (err error) {
		tok, err = relay.RevokeToken(ctx, st, ref)
		return err
	})
	var amb *relay.AmbiguousError
	switch {
	case errors.As(err, &amb):
		return withHint(err, "revoke one by id: relay-server token revoke "+amb.IDs[0])
	case errors.Is(err, store.ErrNotFound):
		return withHint(err, "relay-server token list shows the tokens")
	case err != nil:
		return err
	}
	fmt.Fprintf(ios.out, "revoked token %s (%s)\n", tok.ID, tok.Name)
	if tok.Endpoints > 0 {
		fmt.Fprintf(ios.errOut, "its endpoints (%d) keep their events; a running relay ends their sessions within %v\n",
			tok.Endpoints, relay.DefaultRevokeCheck)
	}
	return nil
}

// endpointJSON is one endpoint in `endpoints list --json`; the keys are
// stable. owner is the token's name: "" in open mode or once revoked
// (owner_id still says which token it was).
type endpointJSON struct {
	Name        string     `json:"name"`
	OwnerID     string     `json:"owner_id"`
	Owner       string     `json:"owner"`
	Revoked     bool       `json:"owner_revoked"`
	CreatedAt   time.Time  `json:"created_at"`
	Pending     int        `json:"pending"`
	Events      int        `json:"events"`
	LastEventAt *time.Time `json:"last_event_at"`
}

func newCmdEndpoints(ios *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "endpoints",
		Short: "Inspect endpoints",
		Args:  cobra.NoArgs,
	}
	var (
		data   location
		asJSON bool
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List endpoints: owner, pending and total events, last event",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return endpointsListRun(cmd.Context(), ios, data, asJSON)
		},
	}
	dataFlag(list, &data)
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(list)
	return cmd
}

func endpointsListRun(ctx context.Context, ios *streams, data location, asJSON bool) error {
	var eps []store.EndpointInfo
	if err := withStore(ctx, data, func(st store.Store) (err error) {
		eps, err = st.ListEndpoints(ctx)
		return err
	}); err != nil {
		return err
	}
	if asJSON {
		out := make([]endpointJSON, 0, len(eps))
		for _, e := range eps {
			j := endpointJSON{Name: e.Name, OwnerID: e.Owner, Owner: e.OwnerName, Revoked: e.Owner != "" && e.OwnerName == "",
				CreatedAt: e.CreatedAt, Pending: e.Pending, Events: e.Events}
			if !e.LastEventAt.IsZero() {
				j.LastEventAt = &e.LastEventAt
			}
			out = append(out, j)
		}
		return writeJSON(ios.out, out)
	}
	rows := make([][]string, 0, len(eps))
	for _, e := range eps {
		owner := e.OwnerName
		switch {
		case e.Owner == "":
			owner = "-"
		case e.OwnerName == "":
			owner = "(revoked " + e.Owner + ")"
		}
		rows = append(rows, []string{e.Name, owner, fmt.Sprint(e.Pending), fmt.Sprint(e.Events), ios.when(e.LastEventAt)})
	}
	return table(ios.out, []string{"NAME", "OWNER", "PENDING", "EVENTS", "LAST EVENT"}, rows)
}

type purgeOptions struct {
	data     location
	endpoint string
	pending  bool
	before   string
	yes      bool
}

func newCmdEvents(ios *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Manage stored events",
		Args:  cobra.NoArgs,
	}
	opts := &purgeOptions{}
	purge := &cobra.Command{
		Use:   "purge",
		Short: "Delete an endpoint's events (delivered ones only, unless --pending)",
		Long: `purge deletes the stored events of one endpoint and prints how many. By default
only delivered events go; --pending deletes undelivered ones too — they will
never reach a CLI — and asks for confirmation on a terminal (or needs --yes).
It is safe while the relay runs on the same --data: it deletes in small
transactions, and events already sent to a CLI are simply not sent again.`,
		Example: `  relay-server events purge --data ./relay-data --endpoint brave-otter-42 --before 30d
  relay-server events purge --data ./relay-data --endpoint old-app --pending --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.endpoint == "" {
				return &usageError{errors.New("--endpoint is required")}
			}
			if err := wire.CheckEndpointName(opts.endpoint); err != nil {
				return &usageError{fmt.Errorf("--endpoint: %w", err)}
			}
			return eventsPurgeRun(cmd.Context(), ios, opts)
		},
	}
	dataFlag(purge, &opts.data)
	f := purge.Flags()
	f.StringVar(&opts.endpoint, "endpoint", "", "endpoint whose events are deleted")
	f.BoolVar(&opts.pending, "pending", false, "delete undelivered events too")
	f.StringVar(&opts.before, "before", "", "only events received before this: an age (30d, 12h) or an RFC 3339 time")
	f.BoolVar(&opts.yes, "yes", false, "do not ask before deleting undelivered events")
	cmd.AddCommand(purge)
	return cmd
}

// parseBefore reads --before: an age such as 30d or 12h, or an RFC 3339
// time (a date alone means its midnight UTC).
func parseBefore(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--before %q: want an age (30d, 12h) or a time (2026-01-02T15:04:05Z, 2026-01-02)", s)
}

func eventsPurgeRun(ctx context.Context, ios *streams, opts *purgeOptions) error {
	before, err := parseBefore(opts.before, ios.now())
	if err != nil {
		return &usageError{err}
	}
	return withStore(ctx, opts.data, func(st store.Store) error {
		if _, err := st.GetEndpoint(ctx, opts.endpoint); errors.Is(err, store.ErrNotFound) {
			return withHint(fmt.Errorf("no endpoint %q", opts.endpoint), "relay-server endpoints list shows the endpoints")
		} else if err != nil {
			return err
		}
		if opts.pending && !opts.yes {
			if err := confirmPending(ctx, ios, st, opts.endpoint, before); err != nil {
				return err
			}
		}
		n, err := st.PurgeEvents(ctx, store.PurgeQuery{Endpoint: opts.endpoint, Before: before, Pending: opts.pending})
		if err != nil {
			return err
		}
		what := "delivered events"
		if opts.pending {
			what = "events"
		}
		fmt.Fprintf(ios.out, "deleted %d %s of endpoint %s\n", n, what, opts.endpoint)
		return nil
	})
}

var errNotConfirmed = errors.New("undelivered events not deleted")

// confirmPending asks on a terminal before undelivered events are deleted;
// without a terminal it refuses (a script must say --yes).
func confirmPending(ctx context.Context, ios *streams, st store.Store, endpoint string, before time.Time) error {
	if !ios.interactive {
		return withHint(errors.New("--pending deletes undelivered events, and stdin is not a terminal to confirm"),
			"add --yes to delete them anyway; they will never be delivered")
	}
	pending, err := st.CountPending(ctx, endpoint)
	if err != nil {
		return err
	}
	scope := ""
	if !before.IsZero() {
		scope = " received before " + before.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(ios.errOut, "Endpoint %s has %d undelivered events. Delete its events%s, undelivered ones included? They will never be delivered. [y/N] ",
		endpoint, pending, scope)
	line, _ := bufio.NewReader(ios.in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errNotConfirmed
}
