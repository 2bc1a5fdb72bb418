package cli

import (
	"fmt"
	"strings"

	"github.com/hookctl/hookctl/internal/buildinfo"
	"github.com/spf13/cobra"
)

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:           "hookctl",
		Short:         "Test and tunnel webhooks",
		Long:          "hookctl captures webhooks on a stable URL, forwards them to your local app byte for byte,\nlets you inspect and replay them, and fires signed provider events at your app.",
		Version:       buildinfo.Get().Short(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// Runnable, so that an unknown command reaches RunE and is a usage
		// error (exit 2) rather than cobra's plain error.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return WithHint(&FlagError{Err: fmt.Errorf("%s", msg)}, "hookctl help lists the commands")
		},
	}
	root.SuggestionsMinimumDistance = 2
	root.SetFlagErrorFunc(flagErrorFunc)

	root.AddCommand(
		// Commands are added here, one constructor each.
		NewCmdListen(f),
		NewCmdEvents(f),
		NewCmdReplay(f),
		NewCmdInspect(f),
		NewCmdFire(f),
		NewCmdFixtures(f),
		NewCmdVerify(f),
		NewCmdCheck(f),
		NewCmdVersion(f),
		newCmdExitCodes(),
	)
	usageArgs(root)
	return root
}

// usageArgs makes every argument-count error of cmd and its subcommands a
// FlagError, so that it exits with ExitUsage like a flag error.
func usageArgs(cmd *cobra.Command) {
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return &FlagError{Err: err}
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		usageArgs(c)
	}
}

// newCmdExitCodes is the help topic `hookctl help exit-codes`.
func newCmdExitCodes() *cobra.Command {
	return &cobra.Command{
		Use:   "exit-codes",
		Short: "What hookctl's exit codes mean",
		Long: `hookctl exits with:

  0    success: the command did what it was asked, and its verdict (verify,
       check, fire, replay) is positive
  1    failure: an error (relay unreachable, app down, event not found), or a
       negative verdict: verify found no valid signature, check failed a
       check, fire or replay got an answer other than 2xx (or one --expect
       does not accept)
  2    usage: an unknown command or flag, a missing or extra argument, a
       value a flag does not accept (unknown provider, bad target, bad
       duration)
  130  interrupted (Ctrl-C or SIGTERM) before the command finished

Errors go to stderr, one "Error:" line and sometimes a "Hint:" line; data goes
to stdout, so a script can read stdout and test the exit code.`,
	}
}
