package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
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
	// relay (capture.Client.MaxResponseBody; past it the body is cut and
	// marked with X-Hookctl-Truncated). The default stays under the websocket
	// frame limit once base64 encoded.
	MaxResponseBody int64
	Transport       http.RoundTripper // nil: the engine's own, connecting directly
	Now             func() time.Time
}

// DefaultMaxResponseBody is the default ForwarderConfig.MaxResponseBody.
const DefaultMaxResponseBody = capture.DefaultMaxResponseBody

// Forwarder delivers captured requests to the local app, through the one
// delivery engine (capture.Client).
type Forwarder struct {
	target *url.URL
	routes []Route
	client *capture.Client
}

// NewForwarder returns a Forwarder. Redirects are returned to the sender as
// they are, and bodies pass without compression either way.
func NewForwarder(cfg ForwarderConfig) (*Forwarder, error) {
	if cfg.Target == nil {
		return nil, errors.New("forwarder: no target")
	}
	routes := append([]Route(nil), cfg.Routes...)
	sort.SliceStable(routes, func(i, j int) bool { return len(routes[i].Prefix) > len(routes[j].Prefix) })
	return &Forwarder{
		target: cfg.Target,
		routes: routes,
		client: &capture.Client{
			Timeout:         cfg.Timeout,
			MaxResponseBody: cfg.MaxResponseBody,
			Proxy:           nil, // the app is local; never via HTTP_PROXY
			Transport:       cfg.Transport,
			Now:             cfg.Now,
		},
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

// Deliver sends req to its target and returns the app's response. An error
// means no response was received; it is a *capture.DeliveryError when the
// request was sent, or could not be (NotSent: the app could not be reached
// at all).
func (f *Forwarder) Deliver(ctx context.Context, req *capture.Request) (*capture.Response, error) {
	return f.client.Deliver(ctx, req, f.TargetFor(req.Path))
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
