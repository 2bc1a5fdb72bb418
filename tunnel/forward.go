package tunnel

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// ForwarderConfig configures a Forwarder.
type ForwarderConfig struct {
	// Target is where requests no route accepts go; nil only with
	// RouteOnly, which skips them instead (see Forwarder.Deliver).
	Target    *url.URL
	Routes    []Route // the first that matches wins, in order (see Pick)
	RouteOnly bool
	Timeout   time.Duration
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
	target    *url.URL
	routes    []Route
	routeOnly bool
	client    *capture.Client
	now       func() time.Time
}

// NewForwarder returns a Forwarder. Redirects are returned to the sender as
// they are, and bodies pass without compression either way.
func NewForwarder(cfg ForwarderConfig) (*Forwarder, error) {
	switch {
	case cfg.Target == nil && !cfg.RouteOnly:
		return nil, errors.New("forwarder: no target")
	case cfg.RouteOnly && len(cfg.Routes) == 0:
		return nil, errors.New("forwarder: route-only without routes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Forwarder{
		target:    cfg.Target,
		routes:    append([]Route(nil), cfg.Routes...),
		routeOnly: cfg.RouteOnly,
		now:       cfg.Now,
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

// Targets lists the default target and the routes, in the order they are
// tried, for display: http://localhost:3000, header:X-GitHub-Event=push=http://localhost:3001.
// With RouteOnly the default is "(unrouted: skipped)".
func (f *Forwarder) Targets() []string {
	def := "(unrouted: skipped)"
	if f.target != nil {
		def = f.target.String()
	}
	out := []string{def}
	for _, r := range f.routes {
		out = append(out, r.String()+"="+r.Target.String())
	}
	return out
}

// Pick returns the route req takes: the first of the routes, in the order
// given, that matches it. A path route that matches defers to a longer
// prefix that matches too, so path routes keep "the longest prefix wins"
// whatever their order. ok is false when no route matches; the request then
// goes to the default target, or is skipped with RouteOnly.
func (f *Forwarder) Pick(req *capture.Request) (r Route, ok bool) {
	var body jsonBody
	for i, r := range f.routes {
		if !r.match(req, &body) {
			continue
		}
		if r.Kind == RoutePath {
			for _, o := range f.routes[i+1:] {
				if o.Kind == RoutePath && len(o.Prefix) > len(r.Prefix) && o.matchPath(req.Path) {
					r = o
				}
			}
		}
		return r, true
	}
	return Route{}, false
}

// TargetFor returns the target for a request path by the path routes
// alone (header and JSON routes need the request: see Pick), else the
// default (nil with RouteOnly).
func (f *Forwarder) TargetFor(path string) *url.URL {
	var best *Route
	for i, r := range f.routes {
		if r.Kind == RoutePath && r.matchPath(path) && (best == nil || len(r.Prefix) > len(best.Prefix)) {
			best = &f.routes[i]
		}
	}
	if best != nil {
		return best.Target
	}
	return f.target
}

// Target returns where req goes (Pick, else the default target; nil when
// it would be skipped).
func (f *Forwarder) Target(req *capture.Request) *url.URL {
	if r, ok := f.Pick(req); ok {
		return r.Target
	}
	return f.target
}

// NotRouted is the Error of the answer to a request no route accepts under
// RouteOnly.
const NotRouted = "skipped: no --route matched and --route-only is set; replay it to deliver it"

// Deliver sends req to the target of its route (Pick) or the default one,
// and returns the app's response, with Route naming the route taken ("" for
// the default target). Under RouteOnly a request no route accepts is not
// sent: the answer is a response with Skipped set and Error NotRouted, final,
// so the event is acked and recorded as not delivered (replayable) rather
// than redelivered forever. An error means no response was received; it is
// a *capture.DeliveryError when the request was sent, or could not be
// (NotSent: the app could not be reached at all).
func (f *Forwarder) Deliver(ctx context.Context, req *capture.Request) (*capture.Response, error) {
	r, ok := f.Pick(req)
	target := f.target
	if ok {
		target = r.Target
	} else if f.routeOnly {
		return &capture.Response{Skipped: true, Error: NotRouted, At: f.now()}, nil
	}
	resp, err := f.client.Deliver(ctx, req, target)
	if !ok {
		return resp, err
	}
	if err != nil {
		return nil, &routedError{route: r.String(), err: err}
	}
	resp.Route = r.String()
	return resp, nil
}

// routedError is a delivery error on a route: the answer recorded for it
// (routeOf) still names the route.
type routedError struct {
	route string
	err   error
}

func (e *routedError) Error() string { return e.err.Error() }
func (e *routedError) Unwrap() error { return e.err }

// routeOf is the route a Deliver error happened on, or "".
func routeOf(err error) string {
	var re *routedError
	if errors.As(err, &re) {
		return re.route
	}
	return ""
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
