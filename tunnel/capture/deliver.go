package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// DefaultMaxResponseBody is the default Client.MaxResponseBody: it stays
// under the relay's websocket frame limit once base64 encoded.
const DefaultMaxResponseBody = 16 << 20

// DefaultTimeout is the default Client.Timeout.
const DefaultTimeout = 30 * time.Second

// dialTimeout bounds connecting: a target that does not accept within it is
// unreachable, not slow.
const dialTimeout = 10 * time.Second

// idleConnTimeout is how long a kept connection may stay unused.
const idleConnTimeout = 90 * time.Second

// Client delivers captured requests over HTTP. It is the one engine the
// tunnel's forwarder, replay, fire and check send with, so a target sees the
// same request and the caller gets the same answer and the same errors
// whichever command sent it.
//
// It never follows a redirect and never decompresses: the response is the
// target's, byte for byte, minus hop-by-hop headers (RemoveHopByHop). A body
// longer than MaxResponseBody is cut and marked (Response.Truncate). It speaks
// HTTP/1.1 only, so header names reach the target spelled as captured.
//
// Set the fields before the first Deliver; a Client is then safe for
// concurrent use and keeps its connections alive between deliveries.
type Client struct {
	// Timeout bounds a whole delivery, the response body included;
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxResponseBody is how much of a response body is kept; 0 means
	// DefaultMaxResponseBody. The rest is read (to learn the real size for
	// TruncatedHeader) and dropped.
	MaxResponseBody int64
	// MaxIdleConnsPerHost is how many idle connections to one target are
	// kept; 0 means 64, a delivery per event in the relay's default window.
	MaxIdleConnsPerHost int
	// Proxy chooses a proxy per request: nil connects directly (the
	// forwarder: the app is local), http.ProxyFromEnvironment honours
	// HTTP_PROXY (replay, fire and check may target remote hosts).
	Proxy func(*http.Request) (*url.URL, error)
	// Transport, when set, replaces the transport built from the fields
	// above; the redirect and timeout rules still apply.
	Transport http.RoundTripper
	// Now is the clock for Response.At and Duration; nil means time.Now.
	Now func() time.Time

	once   sync.Once
	hc     *http.Client
	direct *directTransport // nil with a Proxy or a Transport
}

func (c *Client) init() {
	c.once.Do(func() {
		timeout := c.Timeout
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		rt := c.Transport
		if rt == nil {
			perHost := c.MaxIdleConnsPerHost
			if perHost <= 0 {
				perHost = 64
			}
			dial := (&net.Dialer{Timeout: min(dialTimeout, timeout), KeepAlive: 30 * time.Second}).DialContext
			if c.Proxy == nil && directDelivery {
				c.direct = &directTransport{dial: dial, perHost: perHost, idleFor: idleConnTimeout}
			}
			rt = &http.Transport{
				Proxy:               c.Proxy,
				DialContext:         dial,
				DisableCompression:  true,
				MaxIdleConnsPerHost: perHost,
				IdleConnTimeout:     idleConnTimeout,
				TLSHandshakeTimeout: min(dialTimeout, timeout),
				// An app that answers 100 Continue late still gets the body.
				ExpectContinueTimeout: time.Second,
			}
		}
		c.hc = &http.Client{
			Transport: rt,
			Timeout:   timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	})
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) maxBody() int64 {
	if c.MaxResponseBody > 0 {
		return c.MaxResponseBody
	}
	return DefaultMaxResponseBody
}

// CloseIdleConnections closes the connections kept for reuse.
func (c *Client) CloseIdleConnections() {
	c.init()
	c.hc.CloseIdleConnections()
	if c.direct != nil {
		c.direct.closeIdle()
	}
}

// Deliver sends req to target (NewHTTPRequest) and returns the target's
// response, whatever its status. An error means no complete response was
// received; it is a *DeliveryError, except for a request that cannot be
// built (a dot segment in the path, a bad method), which was not sent.
func (c *Client) Deliver(ctx context.Context, req *Request, target *url.URL) (*Response, error) {
	c.init()
	hr, err := req.NewHTTPRequest(ctx, target)
	if err != nil {
		return nil, err
	}
	start := c.now()
	var res *http.Response
	if c.direct != nil && c.direct.accepts(hr) {
		deadline := time.Now().Add(c.hc.Timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		res, err = c.direct.roundTrip(hr, deadline)
	} else {
		res, err = c.hc.Do(hr)
	}
	if err != nil {
		return nil, NewDeliveryError(target, err)
	}
	defer res.Body.Close()
	limit := c.maxBody()
	body, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	var rest int64
	if err == nil && int64(len(body)) > limit {
		rest, err = io.Copy(io.Discard, res.Body)
	}
	if err != nil {
		return nil, NewDeliveryError(target, fmt.Errorf("reading the response body: %w", err))
	}
	h := res.Header // ours alone: no copy needed
	RemoveHopByHop(h)
	end := c.now()
	resp := &Response{
		Status:   res.StatusCode,
		Headers:  HeadersFrom(h),
		Body:     body,
		Duration: end.Sub(start),
		At:       end,
	}
	resp.Truncate(limit, int64(len(body))+rest)
	return resp, nil
}

// ErrorKind says why a delivery got no response.
type ErrorKind int

const (
	// KindOther is any other failure: a TLS error, a malformed response,
	// a cancelled context.
	KindOther ErrorKind = iota
	// KindRefused: nothing listens at the target's port. Nothing was sent.
	KindRefused
	// KindUnreachable: the host has no address or no route, or did not
	// accept a connection in time. Nothing was sent.
	KindUnreachable
	// KindTimeout: connected, but no complete response within the timeout.
	KindTimeout
	// KindReset: connected, but the target closed or reset the
	// connection before a complete response.
	KindReset
)

func (k ErrorKind) String() string {
	switch k {
	case KindRefused:
		return "refused"
	case KindUnreachable:
		return "unreachable"
	case KindTimeout:
		return "timeout"
	case KindReset:
		return "reset"
	}
	return "other"
}

// DeliveryError is a delivery that got no complete response.
type DeliveryError struct {
	Target *url.URL
	Kind   ErrorKind
	Err    error // the cause, without net/http's restating of method and URL
}

// NewDeliveryError classifies err, from delivering to (or dialing) target.
func NewDeliveryError(target *url.URL, err error) *DeliveryError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &DeliveryError{Target: target, Kind: kindOf(err), Err: err}
}

func kindOf(err error) ErrorKind {
	var dns *net.DNSError
	var op *net.OpError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return KindOther
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.As(err, &dns), errors.As(err, &op) && op.Op == "dial":
		return KindUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		// The transport closes the connection when its read side sees
		// the reset; a body still being written then fails with this.
		errors.Is(err, net.ErrClosed):
		return KindReset
	}
	return KindOther
}

func (e *DeliveryError) Error() string {
	host := e.host()
	switch e.Kind {
	case KindRefused:
		return fmt.Sprintf("connection refused: is your app listening on %s?", host)
	case KindUnreachable:
		return fmt.Sprintf("cannot reach %s: %v", host, e.Err)
	case KindTimeout:
		return fmt.Sprintf("no response from %s in time: %v", host, e.Err)
	case KindReset:
		if errors.Is(e.Err, io.EOF) || errors.Is(e.Err, io.ErrUnexpectedEOF) {
			return fmt.Sprintf("no response from %s: the connection was closed before a complete response (%v)", host, e.Err)
		}
	}
	return fmt.Sprintf("no response from %s: %v", host, e.Err)
}

func (e *DeliveryError) host() string {
	if e.Target == nil {
		return "the target"
	}
	return e.Target.Host
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Refused reports whether nothing listens at the target.
func (e *DeliveryError) Refused() bool { return e.Kind == KindRefused }

// Timeout reports whether the target was reached but did not answer in time.
func (e *DeliveryError) Timeout() bool { return e.Kind == KindTimeout }

// Reset reports whether the target closed the connection before answering.
func (e *DeliveryError) Reset() bool { return e.Kind == KindReset }

// NotSent reports whether no connection was made, so the target saw
// nothing: it is safe to send again.
func (e *DeliveryError) NotSent() bool { return e.Kind == KindRefused || e.Kind == KindUnreachable }
