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
	Limit    int
	Before   string // an event id: only older events
}

// Events lists stored events, newest first. The result is never nil.
func (c *APIClient) Events(ctx context.Context, q EventsQuery) ([]wire.EventRecord, error) {
	v := url.Values{}
	if q.Endpoint != "" {
		v.Set("endpoint", q.Endpoint)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Before != "" {
		v.Set("before", q.Before)
	}
	var list wire.EventList
	if err := c.do(ctx, http.MethodGet, wire.EventsPath, v, nil, &list); err != nil {
		return nil, err
	}
	list.RestoreRaw()
	if list.Events == nil {
		list.Events = []wire.EventRecord{}
	}
	return list.Events, nil
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
