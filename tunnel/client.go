package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/websocket"
	"golang.org/x/sync/errgroup"

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

// listenURL derives the websocket URL and an origin from a relay URL.
func listenURL(relay string) (loc, origin *url.URL, err error) {
	u, err := url.Parse(strings.TrimSpace(relay))
	if err != nil {
		return nil, nil, fmt.Errorf("relay URL: %w", err)
	}
	if u.Host == "" {
		return nil, nil, fmt.Errorf("relay URL %q: want http(s)://host[:port]", relay)
	}
	ws, httpScheme := "", ""
	switch u.Scheme {
	case "http", "ws":
		ws, httpScheme = "ws", "http"
	case "https", "wss":
		ws, httpScheme = "wss", "https"
	default:
		return nil, nil, fmt.Errorf("relay URL %q: scheme must be http or https", relay)
	}
	loc = &url.URL{Scheme: ws, Host: u.Host, Path: strings.TrimSuffix(u.Path, "/") + wire.ListenPath}
	origin = &url.URL{Scheme: httpScheme, Host: u.Host}
	return loc, origin, nil
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

// dial opens the websocket over an idleConn, so that the keepalive deadline
// means "nothing received (or sent) for DeadAfter" rather than "no whole
// message within DeadAfter": a 25 MiB event on a slow link takes longer
// than that and must not look like a dead relay.
func (c *Client) dial(ctx context.Context) (*websocket.Conn, *idleConn, error) {
	host := c.location.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		port := "80"
		if c.location.Scheme == "wss" {
			port = "443"
		}
		host = net.JoinHostPort(host, port)
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DeadAfter)
	defer cancel()
	d := &net.Dialer{}
	var nc net.Conn
	var err error
	if c.location.Scheme == "wss" {
		nc, err = (&tls.Dialer{NetDialer: d, Config: c.cfg.TLSConfig}).DialContext(dctx, "tcp", host)
	} else {
		nc, err = d.DialContext(dctx, "tcp", host)
	}
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, nil, fmt.Errorf("cannot reach the relay at %s: connection refused", c.location.Host)
		}
		return nil, nil, fmt.Errorf("connect to %s: %w", c.location.Host, err)
	}
	// The handshake has no context of its own: closing the connection
	// bounds it (and the idle deadline does too).
	stop := context.AfterFunc(dctx, func() { nc.Close() })
	defer stop()
	wcfg := &websocket.Config{Location: c.location, Origin: c.origin, Version: websocket.ProtocolVersionHybi13}
	ic := &idleConn{Conn: nc, idle: c.cfg.DeadAfter}
	ic.frames = wire.NewClientFrameChecker(idleReader{ic})
	ws, err := websocket.NewClient(wcfg, ic)
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if errors.Is(err, websocket.ErrBadStatus) {
			// An HTTP answer other than 101: usually --relay names the app
			// or another server, or a proxy in front of the relay refused.
			// Still retried: a proxy's 502 during a relay restart passes.
			return nil, nil, fmt.Errorf("%s refused the listen websocket with an HTTP error: is it a hookctl relay? (check --relay)", c.origin)
		}
		return nil, nil, fmt.Errorf("websocket handshake with %s: %w", c.location.Redacted(), err)
	}
	return ws, ic, nil
}

// errConnClosed ends a session whose connection closed without an error
// message from the relay.
var errConnClosed = errors.New("connection closed by the relay")

// session runs one connection: dial, hello, welcome, then a reader, a writer
// and the delivery workers until one of them fails or ctx ends.
func (c *Client) session(ctx context.Context) (welcomed bool, err error) {
	ws, ic, err := c.dial(ctx)
	if err != nil {
		return false, err
	}
	ws.MaxPayloadBytes = c.cfg.MaxMessage

	// The session outlives ctx by a short drain (see drain), so its own
	// context is detached; until the welcome, ctx ending ends it at once.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(sctx, func() { ws.Close() })
	defer stop()
	defer ws.Close()
	stopEarly := context.AfterFunc(ctx, cancel)
	defer stopEarly()

	hello := wire.Message{
		Type:     wire.TypeHello,
		Version:  wire.Version,
		Token:    c.cfg.Token,
		Endpoint: c.Endpoint(),
		Window:   c.cfg.Window,
		Reply:    c.cfg.Reply,
		Features: wire.NewFeatures(wire.FeatureResponseAck, wire.FeatureBinaryBody, wire.FeatureRetry),
	}
	if err := websocket.JSON.Send(ws, &hello); err != nil {
		return false, fmt.Errorf("send hello: %w", err)
	}
	var welcome wire.Message
	if err := websocket.JSON.Receive(ws, &welcome); err != nil {
		return false, fmt.Errorf("read welcome: %w", err)
	}
	if err := ic.frames.Took(false, -1); err != nil {
		return false, fmt.Errorf("read welcome: %w", err)
	}
	switch welcome.Type {
	case wire.TypeWelcome:
	case wire.TypeError:
		return false, relayError(&welcome)
	default:
		return false, fmt.Errorf("relay sent %q before welcome", welcome.Type)
	}
	if !stopEarly() {
		return false, ctx.Err() // ctx ended during the handshake
	}
	c.mu.Lock()
	if welcome.Endpoint != "" {
		c.endpoint = welcome.Endpoint
	}
	c.mu.Unlock()
	c.obs.StateChanged(Status{
		State:    StateConnected,
		URL:      welcome.URL,
		Endpoint: welcome.Endpoint,
		Session:  welcome.Session,
		Pending:  welcome.Pending,
	})

	// The relay keeps at most the welcome's window in flight, so a work
	// queue that size never blocks the reader (which would delay pongs).
	window := welcome.Window
	if window <= 0 {
		window = max(c.cfg.Window, 64)
	}
	concurrency := c.cfg.Concurrency
	if concurrency == 0 {
		concurrency = window
	}
	s := &conn{
		c:       c,
		ws:      ws,
		ic:      ic,
		maxBody: welcome.MaxBody,
		// An older relay names no features: it gets response and ack as
		// two messages.
		responseAck: welcome.Features.Has(wire.FeatureResponseAck),
		binary:      welcome.Features.Has(wire.FeatureBinaryBody),
		retry:       welcome.Features.Has(wire.FeatureRetry),
		out:         make(chan *wire.Message, window+concurrency+4),
		work:        make(chan job, window),
		seen:        make(map[string]bool),
		quit:        ctx.Done(),
		flush:       make(chan chan struct{}),
	}
	s.lastRecv.Store(time.Now().UnixNano())
	g, gctx := errgroup.WithContext(sctx)
	stop2 := context.AfterFunc(gctx, func() { ws.Close() })
	defer stop2()
	g.Go(func() error { return s.read(gctx) })
	g.Go(func() error { return s.write(gctx) })
	var workers sync.WaitGroup
	for range concurrency {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			return s.deliverLoop(gctx)
		})
	}
	workersDone := make(chan struct{})
	g.Go(func() error {
		workers.Wait()
		close(workersDone)
		return nil
	})
	g.Go(func() error { return s.drain(gctx, workersDone) })
	err = g.Wait()
	if errors.Is(err, errDrained) {
		err = ctx.Err()
	}
	return true, err
}

// drainGrace bounds how long a stopping client waits for deliveries in
// progress to finish and be acked.
const drainGrace = 3 * time.Second

// errDrained ends a session that stopped because the caller's context ended.
var errDrained = errors.New("session drained")

// drain ends the session once the caller's context has ended: deliveries
// in progress may finish (the app is not cut off mid-request) and their
// responses and acks are written, so those events are not delivered again
// on the next start; no new delivery or retry begins. It waits at most
// drainGrace.
func (s *conn) drain(ctx context.Context, workersDone <-chan struct{}) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.quit:
	}
	grace := time.NewTimer(drainGrace)
	defer grace.Stop()
	select {
	case <-workersDone:
	case <-grace.C:
		return errDrained
	case <-ctx.Done():
		return nil
	}
	flushed := make(chan struct{})
	select {
	case s.flush <- flushed:
	case <-grace.C:
		return errDrained
	case <-ctx.Done():
		return nil
	}
	select {
	case <-flushed:
	case <-grace.C:
	case <-ctx.Done():
		return nil
	}
	return errDrained
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

// conn is one connection's shared state.
type conn struct {
	c        *Client
	ws       *websocket.Conn
	ic       *idleConn          // under ws: the writer holds and releases its writes
	out      chan *wire.Message // to the writer; bounded
	work     chan job           // to the workers; the relay's window bounds it
	lastRecv atomic.Int64       // unix nanos of the last message received
	maxBody  int64              // the relay's limit on a response body; 0: none announced
	// responseAck: the relay accepted wire.FeatureResponseAck, so a
	// response carries its ack.
	responseAck bool
	// binary: the relay accepted wire.FeatureBinaryBody, so large bodies
	// travel as binary frames both ways.
	binary bool
	// retry: the relay accepted wire.FeatureRetry: it keeps the retry
	// schedule and numbers each event's attempt.
	retry bool
	mu    sync.Mutex
	seen  map[string]bool // ids being delivered on this connection

	// quit is closed when the client is stopping: no new delivery or retry
	// starts; one in progress finishes (see drain). nil: never.
	quit  <-chan struct{}
	flush chan chan struct{} // drain asks the writer to write what is queued
}

func (s *conn) quitting() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// read receives messages until the connection fails. It is the only reader.
func (s *conn) read(ctx context.Context) error {
	for {
		var m wire.Message
		err := wireCodec.Receive(s.ws, &m)
		if err == nil {
			err = s.ic.frames.Took(false, -1)
		}
		if err == nil && m.BodyFrame != 0 {
			err = s.readBody(&m)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("no message from the relay for %s: connection presumed dead", s.c.cfg.DeadAfter)
			}
			if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
				return errConnClosed
			}
			return fmt.Errorf("read from relay: %w", err)
		}
		s.lastRecv.Store(time.Now().UnixNano())
		switch m.Type {
		case wire.TypeEvent:
			if m.Event == nil {
				continue
			}
			s.mu.Lock()
			dup := s.seen[m.Event.ID]
			s.seen[m.Event.ID] = true
			s.mu.Unlock()
			if dup {
				continue
			}
			s.c.obs.EventReceived(m.Event)
			select {
			case s.work <- job{ev: m.Event, attempt: max(m.Attempt, 1)}:
			case <-ctx.Done():
				return ctx.Err()
			}
		case wire.TypePing:
			if err := s.send(ctx, &wire.Message{Type: wire.TypePong}); err != nil {
				return err
			}
		case wire.TypeError:
			return relayError(&m)
		}
	}
}

// readBody reads the binary frame that carries m's event body.
func (s *conn) readBody(m *wire.Message) error {
	if !s.binary || s.maxBody <= 0 {
		return errors.New("the relay sent a body frame without the " + wire.FeatureBinaryBody + " feature")
	}
	err := wire.ReadBody(s.ws, s.ic.frames, m, s.maxBody)
	if be := (*wire.BodyError)(nil); errors.As(err, &be) {
		return fmt.Errorf("relay broke the protocol: %w", err)
	}
	return err
}

// wireCodec is websocket.JSON with wire.Encode and wire.Decode, which are
// several times cheaper than encoding/json on the messages sent per event.
var wireCodec = websocket.Codec{
	Marshal: func(v any) ([]byte, byte, error) {
		b, err := wire.Encode(v.(*wire.Message))
		return b, websocket.TextFrame, err
	},
	Unmarshal: func(data []byte, _ byte, v any) error {
		return wire.Decode(data, v.(*wire.Message))
	},
}

// binaryFrame sends a body as one binary frame (wire.FeatureBinaryBody).
var binaryFrame = websocket.Codec{Marshal: func(v any) ([]byte, byte, error) {
	return v.([]byte), websocket.BinaryFrame, nil
}}

// send queues m for the writer, waiting while the queue is full.
func (s *conn) send(ctx context.Context, m *wire.Message) error {
	select {
	case s.out <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write sends queued messages, pause/resume requests and keepalive pings. It
// is the only writer.
func (s *conn) write(ctx context.Context) error {
	cfg := &s.c.cfg
	paused := false // the relay's view: a fresh session is not paused
	tick := time.NewTicker(cfg.PingInterval / 2)
	defer tick.Stop()
	lastSent := time.Now()
	put := func(m *wire.Message) error {
		var body []byte
		if s.binary {
			m, body = wire.SplitBody(m)
		}
		if err := wireCodec.Send(s.ws, m); err != nil {
			return writeError(ctx, err)
		}
		if body != nil {
			if err := binaryFrame.Send(s.ws, body); err != nil {
				return writeError(ctx, err)
			}
		}
		lastSent = time.Now()
		return nil
	}
	// putQueued sends m and everything queued behind it in one write (the
	// queue is bounded, so this ends): a burst of responses costs one
	// syscall, and a lone message goes out at once, as before.
	putQueued := func(m *wire.Message) error {
		s.ic.hold()
		err := put(m)
		for err == nil && len(s.out) > 0 {
			err = put(<-s.out)
		}
		if rerr := s.ic.release(); err == nil && rerr != nil {
			err = writeError(ctx, rerr)
		}
		return err
	}
	syncPause := func() error {
		want := s.c.paused.Load()
		if want == paused {
			return nil
		}
		paused = want
		t := wire.TypeResume
		if want {
			t = wire.TypePause
		}
		return put(&wire.Message{Type: t})
	}
	if err := syncPause(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-s.out:
			if err := putQueued(m); err != nil {
				return err
			}
		case <-s.c.ctl:
			if err := syncPause(); err != nil {
				return err
			}
		case done := <-s.flush:
			// The workers have stopped: everything they queued is in out.
			if len(s.out) > 0 {
				if err := putQueued(<-s.out); err != nil {
					return err
				}
			}
			close(done)
		case now := <-tick.C:
			quiet := now.Sub(time.Unix(0, s.lastRecv.Load()))
			if quiet >= cfg.PingInterval || now.Sub(lastSent) >= cfg.PingInterval {
				if err := put(&wire.Message{Type: wire.TypePing}); err != nil {
					return err
				}
			}
		}
	}
}

func writeError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("write to relay: %w", err)
}

// deliverLoop is one delivery worker. It stops when the connection ends,
// or after its current delivery once the client is stopping.
func (s *conn) deliverLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.quit:
			return nil
		case j := <-s.work:
			if s.quitting() {
				return nil // stopping: the event stays pending
			}
			deliver := s.deliver
			if s.retry && s.c.cfg.Retry > 0 {
				deliver = func(ctx context.Context, ev *capture.Request) error { return s.deliverOnce(ctx, ev, j.attempt) }
			}
			if err := deliver(ctx, j.ev); err != nil {
				if ctx.Err() != nil || s.quitting() {
					return nil // the connection ended; the event stays pending
				}
				return err
			}
		}
	}
}

// deliver forwards ev until the app answers or the attempt budget runs out,
// then sends the response and the ack.
func (s *conn) deliver(ctx context.Context, ev *capture.Request) error {
	cfg := &s.c.cfg
	var resp *capture.Response
	for attempt := 1; ; attempt++ {
		r, err := cfg.Forwarder.Deliver(ctx, ev)
		if err == nil {
			resp = r
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if s.quitting() {
			return context.Canceled // stopping: no retry; the event stays pending
		}
		var de *capture.DeliveryError
		notSent := errors.As(err, &de) && de.NotSent()
		if !notSent && (attempt >= cfg.MaxAttempts || isTimeout(err)) {
			// The app was reached but gave no usable answer: give up, so a
			// slow app does not get the same request again and again.
			resp = &capture.Response{Error: err.Error(), At: time.Now(), Route: routeOf(err)}
			break
		}
		if notSent && attempt == 1 && s.c.passthrough() {
			// A sender waiting for the app's answer would wait out the
			// relay's reply timeout: an answer without an ack has the relay
			// answer it (202) now. The event stays pending.
			early := &capture.Response{Error: err.Error(), At: time.Now(), Route: routeOf(err)}
			if err := s.send(ctx, &wire.Message{Type: wire.TypeResponse, ID: ev.ID, Response: early}); err != nil {
				return err
			}
		}
		d := cfg.RetryBackoff(attempt)
		s.c.obs.DeliveryFailed(ev, err, attempt, d)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-s.quit:
			t.Stop()
			return context.Canceled
		}
	}
	s.c.obs.EventDelivered(ev, s.prepare(resp))
	return s.answer(ctx, ev, resp)
}

// prepare readies the app's answer for the relay.
func (s *conn) prepare(resp *capture.Response) *capture.Response {
	if s.maxBody > 0 {
		// A response larger than the relay accepts would end the session
		// and the event would be redelivered forever.
		resp.Truncate(s.maxBody, 0)
	}
	resp.SetRaw() // after the last change to its headers; keeps bytes that are not UTF-8 through JSON
	return resp
}

// answer sends the final answer to ev and its ack.
func (s *conn) answer(ctx context.Context, ev *capture.Request, resp *capture.Response) error {
	// With the relay's response-ack the response carries the ack;
	// otherwise the ack follows it.
	if err := s.send(ctx, &wire.Message{Type: wire.TypeResponse, ID: ev.ID, Response: resp, Ack: s.responseAck}); err != nil {
		return err
	}
	if !s.responseAck {
		if err := s.send(ctx, &wire.Message{Type: wire.TypeAck, ID: ev.ID}); err != nil {
			return err
		}
	}
	s.mu.Lock()
	delete(s.seen, ev.ID)
	s.mu.Unlock()
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

type nopObserver struct{}

func (nopObserver) StateChanged(Status)                                        {}
func (nopObserver) EventReceived(*capture.Request)                             {}
func (nopObserver) EventDelivered(*capture.Request, *capture.Response)         {}
func (nopObserver) DeliveryFailed(*capture.Request, error, int, time.Duration) {}
