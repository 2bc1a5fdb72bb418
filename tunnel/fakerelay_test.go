package tunnel

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// fakeRelay speaks the relay's side of the wire protocol for protocol-level
// tests (refusals, keepalive, pause) that need exact control over what the
// relay says. Delivery behaviour is tested against the real relay in
// e2e_test.go.
type fakeRelay struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	refuse   *wire.Message // sent instead of welcome when set
	silent   bool          // never answer pings: a dead peer
	features wire.Features // echoed in the welcome; none, like a relay older than features
	hellos   []wire.Message
	received []wire.Message // everything after hello
	pending  []*capture.Request
	conns    chan *websocket.Conn
	msgs     chan wire.Message
}

func newFakeRelay(t *testing.T) *fakeRelay {
	r := &fakeRelay{t: t, conns: make(chan *websocket.Conn, 16), msgs: make(chan wire.Message, 1024)}
	r.srv = httptest.NewServer(r.handler())
	t.Cleanup(r.srv.Close)
	return r
}

// newFakeTLSRelay serves over TLS with a test certificate.
func newFakeTLSRelay(t *testing.T) *fakeRelay {
	r := &fakeRelay{t: t, conns: make(chan *websocket.Conn, 16), msgs: make(chan wire.Message, 1024)}
	r.srv = httptest.NewTLSServer(r.handler())
	t.Cleanup(r.srv.Close)
	return r
}

func (r *fakeRelay) handler() http.Handler {
	return websocket.Server{Handler: r.serve, Handshake: func(*websocket.Config, *http.Request) error { return nil }}
}

func (r *fakeRelay) URL() string { return r.srv.URL }

func (r *fakeRelay) serve(ws *websocket.Conn) {
	var hello wire.Message
	if err := websocket.JSON.Receive(ws, &hello); err != nil {
		return
	}
	r.mu.Lock()
	r.hellos = append(r.hellos, hello)
	refuse := r.refuse
	features := r.features
	pending := append([]*capture.Request(nil), r.pending...)
	r.mu.Unlock()
	if refuse != nil {
		websocket.JSON.Send(ws, refuse)
		return
	}
	ep := hello.Endpoint
	if ep == "" {
		ep = "generated-1"
	}
	websocket.JSON.Send(ws, &wire.Message{Type: wire.TypeWelcome, Endpoint: ep, URL: r.srv.URL + "/h/" + ep, Session: "s1", Pending: len(pending), Features: features})
	for _, ev := range pending {
		websocket.JSON.Send(ws, &wire.Message{Type: wire.TypeEvent, Event: ev})
	}
	r.conns <- ws
	for {
		var m wire.Message
		if err := websocket.JSON.Receive(ws, &m); err != nil {
			return
		}
		r.mu.Lock()
		r.received = append(r.received, m)
		r.mu.Unlock()
		r.mu.Lock()
		silent := r.silent
		r.mu.Unlock()
		if m.Type == wire.TypePing && !silent {
			websocket.JSON.Send(ws, &wire.Message{Type: wire.TypePong})
		}
		r.msgs <- m
	}
}

// next returns the next message of type typ the CLI sent.
func (r *fakeRelay) next(typ string) wire.Message {
	r.t.Helper()
	for m := range r.msgs {
		if m.Type == typ {
			return m
		}
	}
	r.t.Fatal("relay closed")
	return wire.Message{}
}
