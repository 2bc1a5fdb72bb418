package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// Deliverer delivers one captured request to the local app. *Forwarder is the
// real one; tests substitute their own.
type Deliverer interface {
	Deliver(ctx context.Context, req *capture.Request) (*capture.Response, error)
}

// Config configures a Client.
type Config struct {
	RelayURL string // http(s)://host[:port][/prefix]; ws(s):// is accepted too
	Token    string
	Endpoint string // empty: the relay picks a name; see Observer's Connected status
	Window   int    // events in flight; 0: the relay's default

	// Concurrency bounds deliveries running at once. The default (0) is
	// the connection's window, as many as the relay has in flight, so the
	// CLI never holds back what senders offer. Ordered delivers strictly
	// one at a time, in the relay's order.
	Concurrency int
	Ordered     bool

	Reply     *wire.ReplyOptions // how the relay answers senders; nil: passthrough
	Forwarder Deliverer          // required
	Observer  Observer           // nil: nothing is reported

	// Backoff spaces reconnects (default DefaultBackoff, capped at 30s);
	// RetryBackoff spaces re-deliveries to an app that is down (default
	// 250ms doubling to 5s).
	Backoff      Backoff
	RetryBackoff Backoff
	// MaxAttempts bounds deliveries that failed after reaching the app (a
	// reset connection, a malformed response); after it the failure is
	// reported to the relay and the event acked. An app that cannot be
	// reached at all is retried forever instead. Default 3.
	MaxAttempts int
	// Retry is how many times an event is retried after a retryable
	// answer (5xx, 429, 408, a timeout, no connection, no usable answer);
	// 0: off, as above. The relay keeps the schedule (wire.FeatureRetry),
	// so a restarted CLI continues it; once the retries are spent the
	// last answer is acked and the event is failed. Other answers are
	// final at once. RetrySchedule gives the delay before retry n
	// (default RetrySchedule(30s)); a Retry-After the app sends is
	// honoured when longer. With a relay that does not keep retries,
	// events are acked at once, as without Retry.
	Retry         int
	RetrySchedule Backoff

	// Keepalive; zero means wire.PingInterval and wire.DeadAfter.
	PingInterval time.Duration
	DeadAfter    time.Duration

	// TLSConfig is used for wss:// (https://) relays; nil means the
	// system's roots.
	TLSConfig *tls.Config

	// MaxMessage bounds one websocket message received (an event with its
	// base64 body). Default 1 GiB, the relay's own ceiling: an event the
	// relay accepted must never be refused here, or it would be redelivered
	// forever. Memory is only used for the frames that actually arrive.
	MaxMessage int
}

// State is the condition of the relay connection.
type State int

// Connection states, in the order a session goes through them.
const (
	StateConnecting   State = iota // first dial
	StateConnected                 // welcome received
	StateReconnecting              // the connection ended; waiting RetryIn before attempt Attempt
	StateOffline                   // Run has ended
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateOffline:
		return "offline"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Status describes a state change.
type Status struct {
	State   State
	Attempt int           // reconnecting: the attempt about to be made (1, 2, ...)
	Err     error         // reconnecting, offline: why the last connection ended
	RetryIn time.Duration // reconnecting: the wait before the attempt

	// connected: from the relay's welcome
	URL      string
	Endpoint string
	Session  string
	Pending  int
}

// Observer receives progress reports. Calls come from the client's goroutines,
// concurrently; implementations must be safe for that and must not block for
// long, since they run on the delivery path.
type Observer interface {
	StateChanged(Status)
	EventReceived(req *capture.Request)
	// EventDelivered reports the app's response, or with resp.Error set, a
	// delivery given up on. Either way the event is acked.
	EventDelivered(req *capture.Request, resp *capture.Response)
	// DeliveryFailed reports a failed attempt that will be retried after
	// retryIn; the event stays pending.
	DeliveryFailed(req *capture.Request, err error, attempt int, retryIn time.Duration)
}

// PermanentError is a refusal by the relay that retrying cannot fix: a bad
// token, an endpoint owned by someone else, an invalid endpoint name, a
// protocol version the relay does not speak, or another CLI taking over the
// endpoint.
type PermanentError struct {
	Code    string // a wire.Code* value
	Message string
}

func (e *PermanentError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Code
	}
	if e.Code == wire.CodeReplaced {
		return "relay ended the session: " + msg
	}
	return "relay refused the connection: " + msg
}

// Hint suggests a fix, for the CLI's error printer.
func (e *PermanentError) Hint() string {
	switch e.Code {
	case wire.CodeUnauthorized:
		return "check --token or HOOKCTL_TOKEN (relay-server token create prints a token)"
	case wire.CodeForbidden:
		return "this endpoint belongs to another token; choose another with --endpoint"
	case wire.CodeBadEndpoint:
		return "endpoint names use " + wire.EndpointNameRule + "; pass one with --endpoint, or none for a generated name"
	case wire.CodeBadVersion:
		return "this hookctl and the relay speak different protocol versions; upgrade the older one"
	case wire.CodeReplaced:
		return "another hookctl listen took over this endpoint"
	}
	return ""
}

func isPermanent(m *wire.Message) bool {
	switch m.Code {
	case wire.CodeUnauthorized, wire.CodeForbidden, wire.CodeBadEndpoint, wire.CodeBadVersion, wire.CodeReplaced:
		return true
	}
	return m.Permanent
}

func relayError(m *wire.Message) error {
	if isPermanent(m) {
		return &PermanentError{Code: m.Code, Message: m.Text}
	}
	if m.Text != "" {
		return fmt.Errorf("relay error %s: %s", m.Code, m.Text)
	}
	return fmt.Errorf("relay error %s", m.Code)
}

// Client keeps a listening session with the relay. Create it with NewClient
// and call Run once.
type Client struct {
	cfg      Config
	location *url.URL
	origin   *url.URL
	obs      Observer

	mu       sync.Mutex
	endpoint string // the name in use; set from the first welcome

	paused atomic.Bool
	ctl    chan struct{} // wakes the writer to send pause/resume
}

// passthrough reports whether senders wait for the app's answer.
func (c *Client) passthrough() bool {
	return c.cfg.Reply == nil || c.cfg.Reply.Mode == "" || c.cfg.Reply.Mode == wire.ReplyPassthrough
}

// NewClient checks cfg and returns a Client.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Forwarder == nil {
		return nil, errors.New("tunnel: no forwarder")
	}
	loc, origin, err := listenURL(cfg.RelayURL)
	if err != nil {
		return nil, err
	}
	if cfg.Concurrency < 0 {
		return nil, errors.New("tunnel: negative concurrency")
	}
	if cfg.Ordered {
		cfg.Concurrency = 1
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.RetryBackoff == nil {
		cfg.RetryBackoff = Exponential(250*time.Millisecond, 5*time.Second)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Retry < 0 {
		return nil, errors.New("tunnel: negative retry count")
	}
	if cfg.RetrySchedule == nil {
		cfg.RetrySchedule = RetrySchedule(DefaultRetryBackoff)
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = wire.PingInterval
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = wire.DeadAfter
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = 1 << 30
	}
	obs := cfg.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	return &Client{
		cfg:      cfg,
		location: loc,
		origin:   origin,
		obs:      obs,
		endpoint: cfg.Endpoint,
		ctl:      make(chan struct{}, 1),
	}, nil
}

// Endpoint returns the endpoint name in use: the configured one, or the one
// the relay assigned once connected.
func (c *Client) Endpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endpoint
}

// Pause asks the relay to stop sending new events; events already received
// are still delivered. It holds across reconnects until Resume.
func (c *Client) Pause() { c.paused.Store(true); c.poke() }

// Resume undoes Pause.
func (c *Client) Resume() { c.paused.Store(false); c.poke() }

// Paused reports whether Pause is in effect.
func (c *Client) Paused() bool { return c.paused.Load() }

func (c *Client) poke() {
	select {
	case c.ctl <- struct{}{}:
	default:
	}
}

// Run connects and delivers until ctx ends (it then returns nil) or the relay
// refuses the session permanently (a *PermanentError). Any other failure is
// followed by a reconnect after a backoff, forever. Run returns only after
// every goroutine it started has ended.
func (c *Client) Run(ctx context.Context) error {
	c.obs.StateChanged(Status{State: StateConnecting, Endpoint: c.Endpoint()})
	attempt := 0
	for {
		welcomed, err := c.session(ctx)
		if ctx.Err() != nil {
			c.obs.StateChanged(Status{State: StateOffline})
			return nil
		}
		var perm *PermanentError
		if errors.As(err, &perm) {
			c.obs.StateChanged(Status{State: StateOffline, Err: err})
			return err
		}
		if welcomed {
			attempt = 0
		}
		attempt++
		d := c.cfg.Backoff(attempt)
		c.obs.StateChanged(Status{State: StateReconnecting, Attempt: attempt, Err: err, RetryIn: d})
		if sleep(ctx, d) != nil {
			c.obs.StateChanged(Status{State: StateOffline})
			return nil
		}
	}
}

type nopObserver struct{}

func (nopObserver) StateChanged(Status)                                        {}
func (nopObserver) EventReceived(*capture.Request)                             {}
func (nopObserver) EventDelivered(*capture.Request, *capture.Response)         {}
func (nopObserver) DeliveryFailed(*capture.Request, error, int, time.Duration) {}
