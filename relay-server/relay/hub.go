package relay

import (
	"sync"
	"sync/atomic"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// hub knows the live session of each endpoint and the senders waiting for
// an event's response. It holds no events: the store is the queue, and a
// just-stored event passes through to its session only as a shortcut.
type hub struct {
	mu       sync.Mutex
	sessions map[string]*session
	waiters  map[string]waiter // by event id
	// foreign counts the store's notices that another process wrote.
	foreign atomic.Uint64
}

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
// A notice without an event says another process wrote to the store: the
// next event offered to each session then makes it read the store again
// (offer), so events the other process stored before it are sent first.
// Sessions without new events of their own do not read, as before the
// handoff a session read only when poked: 10,000 idle sessions do not all
// read because an admin command wrote beside the relay.
func (h *hub) committed(p store.Pending) {
	if p.Event == nil {
		h.foreign.Add(1)
		return
	}
	if s := h.session(p.Event.Endpoint); s != nil {
		s.offer(p, h.foreign.Load())
	}
}

// wait registers a sender waiting for the response to event id. Register
// before the event is stored, or the response could come first. The
// returned func unregisters.
func (h *hub) wait(endpoint, id string) (<-chan *capture.Response, func()) {
	ch := make(chan *capture.Response, 1)
	h.mu.Lock()
	h.waiters[id] = waiter{endpoint: endpoint, ch: ch}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.waiters, id)
		h.mu.Unlock()
	}
}

// respond hands a response to the sender waiting for event id of endpoint,
// if any; a session can only answer its own endpoint's senders. It never
// blocks: a second response for the same event is dropped (the first one
// already answered the sender; the store keeps the latest).
func (h *hub) respond(endpoint, id string, resp *capture.Response) {
	h.mu.Lock()
	w, ok := h.waiters[id]
	h.mu.Unlock()
	if ok && w.endpoint == endpoint {
		select {
		case w.ch <- resp:
		default:
		}
	}
}
