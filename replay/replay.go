// Package replay re-delivers captured requests — to any target, edited,
// re-signed with a fresh timestamp, repeated — and exports them as curl, HAR
// 1.2 or raw HTTP.
//
// Every delivery goes through capture.Client, the engine the tunnel forwards
// with, so a replay carries the original method, path, query, header values
// and body bytes unless the user edited or re-signed it, and its response is
// recorded as the tunnel records one.
package replay

import (
	"context"
	"errors"
	"fmt"
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

// DefaultMaxResponseBody bounds how much of a target's response body is kept
// by the default client: a recorded replay, request and response, must fit
// the relay API's limit.
const DefaultMaxResponseBody = 10 << 20

// Options configure Run.
type Options struct {
	Target      *url.URL        // where to deliver; required
	Count       int             // identical copies to deliver; 0 means 1
	Concurrency int             // copies in flight at once; 0 means 1
	Client      *capture.Client // nil: NewClient's, shared
	Signer      Signer          // when set, the copy is re-signed with Now() before delivery
	Recorder    Recorder        // when set, each delivery is recorded as a new event
	Now         func() time.Time
}

// Result is one delivered copy.
type Result struct {
	// Request is what was sent: ReplayOf is the original's id, ID the
	// recorded event's id (empty when not recorded).
	Request *capture.Request
	// Response is the target's answer; Response.Error is set when there was
	// none (connection refused, timeout).
	Response *capture.Response
	// Err is the delivery error when there was no response (Response.Error
	// is its text): a *capture.DeliveryError says why.
	Err error
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
		client = defaultClient()
	}
	if opts.Target == nil {
		return Result{Request: req, Response: &capture.Response{Error: ErrNoTarget.Error(), At: now()}, Err: ErrNoTarget}
	}
	resp, err := Deliver(ctx, client, req, opts.Target, now)
	res := Result{Request: req, Response: resp, Err: err}
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

// NewClient returns a client for replays: the delivery engine (no redirects
// followed, nothing decompressed, hop-by-hop headers dropped from the
// answer, a body past DefaultMaxResponseBody cut and marked), through
// HTTP_PROXY when the environment sets it, since a replay may target any
// host, with a timeout of 60 s.
func NewClient() *capture.Client {
	return &capture.Client{
		Timeout:         60 * time.Second,
		MaxResponseBody: DefaultMaxResponseBody,
		Proxy:           http.ProxyFromEnvironment,
	}
}

// defaultClient is shared by every replay without a client of its own, so
// connections are reused across replays (the inspector's replay key).
var defaultClient = sync.OnceValue(NewClient)

// Deliver sends req to target once and returns what came back: the
// target's response, or, when there was none, one with Error set and no
// status, and the delivery error. now times the attempt that failed.
func Deliver(ctx context.Context, client *capture.Client, req *capture.Request, target *url.URL, now func() time.Time) (*capture.Response, error) {
	start := now()
	resp, err := client.Deliver(ctx, req, target)
	if err != nil {
		at := now()
		return &capture.Response{Error: err.Error(), At: at, Duration: at.Sub(start)}, err
	}
	resp.At = now() // the caller's clock, as on failure; Duration is the engine's
	return resp, nil
}
