package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// Route sends requests whose path starts with Prefix to Target. The path is
// kept as it is: /github/push with a route /github=localhost:3001 arrives as
// localhost:3001/github/push.
type Route struct {
	Prefix string
	Target *url.URL
}

// ParseRoute parses a --route value, PREFIX=TARGET, e.g. /github=localhost:3001.
func ParseRoute(s string) (Route, error) {
	prefix, target, ok := strings.Cut(s, "=")
	if !ok || !strings.HasPrefix(prefix, "/") {
		return Route{}, fmt.Errorf("route %q: want /prefix=target, e.g. /github=localhost:3001", s)
	}
	u, err := capture.ParseTarget(target)
	if err != nil {
		return Route{}, fmt.Errorf("route %q: %w", s, err)
	}
	if p := strings.TrimSuffix(prefix, "/"); p != "" {
		prefix = p
	}
	return Route{Prefix: prefix, Target: u}, nil
}

// ForwarderConfig configures a Forwarder.
type ForwarderConfig struct {
	Target  *url.URL // the default target; required
	Routes  []Route  // longest matching prefix wins over Target
	Timeout time.Duration
	// MaxResponseBody caps the app's response body kept and sent back to the
	// relay. Past it the body is cut at the limit, Content-Length is dropped
	// and X-Hookctl-Truncated is set to the number of bytes received. The
	// default (16 MiB) stays under the websocket frame limit once base64
	// encoded.
	MaxResponseBody int64
	Transport       http.RoundTripper // nil: a transport made for forwarding
	Now             func() time.Time
}

// DefaultMaxResponseBody is the default ForwarderConfig.MaxResponseBody.
const DefaultMaxResponseBody = 16 << 20

// Forwarder delivers captured requests to the local app.
type Forwarder struct {
	target  *url.URL
	routes  []Route
	client  *http.Client
	maxBody int64
	now     func() time.Time
}

// NewForwarder returns a Forwarder. Redirects are returned to the sender as
// they are, and bodies pass without compression either way.
func NewForwarder(cfg ForwarderConfig) (*Forwarder, error) {
	if cfg.Target == nil {
		return nil, errors.New("forwarder: no target")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxResponseBody <= 0 {
		cfg.MaxResponseBody = DefaultMaxResponseBody
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	rt := cfg.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 nil, // the app is local; never via HTTP_PROXY
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			DisableCompression:    true,
			MaxIdleConnsPerHost:   64, // a delivery per event in flight: the relay's default window
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			ResponseHeaderTimeout: cfg.Timeout,
		}
	}
	routes := append([]Route(nil), cfg.Routes...)
	sort.SliceStable(routes, func(i, j int) bool { return len(routes[i].Prefix) > len(routes[j].Prefix) })
	return &Forwarder{
		target: cfg.Target,
		routes: routes,
		client: &http.Client{
			Transport: rt,
			Timeout:   cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		maxBody: cfg.MaxResponseBody,
		now:     cfg.Now,
	}, nil
}

// Close releases idle connections to the app.
func (f *Forwarder) Close() { f.client.CloseIdleConnections() }

// Targets lists the default target and the routes, for display.
func (f *Forwarder) Targets() []string {
	out := []string{f.target.String()}
	for _, r := range f.routes {
		out = append(out, r.Prefix+"="+r.Target.String())
	}
	return out
}

// TargetFor returns the target for a request path: the longest route prefix
// that matches whole path segments, else the default.
func (f *Forwarder) TargetFor(path string) *url.URL {
	for _, r := range f.routes {
		if r.Prefix == "/" || path == r.Prefix || strings.HasPrefix(path, r.Prefix+"/") {
			return r.Target
		}
	}
	return f.target
}

// AppDownError means the local app could not be reached at all: nothing was
// delivered, so the event is retried and stays pending.
type AppDownError struct {
	Target string // host:port
	Err    error
}

func (e *AppDownError) Error() string {
	if errors.Is(e.Err, syscall.ECONNREFUSED) {
		return fmt.Sprintf("connection refused: is your app listening on %s?", e.Target)
	}
	return fmt.Sprintf("cannot reach %s: %v", e.Target, e.Err)
}

func (e *AppDownError) Unwrap() error { return e.Err }

// Deliver sends req to its target and returns the app's response. An error
// means no response was received; it is an *AppDownError when the app could
// not be reached at all.
func (f *Forwarder) Deliver(ctx context.Context, req *capture.Request) (*capture.Response, error) {
	target := f.TargetFor(req.Path)
	hr, err := req.NewHTTPRequest(ctx, target)
	if err != nil {
		return nil, err
	}
	start := f.now()
	res, err := f.client.Do(hr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, &AppDownError{Target: target.Host, Err: err}
		}
		return nil, fmt.Errorf("forward to %s: %w", target.Host, unwrapURLError(err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, f.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read response from %s: %w", target.Host, unwrapURLError(err))
	}
	h := res.Header // ours alone: no copy needed
	capture.RemoveHopByHop(h)
	resp := &capture.Response{
		Status:   res.StatusCode,
		Headers:  capture.HeadersFrom(h),
		Body:     body,
		Duration: f.now().Sub(start),
		At:       f.now(),
	}
	if int64(len(body)) > f.maxBody {
		rest, _ := io.Copy(io.Discard, res.Body)
		resp.Truncate(f.maxBody, int64(len(body))+rest)
	}
	return resp, nil
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the method
// and URL the caller already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
