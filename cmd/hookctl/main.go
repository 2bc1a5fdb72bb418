// Command hookctl tests and tunnels webhooks: see README.md.
package main

import (
	"os"
	"runtime/debug"

	"github.com/hookctl/hookctl/cmd/cli"
)

// gcPercent is hookctl's GOGC unless the environment sets one. hookctl
// listen allocates for every event it forwards but keeps little alive (the
// events in flight), so at Go's default of 100 its heap stays at the 4 MiB
// floor and it collects several times for every thousand events: about a
// tenth of its CPU under load went to the collector. At 400 the heap may
// grow to 16 MiB between collections, a few MiB more resident memory for a
// command that runs on a developer's machine.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(cli.Main())
}
