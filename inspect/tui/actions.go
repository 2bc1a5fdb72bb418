package tui

import (
	"context"
	"errors"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// Actions are what the inspector asks of its host. `hookctl listen` adapts
// the tunnel client and the replay package to it; `hookctl inspect` has no
// tunnel and returns ErrUnsupported from SetPaused.
type Actions interface {
	// Replay delivers req — a copy prepared by replay.Prepare, ReplayOf
	// set, possibly edited — to the forward target, records it as a new
	// event and returns the recorded request (with its new ID) and the
	// target's response. A delivery that got no answer is a response with
	// Error set, not an error.
	Replay(ctx context.Context, req *capture.Request) (*capture.Request, *capture.Response, error)
	// SetPaused stops (true) or restarts (false) forwarding. While paused,
	// new events wait on the relay.
	SetPaused(ctx context.Context, paused bool) error
}

// Backlog is implemented by Actions that can see the relay's queue. While
// forwarding is paused the inspector asks, about every two seconds, which
// events wait there and shows how many it has not listed yet ("paused · 12
// new"): paused, the relay sends nothing, so the inspector cannot count them
// itself.
type Backlog interface {
	// Waiting returns the ids of events waiting on the relay, newest
	// first, and whether more are waiting than it returned.
	Waiting(ctx context.Context) (ids []string, more bool, err error)
}

// ErrUnsupported is returned by an Actions method the host cannot do.
var ErrUnsupported = errors.New("not available here")

// Verifier checks a captured request's signature with the secret given to
// `--verify provider:secret`.
type Verifier interface {
	Verify(req *capture.Request) Signature
}

// History pages stored events, for `hookctl inspect`.
type History interface {
	// Older returns up to limit events received before the event with id
	// before (the newest when before is empty), newest first, as the relay
	// API lists them.
	Older(ctx context.Context, before string, limit int) ([]EventMsg, error)
}

// SigState is the verdict shown in the signature column.
type SigState uint8

const (
	SigNone    SigState = iota // no verifier configured
	SigValid                   // signature checks out
	SigInvalid                 // signature present and wrong, or stale
	SigUnknown                 // no signature the verifier understands
)

// Signature is a verifier's verdict and, when it is not valid, why.
type Signature struct {
	State  SigState
	Detail string
}

// EventMsg adds a captured request to the list, or updates it when its ID is
// already there. Response is nil while delivery is pending.
type EventMsg struct {
	Request  *capture.Request
	Response *capture.Response
}

// ResponseMsg records the local app's answer (or the delivery error) for the
// event ID.
type ResponseMsg struct {
	ID       string
	Response *capture.Response
}

// RetryMsg reports a failed delivery attempt that will be retried: the
// event stays pending.
type RetryMsg struct {
	ID      string
	Err     string
	Attempt int
	RetryIn time.Duration
}

// ConnState is the tunnel's connection state.
type ConnState uint8

const (
	ConnNone         ConnState = iota // no tunnel (inspect)
	ConnConnecting                    // first dial in progress
	ConnConnected                     // session established
	ConnReconnecting                  // lost; retrying with backoff
	ConnOffline                       // paused or given up; events queue on the relay
)

// ConnMsg reports the tunnel's state.
type ConnMsg struct {
	State   ConnState
	Attempt int           // reconnect attempt, from 1
	Retry   time.Duration // time until the next attempt, when known
	Backlog int           // events waiting on the relay, when known
	URL     string        // webhook URL, when (re)connected
	Err     string        // last connection error
}
