// Package tunnel is the CLI side of the relay connection: it dials the relay's
// websocket, receives captured requests, forwards each to the local app with
// bounded concurrency, reports the app's answer and acks the event. It
// reconnects forever with backoff, except after a permanent refusal. It also
// holds the client for the relay's HTTP API, used by `hookctl events` and
// replay.
//
// Nothing here touches the process: writers, clocks and configuration come in
// through Config.
package tunnel
