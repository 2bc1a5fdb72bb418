package tunnel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/hookctl/hookctl/tunnel/wire"
	"github.com/hookctl/hookctl/tunnel/wire/wsconn"
)

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
	if err := ic.Frames().Took(false, -1); err != nil {
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

// conn is one connection's shared state.
type conn struct {
	c        *Client
	ws       *websocket.Conn
	ic       *wsconn.IdleConn   // under ws: the writer holds and releases its writes
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

// wireCodec sends like websocket.JSON, with wire.Encode, several times
// cheaper than encoding/json on the messages sent per event. The reader
// receives with FrameChecker.ReadMessage and wire.Decode.
var wireCodec = websocket.Codec{
	Marshal: func(v any) ([]byte, byte, error) {
		b, err := wire.Encode(v.(*wire.Message))
		return b, websocket.TextFrame, err
	},
}

// binaryFrame sends a body as one binary frame (wire.FeatureBinaryBody).
var binaryFrame = websocket.Codec{Marshal: func(v any) ([]byte, byte, error) {
	return v.([]byte), websocket.BinaryFrame, nil
}}
