package tui

import (
	"slices"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// Feed carries live updates from the tunnel to the inspector. Producers
// never block: updates go into a bounded queue that the inspector drains
// once per frame. When the queue is full the oldest event notice is dropped
// and counted — the event itself is safe in the relay's store, and the
// header says how many were not shown — so a flood cannot stall forwarding
// or grow memory. The dropped event's later response and retry notices are
// discarded with it. A response to an event the inspector already shows is
// never dropped (its row would stay pending for ever): such responses are
// bounded by the events in flight, so the queue may exceed its limit by at
// most that many. Connection updates are coalesced to the latest.
type Feed struct {
	mu      sync.Mutex
	q       []tea.Msg
	limit   int
	dropped int
	skip    map[string]struct{} // ids of dropped events whose response is still to come
	wake    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// DefaultFeedLimit bounds a feed's queue.
const DefaultFeedLimit = 4096

// NewFeed returns a feed holding at most limit undelivered updates (0 means
// DefaultFeedLimit).
func NewFeed(limit int) *Feed {
	if limit <= 0 {
		limit = DefaultFeedLimit
	}
	return &Feed{limit: limit, skip: map[string]struct{}{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Event reports a newly received (pending) request.
func (f *Feed) Event(r *capture.Request) { f.push(EventMsg{Request: r}) }

// Response reports the local app's answer to the event id.
func (f *Feed) Response(id string, resp *capture.Response) {
	f.push(ResponseMsg{ID: id, Response: resp})
}

// Retry reports a failed attempt to deliver the event id; it stays pending.
func (f *Feed) Retry(id string, err error, attempt int, retryIn time.Duration) {
	f.push(RetryMsg{ID: id, Err: err.Error(), Attempt: attempt, RetryIn: retryIn})
}

// Conn reports the connection state.
func (f *Feed) Conn(c ConnMsg) { f.push(c) }

// Close ends the feed; the inspector shows what was queued, then stops
// waiting.
func (f *Feed) Close() { f.once.Do(func() { close(f.done) }) }

func (f *Feed) push(m tea.Msg) {
	f.mu.Lock()
	switch m := m.(type) {
	case EventMsg:
		if m.Request != nil {
			// Delivered again (after a reconnect): its updates count again.
			delete(f.skip, m.Request.ID)
		}
	case ResponseMsg:
		if _, ok := f.skip[m.ID]; ok {
			delete(f.skip, m.ID) // its event was dropped: nothing shows it
			f.mu.Unlock()
			return
		}
	case RetryMsg:
		if _, ok := f.skip[m.ID]; ok {
			f.mu.Unlock()
			return
		}
	}
	if len(f.q) >= f.limit {
		f.dropOne()
	}
	f.q = append(f.q, m)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// dropOne makes room: it drops the oldest event notice (and the updates
// queued for it), else the oldest retry notice, else an older connection
// update superseded by a newer one. Responses are kept.
func (f *Feed) dropOne() {
	retry, conn := -1, -1
	for i, m := range f.q {
		switch m := m.(type) {
		case EventMsg:
			f.dropEvent(i, m)
			return
		case RetryMsg:
			if retry < 0 {
				retry = i
			}
		case ConnMsg:
			if conn < 0 {
				conn = i
			}
		}
	}
	switch {
	case retry >= 0:
		f.q = slices.Delete(f.q, retry, retry+1)
	case conn >= 0:
		// Only the latest state matters; keep the URL it would have set.
		old := f.q[conn].(ConnMsg)
		for j := len(f.q) - 1; j > conn; j-- {
			if c, ok := f.q[j].(ConnMsg); ok {
				if c.URL == "" {
					c.URL = old.URL
					f.q[j] = c
				}
				f.q = slices.Delete(f.q, conn, conn+1)
				return
			}
		}
	}
}

// dropEvent drops the event notice at i and the updates queued after it for
// the same event, and remembers the id so its later updates are discarded.
func (f *Feed) dropEvent(i int, ev EventMsg) {
	f.dropped++
	id := ""
	if ev.Request != nil {
		id = ev.Request.ID
	}
	answered := ev.Response != nil
	n := len(f.q)
	tail := slices.DeleteFunc(f.q[i+1:], func(m tea.Msg) bool {
		switch m := m.(type) {
		case ResponseMsg:
			if id != "" && m.ID == id {
				answered = true
				return true
			}
		case RetryMsg:
			return id != "" && m.ID == id
		}
		return false
	})
	f.q = append(f.q[:i], tail...)
	clear(f.q[len(f.q):n])
	if id != "" && !answered {
		f.skip[id] = struct{}{}
	}
}

// drain takes everything queued.
func (f *Feed) drain() ([]tea.Msg, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, d := f.q, f.dropped
	f.q, f.dropped = make([]tea.Msg, 0, min(len(q), 256)), 0
	return q, d
}

// batchMsg is one frame's worth of feed updates.
type batchMsg struct {
	msgs    []tea.Msg
	dropped int
	at      time.Time
}

// feedClosedMsg says the feed is closed and drained.
type feedClosedMsg struct{}

// wait returns the command that blocks until updates are queued, no sooner
// than gap after the previous batch at last, and returns them as one
// batchMsg. The model re-arms it after each batch; there is exactly one
// waiting at a time.
func (f *Feed) wait(last time.Time, gap time.Duration) tea.Cmd {
	return func() tea.Msg {
		select {
		case <-f.wake:
		case <-f.done:
		}
		// Throttle: updates arriving within one frame share one render.
		if d := gap - time.Since(last); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-f.done:
				t.Stop()
			}
		}
		msgs, d := f.drain()
		if len(msgs) == 0 && d == 0 && f.closed() {
			return feedClosedMsg{}
		}
		return batchMsg{msgs: msgs, dropped: d, at: time.Now()}
	}
}

func (f *Feed) closed() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}
