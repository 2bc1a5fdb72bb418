package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
	"github.com/hookctl/hookctl/tunnel/wire/wsconn"
)

// helloMaxBytes caps messages before a client has authenticated.
const helloMaxBytes = 64 << 10

// pendingBatch and pendingBytes bound one read of pending events, so a
// window of large bodies is not loaded at once.
const (
	pendingBatch = 16
	pendingBytes = 8 << 20
)

// handoffMax and handoffBytes bound the events a session holds as the
// store commits them (see offer). Past either bound the session drops them
// and reads the store again, so a CLI that is slow or paused costs the relay
// no memory beyond this.
const (
	handoffMax   = 256
	handoffBytes = 2 << 20
)

// session is one connected CLI listening for one endpoint. It has exactly
// two long-lived goroutines: the connection's own (started by
// serveListenHTTP, running serveListen) reads, and one writer writes;
// serveListen returns after both. Deep work (the hello, store reads) runs
// on short-lived goroutines, so an idle session keeps small stacks.
type session struct {
	r        *Relay
	conn     *websocket.Conn
	out      *wsconn.BatchWriter // conn's write side; nil when not hijacked by serveListenHTTP
	frames   *wire.FrameChecker  // conn's read side; nil when not hijacked
	binary   bool                // wire.FeatureBinaryBody was accepted
	retry    bool                // wire.FeatureRetry was accepted
	id       string
	endpoint string
	owner    string // token id; "" in open mode
	window   int
	reply    wire.ReplyOptions

	ctx    context.Context // ends with the session
	cancel context.CancelFunc
	wakeCh chan struct{} // new events or a freed window slot; capacity 1
	pong   chan struct{} // the reader asks the writer to answer a ping; capacity 1
	final  chan farewell // the last word before closing; capacity 1
	done   chan struct{} // closed when both goroutines have exited

	// mu is taken by the store's commit notice (offer): never hold it
	// while calling the store.
	mu sync.Mutex
	// inflight holds the events sent on this connection and not acked,
	// with the app's response once it came: it is stored with the ack, in
	// one write instead of two.
	inflight map[string]sentEvent
	// later holds the events whose retry is scheduled (store.Retry), by
	// id, with the time each is due: they are not in flight, and the
	// writer sends them again when due (session_retry.go).
	later map[string]dueEvent
	// delivered counts the events acked on this connection.
	delivered int
	started   time.Time // when it was welcomed
	paused    bool
	// handoff holds events committed since the session attached, in Seq
	// order, as the store announced them (offer). handoffGen counts the
	// times it was dropped for being full: the writer trusts it only while
	// the count is the one it saw before its last complete store read.
	handoff     []store.Pending
	handoffSize int64 // bodies of the events up to handoffBytes
	// handoffLarge is the body of the one event over handoffBytes the
	// handoff may hold, charged to the relay's largeHandoff.
	handoffLarge int64
	handoffGen   uint64
	detached     bool // the hub let go: offers are ignored
	// tentative holds the events handed over while their commit was in
	// flight (session_early.go), by id, until the store settles them.
	tentative map[string]*tentativeEvent
	// settled lists the ids of settled tentative events that hold
	// messages from the CLI, for the writer to apply.
	settled []string
	// rewind, when > 0, is the lowest Seq handed over whose commit
	// failed: the writer moves its cursor before it, since the store may
	// give that Seq to a later event. rewinds counts failures, so a store
	// read that raced one is not trusted.
	rewind  int64
	rewinds uint64

	// countT fires when an attempt not stored yet may be due
	// (countLate); countArmed says it runs. Only the writer uses them.
	countT     *time.Timer
	countArmed bool
}

// sentEvent is an event in flight on a session.
type sentEvent struct {
	received time.Time         // when the relay received it, for the delivery time
	resp     *capture.Response // the app's answer, once it came
	attempt  int               // 1 + the retries recorded before it was sent
	sentAt   time.Time         // when it entered the window
	// uncounted: its delivery attempt is not stored yet; the ack stores
	// it (session_attempts.go).
	uncounted bool
}

// farewell is what the writer sends before it closes the connection: an
// error message, or, when the client broke the websocket framing itself, a
// close frame naming the fault.
type farewell struct {
	msg   wire.Message
	frame *wire.FrameError
}

// badMessage is a protocol violation by the client: it gets
// error{bad_message} and the connection is closed.
type badMessage struct{ text string }

func (e *badMessage) Error() string { return e.text }

// serveListenHTTP takes the connection from net/http and runs the session
// on a goroutine of its own, returning at once: net/http's connection state
// (4 KiB read and write buffers, the request, a deep stack) is then freed
// instead of being held for the life of an idle session. The session is
// counted before the handler returns, so Serve waits for it even though
// http.Server does not track hijacked connections.
func (r *Relay) serveListenHTTP(ws http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		// Counted before quit is checked, so Serve's Wait cannot miss it;
		// the session's goroutine takes the count over.
		r.sessions.Add(1)
		handedOver := false
		defer func() {
			if !handedOver {
				r.sessions.Done()
			}
		}()
		select {
		case <-r.quit:
			http.Error(w, "relay is shutting down", http.StatusServiceUnavailable)
			return
		default:
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			// HTTP/2 (negotiated over TLS) cannot carry this websocket.
			writeError(w, http.StatusHTTPVersionNotSupported, "bad_request", "the listen websocket needs HTTP/1.1")
			return
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			r.log.Error("listen: hijack", "err", err)
			return
		}
		pre, _ := buf.Reader.Peek(buf.Reader.Buffered())
		progress := wsconn.NewProgressReader(conn, bytes.Clone(pre))
		// The request's context ends when this handler returns; the
		// session ends by itself or through r.quit.
		req = req.WithContext(context.WithoutCancel(req.Context()))
		handedOver = true
		go func() {
			defer r.sessions.Done()
			r.progress.Store(req, progress)
			defer r.progress.Delete(req)
			ws.ServeHTTP(wsconn.NewHijackedConn(conn, progress), req)
		}()
	}
}

// serveListen runs one CLI connection: hello, welcome, then the session.
func (r *Relay) serveListen(conn *websocket.Conn) {
	var s *session
	// The hello needs a deep stack (JSON, the store, the welcome); on this
	// goroutine, which lives as long as the session, it would stay
	// allocated for the whole life of an idle session.
	onFreshStack(func() { s = r.open(conn) })
	if s == nil {
		return
	}
	defer s.cancel()
	defer close(s.done)
	defer r.detach(s)
	s.run()
}

// open answers the hello: it refuses the connection, or returns the
// session attached to the hub and welcomed.
func (r *Relay) open(conn *websocket.Conn) *session {
	ctx := conn.Request().Context()
	conn.MaxPayloadBytes = helloMaxBytes
	conn.SetReadDeadline(time.Now().Add(r.cfg.HelloTimeout))
	frames := r.framesOf(conn)
	var hello wire.Message
	if err := readMessage(conn, frames, &hello, 0); err != nil {
		var (
			bad *badMessage
			fe  *wire.FrameError
		)
		if errors.As(err, &fe) {
			r.log.Warn("listen: websocket protocol error", "remote", conn.Request().RemoteAddr, "err", fe.Reason)
			r.failFraming(conn, fe)
		}
		if errors.As(err, &bad) {
			r.refuse(conn, wire.CodeBadMessage, bad.text, false)
		}
		return nil
	}
	if hello.Type != wire.TypeHello {
		r.refuse(conn, wire.CodeBadMessage, fmt.Sprintf("first message must be hello, got %q", hello.Type), false)
		return nil
	}
	if hello.Version != wire.Version {
		r.refuse(conn, wire.CodeBadVersion, fmt.Sprintf("relay speaks protocol version %d, client sent %d: upgrade hookctl or the relay", wire.Version, hello.Version), true)
		return nil
	}
	var (
		owner string
		err   error
	)
	owner, err = r.authenticate(ctx, hello.Token)
	if errors.Is(err, errUnauthorized) {
		r.log.Warn("listen: refused: unknown or missing token", r.clientAttrs(conn.Request(), "endpoint", logText(hello.Endpoint))...)
		r.refuse(conn, wire.CodeUnauthorized, "unknown or missing token: create one with `relay-server token create`", true)
		return nil
	}
	if err != nil {
		r.log.Error("listen: authenticate", "err", err)
		r.refuse(conn, wire.CodeInternal, "relay error; retrying may help", false)
		return nil
	}
	if hello.Endpoint != "" {
		if err := wire.CheckEndpointName(hello.Endpoint); err != nil {
			r.refuse(conn, wire.CodeBadEndpoint, err.Error(), true)
			return nil
		}
	}
	reply, err := r.replyOptions(hello.Reply)
	if err != nil {
		// The same hello would fail again: permanent.
		r.refuse(conn, wire.CodeBadMessage, err.Error(), true)
		return nil
	}
	name, err := r.claimEndpoint(ctx, hello.Endpoint, owner)
	if errors.Is(err, errForbidden) {
		r.log.Warn("listen: refused: endpoint belongs to another token", r.clientAttrs(conn.Request(), "endpoint", hello.Endpoint, "token", owner)...)
		r.refuse(conn, wire.CodeForbidden, fmt.Sprintf("endpoint %q belongs to another token", hello.Endpoint), true)
		return nil
	}
	if err != nil {
		r.log.Error("listen: claim endpoint", "endpoint", hello.Endpoint, "err", err)
		r.refuse(conn, wire.CodeInternal, "relay error; retrying may help", false)
		return nil
	}

	window := r.cfg.Window
	if hello.Window > 0 && hello.Window < window {
		window = hello.Window
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &session{
		r:         r,
		conn:      conn,
		ctx:       ctx,
		id:        "ses_" + randomHex(8),
		endpoint:  name,
		owner:     owner,
		window:    window,
		reply:     reply,
		cancel:    cancel,
		wakeCh:    make(chan struct{}, 1),
		pong:      make(chan struct{}, 1),
		final:     make(chan farewell, 1),
		done:      make(chan struct{}),
		inflight:  map[string]sentEvent{},
		later:     map[string]dueEvent{},
		tentative: map[string]*tentativeEvent{},
		frames:    frames,
		binary:    acceptedFeatures(hello.Features).Has(wire.FeatureBinaryBody),
		retry:     acceptedFeatures(hello.Features).Has(wire.FeatureRetry),
	}
	if old := r.hub.attach(s); old != nil {
		// One session per endpoint: the newer wins. The old CLI is told
		// permanently, so two CLIs do not keep taking the endpoint from
		// each other.
		old.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeReplaced, Permanent: true,
			Text: "another hookctl listen connected to endpoint " + name})
		old.cancel()
		<-old.done
	}
	welcomed := false
	defer func() {
		if !welcomed {
			r.detach(s)
			close(s.done)
			cancel()
		}
	}()
	if r.cluster != nil {
		// One session per endpoint across the nodes: a session elsewhere
		// is told to end.
		if _, err := r.cluster.Claim(ctx, store.Lease{Endpoint: name, Session: s.id, Reply: reply}); err != nil {
			r.log.Error("listen: claim endpoint lease", "endpoint", name, "err", err)
			r.refuse(conn, wire.CodeInternal, "relay error; retrying may help", false)
			return nil
		}
	}

	// Acks read by an earlier session are queued asynchronously; commit
	// them before reading what is pending, or acked events would be sent
	// again.
	if err := r.st.Flush(ctx); err != nil {
		r.log.Error("listen: flush", "endpoint", name, "err", err)
		r.refuse(conn, wire.CodeInternal, "relay error; retrying may help", false)
		return nil
	}
	pending, err := r.st.CountPending(ctx, name)
	if err != nil {
		r.log.Error("listen: count pending", "endpoint", name, "err", err)
		r.refuse(conn, wire.CodeInternal, "relay error; retrying may help", false)
		return nil
	}
	welcome := wire.Message{
		Type:     wire.TypeWelcome,
		Version:  wire.Version,
		Endpoint: name,
		URL:      r.publicBase(conn.Request()) + "/h/" + name,
		Session:  s.id,
		Pending:  pending,
		Window:   window,
		MaxBody:  r.cfg.MaxBody,
		Features: acceptedFeatures(hello.Features),
	}
	if err := s.write(welcome); err != nil {
		return nil
	}
	welcomed = true
	s.started = time.Now()
	r.log.Info("listen: session started", r.clientAttrs(conn.Request(), "endpoint", name, "session", s.id, "pending", pending)...)
	conn.MaxPayloadBytes = r.maxFrame()
	if p, ok := r.progress.Load(conn.Request()); ok {
		p.(*wsconn.ProgressReader).SetIdle(r.cfg.DeadAfter)
		s.out = p.(*wsconn.ProgressReader).Out()
	}
	return s
}

// detach removes s from the hub and gives up its lease in the cluster.
func (r *Relay) detach(s *session) {
	r.hub.detach(s)
	// Offers that race this find the session detached: give back what
	// the handoff holds.
	s.mu.Lock()
	s.dropHandoffLocked()
	s.detached = true
	s.mu.Unlock()
	if r.cluster == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
	defer cancel()
	if err := r.cluster.Release(ctx, s.endpoint, s.id); err != nil {
		// It expires by itself.
		r.log.Error("listen: release endpoint lease", "endpoint", s.endpoint, "err", err)
	}
}

// acceptedFeatures is what the welcome echoes: the features the CLI asked
// for that this relay speaks. A response with ack set is handled whether or
// not it was negotiated.
func acceptedFeatures(asked wire.Features) wire.Features {
	return asked.Intersect(wire.NewFeatures(wire.FeatureResponseAck, wire.FeatureBinaryBody, wire.FeatureRetry))
}

// run is the welcomed session. The caller's goroutine is the reader; the
// writer gets its own. Both cancel the session's context when they stop,
// and run returns only after the writer has exited.
func (s *session) run() {
	ctx := s.ctx
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer s.cancel()
		s.writeLoop(ctx)
	}()
	s.readLoop(ctx)
	s.cancel()
	<-writerDone
	onFreshStack(func() {
		s.storeUnacked(context.WithoutCancel(ctx))
		s.mu.Lock()
		delivered := s.delivered
		s.mu.Unlock()
		s.r.log.Info("listen: session ended", s.r.clientAttrs(s.conn.Request(), "endpoint", s.endpoint, "session", s.id,
			"duration", time.Since(s.started).Round(time.Millisecond), "delivered", delivered)...)
	})
}
