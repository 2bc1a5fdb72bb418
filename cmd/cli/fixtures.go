package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hookctl/hookctl/fixtures"
)

// NewCmdFixtures builds `hookctl fixtures` and its subcommands.
func NewCmdFixtures(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fixtures",
		Short: "List, show and prepare the provider events hookctl can fire",
	}
	cmd.AddCommand(newCmdFixturesList(f), newCmdFixturesShow(f), newCmdFixturesKeygen(f))
	return cmd
}

type fixturesListOptions struct {
	IO       *IOStreams
	Provider string
	outputFlags
}

func newCmdFixturesList(f *Factory) *cobra.Command {
	opts := &fixturesListOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "list [PROVIDER]",
		Short: "List providers and their events",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Provider = args[0]
			}
			return fixturesListRun(opts)
		},
	}
	opts.outputFlags.register(cmd, `[{"provider":…,"event":…,"description":…},…]`)
	return cmd
}

type fixtureEntry struct {
	Provider    string `json:"provider"`
	Event       string `json:"event"`
	Description string `json:"description,omitempty"`
}

func fixturesListRun(opts *fixturesListOptions) error {
	if err := opts.outputFlags.resolve(); err != nil {
		return err
	}
	reg := fixtures.Catalog()
	provs := reg.Providers()
	if opts.Provider != "" {
		p, err := reg.Provider(opts.Provider)
		if err != nil {
			return err
		}
		provs = []*fixtures.Provider{p}
	}
	entries := []fixtureEntry{}
	for _, p := range provs {
		for _, e := range p.Events() {
			entries = append(entries, fixtureEntry{p.Name, e.Event, e.Description})
		}
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	cs := opts.IO.ColorScheme()
	if !opts.IO.StdoutTTY {
		// Pipes get stable tab-separated columns.
		for _, e := range entries {
			fmt.Fprintf(opts.IO.Out, "%s\t%s\t%s\n", e.Provider, e.Event, e.Description)
		}
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, cs.Bold.Sprint("PROVIDER")+"\t"+cs.Bold.Sprint("EVENT")+"\t"+cs.Bold.Sprint("DESCRIPTION"))
	prev := ""
	for _, e := range entries {
		name := e.Provider
		if name == prev {
			name = ""
		}
		prev = e.Provider
		fmt.Fprintf(tw, "%s\t%s\t%s\n", cs.Cyan.Sprint(name), e.Event, cs.Faint.Sprint(e.Description))
	}
	return tw.Flush()
}

type fixturesShowOptions struct {
	IO              *IOStreams
	Now             func() time.Time
	Getenv          func(string) string
	Provider, Event string
}

func newCmdFixturesShow(f *Factory) *cobra.Command {
	opts := &fixturesShowOptions{IO: f.IO, Now: f.Now, Getenv: f.Getenv}
	return &cobra.Command{
		Use:   "show PROVIDER EVENT",
		Short: "Show an event as it would be sent (unsigned) and how the provider signs it",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Provider, opts.Event = args[0], args[1]
			return fixturesShowRun(opts)
		},
	}
}

func fixturesShowRun(opts *fixturesShowOptions) error {
	p, err := fixtures.LookupProvider(opts.Provider)
	if err != nil {
		return WithHint(err, "`hookctl fixtures list` shows every provider and event")
	}
	ev, err := p.Lookup(opts.Event)
	if err != nil {
		return WithHint(err, "`hookctl fixtures list "+p.Name+"` shows its events")
	}
	r, err := ev.Render(p, &fixtures.RenderContext{Now: opts.Now(), Getenv: opts.Getenv}, nil)
	if err != nil {
		return err
	}
	cs := opts.IO.ColorScheme()
	info := p.Scheme.Info()
	w := opts.IO.ErrOut // commentary on stderr, the request on stdout
	fmt.Fprintf(w, "%s %s — %s\n", cs.Bold.Sprint(p.Title), cs.Bold.Sprint(ev.Event), ev.Description)
	fmt.Fprintf(w, "signing: %s", info.Family)
	if info.SignatureHeader != "" {
		fmt.Fprintf(w, " in %s", info.SignatureHeader)
	}
	if info.Timestamped {
		fmt.Fprintf(w, ", timestamped (tolerance %s)", info.Tolerance)
	}
	if info.URLSigned {
		fmt.Fprint(w, ", URL signed")
	}
	fmt.Fprintf(w, "\nsecret: %s\n\n", p.SecretHelp)
	target := &url.URL{Scheme: "http", Host: "localhost:3000", Path: "/webhooks"}
	return fixtures.WriteRequest(opts.IO.Out, r, target)
}

type fixturesKeygenOptions struct {
	IO       *IOStreams
	Provider string
	outputFlags
}

func newCmdFixturesKeygen(f *Factory) *cobra.Command {
	opts := &fixturesKeygenOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "keygen PROVIDER",
		Short: "Create a key pair for a provider that signs with a private key (discord, sendgrid)",
		Long: `Discord and SendGrid sign with their private key and your app verifies with their public
key. To fire such events, hookctl signs with its own key: configure your app (in test)
with the public key printed here, and pass the private key to hookctl fire --secret.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Provider = args[0]
			return fixturesKeygenRun(opts)
		},
	}
	opts.outputFlags.register(cmd, `{"provider":…,"private_key":…,"public_key":…}`)
	return cmd
}

func fixturesKeygenRun(opts *fixturesKeygenOptions) error {
	if err := opts.outputFlags.resolve(); err != nil {
		return err
	}
	p, err := fixtures.LookupProvider(opts.Provider)
	if err != nil {
		return err
	}
	kg, ok := p.Scheme.(fixtures.KeyGenerator)
	if !ok {
		var asym []string
		for _, q := range fixtures.Catalog().Providers() {
			if _, ok := q.Scheme.(fixtures.KeyGenerator); ok {
				asym = append(asym, q.Name)
			}
		}
		return WithHint(fmt.Errorf("%s signs with a shared secret, not a key pair", p.Name),
			"pass "+p.SecretHelp+" to --secret; key pairs are for "+strings.Join(asym, ", "))
	}
	priv, pub, err := kg.GenerateKey()
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	if opts.JSON {
		return json.NewEncoder(opts.IO.Out).Encode(map[string]string{"provider": p.Name, "private_key": priv, "public_key": pub})
	}
	cs := opts.IO.ColorScheme()
	fmt.Fprintf(opts.IO.Out, "private key (hookctl fire --secret): %s\n", priv)
	fmt.Fprintf(opts.IO.Out, "public key (configure your app):     %s\n", pub)
	fmt.Fprintln(opts.IO.ErrOut, cs.Faint.Sprintf("Use the public key only in test: real %s deliveries are signed with %s's own key.", p.Title, p.Title))
	return nil
}
