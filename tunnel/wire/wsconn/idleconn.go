package wsconn

import (
	"net"
	"sync"
	"time"

	"github.com/hookctl/hookctl/tunnel/wire"
)

// IdleConn is the connection under the CLI's websocket. It extends its read
// and write deadlines on every call, so only a connection that makes no
// progress for idle times out. Writes go in chunks for the same reason.
//
// Between Hold and Release, writes are collected and go out together on
// Release: the writer holds while it sends every queued message, so a burst
// of messages costs one write syscall instead of one per websocket frame.
type IdleConn struct {
	net.Conn
	idle   time.Duration
	frames *wire.FrameChecker // reads through idleReader, checking the relay's frames

	mu   sync.Mutex // guards held and buf; writes come from the writer and from websocket.Conn.Close
	held bool
	buf  []byte
}

// NewIdleConn returns c as an IdleConn that times out after idle without
// progress and checks the relay's frames as it reads.
func NewIdleConn(c net.Conn, idle time.Duration) *IdleConn {
	ic := &IdleConn{Conn: c, idle: idle}
	ic.frames = wire.NewClientFrameChecker(idleReader{ic})
	return ic
}

// Frames is the checker the connection reads through.
func (c *IdleConn) Frames() *wire.FrameChecker { return c.frames }

// holdMax bounds what a hold collects; past it, writes go out at once.
const holdMax = 64 << 10

func (c *IdleConn) Read(p []byte) (int, error) {
	if c.frames != nil {
		return c.frames.Read(p)
	}
	return idleReader{c}.Read(p)
}

// idleReader is an IdleConn's read side without the frame checks.
type idleReader struct{ c *IdleConn }

func (r idleReader) Read(p []byte) (int, error) {
	r.c.Conn.SetReadDeadline(time.Now().Add(r.c.idle))
	return r.c.Conn.Read(p)
}

func (c *IdleConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held && len(c.buf)+len(p) <= holdMax {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	return c.writeLocked(p)
}

// Hold collects writes until Release.
func (c *IdleConn) Hold() {
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

// Release writes what was collected since Hold; an error is the error of
// the writes collected.
func (c *IdleConn) Release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	return c.flushLocked()
}

func (c *IdleConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.writeLocked(c.buf)
	if cap(c.buf) > 2*holdMax {
		c.buf = nil // after a large write-through burst, do not keep it
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

func (c *IdleConn) writeLocked(p []byte) (int, error) {
	const chunk = 256 << 10
	n := 0
	for n < len(p) {
		c.Conn.SetWriteDeadline(time.Now().Add(c.idle))
		m, err := c.Conn.Write(p[n:min(len(p), n+chunk)])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
