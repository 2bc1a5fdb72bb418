// Command relay-server is the hookctl relay: it gives webhooks a stable
// public URL, stores each one durably and streams it to the `hookctl listen`
// connected for its endpoint. See relaycmd for the flags.
package main

import (
	"os"

	"github.com/hookctl/hookctl/relay-server/relaycmd"
)

func main() { os.Exit(relaycmd.Main()) }
