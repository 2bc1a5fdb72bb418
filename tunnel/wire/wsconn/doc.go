// Package wsconn holds the net.Conn adapters under the websocket connections
// of both sides: IdleConn under the CLI's, ProgressReader, BatchWriter and
// HijackedConn under the relay's. Each makes a deadline measure progress
// rather than whole messages, and gathers a burst of frames into one write.
package wsconn
