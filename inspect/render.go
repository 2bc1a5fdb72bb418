// Package inspect shows captured requests: the plain one-line-per-event log
// and the NDJSON stream printed by `hookctl listen`, and (in inspect/tui) the
// interactive inspector.
package inspect

import (
	"fmt"
	json "github.com/goccy/go-json"
	"io"
	"sync"
	"time"

	"github.com/fatih/color"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// Ready describes a listening session that has started.
type Ready struct {
	URL      string   `json:"url"`
	Endpoint string   `json:"endpoint"`
	Forward  []string `json:"forward"`
}

// Styles colour the log. A nil colour prints plain text; the caller decides
// (terminal, NO_COLOR) by what it passes.
type Styles struct {
	Success, Redirect, ClientError, ServerError, Faint *color.Color
}

func paint(c *color.Color, s string) string {
	if c == nil {
		return s
	}
	return c.Sprint(s)
}

// LogOptions configure a LogRenderer.
type LogOptions struct {
	Styles Styles
	// TTY selects short local clock times ("15:04:05"); otherwise times are
	// RFC 3339 in UTC with milliseconds, for logs and scripts.
	TTY bool
	Now func() time.Time
}

// LogRenderer prints one aligned line per delivered event:
//
//	TIME  METHOD  PATH  STATUS  DURATION  ID  [→ ROUTE]  [ERROR]
//
// ROUTE is the listen --route that took the event, when one did; an event
// no route took under --route-only shows SKIP and why.
// Delivery failures that will be retried go to a separate (diagnostic)
// writer, at most one line per distinct error every few seconds, so an app
// that is down does not flood the screen.
type LogRenderer struct {
	mu   sync.Mutex
	out  io.Writer
	diag io.Writer
	opts LogOptions

	lastErr   string
	lastErrAt time.Time
}

// NewLogRenderer returns a renderer writing events to out and retry notices
// to diag.
func NewLogRenderer(out, diag io.Writer, opts LogOptions) *LogRenderer {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &LogRenderer{out: out, diag: diag, opts: opts}
}

// pathWidth is the column the path is padded to; longer paths push the rest
// of their line right rather than being cut.
const pathWidth = 32

func (r *LogRenderer) stamp(t time.Time) string {
	if t.IsZero() {
		t = r.opts.Now()
	}
	if r.opts.TTY {
		return t.Local().Format("15:04:05")
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// Event prints a delivered event.
func (r *LogRenderer) Event(req *capture.Request, resp *capture.Response) {
	r.event(req, resp, 0)
}

// EventFailed prints an event whose retries ran out after attempts: its
// last answer, marked failed.
func (r *LogRenderer) EventFailed(req *capture.Request, resp *capture.Response, attempts int) {
	r.event(req, resp, attempts)
}

// event prints an event's line; failedAfter > 0 marks it failed.
func (r *LogRenderer) event(req *capture.Request, resp *capture.Response, failedAfter int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.opts.Styles
	status := "ERR"
	var c *color.Color
	switch {
	case resp != nil && resp.Skipped:
		status, c = "SKIP", s.ClientError
	case resp == nil || resp.Error != "":
		c = s.ServerError
	case resp.Status >= 500:
		status, c = fmt.Sprint(resp.Status), s.ServerError
	case resp.Status >= 400:
		status, c = fmt.Sprint(resp.Status), s.ClientError
	case resp.Status >= 300:
		status, c = fmt.Sprint(resp.Status), s.Redirect
	default:
		status, c = fmt.Sprint(resp.Status), s.Success
	}
	dur := ""
	if resp != nil && resp.Error == "" {
		dur = FormatDuration(resp.Duration)
	}
	// SKIP takes one column of the (then empty) duration's, so the ids
	// stay aligned.
	durWidth := 8 - max(0, len(status)-3)
	line := fmt.Sprintf("%s  %-7s %-*s %s %*s  %s", r.stamp(req.ReceivedAt), Printable(req.Method, false), pathWidth, Printable(req.URI(), false),
		paint(c, fmt.Sprintf("%3s", status)), durWidth, dur, paint(s.Faint, req.ID))
	if resp != nil && resp.Route != "" {
		line += "  → " + Printable(resp.Route, false)
	}
	switch {
	case resp != nil && resp.Skipped:
		line += "  " + paint(s.ClientError, Printable(resp.Error, false))
	case resp != nil && resp.Error != "":
		line += "  " + paint(s.ServerError, Printable(resp.Error, false))
	}
	if failedAfter > 0 {
		line += "  " + paint(s.ServerError, fmt.Sprintf("failed after %d attempts", failedAfter))
	}
	fmt.Fprintln(r.out, line)
}

// DeliveryFailed notes a failed attempt that will be retried.
func (r *LogRenderer) DeliveryFailed(req *capture.Request, err error, attempt int, retryIn time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	msg := Printable(err.Error(), false)
	if msg == r.lastErr && now.Sub(r.lastErrAt) < 10*time.Second {
		return
	}
	r.lastErr, r.lastErrAt = msg, now
	fmt.Fprintf(r.diag, "%s (%s %s %s, attempt %d, retrying in %s; the event stays pending)\n",
		paint(r.opts.Styles.ServerError, msg), req.ID, Printable(req.Method, false), Printable(req.URI(), false), attempt, retryIn.Round(time.Millisecond))
}

// FormatDuration prints d compactly with a fixed number of decimals:
// 0.4ms, 12.3ms, 1.25s.
func FormatDuration(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// JSONRenderer prints NDJSON records, one per line, with stable keys:
//
//	{"type":"ready","url":...,"endpoint":...,"forward":[...]}
//	{"type":"event","id":...,"method":...,"path":...,"query":...,"status":200,"duration_ms":1.4,"received_at":...,"route":"header:X-GitHub-Event=push"}
//	{"type":"error","id":...,"method":...,"path":...,"query":...,"error":...,"attempt":1,"retry_in_ms":250}
//	{"type":"error","error":"...; reconnecting","attempt":2,"retry_in_ms":500}   (the relay connection)
//
// An event given up on (the app never answered usefully) is an "event"
// record with status 0 and an "error" field: it was acked. "route" names the
// listen --route that took the event (absent: --forward); an event no route
// took under --route-only has "state":"skipped", status 0 and the reason in
// "error" (acked, recorded as failed by the relay, replayable).
type JSONRenderer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSONRenderer returns a renderer writing to w.
func NewJSONRenderer(w io.Writer) *JSONRenderer {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &JSONRenderer{enc: enc}
}

// ReadyRecord is the first record of a session.
type ReadyRecord struct {
	Type string `json:"type"` // "ready"
	Ready
}

// EventRecord is printed per delivered event.
type EventRecord struct {
	Type       string    `json:"type"` // "event"
	ID         string    `json:"id"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Query      string    `json:"query"`
	Status     int       `json:"status"`
	DurationMS float64   `json:"duration_ms"`
	ReceivedAt time.Time `json:"received_at"`
	Error      string    `json:"error,omitempty"`
	// State is "failed" when the event's retries ran out (listen --retry),
	// after Attempts deliveries; "skipped" when no route took it under
	// --route-only; absent otherwise.
	State    string `json:"state,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	Route    string `json:"route,omitempty"`
}

// ErrorRecord is printed for a failed delivery attempt (ID set) or a failure
// of the session itself (ID empty).
type ErrorRecord struct {
	Type      string  `json:"type"` // "error"
	ID        string  `json:"id,omitempty"`
	Method    string  `json:"method,omitempty"`
	Path      string  `json:"path,omitempty"`
	Query     string  `json:"query,omitempty"`
	Error     string  `json:"error"`
	Attempt   int     `json:"attempt,omitempty"`
	RetryInMS float64 `json:"retry_in_ms,omitempty"`
}

func (r *JSONRenderer) write(v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.enc.Encode(v)
}

// Ready prints the ready record.
func (r *JSONRenderer) Ready(rd Ready) {
	if rd.Forward == nil {
		rd.Forward = []string{}
	}
	r.write(ReadyRecord{Type: "ready", Ready: rd})
}

// Event prints an event record.
func (r *JSONRenderer) Event(req *capture.Request, resp *capture.Response) {
	r.write(eventRecord(req, resp))
}

// EventFailed prints the event record of an event whose retries ran out,
// with "state": "failed" and its attempts.
func (r *JSONRenderer) EventFailed(req *capture.Request, resp *capture.Response, attempts int) {
	rec := eventRecord(req, resp)
	rec.State, rec.Attempts = "failed", attempts
	r.write(rec)
}

func eventRecord(req *capture.Request, resp *capture.Response) EventRecord {
	rec := EventRecord{Type: "event", ID: req.ID, Method: req.Method, Path: req.Path, Query: req.Query, ReceivedAt: req.ReceivedAt}
	if resp != nil {
		rec.Status = resp.Status
		rec.DurationMS = roundMS(resp.Duration)
		rec.Error = resp.Error
		rec.Route = resp.Route
		if resp.Skipped {
			rec.State = "skipped"
		}
	}
	return rec
}

// DeliveryFailed prints an error record for a failed attempt.
func (r *JSONRenderer) DeliveryFailed(req *capture.Request, err error, attempt int, retryIn time.Duration) {
	r.write(ErrorRecord{Type: "error", ID: req.ID, Method: req.Method, Path: req.Path, Query: req.Query,
		Error: err.Error(), Attempt: attempt, RetryInMS: roundMS(retryIn)})
}

// Reconnecting prints an error record for a lost relay connection that will
// be retried (attempt is the attempt about to be made).
func (r *JSONRenderer) Reconnecting(err error, attempt int, retryIn time.Duration) {
	r.write(ErrorRecord{Type: "error", Error: err.Error() + "; reconnecting", Attempt: attempt, RetryInMS: roundMS(retryIn)})
}

// Failed prints an error record for the session.
func (r *JSONRenderer) Failed(err error) {
	r.write(ErrorRecord{Type: "error", Error: err.Error()})
}

// roundMS converts d to milliseconds with three decimals.
func roundMS(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}
