package cli

import (
	"github.com/spf13/cobra"
)

// Version is set at build time by the release (-ldflags -X).
var Version = "dev"

// NewCmdRoot builds the command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:           "hookctl",
		Short:         "Test and tunnel webhooks",
		Long:          "hookctl captures webhooks on a stable URL, forwards them to your local app byte for byte,\nlets you inspect and replay them, and fires signed provider events at your app.",
		Version:       Version,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(flagErrorFunc)
	root.CompletionOptions.HiddenDefaultCmd = true

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
	)
	return root
}
