package relay

import (
	"sync"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// hub knows the live session of each endpoint and the senders waiting for
// an event's response. It holds no events: the store is the queue, and a
// just-stored event passes through to its session only as a shortcut.
type hub struct {
	mu       sync.Mutex
	sessions map[string]*session
	waiters  map[string]waiter // by event id
}

var _ store.ClusterHandler = (*hub)(nil)

type waiter struct {
	endpoint string
	ch       chan *capture.Response
}

func newHub() *hub {
	return &hub{sessions: map[string]*session{}, waiters: map[string]waiter{}}
}

// attach makes s the endpoint's session and returns the one it replaces.
func (h *hub) attach(s *session) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.sessions[s.endpoint]
	h.sessions[s.endpoint] = s
	return old
}

// detach removes s unless a newer session already replaced it.
func (h *hub) detach(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions[s.endpoint] == s {
		delete(h.sessions, s.endpoint)
	}
}

// count is how many sessions are attached.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

func (h *hub) session(endpoint string) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[endpoint]
}

// poke tells the endpoint's session that new events are in the store.
func (h *hub) poke(endpoint string) {
	if s := h.session(endpoint); s != nil {
		s.wake()
	}
}

// committed hands a just-stored event to its endpoint's session, if one is
// attached. It is the store's notice (store.Notifier), so it must not block.
//
// A notice without an event says the store holds events this relay did not
// see being written (another node's, or another process's): the sessions of
// the endpoint it names, or of every endpoint when it names none, drop
// their handoff and read the store again, so those events are sent in
// order.
func (h *hub) committed(p store.Pending) {
	if p.Event != nil {
		// An event offered early is settled instead: a session that
		// attached since its early notice is offered it now.
		if s := h.session(p.Event.Endpoint); s != nil && !s.settle(p) {
			s.offer(p)
		}
		return
	}
	if p.Endpoint != "" {
		if s := h.session(p.Endpoint); s != nil {
			s.invalidate()
		}
		return
	}
	h.mu.Lock()
	all := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.invalidate()
	}
}

// written hands an event whose commit is in flight to its endpoint's
// session, if one is attached (store.EarlyNotifier). It must not block.
func (h *hub) written(p store.Pending) {
	if s := h.session(p.Event.Endpoint); s != nil {
		s.offerEarly(p)
	}
}

// failed says the commit of an event announced by written failed
// (store.EarlyNotifier). It must not block.
func (h *hub) failed(p store.Pending, err error) {
	if s := h.session(p.Event.Endpoint); s != nil {
		s.fail(p, err)
	}
}

// Replaced implements store.ClusterHandler: a session on another node took
// the endpoint, so this node's session of it ends.
func (h *hub) Replaced(endpoint, session string) {
	s := h.session(endpoint)
	if s == nil || s.id != session {
		return
	}
	s.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeReplaced, Permanent: true,
		Text: "another hookctl listen connected to endpoint " + endpoint})
	s.cancel()
}

// Response implements store.ClusterHandler: a CLI on another node answered
// a sender waiting here.
func (h *hub) Response(endpoint, id string, resp *capture.Response) {
	h.respond(endpoint, id, resp)
}

// wait registers a sender waiting for the response to event id. Register
// before the event is stored, or the response could come first. unwait
// unregisters.
func (h *hub) wait(endpoint, id string) <-chan *capture.Response {
	ch := make(chan *capture.Response, 1)
	h.mu.Lock()
	h.waiters[id] = waiter{endpoint: endpoint, ch: ch}
	h.mu.Unlock()
	return ch
}

func (h *hub) unwait(id string) {
	h.mu.Lock()
	delete(h.waiters, id)
	h.mu.Unlock()
}

// respond hands a response to the sender waiting for event id of endpoint,
// if any, and reports whether one waits on this relay; a session can only
// answer its own endpoint's senders. It never blocks: a second response for
// the same event is dropped (the first one already answered the sender; the
// store keeps the latest).
func (h *hub) respond(endpoint, id string, resp *capture.Response) bool {
	h.mu.Lock()
	w, ok := h.waiters[id]
	h.mu.Unlock()
	if !ok || w.endpoint != endpoint {
		return false
	}
	select {
	case w.ch <- resp:
	default:
	}
	return true
}
