package relay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
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
	out      *batchWriter       // conn's write side; nil when not hijacked by serveListenHTTP
	frames   *wire.FrameChecker // conn's read side; nil when not hijacked
	binary   bool               // wire.FeatureBinaryBody was accepted
	retry    bool               // wire.FeatureRetry was accepted
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
}

// sentEvent is an event in flight on a session.
type sentEvent struct {
	received time.Time         // when the relay received it, for the delivery time
	resp     *capture.Response // the app's answer, once it came
	attempt  int               // 1 + the retries recorded before it was sent
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
		progress := &progressReader{pre: bytes.Clone(pre), conn: conn, out: &batchWriter{conn: conn}}
		// The request's context ends when this handler returns; the
		// session ends by itself or through r.quit.
		req = req.WithContext(context.WithoutCancel(req.Context()))
		handedOver = true
		go func() {
			defer r.sessions.Done()
			r.progress.Store(req, progress)
			defer r.progress.Delete(req)
			ws.ServeHTTP(&hijackedConn{conn: conn, progress: progress}, req)
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
	if hello.Endpoint != "" && !validEndpoint(hello.Endpoint) {
		r.refuse(conn, wire.CodeBadEndpoint, fmt.Sprintf("endpoint name %q not allowed: use 1-63 of a-z, 0-9 and '-', starting with a letter or digit", hello.Endpoint), true)
		return nil
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
		r:        r,
		conn:     conn,
		ctx:      ctx,
		id:       "ses_" + randomHex(8),
		endpoint: name,
		owner:    owner,
		window:   window,
		reply:    reply,
		cancel:   cancel,
		wakeCh:   make(chan struct{}, 1),
		pong:     make(chan struct{}, 1),
		final:    make(chan farewell, 1),
		done:     make(chan struct{}),
		inflight: map[string]sentEvent{},
		later:    map[string]dueEvent{},
		frames:   frames,
		binary:   acceptedFeatures(hello.Features).Has(wire.FeatureBinaryBody),
		retry:    acceptedFeatures(hello.Features).Has(wire.FeatureRetry),
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
		p.(*progressReader).idle.Store(int64(r.cfg.DeadAfter))
		s.out = p.(*progressReader).out
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
		s.storeUnackedResponses(context.WithoutCancel(ctx))
		s.mu.Lock()
		delivered := s.delivered
		s.mu.Unlock()
		s.r.log.Info("listen: session ended", s.r.clientAttrs(s.conn.Request(), "endpoint", s.endpoint, "session", s.id,
			"duration", time.Since(s.started).Round(time.Millisecond), "delivered", delivered)...)
	})
}

// maxFrame caps one incoming message: a response may carry a body as large
// as an accepted webhook, base64-encoded, plus headers.
func (r *Relay) maxFrame() int {
	n := r.cfg.MaxBody/3*4 + 1<<20
	return int(min(n, 1<<30))
}

func (r *Relay) replyOptions(o *wire.ReplyOptions) (wire.ReplyOptions, error) {
	if o == nil {
		return wire.ReplyOptions{Mode: wire.ReplyPassthrough}, nil
	}
	out := *o
	switch out.Mode {
	case "", wire.ReplyPassthrough:
		out.Mode = wire.ReplyPassthrough
		if out.Timeout < 0 || out.Timeout > maxReplyTimeout {
			return out, fmt.Errorf("reply timeout %v out of range (0 to %v)", out.Timeout, maxReplyTimeout)
		}
		if out.DownStatus != 0 && (out.DownStatus < 200 || out.DownStatus > 599) {
			return out, fmt.Errorf("app-down status %d out of range (200 to 599)", out.DownStatus)
		}
	case wire.ReplyAck:
	case wire.ReplyStatus:
		if out.Status < 200 || out.Status > 599 {
			return out, fmt.Errorf("reply status %d out of range (200 to 599)", out.Status)
		}
	default:
		return out, fmt.Errorf("unknown reply mode %q", out.Mode)
	}
	return out, nil
}

// refuse sends an error before a session exists; the connection is closed
// when serveListen returns.
func (r *Relay) refuse(conn *websocket.Conn, code, text string, permanent bool) {
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	websocket.JSON.Send(conn, wire.Message{Type: wire.TypeError, Code: code, Text: text, Permanent: permanent})
	// The client may still be sending (an oversized hello): closing with
	// unread bytes would reset the connection, and the client could lose
	// the error. Read what follows, within bounds, before closing.
	if p, ok := r.progress.Load(conn.Request()); ok {
		c := p.(*progressReader).conn
		c.SetReadDeadline(time.Now().Add(time.Second))
		io.Copy(io.Discard, io.LimitReader(c, 2*helloMaxBytes))
	}
}

// failFraming ends a connection whose client broke the websocket framing
// (see wire.FrameChecker): a close frame naming the fault, then, so that the
// client can read it rather than lose it to a reset, the end of the write
// side and up to half a second (as net/http waits before closing a
// connection it refused) of whatever the client still sends.
func (r *Relay) failFraming(conn *websocket.Conn, fe *wire.FrameError) {
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	closeFrame := websocket.Codec{Marshal: func(any) ([]byte, byte, error) {
		return append(binary.BigEndian.AppendUint16(nil, wire.CloseProtocolError), fe.Reason...), websocket.CloseFrame, nil
	}}
	closeFrame.Send(conn, nil)
	p, ok := r.progress.Load(conn.Request())
	if !ok {
		conn.Close()
		return
	}
	c := p.(*progressReader).conn
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.Copy(io.Discard, io.LimitReader(c, 1<<20))
	c.Close()
}

// readMessage reads one message: a text frame of JSON and, when it names
// one, the binary body frame after it, of at most maxBody bytes (0: a body
// frame is a protocol violation, as before FeatureBinaryBody was accepted).
// fc, the connection's frame checker, confirms the frames were of those
// kinds.
func readMessage(conn *websocket.Conn, fc *wire.FrameChecker, m *wire.Message, maxBody int64) error {
	var data []byte
	if err := websocket.Message.Receive(conn, &data); err != nil {
		if errors.Is(err, websocket.ErrFrameTooLarge) {
			return &badMessage{fmt.Sprintf("message larger than %d bytes", conn.MaxPayloadBytes)}
		}
		return err
	}
	if err := fc.Took(false, -1); err != nil {
		return err
	}
	switch {
	case bytes.Equal(data, pingJSON):
		*m = wire.Message{Type: wire.TypePing}
		return nil
	case bytes.Equal(data, pongJSON):
		*m = wire.Message{Type: wire.TypePong}
		return nil
	}
	// wire.Decode is json.Unmarshal, several times cheaper.
	if err := wire.Decode(data, m); err != nil {
		return &badMessage{"malformed message: " + err.Error()}
	}
	if m.Type == "" {
		return &badMessage{"message without a type"}
	}
	if m.BodyFrame != 0 {
		if maxBody == 0 {
			return &badMessage{"body_frame without the " + wire.FeatureBinaryBody + " feature"}
		}
		var be *wire.BodyError
		if err := wire.ReadBody(conn, fc, m, maxBody); errors.As(err, &be) {
			return &badMessage{be.Text}
		} else if err != nil {
			return err
		}
	}
	return nil
}

// framesOf is the frame checker under conn, or nil.
func (r *Relay) framesOf(conn *websocket.Conn) *wire.FrameChecker {
	if p, ok := r.progress.Load(conn.Request()); ok {
		return p.(*progressReader).frames
	}
	return nil
}

// maxBodyFrame is the largest body frame the session reads: a response
// body as large as the relay accepts (the CLI cuts longer ones), or none
// without FeatureBinaryBody.
func (s *session) maxBodyFrame() int64 {
	if !s.binary {
		return 0
	}
	return s.r.cfg.MaxBody
}

// minWriteRate is the slowest link a write is allowed to take: a 25 MiB
// event may take minutes on a slow link without the session being dead.
const minWriteRate = 64 << 10 // bytes per second

// textFrame sends pre-encoded JSON as one text frame.
var textFrame = websocket.Codec{Marshal: func(v any) ([]byte, byte, error) {
	return v.([]byte), websocket.TextFrame, nil
}}

// binaryFrame sends a body as one binary frame (wire.FeatureBinaryBody).
var binaryFrame = websocket.Codec{Marshal: func(v any) ([]byte, byte, error) {
	return v.([]byte), websocket.BinaryFrame, nil
}}

// Keepalive messages as every client encodes them. They are the only
// traffic of an idle session, so they skip encoding/json both ways: its
// reflection would grow the stacks of 10,000 idle sessions' goroutines.
var (
	pingJSON = []byte(`{"type":"ping"}`)
	pongJSON = []byte(`{"type":"pong"}`)
)

func (s *session) write(m wire.Message) error {
	var data []byte
	switch {
	case m.Type == wire.TypePing && m == (wire.Message{Type: wire.TypePing}):
		data = pingJSON
	case m.Type == wire.TypePong && m == (wire.Message{Type: wire.TypePong}):
		data = pongJSON
	default:
		mm, body := &m, []byte(nil)
		if s.binary {
			mm, body = wire.SplitBody(&m)
		}
		var err error
		data, err = wire.Encode(mm)
		if err != nil {
			return fmt.Errorf("encode %s message: %w", m.Type, err)
		}
		if body != nil {
			s.conn.SetWriteDeadline(s.writeDeadline(len(data) + len(body)))
			if err := textFrame.Send(s.conn, data); err != nil {
				return err
			}
			return binaryFrame.Send(s.conn, body)
		}
	}
	s.conn.SetWriteDeadline(s.writeDeadline(len(data)))
	return textFrame.Send(s.conn, data)
}

// writeDeadline is when a write of n bytes starting now is overdue.
func (s *session) writeDeadline(n int) time.Time {
	return time.Now().Add(s.r.cfg.DeadAfter + time.Duration(n)*time.Second/minWriteRate)
}

// finish sets the last message the writer sends before it closes the
// connection. The first one wins.
func (s *session) finish(m wire.Message) {
	select {
	case s.final <- farewell{msg: m}:
	default:
	}
}

// wake tells the writer to look at the store again. It never blocks.
func (s *session) wake() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}

// offer hands the session an event the store has just committed (the
// store's notice, in Seq order). It never blocks: when the handoff is full
// it is dropped, and the writer reads those events from the store instead.
func (s *session) offer(p store.Pending) {
	size := int64(len(p.Event.Body))
	s.mu.Lock()
	switch {
	case s.detached:
		// An offer that raced the end of the session.
	case len(s.handoff) >= handoffMax:
		s.dropHandoffLocked()
		s.r.metrics.overflowed("events")
	case size > handoffBytes:
		// One event too large for the handoff may wait in it by itself,
		// within a relay-wide budget of MaxInflight, so the session does
		// not read it back from the store: a second whole copy of a large
		// body. A passthrough sender's handler holds these same bytes
		// until it is answered.
		ok := s.handoffLarge == 0
		if ok && s.r.largeHandoff.Add(size) > s.r.cfg.MaxInflight {
			s.r.largeHandoff.Add(-size)
			ok = false
		}
		if !ok {
			s.dropHandoffLocked()
			s.r.metrics.overflowed("large")
			break
		}
		s.handoff = append(s.handoff, p)
		s.handoffLarge = size
	case s.handoffSize+size > handoffBytes:
		s.dropHandoffLocked()
		s.r.metrics.overflowed("bytes")
	default:
		s.handoff = append(s.handoff, p)
		s.handoffSize += size
	}
	s.mu.Unlock()
	s.wake()
}

// releaseLocked uncounts p, which leaves the handoff.
func (s *session) releaseLocked(p store.Pending) {
	size := int64(len(p.Event.Body))
	if size > handoffBytes {
		s.handoffLarge -= size
		s.r.largeHandoff.Add(-size)
		return
	}
	s.handoffSize -= size
}

// invalidate says the store holds events of this endpoint that were never
// offered (another node or process wrote them): the handoff is dropped, so
// the writer reads the store before it sends anything newer.
func (s *session) invalidate() {
	s.mu.Lock()
	s.dropHandoffLocked()
	s.mu.Unlock()
	s.wake()
}

func (s *session) dropHandoffLocked() {
	clear(s.handoff)
	s.handoff = s.handoff[:0]
	s.handoffSize = 0
	s.r.largeHandoff.Add(-s.handoffLarge)
	s.handoffLarge = 0
	s.handoffGen++
}

// room is how many more events may be sent now.
func (s *session) room() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.roomLocked()
}

func (s *session) roomLocked() int {
	if s.paused {
		return 0
	}
	return s.window - len(s.inflight)
}

func (s *session) readLoop(ctx context.Context) {
	for {
		s.conn.SetReadDeadline(time.Now().Add(s.r.cfg.DeadAfter))
		var m wire.Message
		if err := readMessage(s.conn, s.frames, &m, s.maxBodyFrame()); err != nil {
			var (
				bad *badMessage
				fe  *wire.FrameError
			)
			switch {
			case errors.As(err, &bad):
				s.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeBadMessage, Text: bad.text})
			case errors.As(err, &fe):
				s.r.log.Warn("listen: websocket protocol error", "endpoint", s.endpoint, "session", s.id, "err", fe.Reason)
				select {
				case s.final <- farewell{frame: fe}:
				default:
				}
			}
			return
		}
		if err := s.handle(ctx, m); err != nil {
			s.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeBadMessage, Text: err.Error()})
			return
		}
	}
}

// handle applies one message from the CLI. An error is a protocol
// violation.
func (s *session) handle(ctx context.Context, m wire.Message) error {
	st := s.r.st
	switch m.Type {
	case wire.TypePing:
		// One pending pong answers any number of pings.
		select {
		case s.pong <- struct{}{}:
		default:
		}
	case wire.TypePong:
	case wire.TypeAck:
		if m.ID == "" {
			return errors.New("ack without an id")
		}
		s.mu.Lock()
		sent, mine := s.inflight[m.ID]
		// Only an ack that frees the last slot of a full window needs to
		// wake the writer: with room left, its last read took everything
		// pending (or it woke itself for more), and new events poke it.
		full := len(s.inflight) >= s.window
		delete(s.inflight, m.ID)
		delete(s.later, m.ID)
		if mine {
			s.delivered++
		}
		s.mu.Unlock()
		resp := sent.resp
		if mine {
			s.r.metrics.delivered(s.r.cfg.Now().Sub(sent.received))
		}
		// An id sent on an earlier connection is acked too; the store
		// checks it belongs to this endpoint.
		if err := st.Ack(context.WithoutCancel(ctx), s.endpoint, m.ID, resp, s.r.cfg.Now()); err != nil {
			s.r.log.Error("listen: ack", "endpoint", s.endpoint, "id", m.ID, "err", err)
		}
		if mine && full {
			s.wake()
		}
	case wire.TypeResponse:
		if m.ID == "" || m.Response == nil {
			return errors.New("response without an id or a response")
		}
		if !s.r.hub.respond(s.endpoint, m.ID, m.Response) && s.r.cluster != nil && s.reply.Mode == wire.ReplyPassthrough {
			// The sender may be waiting on another node.
			if err := s.r.cluster.PublishResponse(ctx, s.endpoint, m.ID, m.Response); err != nil && ctx.Err() == nil {
				s.r.log.Error("listen: publish response", "endpoint", s.endpoint, "id", m.ID, "err", err)
			}
		}
		if m.RetryIn != 0 {
			return s.scheduleRetry(ctx, m)
		}
		s.mu.Lock()
		sent, mine := s.inflight[m.ID]
		if mine {
			sent.resp = m.Response // stored with the ack
			s.inflight[m.ID] = sent
		}
		s.mu.Unlock()
		if !mine {
			// Not in flight here (sent on an earlier connection, or already
			// acked): stored whatever the event's state, as the ack only
			// stores into a pending event.
			if err := st.SetResponse(context.WithoutCancel(ctx), s.endpoint, m.ID, m.Response); err != nil {
				s.r.log.Error("listen: store response", "endpoint", s.endpoint, "id", m.ID, "err", err)
			}
		}
		if m.Ack {
			// wire.FeatureResponseAck: exactly a response then an ack; in
			// flight, the ack stores the response with it in one write.
			return s.handle(ctx, wire.Message{Type: wire.TypeAck, ID: m.ID})
		}
	case wire.TypePause:
		s.mu.Lock()
		s.paused = true
		s.mu.Unlock()
	case wire.TypeResume:
		s.mu.Lock()
		s.paused = false
		s.mu.Unlock()
		s.wake()
	default:
		return fmt.Errorf("unexpected message type %q", m.Type)
	}
	return nil
}

// markSent counts a delivery attempt for each event sent, in one write.
func (s *session) markSent(ctx context.Context, ids []string) {
	if err := s.r.st.MarkSent(context.WithoutCancel(ctx), s.endpoint, ids); err != nil {
		s.r.log.Error("listen: count attempts", "endpoint", s.endpoint, "err", err)
	}
}

// storeUnackedResponses records responses whose ack never came before the
// connection ended; the events stay pending. It does not hold s.mu while it
// writes: a write may wait for room in the store's queue, and the store's
// writer may meanwhile be announcing an event to this session (offer), which
// takes s.mu.
func (s *session) storeUnackedResponses(ctx context.Context) {
	type unacked struct {
		id   string
		resp *capture.Response
	}
	var rs []unacked
	s.mu.Lock()
	for id, sent := range s.inflight {
		if sent.resp != nil {
			rs = append(rs, unacked{id, sent.resp})
		}
	}
	s.mu.Unlock()
	for _, u := range rs {
		if err := s.r.st.SetResponse(ctx, s.endpoint, u.id, u.resp); err != nil {
			s.r.log.Error("listen: store response", "endpoint", s.endpoint, "id", u.id, "err", err)
		}
	}
}

// writeLoop is the only writer on the connection. It sends pending events,
// oldest first, keeping at most window in flight: the store is the queue, so
// a slow CLI just leaves events pending.
//
// The writer reads pending events from the store until a read comes back
// short, which means it has sent everything committed before that read
// began. From then on it is caught up: every later event reaches it through
// offer, in Seq order, so it sends from the handoff without reading back
// what was just written. The handoff is trusted only while it was never
// dropped since before that read (handoffGen); otherwise, and whenever the
// store does not announce commits, the writer reads the store again. An
// event both read and offered is sent once: the cursor skips it.
func (s *session) writeLoop(ctx context.Context) {
	defer func() {
		select {
		case f := <-s.final:
			if f.frame != nil {
				s.r.failFraming(s.conn, f.frame)
				return
			}
			s.conn.SetWriteDeadline(time.Now().Add(time.Second))
			websocket.JSON.Send(s.conn, f.msg)
		default:
		}
		s.conn.Close() // unblocks the reader
	}()
	ping := time.NewTimer(s.r.cfg.PingInterval)
	defer ping.Stop()
	retryT := time.NewTimer(time.Hour)
	defer retryT.Stop()
	var (
		cursor   int64  // last seq sent on this connection
		caughtUp bool   // nothing pending after cursor is missing from the handoff
		gen      uint64 // handoffGen when caughtUp was established
	)
	for {
		var (
			batch  []store.Pending
			more   bool  // maybe more to send at once
			readTo int64 // the last seq read from the store, sent or deferred
		)
		if caughtUp {
			batch, more, caughtUp = s.takeHandoff(cursor, gen)
			if !caughtUp {
				more = true // read the store instead
			}
		} else if n := min(s.room(), pendingBatch); n > 0 {
			s.mu.Lock()
			g := s.handoffGen
			s.mu.Unlock()
			var err error
			// Off this goroutine's stack: it lives as long as the session.
			onFreshStack(func() { batch, err = s.r.st.Pending(ctx, s.endpoint, cursor, n, pendingBytes) })
			if err != nil {
				if ctx.Err() == nil {
					s.r.log.Error("listen: read pending events", "endpoint", s.endpoint, "err", err)
					s.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeInternal, Text: "relay error; reconnecting may help"})
				}
				return
			}
			var size int64
			for _, p := range batch {
				size += int64(len(p.Event.Body))
			}
			// A read cut by count or by size may have left some behind.
			more = len(batch) == n || size >= pendingBytes
			if len(batch) > 0 {
				readTo = batch[len(batch)-1].Seq
			}
			batch = s.deferScheduled(batch)
			s.mu.Lock()
			if !more && s.r.notified {
				caughtUp, gen = s.handoffGen == g, g
				// Offers that came in during the read woke nobody who
				// would look at them; the handoff may hold some.
				more = true
			}
			for _, p := range batch {
				s.inflight[p.Event.ID] = sentEvent{received: p.Event.ReceivedAt, attempt: p.Retries + 1}
			}
			s.mu.Unlock()
		}
		if len(batch) > 0 {
			sent, err := s.sendEvents(batch)
			if len(sent) > 0 {
				cursor = batch[len(sent)-1].Seq
			}
			if len(sent) == len(batch) {
				cursor = max(cursor, readTo) // past the deferred ones too
			}
			s.markSent(ctx, sent)
			if err != nil {
				return
			}
			ping.Reset(s.r.cfg.PingInterval)
		} else if readTo > 0 {
			cursor = max(cursor, readTo) // all deferred
		}
		if !s.sendDue(ctx) {
			return
		}
		if more {
			// Look again once pending control replies and cancellation
			// have had their turn. Acks wake the writer only when the
			// window was full, so this wake is the one that continues.
			s.wake()
		}
		select {
		case <-ctx.Done():
			return
		case <-s.r.quit:
			s.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeInternal, Text: "relay is shutting down"})
			return
		case <-s.pong:
			if err := s.write(wire.Message{Type: wire.TypePong}); err != nil {
				return
			}
			ping.Reset(s.r.cfg.PingInterval)
		case <-s.wakeCh:
		case <-s.dueTimer(retryT):
		case <-ping.C:
			if err := s.write(wire.Message{Type: wire.TypePing}); err != nil {
				return
			}
			ping.Reset(s.r.cfg.PingInterval)
		}
	}
}

// sendEvents writes batch, in one socket write when the connection batches
// them, and returns the ids of the events it wrote (all of them unless a
// write failed).
func (s *session) sendEvents(batch []store.Pending) ([]string, error) {
	if s.out != nil {
		s.out.begin()
	}
	sent := make([]string, 0, len(batch))
	var err error
	for _, p := range batch {
		m := wire.Message{Type: wire.TypeEvent, Event: p.Event}
		if s.retry {
			m.Attempt = p.Retries + 1
		}
		if err = s.write(m); err != nil {
			break
		}
		sent = append(sent, p.Event.ID)
	}
	if s.out != nil {
		// Even after a failed write: what the writer sends last (an
		// error, the close frame) must not stay in the batch.
		if ferr := s.out.flush(s.writeDeadline); err == nil {
			err = ferr
		}
	}
	return sent, err
}

// takeHandoff takes from the handoff the events to send now: those after
// cursor (earlier ones were read from the store and sent already), as many
// as the window has room for, registered in flight. ok is false when the
// handoff was dropped since gen: the writer must read the store again.
func (s *session) takeHandoff(cursor int64, gen uint64) (batch []store.Pending, more, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handoffGen != gen {
		return nil, false, false
	}
	skip := 0
	for skip < len(s.handoff) && s.handoff[skip].Seq <= cursor {
		skip++
	}
	room := s.roomLocked()
	n := min(len(s.handoff)-skip, room, pendingBatch)
	if n > 0 {
		batch = make([]store.Pending, n)
		copy(batch, s.handoff[skip:skip+n])
	}
	for _, p := range batch {
		s.inflight[p.Event.ID] = sentEvent{received: p.Event.ReceivedAt, attempt: p.Retries + 1}
		s.releaseLocked(p)
	}
	for _, p := range s.handoff[:skip] {
		s.releaseLocked(p)
	}
	rest := copy(s.handoff, s.handoff[skip+n:])
	clear(s.handoff[rest:])
	s.handoff = s.handoff[:rest]
	if rest == 0 {
		s.handoff = nil // an idle session holds no buffer
	}
	return batch, rest > 0 && room > n, true
}

// onFreshStack runs fn on a short-lived goroutine and waits for it. The
// store's calls (SQLite) need deep stacks; run on the connection's
// long-lived goroutine they would leave it with a large stack for the
// whole life of an idle session.
func onFreshStack(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}
