// Package relay is the hookctl relay: it captures webhooks sent to
// /h/{endpoint}/..., stores each durably before answering, and streams them
// to the CLI listening for that endpoint over the websocket protocol of
// tunnel/wire. The server binary (relay-server) and `hookctl listen`'s
// embedded mode both run it.
//
// A request flows ingress → store → hub → session: ingress validates and
// stores the event and (in passthrough mode) waits for the CLI's response;
// the session of the endpoint sends pending events, oldest first, at most
// Window in flight. The store is the queue, so nothing captured is held only
// in memory: a session reads pending events from the store, and once it has
// read them all it takes newer ones as the store commits them (the store's
// notice, through the hub) instead of reading each back, until it falls
// behind and reads again.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxBody      = 25 << 20 // GitHub's maximum webhook payload
	DefaultRetention    = 7 * 24 * time.Hour
	DefaultReplyTimeout = 8 * time.Second
	DefaultWindow       = 64
	maxReplyTimeout     = 5 * time.Minute
)

// Config configures a Relay. Zero values mean the defaults.
type Config struct {
	PublicURL string // base for printed URLs; empty → derived from the listener address
	MaxBody   int64  // largest body accepted; default 25 MiB
	// MaxInflight bounds the body bytes ingress holds at once (being read,
	// stored, or waiting for the app's answer), at least MaxBody; beyond it
	// webhooks get 503 with Retry-After. One endpoint may hold half of it.
	// Default DefaultMaxInflight.
	MaxInflight  int64
	Retention    time.Duration // delivered events older than this are deleted; default 7 days
	Open         bool          // no tokens; any valid endpoint name is created on first use
	ReplyTimeout time.Duration // how long a sender waits for the app's answer; default 8s
	RateLimit    float64       // events/s per endpoint; 0 = unlimited
	RateBurst    int           // bucket size; default max(1, RateLimit)
	Window       int           // max in-flight events per CLI session; default 64
	Logger       *slog.Logger  // default: discard
	Now          func() time.Time

	// TrustProxy makes ingress take the scheme and host from
	// X-Forwarded-Proto and X-Forwarded-Host, for a relay behind a
	// TLS-terminating proxy.
	TrustProxy bool
	// ReadHeaderTimeout bounds how long a client may take to send request
	// headers (slow-loris); default 10s.
	ReadHeaderTimeout time.Duration
	// BodyTimeout bounds reading one ingress body; default 2m.
	BodyTimeout time.Duration
	// HelloTimeout bounds the wait for a CLI's hello; default 5s.
	HelloTimeout time.Duration
	// PingInterval and DeadAfter override wire.PingInterval and
	// wire.DeadAfter (tests shorten them).
	PingInterval time.Duration
	DeadAfter    time.Duration
	// HandoffAfterCommit sends an event to the connected CLI only once it
	// is durable. By default a store that announces events early
	// (store.EarlyNotifier; SQLite) has them sent while their commit is in
	// flight; senders are answered only after the commit either way.
	HandoffAfterCommit bool
	// RevokeCheck is how often sessions of revoked tokens are looked for;
	// default DefaultRevokeCheck.
	RevokeCheck time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxBody <= 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.ReplyTimeout <= 0 {
		c.ReplyTimeout = DefaultReplyTimeout
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = 2 * time.Minute
	}
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = 5 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = wire.PingInterval
	}
	if c.DeadAfter <= 0 {
		c.DeadAfter = wire.DeadAfter
	}
	if c.RevokeCheck <= 0 {
		c.RevokeCheck = DefaultRevokeCheck
	}
}

// Relay serves ingress, the listen websocket and the events API.
type Relay struct {
	cfg      Config
	st       store.Store
	log      *slog.Logger
	hub      *hub
	ids      *idGen
	limit    *limiter
	inflight *inflight // ingress body bytes held
	// largeHandoff is the bytes of events over handoffBytes that sessions
	// hold in their handoffs, at most Config.MaxInflight (see offer).
	largeHandoff atomic.Int64
	mux          *http.ServeMux
	known        sync.Map // endpoint names known to exist (they are never deleted)
	progress     sync.Map // *http.Request of a listen connection → its *wsconn.ProgressReader
	quit         chan struct{}
	quitOne      sync.Once
	// notified: the store announces each new event (store.Notifier), and
	// the hub hands it to the endpoint's session.
	notified bool
	// cluster is the store as shared by several nodes; nil for one node.
	cluster store.Cluster
	ready   readiness // the last store check of /readyz
	metrics *metrics

	baseMu   sync.Mutex
	baseURL  string         // from the listener, when PublicURL is empty
	loopback bool           // open, no public URL, served on loopback only
	sessions sync.WaitGroup // running websocket sessions
}

// New returns a relay storing into st. The caller keeps ownership of st and
// closes it after Serve returns.
func New(cfg Config, st store.Store) (*Relay, error) {
	if st == nil {
		return nil, errors.New("relay: nil store")
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("public URL %q: want http(s)://host[:port][/prefix]", cfg.PublicURL)
		}
		cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	}
	if cfg.RateLimit < 0 {
		return nil, fmt.Errorf("rate limit %v: must not be negative", cfg.RateLimit)
	}
	cfg.setDefaults()
	r := &Relay{
		cfg:      cfg,
		st:       st,
		log:      cfg.Logger,
		hub:      newHub(),
		ids:      &idGen{now: cfg.Now},
		limit:    newLimiter(cfg.RateLimit, cfg.RateBurst, cfg.Now),
		inflight: newInflight(cfg.MaxInflight, cfg.MaxBody),
		quit:     make(chan struct{}),
	}
	r.metrics = newMetrics(r)
	if n, ok := st.(store.Notifier); ok {
		n.NotifyCommitted(r.hub.committed)
		r.notified = true
	}
	if n, ok := st.(store.EarlyNotifier); ok && !cfg.HandoffAfterCommit {
		n.NotifyWritten(r.hub.written, r.hub.failed)
	}
	if o, ok := st.(store.CommitObserver); ok {
		o.ObserveCommits(r.metrics.committed)
	}
	if c, ok := st.(store.Cluster); ok {
		r.cluster = c
	}
	ws := websocket.Server{
		Handler:   r.serveListen,
		Handshake: r.checkOrigin,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.HealthzPath, r.serveHealthz)
	mux.HandleFunc("GET "+ReadyzPath, r.serveReadyz)
	mux.Handle("GET "+wire.ListenPath, r.serveListenHTTP(ws))
	mux.HandleFunc("GET "+wire.EventsPath, r.serveList)
	mux.HandleFunc("GET "+wire.EventsPath+"/{id}", r.serveShow)
	mux.HandleFunc("POST "+wire.EventsPath+"/{id}/replays", r.serveReplay)
	r.mux = mux
	return r, nil
}

// checkOrigin refuses cross-origin websocket handshakes. CLIs send no
// Origin or the relay's own (the URL they dialled: the Host, or the public
// URL when a proxy in front rewrites Host); a browser on another site sends
// its own, and must not be able to listen to an open (embedded, loopback)
// relay.
func (r *Relay) checkOrigin(_ *websocket.Config, req *http.Request) error {
	o := req.Header.Get("Origin")
	if o == "" {
		return nil
	}
	u, err := url.Parse(o)
	if err == nil && strings.EqualFold(u.Host, req.Host) {
		return nil
	}
	if err == nil && r.cfg.PublicURL != "" {
		if pu, perr := url.Parse(r.cfg.PublicURL); perr == nil && strings.EqualFold(u.Host, pu.Host) {
			return nil
		}
	}
	return fmt.Errorf("cross-origin websocket from %q refused", o)
}

// ServeHTTP is the relay's whole HTTP surface.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// Ingress is routed before the mux: ServeMux would clean and redirect
	// paths such as /h/x//a or /h/x/../a, and ingress keeps them as sent.
	rec := recordConnOf(req) // nil over TLS or when called directly
	if strings.HasPrefix(req.URL.Path, "/h/") || req.URL.Path == "/h" {
		sw := &statusRecorder{ResponseWriter: w}
		r.serveIngress(sw, req, rec)
		r.metrics.answered(sw.code)
		return
	}
	rec.stop() // a listen connection is hijacked: its reads must not be copied
	if rec != nil && req.Body == http.NoBody && req.URL.Path != wire.ListenPath {
		// Nothing follows this request's header block but the next
		// request: record that one.
		defer rec.arm()
	}
	if r.loopbackOnly() && !isLoopbackHost(req.Host) {
		// DNS rebinding: a page on evil.example resolving to 127.0.0.1
		// would otherwise be same-origin with an open loopback relay.
		writeError(w, http.StatusForbidden, "forbidden", "this relay answers its API on loopback names only")
		return
	}
	r.mux.ServeHTTP(w, req)
}

func (r *Relay) loopbackOnly() bool {
	r.baseMu.Lock()
	defer r.baseMu.Unlock()
	return r.loopback
}

// isLoopbackHost reports whether a Host header names this machine's
// loopback: localhost or a loopback IP, with or without a port.
func isLoopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (r *Relay) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// Serve serves HTTP on ln until ctx ends, then shuts down gracefully: the
// listener closes, sessions end, waiting senders get their 202, in-flight
// captures finish. It also runs retention. The listener may be a TLS
// listener.
func (r *Relay) Serve(ctx context.Context, ln net.Listener) error {
	if r.cfg.PublicURL == "" {
		r.setBaseFromListener(ln)
	}
	const maxHeaderBytes = MaxHeaderBytes
	srv := &http.Server{
		Handler:           r,
		ReadHeaderTimeout: r.cfg.ReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnContext:       withRecordConn,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
		// Requests outlive ctx by design: shutdown is graceful.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	// net/http reads up to 4 KiB past MaxHeaderBytes before it refuses.
	go func() { errc <- srv.Serve(recordListener{Listener: ln, limit: maxHeaderBytes + 4096}) }()

	bgCtx, stopBg := context.WithCancel(ctx)
	bgDone := make(chan struct{}, 3)
	go func() {
		defer func() { bgDone <- struct{}{} }()
		r.runRetention(bgCtx)
	}()
	go func() {
		defer func() { bgDone <- struct{}{} }()
		r.runRevocation(bgCtx)
	}()
	go func() {
		defer func() { bgDone <- struct{}{} }()
		if r.cluster != nil {
			r.cluster.RunCluster(bgCtx, r.hub)
		}
	}()
	defer func() {
		stopBg()
		for range cap(bgDone) {
			<-bgDone
		}
	}()

	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	began := time.Now()
	r.log.Info("shutdown: begun", "sessions", r.hub.count(), "inflight_bytes", r.inflight.bytes())
	r.quitOne.Do(func() { close(r.quit) })
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	if err != nil {
		srv.Close()
	}
	<-errc
	// Websocket connections are hijacked, so Shutdown does not wait for
	// them; quit ends them.
	r.sessions.Wait()
	if err != nil {
		r.log.Warn("shutdown: done, forcibly", "duration", time.Since(began).Round(time.Millisecond), "err", err)
		return fmt.Errorf("shutdown: %w", err)
	}
	r.log.Info("shutdown: done", "duration", time.Since(began).Round(time.Millisecond))
	return nil
}

func (r *Relay) setBaseFromListener(ln net.Listener) {
	// Only a plain TCP listener on a specific address says how clients reach
	// it; otherwise (TLS, wildcard address) the request's Host and TLS
	// state are used.
	if _, plain := ln.(*net.TCPListener); !plain {
		return
	}
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok || addr.IP.IsUnspecified() {
		return
	}
	r.baseMu.Lock()
	r.baseURL = "http://" + addr.String()
	r.loopback = r.cfg.Open && addr.IP.IsLoopback()
	r.baseMu.Unlock()
}

// publicBase is the base of webhook URLs: the configured public URL, else
// the listener's address, else what the client dialled.
func (r *Relay) publicBase(req *http.Request) string {
	if r.cfg.PublicURL != "" {
		return r.cfg.PublicURL
	}
	r.baseMu.Lock()
	base := r.baseURL
	r.baseMu.Unlock()
	if base != "" {
		return base
	}
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + req.Host
}

// runRetention deletes old delivered events now and then until ctx ends.
// Pending ones stay until a CLI has taken them: retention must not be a way
// to lose a webhook.
func (r *Relay) runRetention(ctx context.Context) {
	every := min(max(r.cfg.Retention/24, time.Minute), time.Hour)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := r.st.DeleteBefore(ctx, r.cfg.Now().Add(-r.cfg.Retention))
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Error("retention", "err", err)
		case n > 0:
			r.log.Info("retention: deleted old events", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CreateToken makes a new API token named name and returns its secret, the
// only time it is visible: the store keeps its hash.
func (r *Relay) CreateToken(ctx context.Context, name string) (string, error) {
	return CreateToken(ctx, r.st, name, r.cfg.Now())
}

// CreateToken makes a token in st without a Relay (for `relay-server token
// create`).
func CreateToken(ctx context.Context, st store.Store, name string, now time.Time) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", errors.New("token name is empty")
	}
	secret, id, hash := newToken()
	if err := st.CreateToken(ctx, store.Token{ID: id, Name: name, Hash: hash, CreatedAt: now}); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return secret, nil
}

// authenticate returns the token id for secret, or "" in open mode.
func (r *Relay) authenticate(ctx context.Context, secret string) (string, error) {
	if r.cfg.Open {
		return "", nil
	}
	if secret == "" {
		return "", errUnauthorized
	}
	tok, err := r.st.TokenByHash(ctx, hashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return "", errUnauthorized
	}
	if err != nil {
		return "", err
	}
	return tok.ID, nil
}

var (
	errUnauthorized = errors.New("unknown or missing token")
	errForbidden    = errors.New("endpoint belongs to another token")
)

// claimEndpoint returns the endpoint a CLI with token id owner may listen
// to, creating it when new. An empty name picks a fresh readable one.
func (r *Relay) claimEndpoint(ctx context.Context, name, owner string) (string, error) {
	if name == "" {
		for attempt := 0; attempt < 10; attempt++ {
			name := newEndpointName(attempt)
			err := r.st.CreateEndpoint(ctx, store.Endpoint{Name: name, Owner: owner, CreatedAt: r.cfg.Now()})
			if err == nil {
				r.known.Store(name, struct{}{})
				return name, nil
			}
			if !errors.Is(err, store.ErrExists) {
				return "", err
			}
		}
		return "", errors.New("could not find a free endpoint name")
	}
	ep, err := r.st.GetEndpoint(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		err = r.st.CreateEndpoint(ctx, store.Endpoint{Name: name, Owner: owner, CreatedAt: r.cfg.Now()})
		if err == nil {
			r.known.Store(name, struct{}{})
			return name, nil
		}
		if !errors.Is(err, store.ErrExists) {
			return "", err
		}
		ep, err = r.st.GetEndpoint(ctx, name) // lost a race; check the winner
	}
	if err != nil {
		return "", err
	}
	if !r.cfg.Open && ep.Owner != owner {
		return "", errForbidden
	}
	r.known.Store(name, struct{}{})
	return name, nil
}

// endpointExists reports whether ingress may capture for name; in open mode
// it creates the endpoint.
func (r *Relay) endpointExists(ctx context.Context, name string) (bool, error) {
	if _, ok := r.known.Load(name); ok {
		return true, nil
	}
	_, err := r.st.GetEndpoint(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		if !r.cfg.Open {
			return false, nil
		}
		err = r.st.CreateEndpoint(ctx, store.Endpoint{Name: name, CreatedAt: r.cfg.Now()})
		if errors.Is(err, store.ErrExists) {
			err = nil
		}
	}
	if err != nil {
		return false, err
	}
	r.known.Store(name, struct{}{})
	return true, nil
}
