package tui

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// BenchmarkUpdateViewPerEvent is the cost of one event arriving on its own:
// Update with the event, then a full View, on a full list at 120x40.
func BenchmarkUpdateViewPerEvent(b *testing.B) {
	m := New(WithLimit(1000), WithLocation(time.UTC), WithVerifier(fakeVerifier{}))
	m.SetSize(120, 40)
	for i := range 1000 {
		m.Update(EventMsg{Request: jsonEvent(i), Response: ok(200, 3)})
	}
	reqs := make([]*capture.Request, 1024)
	for i := range reqs {
		reqs[i] = jsonEvent(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		r := *reqs[i%len(reqs)]
		r.ID = fmt.Sprintf("evt_b%d", i)
		m.Update(EventMsg{Request: &r, Response: ok(200, 3)})
		_ = m.View()
	}
}

// BenchmarkRenderLoop2000 streams 2,000 events/s through a Feed into a real
// Bubble Tea program (output discarded) for one second per iteration and
// reports the frames rendered, the time the model spent in Update+View per
// second of stream, the worst delay from an event being pushed to it being
// on screen, and how long a key press waited in the middle of the flood.
func BenchmarkRenderLoop2000(b *testing.B) {
	const rate = 2000
	for range b.N {
		feed := NewFeed(0)
		cm := &countingModel{Model: New(WithFeed(feed), WithLocation(time.UTC), WithVerifier(fakeVerifier{}))}
		cm.SetSize(120, 40)
		p := tea.NewProgram(cm, tea.WithInput(nil), tea.WithOutput(io.Discard), tea.WithoutSignalHandler())
		done := make(chan struct{})
		go func() { p.Run(); close(done) }()

		start := time.Now()
		tick := time.NewTicker(time.Millisecond)
		sent := 0
		keyAt := time.Time{}
		for sent < rate {
			<-tick.C
			due := int(time.Since(start) * rate / time.Second)
			for ; sent < due && sent < rate; sent++ {
				r := jsonEvent(sent)
				r.ID = fmt.Sprintf("evt_%06d", sent)
				r.ReceivedAt = time.Now()
				feed.Event(r)
				feed.Response(r.ID, ok(200, 1))
			}
			if keyAt.IsZero() && sent >= rate/2 {
				keyAt = time.Now()
				cm.keySent(keyAt)
				p.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("k")})
			}
		}
		tick.Stop()
		wall := time.Since(start)
		// Let the last batch land, then stop.
		deadline := time.Now().Add(2 * time.Second)
		for cm.seen() < rate && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		p.Quit()
		<-done
		feed.Close()

		cm.mu.Lock()
		slices.Sort(cm.lat)
		p99 := cm.lat[len(cm.lat)*99/100]
		b.ReportMetric(float64(cm.views)/wall.Seconds(), "frames/s")
		b.ReportMetric(float64(cm.busy.Microseconds())/1000/wall.Seconds(), "busy-ms/s")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-event-to-frame-ms")
		b.ReportMetric(float64(cm.lat[len(cm.lat)-1].Microseconds())/1000, "max-event-to-frame-ms")
		b.ReportMetric(float64(cm.keyLatency.Microseconds())/1000, "key-latency-ms")
		b.ReportMetric(float64(cm.Len()), "rows-kept")
		cm.mu.Unlock()
	}
}

// countingModel wraps Model to measure it inside a running program.
type countingModel struct {
	*Model
	mu         sync.Mutex
	views      int
	busy       time.Duration
	lat        []time.Duration
	events     int
	keyAt      time.Time
	keyLatency time.Duration
}

func (c *countingModel) keySent(t time.Time) {
	c.mu.Lock()
	c.keyAt = t
	c.mu.Unlock()
}

func (c *countingModel) seen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.events
}

func (c *countingModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	t := time.Now()
	_, cmd := c.Model.Update(msg)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch msg := msg.(type) {
	case batchMsg:
		for _, u := range msg.msgs {
			if e, ok := u.(EventMsg); ok {
				c.lat = append(c.lat, t.Sub(e.Request.ReceivedAt))
				c.events++
			}
		}
	case tea.KeyMsg:
		c.keyLatency = t.Sub(c.keyAt)
	}
	c.busy += time.Since(t)
	return c, cmd
}

func (c *countingModel) View() string {
	t := time.Now()
	v := c.Model.View()
	c.mu.Lock()
	c.views++
	c.busy += time.Since(t)
	c.mu.Unlock()
	return v
}
