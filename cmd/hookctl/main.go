// Command hookctl tests and tunnels webhooks: see README.md.
package main

import (
	"os"
	"runtime/debug"

	"github.com/hookctl/hookctl/cmd/cli"
)

// gcPercent and memoryLimit are hookctl's GOGC and GOMEMLIMIT unless the
// environment sets them. hookctl listen allocates for every event it
// forwards but keeps little alive (the events in flight), so at Go's default
// of 100 its heap stays at the 4 MiB floor and it collects several times for
// every thousand events: about a tenth of its CPU under load went to the
// collector. At 400 the heap may grow to five times what is alive between
// collections: a few MiB more for usual webhooks. The soft memory limit
// keeps that factor from applying to large bodies in flight (16 of 25 MiB):
// past it the collector runs as often as it must instead.
const (
	gcPercent   = 400
	memoryLimit = 256 << 20
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	os.Exit(cli.Main())
}
