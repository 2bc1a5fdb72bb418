// Package tunnel is the CLI side of the relay connection: it dials the relay's
// websocket, receives captured requests, forwards each to the local app with
// bounded concurrency, reports the app's answer and acks the event. It
// reconnects forever with backoff, except after a permanent refusal. It also
// holds the client for the relay's HTTP API, used by `hookctl events` and
// replay.
//
// One connection (Client.session) runs three kinds of goroutine under one
// errgroup: a reader (the only one to receive: events go to a work queue the
// size of the relay's window, pings are answered), a writer (the only one to
// send: responses, acks, pause/resume, keepalive pings) and Concurrency
// delivery workers (Forwarder.Deliver, retry while the app is down, then
// response + ack). When any of them fails the connection is closed, all of
// them end, and Run waits out a backoff before dialling again. Events not
// acked are redelivered by the relay on the next connection.
//
// Nothing here touches the process: writers, clocks and configuration come in
// through Config.
package tunnel
