// Command hookctl tests and tunnels webhooks: see README.md.
package main

import (
	"os"

	"github.com/hookctl/hookctl/cmd/cli"
)

func main() {
	os.Exit(cli.Main())
}
