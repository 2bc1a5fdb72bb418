package tui

import (
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
// or grow memory. Connection updates are never dropped.
type Feed struct {
	mu      sync.Mutex
	q       []tea.Msg
	limit   int
	dropped int
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
	return &Feed{limit: limit, wake: make(chan struct{}, 1), done: make(chan struct{})}
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
	if len(f.q) >= f.limit {
		f.dropOldest()
	}
	f.q = append(f.q, m)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// dropOldest removes the oldest update that is not a ConnMsg.
func (f *Feed) dropOldest() {
	for i, m := range f.q {
		if _, ok := m.(ConnMsg); ok {
			continue
		}
		if _, ok := m.(EventMsg); ok {
			f.dropped++
		}
		f.q = append(f.q[:i], f.q[i+1:]...)
		return
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
