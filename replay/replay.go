// Package replay re-delivers captured requests — to any target, edited,
// re-signed with a fresh timestamp, repeated — and exports them as curl, HAR
// 1.2 or raw HTTP.
//
// Every delivery is built by capture.Request.NewHTTPRequest, the function the
// tunnel forwards with, so a replay carries the original method, path, query,
// header values and body bytes unless the user edited or re-signed it.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// Signer recomputes a request's signature headers for its current body with
// the timestamp now. The fixtures' signature schemes, bound to a secret,
// satisfy it through a small adapter in cmd.
type Signer interface {
	Sign(req *capture.Request, now time.Time) error
}

// Verifier checks a request's signature; a nil error means it is valid.
type Verifier interface {
	Verify(req *capture.Request, now time.Time) error
}

// Recorder stores a replay as a new event linked to originalID and returns
// the new event's id. The relay API client satisfies it through cmd.
type Recorder interface {
	RecordReplay(ctx context.Context, originalID string, req *capture.Request, resp *capture.Response) (string, error)
}

// DefaultMaxResponseBody bounds how much of a target's response body is kept.
const DefaultMaxResponseBody = 10 << 20

// Options configure Run.
type Options struct {
	Target      *url.URL // where to deliver; required
	Count       int      // identical copies to deliver; 0 means 1
	Concurrency int      // copies in flight at once; 0 means 1
	Client      *http.Client
	Signer      Signer   // when set, the copy is re-signed with Now() before delivery
	Recorder    Recorder // when set, each delivery is recorded as a new event
	Now         func() time.Time

	MaxResponseBody int64 // 0 means DefaultMaxResponseBody
}

// Result is one delivered copy.
type Result struct {
	// Request is what was sent: ReplayOf is the original's id, ID the
	// recorded event's id (empty when not recorded).
	Request *capture.Request
	// Response is the target's answer; Response.Error is set when there was
	// none (connection refused, timeout).
	Response *capture.Response
	// RecordErr is set when the delivery happened but recording it failed.
	RecordErr error
}

// ErrNoTarget is returned when Options.Target is missing.
var ErrNoTarget = errors.New("no replay target: pass --to URL")

// Prepare returns the copy of orig that a replay sends: a new request linked
// to orig by ReplayOf, received now, re-signed when s is set. orig is not
// modified.
func Prepare(orig *capture.Request, s Signer, now time.Time) (*capture.Request, error) {
	r := Clone(orig)
	r.ID = ""
	r.ReplayOf = orig.ID
	r.ReceivedAt = now
	if s != nil {
		if err := s.Sign(r, now); err != nil {
			return nil, fmt.Errorf("re-sign: %w", err)
		}
	}
	return r, nil
}

// Clone returns a deep copy of r.
func Clone(r *capture.Request) *capture.Request {
	c := *r
	c.Headers = slices.Clone(r.Headers)
	c.Body = slices.Clone(r.Body)
	c.Raw = maps.Clone(r.Raw)
	return &c
}

// Run delivers opts.Count copies of orig to opts.Target, at most
// opts.Concurrency at once, and records each when a Recorder is set. A
// delivery that gets no response is a Result with Response.Error set, not an
// error; Run fails only on bad options or a request that cannot be built.
// Results are in delivery-start order.
func Run(ctx context.Context, orig *capture.Request, opts Options) ([]Result, error) {
	if opts.Target == nil {
		return nil, ErrNoTarget
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	count := max(opts.Count, 1)
	workers := min(max(opts.Concurrency, 1), count)
	req, err := Prepare(orig, opts.Signer, now())
	if err != nil {
		return nil, err
	}
	// Build once up front so a bad request fails before anything is sent.
	if _, err := req.NewHTTPRequest(ctx, opts.Target); err != nil {
		return nil, err
	}
	results := make([]Result, count)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				results[i] = Send(ctx, Clone(req), opts)
			}
		})
	}
	for i := range count {
		next <- i
	}
	close(next)
	wg.Wait()
	return results, nil
}

// Send delivers a request already prepared by Prepare (ReplayOf set) once
// to opts.Target and records it when opts.Recorder is set. Count,
// Concurrency and Signer are not used. The inspector's replay key uses it.
func Send(ctx context.Context, req *capture.Request, opts Options) Result {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	client := opts.Client
	if client == nil {
		client = NewClient()
	}
	limit := opts.MaxResponseBody
	if limit <= 0 {
		limit = DefaultMaxResponseBody
	}
	if opts.Target == nil {
		return Result{Request: req, Response: &capture.Response{Error: ErrNoTarget.Error(), At: now()}}
	}
	resp := Deliver(ctx, client, req, opts.Target, limit, now)
	res := Result{Request: req, Response: resp}
	if opts.Recorder != nil && ctx.Err() == nil {
		id, err := opts.Recorder.RecordReplay(ctx, req.ReplayOf, req, resp)
		if err != nil {
			res.RecordErr = fmt.Errorf("record replay: %w", err)
		} else {
			req.ID = id
		}
	}
	return res
}

// NewClient returns the HTTP client replays use by default: no redirects
// followed (the app's own answer is what matters), no cookie jar, and no
// transparent compression — Go's default transport would add
// "Accept-Encoding: gzip" to a request that had none and decompress the
// answer, so the app would not see the original headers and the recorded
// response would not be what the app sent (the tunnel's forwarder does the
// same).
func NewClient() *http.Client {
	return &http.Client{
		Transport: transport(),
		Timeout:   60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Deliver sends req to target once and returns what came back. At most limit
// bytes of the response body are kept.
func Deliver(ctx context.Context, client *http.Client, req *capture.Request, target *url.URL, limit int64, now func() time.Time) *capture.Response {
	start := now()
	out := &capture.Response{}
	hreq, err := req.NewHTTPRequest(ctx, target)
	if err != nil {
		out.Error = err.Error()
		out.At = now()
		return out
	}
	hresp, err := client.Do(hreq)
	if err != nil {
		out.Error = deliveryError(err, target)
		out.At = now()
		out.Duration = out.At.Sub(start)
		return out
	}
	defer hresp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(hresp.Body, limit))
	out.Status = hresp.StatusCode
	out.Headers = capture.HeadersFrom(hresp.Header)
	out.Body = body
	if err != nil {
		out.Error = fmt.Sprintf("read response body: %v", err)
	}
	out.At = now()
	out.Duration = out.At.Sub(start)
	return out
}

// transport is shared by every default client so that connections are
// reused across replays instead of one idle pool per replay.
var transport = sync.OnceValue(func() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true
	return tr
})

func deliveryError(err error, target *url.URL) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	msg := err.Error()
	if isConnRefused(err) {
		msg = fmt.Sprintf("connection refused: is your app listening on %s?", target.Host)
	}
	return msg
}
