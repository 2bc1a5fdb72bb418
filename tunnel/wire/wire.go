// Package wire is the protocol between the relay and a listening CLI. Every
// message is one JSON object in one websocket text frame, tagged by "type".
//
// A session goes:
//
//	CLI → relay  hello     {version, token, endpoint, window, response}
//	relay → CLI  welcome   {version, endpoint, url, session}      or error {code, permanent}
//	relay → CLI  event     {event}                                oldest un-acked first, then live
//	CLI → relay  response  {id, response}                         the local app's answer, for the sender
//	CLI → relay  ack       {id}                                   delivered; never sent again
//	either way   ping/pong                                        keepalive
//	CLI → relay  pause/resume                                     stop/restart new deliveries
//
// Delivery is at least once: an event not acked when a connection ends is
// sent again on the next connection for the endpoint. At most Window events
// are in flight (sent, not acked) per connection.
package wire

import (
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// Version is the protocol version this build speaks. A relay refuses a hello
// with a version it does not speak, with a permanent error.
const Version = 1

// ListenPath is the websocket path on the relay.
const ListenPath = "/api/v1/listen"

// Keepalive timing: each side pings after PingInterval of silence and treats
// the connection as dead after DeadAfter without receiving anything.
const (
	PingInterval = 4 * time.Second
	DeadAfter    = 10 * time.Second
)

// Message types.
const (
	TypeHello    = "hello"
	TypeWelcome  = "welcome"
	TypeError    = "error"
	TypeEvent    = "event"
	TypeResponse = "response"
	TypeAck      = "ack"
	TypePing     = "ping"
	TypePong     = "pong"
	TypePause    = "pause"
	TypeResume   = "resume"
)

// Error codes sent in an error message.
const (
	CodeBadVersion   = "bad_version"  // permanent
	CodeUnauthorized = "unauthorized" // permanent: token missing or unknown
	CodeForbidden    = "forbidden"    // permanent: endpoint owned by another token
	CodeBadEndpoint  = "bad_endpoint" // permanent: name not allowed
	CodeBadMessage   = "bad_message"  // the connection is closed after this
	CodeInternal     = "internal"     // transient
	CodeReplaced     = "replaced"     // permanent: another CLI took over the endpoint (sent with Permanent, so the older CLI stops instead of taking it back)
)

// Message is the one envelope for every message. Only the fields of its type
// are set.
type Message struct {
	Type string `json:"type"`

	// hello
	Version  int           `json:"version,omitempty"`
	Token    string        `json:"token,omitempty"`
	Endpoint string        `json:"endpoint,omitempty"` // empty: the relay picks a name
	Window   int           `json:"window,omitempty"`   // max events in flight; 0 means the relay's default
	Reply    *ReplyOptions `json:"reply,omitempty"`    // how the relay answers senders during this session

	// welcome
	URL     string `json:"url,omitempty"` // public webhook URL of the endpoint
	Session string `json:"session,omitempty"`
	Pending int    `json:"pending,omitempty"` // events waiting for delivery when the session began
	// MaxBody is the largest response body the relay accepts in a response
	// message; the CLI cuts longer ones (see capture.Response.Truncate).
	MaxBody int64 `json:"max_body,omitempty"`

	// error
	Code      string `json:"code,omitempty"`
	Text      string `json:"message,omitempty"`
	Permanent bool   `json:"permanent,omitempty"`

	// event
	Event *capture.Request `json:"event,omitempty"`

	// response, ack
	ID       string            `json:"id,omitempty"`
	Response *capture.Response `json:"response,omitempty"`
}

// Reply modes: how the relay answers the sender of a webhook.
const (
	ReplyPassthrough = "passthrough" // the local app's response, or 202 after the timeout
	ReplyAck         = "ack"         // 202 at once, once stored
	ReplyStatus      = "status"      // a fixed status at once, once stored
)

// ReplyOptions set how the relay answers senders while this CLI is connected.
type ReplyOptions struct {
	Mode    string        `json:"mode,omitempty"`    // one of the Reply* modes; default passthrough
	Status  int           `json:"status,omitempty"`  // for ReplyStatus
	Timeout time.Duration `json:"timeout,omitempty"` // for ReplyPassthrough; 0 means the relay's default (8s)
}

// The relay's HTTP API, used by `hookctl events`, `inspect` and `replay`.
// Requests carry "Authorization: Bearer TOKEN" unless the relay is open.
//
//	GET  /healthz                          200 {"status":"ok"}
//	GET  /api/v1/events?endpoint=&limit=&before=ID   {"events":[EventRecord...]} newest first
//	GET  /api/v1/events/{id}               EventRecord
//	POST /api/v1/events/{id}/replays       ReplayRecord in, EventRecord out (a new event with ReplayOf set)
//
// Errors are {"error":"...","code":"..."} with a 4xx or 5xx status.
const (
	EventsPath  = "/api/v1/events"
	HealthzPath = "/healthz"
)

// Event delivery states.
const (
	StatePending   = "pending"   // stored, not yet acked by a CLI
	StateDelivered = "delivered" // acked by a CLI
)

// EventRecord is a stored event with what is known of its delivery.
type EventRecord struct {
	Request     *capture.Request  `json:"request"`
	State       string            `json:"state"`
	Attempts    int               `json:"attempts"` // times sent to a CLI
	Response    *capture.Response `json:"response,omitempty"`
	DeliveredAt *time.Time        `json:"delivered_at,omitempty"`
}

// EventList is the body of GET /api/v1/events.
type EventList struct {
	Events []EventRecord `json:"events"`
}

// ReplayRecord is the body of POST /api/v1/events/{id}/replays: a replay the
// CLI made and the answer it got. The relay stores it as a delivered event.
type ReplayRecord struct {
	Request  *capture.Request  `json:"request"`
	Response *capture.Response `json:"response,omitempty"`
}

// APIError is the body of an API error response.
type APIError struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}
