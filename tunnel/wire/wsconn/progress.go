package wsconn

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookctl/hookctl/tunnel/wire"
)

// A session is dead after DeadAfter without receiving anything (the wire
// contract), not after DeadAfter without a whole message: a large response
// on a slow link keeps arriving for longer than that. ProgressReader, the
// read side of the connection under the relay's websocket, pushes the read
// deadline forward whenever bytes arrive; it starts doing so only once
// SetIdle is called (the relay calls it once the session is welcomed), so a
// client dribbling its hello is still cut off by the relay's hello timeout.
type ProgressReader struct {
	pre  []byte // bytes net/http had buffered past the handshake request
	conn net.Conn
	idle atomic.Int64 // time.Duration; 0 = do not extend
	out  *BatchWriter // the connection's write side

	frames *wire.FrameChecker // reads from this; set by Hijack
}

// NewProgressReader reads conn, after pre (the bytes net/http had buffered
// past the handshake request), and writes to it through a BatchWriter.
func NewProgressReader(conn net.Conn, pre []byte) *ProgressReader {
	return &ProgressReader{pre: pre, conn: conn, out: &BatchWriter{conn: conn}}
}

// Conn is the connection read.
func (p *ProgressReader) Conn() net.Conn { return p.conn }

// Out is the connection's write side.
func (p *ProgressReader) Out() *BatchWriter { return p.out }

// Frames is the checker reading from p, or nil before Hijack.
func (p *ProgressReader) Frames() *wire.FrameChecker { return p.frames }

// SetIdle has every read that brings bytes extend the read deadline by d.
func (p *ProgressReader) SetIdle(d time.Duration) { p.idle.Store(int64(d)) }

func (p *ProgressReader) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		if len(p.pre) == 0 {
			p.pre = nil
		}
		return n, nil
	}
	n, err := p.conn.Read(b)
	if d := time.Duration(p.idle.Load()); n > 0 && d > 0 {
		p.conn.SetReadDeadline(time.Now().Add(d))
	}
	return n, err
}

// BatchWriter is the write side of a listen connection. Between Begin and
// Flush it gathers the session's frames, so a batch of events costs one
// write to the socket instead of two per frame (a frame's header fills the
// small write buffer, then its payload bypasses it). Outside a batch, and
// for anything that would not fit batchMax, it writes straight through. The
// websocket library also writes from the reader's goroutine (the pong to a
// websocket-level ping), hence the lock.
type BatchWriter struct {
	conn net.Conn

	mu       sync.Mutex
	batching bool
	buf      *[]byte // from batchBufs while batching
}

// batchMax bounds what a batch gathers before it writes. Buffers are
// pooled across sessions: an idle session holds none.
const batchMax = 64 << 10

var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, batchMax); return &b }}

func (w *BatchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.batching {
		if len(*w.buf)+len(p) <= batchMax {
			*w.buf = append(*w.buf, p...)
			return len(p), nil
		}
		if err := w.writeBuffered(); err != nil {
			return 0, err
		}
		if len(p) <= batchMax {
			*w.buf = append(*w.buf, p...)
			return len(p), nil
		}
	}
	return w.conn.Write(p)
}

// Begin starts gathering writes.
func (w *BatchWriter) Begin() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.batching {
		w.batching = true
		w.buf = batchBufs.Get().(*[]byte)
	}
}

// Flush writes what was gathered, by deadline, and stops gathering.
func (w *BatchWriter) Flush(deadline func(n int) time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.batching {
		return nil
	}
	w.conn.SetWriteDeadline(deadline(len(*w.buf)))
	err := w.writeBuffered()
	w.batching = false
	batchBufs.Put(w.buf)
	w.buf = nil
	return err
}

func (w *BatchWriter) writeBuffered() error {
	if len(*w.buf) == 0 {
		return nil
	}
	_, err := w.conn.Write(*w.buf)
	*w.buf = (*w.buf)[:0]
	return err
}

// Buffers of a listen connection. An idle session holds them for its whole
// life, 10,000 sessions per relay, so they are small: frame payloads larger
// than a buffer bypass it, and a message costs a read or two more than with
// net/http's 4 KiB buffers. Most control messages (ack, ping, pong) fit one
// read; a frame header always fits the write buffer.
const (
	listenReadBuffer  = 512
	listenWriteBuffer = 128
)

// HijackedConn is the http.ResponseWriter the websocket library sees: the
// connection was already taken from net/http, and Hijack hands it over with
// small buffers. The library hijacks at once and never writes through the
// ResponseWriter itself.
type HijackedConn struct {
	conn     net.Conn
	progress *ProgressReader
	header   http.Header
}

// NewHijackedConn hands over conn, read through progress.
func NewHijackedConn(conn net.Conn, progress *ProgressReader) *HijackedConn {
	return &HijackedConn{conn: conn, progress: progress}
}

func (h *HijackedConn) Header() http.Header {
	if h.header == nil {
		h.header = http.Header{}
	}
	return h.header
}

func (h *HijackedConn) Write([]byte) (int, error) { return 0, http.ErrHijacked }
func (h *HijackedConn) WriteHeader(int)           {}

func (h *HijackedConn) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h.progress.frames = wire.NewFrameChecker(h.progress)
	return h.conn, bufio.NewReadWriter(bufio.NewReaderSize(h.progress.frames, listenReadBuffer), bufio.NewWriterSize(h.progress.out, listenWriteBuffer)), nil
}
