package cli

import (
	"encoding/json"

	"github.com/hookctl/hookctl/internal/buildinfo"
	"github.com/spf13/cobra"
)

// NewCmdVersion prints this binary's version, commit and build date.
func NewCmdVersion(f *Factory) *cobra.Command {
	var out outputFlags
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print hookctl's version, commit and build date",
		Long: `Print hookctl's version, commit and build date. A release sets them; a binary
built from a clone (go build, go install, go run) reports the commit and commit
time Go recorded in it, and "dev" as its version.`,
		Example: `  hookctl version
  hookctl version --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.resolve(); err != nil {
				return err
			}
			info := buildinfo.Get()
			if out.JSON {
				enc := json.NewEncoder(f.IO.Out)
				return enc.Encode(info)
			}
			_, err := f.IO.Out.Write([]byte(info.Text("hookctl")))
			return err
		},
	}
	out.register(cmd, `{"version":…,"commit":…,"date":…,"go":…,"platform":…}`)
	return cmd
}
