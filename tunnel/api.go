package tunnel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookctl/hookctl/tunnel/wire"
)

// APIClient talks to the relay's HTTP API (wire.EventsPath and friends).
type APIClient struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// NewAPIClient returns a client for the relay at relayURL. A non-empty token
// is sent as a bearer token.
func NewAPIClient(relayURL, token string) (*APIClient, error) {
	u, err := url.Parse(strings.TrimSpace(relayURL))
	if err != nil {
		return nil, fmt.Errorf("relay URL: %w", err)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	case "http", "https":
	default:
		return nil, fmt.Errorf("relay URL %q: scheme must be http or https", relayURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("relay URL %q: no host", relayURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return &APIClient{base: u, token: token, hc: &http.Client{Timeout: 60 * time.Second}}, nil
}

// WithHandler returns a copy of c that serves requests with h in-process
// instead of over the network (used to read a relay's store without a
// server running).
func (c *APIClient) WithHandler(h http.Handler) *APIClient {
	cp := *c
	cp.hc = &http.Client{Transport: handlerTransport{h}}
	return &cp
}

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &responseRecorder{header: make(http.Header), status: http.StatusOK}
	t.h.ServeHTTP(rec, req)
	return &http.Response{
		StatusCode:    rec.status,
		Status:        http.StatusText(rec.status),
		Header:        rec.header,
		Body:          io.NopCloser(&rec.body),
		ContentLength: int64(rec.body.Len()),
		Request:       req,
		Proto:         "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

type responseRecorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header { return r.header }
func (r *responseRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}
func (r *responseRecorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

// APIError is an error answer from the relay's API.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != "" {
		return fmt.Sprintf("relay: %s (%s, HTTP %d)", msg, e.Code, e.Status)
	}
	return fmt.Sprintf("relay: %s (HTTP %d)", msg, e.Status)
}

// Hint suggests a fix for the common refusals.
func (e *APIError) Hint() string {
	switch e.Status {
	case http.StatusUnauthorized:
		return "check --token or HOOKCTL_TOKEN"
	case http.StatusForbidden:
		return "this event's endpoint belongs to another token"
	}
	return ""
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// ErrNotFound matches the error for an unknown event id.
var ErrNotFound = errors.New("not found")

// EventsQuery filters Events.
type EventsQuery struct {
	Endpoint string
	Limit    int    // events wanted; Events asks for at most wire.MaxListPage
	Before   string // an event id: only older events
	After    string // an event id: only newer events
	// OldestFirst lists in delivery order instead of newest first.
	OldestFirst bool
	State       string    // wire.StatePending, StateDelivered or StateFailed; "" = any
	Since       time.Time // received at or after; zero = any
	Until       time.Time // received before; zero = any
}

// Events lists one page of stored events, newest first (or OldestFirst).
// The result is never nil.
func (c *APIClient) Events(ctx context.Context, q EventsQuery) ([]wire.EventRecord, error) {
	list, err := c.EventsPage(ctx, q)
	return list.Events, err
}

// EventsPage is Events with the cursor of the next page (list.Next, "" on
// the last page).
func (c *APIClient) EventsPage(ctx context.Context, q EventsQuery) (wire.EventList, error) {
	v := url.Values{}
	if q.Endpoint != "" {
		v.Set("endpoint", q.Endpoint)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(min(q.Limit, wire.MaxListPage)))
	}
	if q.Before != "" {
		v.Set("before", q.Before)
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.OldestFirst {
		v.Set("order", "oldest")
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	var list wire.EventList
	if err := c.do(ctx, http.MethodGet, wire.EventsPath, v, nil, &list); err != nil {
		return wire.EventList{Events: []wire.EventRecord{}}, err
	}
	list.RestoreRaw()
	if list.Events == nil {
		list.Events = []wire.EventRecord{}
	}
	return list, nil
}

// EachEvent calls fn for up to max events (max <= 0: all) that q selects,
// in the order Events gives, paging through the relay's API: each event
// once, however many there are. q.Limit is ignored. It stops at fn's first
// error and returns it.
func (c *APIClient) EachEvent(ctx context.Context, q EventsQuery, max int, fn func(wire.EventRecord) error) error {
	n := 0
	for {
		q.Limit = wire.MaxListPage
		if max > 0 {
			q.Limit = min(max-n, wire.MaxListPage)
		}
		list, err := c.EventsPage(ctx, q)
		if err != nil {
			return err
		}
		for _, rec := range list.Events {
			if err := fn(rec); err != nil {
				return err
			}
			n++
		}
		if list.Next == "" || (max > 0 && n >= max) {
			return nil
		}
		if q.OldestFirst {
			q.After = list.Next
		} else {
			q.Before = list.Next
		}
	}
}

// Event returns one stored event.
func (c *APIClient) Event(ctx context.Context, id string) (*wire.EventRecord, error) {
	var rec wire.EventRecord
	if err := c.do(ctx, http.MethodGet, wire.EventsPath+"/"+url.PathEscape(id), nil, nil, &rec); err != nil {
		return nil, err
	}
	rec.RestoreRaw()
	return &rec, nil
}

// RecordReplay stores a replay of event id and the answer it got; the relay
// returns the new event.
func (c *APIClient) RecordReplay(ctx context.Context, id string, rr *wire.ReplayRecord) (*wire.EventRecord, error) {
	var rec wire.EventRecord
	path := wire.EventsPath + "/" + url.PathEscape(id) + "/replays"
	rr.SetRaw() // the replay may have been edited since it was captured
	if err := c.do(ctx, http.MethodPost, path, nil, rr, &rec); err != nil {
		return nil, err
	}
	rec.RestoreRaw()
	return &rec, nil
}

// Health checks the relay's health endpoint.
func (c *APIClient) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, wire.HealthzPath, nil, nil, nil)
}

func (c *APIClient) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u.Redacted(), unwrapURLError(err))
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		var ae wire.APIError
		_ = json.Unmarshal(b, &ae)
		e := &APIError{Status: res.StatusCode, Code: ae.Code, Message: ae.Error}
		if e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		return e
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, u.Redacted(), err)
	}
	return nil
}
