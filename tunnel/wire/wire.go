// Package wire is the protocol between the relay and a listening CLI. Every
// message is one JSON object in one websocket text frame, tagged by "type",
// never fragmented; both sides fail a connection whose frames break that
// (FrameChecker).
//
// A session goes:
//
//	CLI → relay  hello     {version, token, endpoint, window, reply, features}
//	relay → CLI  welcome   {version, endpoint, url, session, features}   or error {code, permanent}
//	relay → CLI  event     {event}                                oldest un-acked first, then live
//	relay → CLI  event     {event, body_frame: n} + binary frame  a body of n ≥ BinaryBodyMin bytes (FeatureBinaryBody)
//	CLI → relay  response  {id, response}                         the local app's answer, for the sender
//	CLI → relay  ack       {id}                                   delivered; never sent again
//	CLI → relay  response  {id, response, ack: true}              both in one message (FeatureResponseAck)
//	CLI → relay  response  {id, response, body_frame: n} + binary frame   likewise (FeatureBinaryBody)
//	CLI → relay  response  {id, response, retry_in}               not delivered: send it again later (FeatureRetry)
//	either way   ping/pong                                        keepalive
//	CLI → relay  pause/resume                                     stop/restart new deliveries
//
// Features extend version 1 without breaking either side: the hello lists
// those the CLI can use, the welcome those of them the relay accepts, and the
// CLI uses a feature only when the welcome named it. A relay that knows no
// features sends none, so an older peer on either side keeps the plain
// protocol.
//
// Delivery is at least once: an event not acked when a connection ends is
// sent again on the next connection for the endpoint. At most Window events
// are in flight (sent, not acked) per connection.
package wire

import (
	"encoding/json"
	"slices"
	"strings"
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

// Features, negotiated in hello and welcome.
const (
	// FeatureResponseAck: a response message may carry "ack": true, which
	// the relay treats exactly as that response followed by an ack of the
	// same id (one frame instead of two; for an event in flight on the
	// connection, one store write).
	FeatureResponseAck = "response-ack"
	// FeatureBinaryBody: the body of an event (relay → CLI) or a response
	// (CLI → relay) may leave the JSON and follow the message as its own
	// binary frame of raw bytes, named by the message's body_frame (see
	// SplitBody). A peer sends one only when the body is at least
	// BinaryBodyMin bytes, and reads either form.
	FeatureBinaryBody = "binary-body"
	// FeatureRetry: a response may carry "retry_in" (the relay records
	// the answer and sends the event again after it, across connections),
	// and an event carries its "attempt".
	FeatureRetry = "retry"
)

// Features is a set of Feature* names; in JSON a list of strings. Underneath
// it is the names joined by commas, so that Message stays comparable (the
// relay recognises bare keepalive messages with ==).
type Features string

// NewFeatures returns the set of names.
func NewFeatures(names ...string) Features {
	var b []byte
	for _, n := range names {
		if n == "" || strings.Contains(n, ",") {
			continue // not a feature anyone defines
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, n...)
	}
	return Features(b)
}

// List returns the names.
func (f Features) List() []string {
	if f == "" {
		return nil
	}
	return strings.Split(string(f), ",")
}

// Has reports whether name is in the set.
func (f Features) Has(name string) bool {
	return slices.Contains(f.List(), name)
}

// Intersect returns the names in both sets, in f's order.
func (f Features) Intersect(g Features) Features {
	var out []string
	for _, n := range f.List() {
		if g.Has(n) {
			out = append(out, n)
		}
	}
	return NewFeatures(out...)
}

// MarshalJSON writes the list.
func (f Features) MarshalJSON() ([]byte, error) {
	l := f.List()
	if l == nil {
		l = []string{}
	}
	return json.Marshal(l)
}

// UnmarshalJSON reads a list of strings; null is the empty set.
func (f *Features) UnmarshalJSON(b []byte) error {
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*f = NewFeatures(l...)
	return nil
}

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
	// Features (hello, welcome): in a hello, those the CLI can use; in a
	// welcome, those of them the relay accepts.
	Features Features `json:"features,omitempty"`

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
	// Attempt (event, FeatureRetry only) numbers this delivery attempt: 1
	// plus the retries recorded for the event, so a CLI that restarts
	// continues the event's retry schedule.
	Attempt int `json:"attempt,omitempty"`

	// response, ack
	ID       string            `json:"id,omitempty"`
	Response *capture.Response `json:"response,omitempty"`
	// Ack on a response acks its id too (FeatureResponseAck only).
	Ack bool `json:"ack,omitempty"`
	// RetryIn on a response (FeatureRetry only, never with Ack) asks the
	// relay to record the answer, keep the event pending and send it again
	// after this long: the relay keeps the schedule.
	RetryIn time.Duration `json:"retry_in,omitempty"`

	// BodyFrame (event, response; FeatureBinaryBody only) is set when the
	// event's or response's body is not in the JSON: the next data frame
	// carries it, a binary frame of exactly this many bytes.
	BodyFrame int64 `json:"body_frame,omitempty"`
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
	// DownStatus, for ReplyPassthrough, is the status a waiting sender gets
	// when the CLI reports that the app could not be reached or gave no
	// usable answer (a response with Error set, no status, not Skipped):
	// 502 makes most providers retry. 0
	// means 202, the event being queued either way. A relay that does not
	// know it answers 202.
	DownStatus int `json:"down_status,omitempty"`
}

// The relay's HTTP API, used by `hookctl events`, `inspect` and `replay`.
// Requests carry "Authorization: Bearer TOKEN" unless the relay is open.
//
//	GET  /healthz                          200 {"status":"ok"}
//	GET  /api/v1/events?endpoint=&state=&since=&until=&before=ID&after=ID&order=&limit=
//	                                       {"events":[EventRecord...],"next":"ID"} newest first, or oldest first
//	                                       with order=oldest. next, when present, is the cursor of the following
//	                                       page: pass it as before (after with order=oldest). limit is at most
//	                                       MaxListPage; since and until are RFC 3339 receive times (since
//	                                       inclusive, until exclusive); state is one of the State* values.
//	GET  /api/v1/events/{id}               EventRecord
//	POST /api/v1/events/{id}/replays       ReplayRecord in, EventRecord out (a new event with ReplayOf set)
//
// Errors are {"error":"...","code":"..."} with a 4xx or 5xx status.
const (
	EventsPath  = "/api/v1/events"
	HealthzPath = "/healthz"
)

// MaxListPage is the most events one GET /api/v1/events answers; a caller
// asking for more gets a next cursor and pages.
const MaxListPage = 500

// Event delivery states.
const (
	StatePending   = "pending"   // stored, not yet acked by a CLI
	StateDelivered = "delivered" // acked by a CLI, and the app's last answer was 2xx
	// StateFailed: acked by a CLI, but the app's last answer was not 2xx or
	// there was none (the delivery failed), or retries were exhausted. A
	// failed event is not sent again by itself; replay it.
	StateFailed = "failed"
)

// AnswerOK reports whether resp is an answer that counts as delivered: a
// 2xx status.
func AnswerOK(resp *capture.Response) bool {
	return resp != nil && resp.Status >= 200 && resp.Status <= 299
}

// RecordState is the state a record shows for a stored state and response:
// a delivered event whose last answer was not 2xx is failed.
func RecordState(stored string, resp *capture.Response) string {
	if stored == StateDelivered && !AnswerOK(resp) {
		return StateFailed
	}
	return stored
}

// EventRecord is a stored event with what is known of its delivery. In JSON
// it also carries the event's id at the top level ("id", the same as
// request.id), for scripts.
type EventRecord struct {
	Request     *capture.Request  `json:"request"`
	State       string            `json:"state"`
	Attempts    int               `json:"attempts"` // times sent to a CLI
	Response    *capture.Response `json:"response,omitempty"`
	DeliveredAt *time.Time        `json:"delivered_at,omitempty"`
	// Retries counts the retryable answers (5xx, 429, none) the app gave
	// under a CLI's --retry; NextAttemptAt is when a pending event is sent
	// again.
	Retries       int        `json:"retries,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

// MarshalJSON adds "id" beside the record's fields.
func (r EventRecord) MarshalJSON() ([]byte, error) {
	type plain EventRecord
	out := struct {
		ID string `json:"id"`
		plain
	}{plain: plain(r)}
	if r.Request != nil {
		out.ID = r.Request.ID
	}
	return json.Marshal(out)
}

// EventList is the body of GET /api/v1/events.
type EventList struct {
	Events []EventRecord `json:"events"`
	// Next is the cursor of the page after this one, "" when this is the
	// last.
	Next string `json:"next,omitempty"`
}

// RestoreRaw gives the record's strings back the exact bytes JSON could not
// carry (capture.Request.RestoreRaw). Call it once after decoding.
func (r *EventRecord) RestoreRaw() {
	r.Request.RestoreRaw()
	r.Response.RestoreRaw()
}

// RestoreRaw is EventRecord.RestoreRaw for every event.
func (l *EventList) RestoreRaw() {
	for i := range l.Events {
		l.Events[i].RestoreRaw()
	}
}

// SetRaw records the exact bytes of the strings JSON cannot carry
// (capture.Request.SetRaw). Call it before encoding.
func (r *ReplayRecord) SetRaw() {
	if r.Request != nil {
		r.Request.SetRaw()
	}
	if r.Response != nil {
		r.Response.SetRaw()
	}
}

// RestoreRaw is EventRecord.RestoreRaw for a replay record.
func (r *ReplayRecord) RestoreRaw() {
	r.Request.RestoreRaw()
	r.Response.RestoreRaw()
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
