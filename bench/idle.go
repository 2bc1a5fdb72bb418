package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/tunnel/wire"
)

// idle: n raw websocket sessions (hello with distinct endpoints, answering
// pings) against a fresh relay; the relay's VmRSS growth divided by n. The
// direct figure is a fresh relay holding n idle keep-alive HTTP
// connections: what net/http alone costs per connection in the same binary.
func (b *bench) idle(ctx context.Context, s *Scenario) error {
	n := b.o.Idle
	// Direct baseline first, in its own relay process.
	base, err := b.idleHTTP(ctx, n)
	if err != nil {
		return fmt.Errorf("idle HTTP baseline: %w", err)
	}
	r, err := b.startRelay(ctx, "idle", nil, "GODEBUG=gctrace=1")
	if err != nil {
		return err
	}
	defer r.stop()
	if err := healthz(ctx, r.URL); err != nil {
		return err
	}
	rss0, err := r.rss()
	if err != nil {
		return err
	}
	t0 := time.Now()
	sessions, err := dialIdle(ctx, r.URL, n)
	defer func() {
		for _, c := range sessions {
			c.close()
		}
	}()
	if err != nil {
		return err
	}
	connect := time.Since(t0)
	// Measure once all are welcomed, then again after a keepalive round
	// (pings both ways), and keep the larger.
	time.Sleep(500 * time.Millisecond)
	rss1, err := r.rss()
	if err != nil {
		return err
	}
	select {
	case <-time.After(wire.PingInterval + time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	rss2, err := r.rss()
	if err != nil {
		return err
	}
	alive := 0
	for _, c := range sessions {
		select {
		case <-c.done:
		default:
			alive++
		}
	}
	if alive != n {
		return fmt.Errorf("%d of %d idle sessions were closed by the relay", n-alive, n)
	}
	per := float64(max(rss1, rss2)-rss0) / float64(n) / 1024
	s.Metrics = append(s.Metrics, Metric{Name: fmt.Sprintf("RSS per idle CLI (%d)", n), Unit: "KiB", Direct: ptr(base), Relay: per, Target: "relay ≤ 32", Met: le(per, 32)})
	r.mu.Lock()
	gc := r.gctrace
	r.mu.Unlock()
	if live, stacks, ok := parseGCTrace(gc); ok {
		// The relay's own base (a few MB) is included: an upper bound.
		per := (live + stacks) * 1024 / float64(n)
		s.Metrics = append(s.Metrics, Metric{Name: "Go live heap+stacks per idle CLI, last GC", Unit: "KiB", Relay: per})
	}
	s.Notes = append(s.Notes,
		fmt.Sprintf("%d websocket sessions welcomed in %.1fs and all still alive after a keepalive round; relay VmRSS %.1f MiB before, %.1f MiB welcomed, %.1f MiB after keepalive",
			n, connect.Seconds(), mib(rss0), mib(rss1), mib(rss2)),
		"direct = relay VmRSS growth per idle keep-alive HTTP/1.1 connection (GET /healthz, then idle), a fresh relay process",
		"relay's last GC (GODEBUG=gctrace=1): "+gc)
	return nil
}

// idleHTTP returns the relay's RSS growth per idle keep-alive connection,
// in KiB.
func (b *bench) idleHTTP(ctx context.Context, n int) (float64, error) {
	r, err := b.startRelay(ctx, "idle-http", nil)
	if err != nil {
		return 0, err
	}
	defer r.stop()
	if err := healthz(ctx, r.URL); err != nil {
		return 0, err
	}
	rss0, err := r.rss()
	if err != nil {
		return 0, err
	}
	addr := strings.TrimPrefix(r.URL, "http://")
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	err = parallel(ctx, n, 32, func(i int) error {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		conns[i] = c
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
			return err
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		c.SetDeadline(time.Time{})
		return nil
	})
	if err != nil {
		return 0, err
	}
	time.Sleep(500 * time.Millisecond)
	rss1, err := r.rss()
	if err != nil {
		return 0, err
	}
	return float64(rss1-rss0) / float64(n) / 1024, nil
}

// parallel runs fn(0..n-1) on workers goroutines, stopping at the first
// error.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var (
		next  atomic.Int64
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// idleCLI is a raw websocket session that answers pings and nothing else.
type idleCLI struct {
	conn *websocket.Conn
	done chan struct{}
}

func (c *idleCLI) close() {
	c.conn.Close()
	<-c.done
}

func dialIdle(ctx context.Context, base string, n int) ([]*idleCLI, error) {
	out := make([]*idleCLI, n)
	err := parallel(ctx, n, 32, func(i int) error {
		cfg, err := websocket.NewConfig("ws"+strings.TrimPrefix(base, "http")+wire.ListenPath, base)
		if err != nil {
			return err
		}
		cfg.Dialer = &net.Dialer{Timeout: 10 * time.Second}
		conn, err := websocket.DialConfig(cfg)
		if err != nil {
			return fmt.Errorf("dial session %d: %w", i, err)
		}
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		if err := websocket.JSON.Send(conn, wire.Message{Type: wire.TypeHello, Version: wire.Version, Endpoint: fmt.Sprintf("idle-%d", i)}); err != nil {
			conn.Close()
			return err
		}
		var m wire.Message
		if err := websocket.JSON.Receive(conn, &m); err != nil || m.Type != wire.TypeWelcome {
			conn.Close()
			return fmt.Errorf("session %d: want welcome, got %+v (%v)", i, m, err)
		}
		conn.SetDeadline(time.Time{})
		c := &idleCLI{conn: conn, done: make(chan struct{})}
		go func() {
			defer close(c.done)
			for {
				var m wire.Message
				if err := websocket.JSON.Receive(conn, &m); err != nil {
					return
				}
				if m.Type == wire.TypePing {
					websocket.JSON.Send(conn, wire.Message{Type: wire.TypePong})
				}
			}
		}()
		out[i] = c
		return nil
	})
	var live []*idleCLI
	for _, c := range out {
		if c != nil {
			live = append(live, c)
		}
	}
	return live, err
}
