package relay

import (
	"bufio"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// A session is dead after DeadAfter without receiving anything (the wire
// contract), not after DeadAfter without a whole message: a large response
// on a slow link keeps arriving for longer than that. progressReader pushes
// the read deadline forward whenever bytes arrive; it starts doing so only
// once the session is welcomed, so a client dribbling its hello is still
// cut off by HelloTimeout.
type progressReader struct {
	pre  []byte // bytes net/http had buffered past the handshake request
	conn net.Conn
	idle atomic.Int64 // time.Duration; 0 = do not extend
}

func (p *progressReader) Read(b []byte) (int, error) {
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

// Buffers of a listen connection. An idle session holds them for its whole
// life, 10,000 sessions per relay, so they are small: frame payloads larger
// than a buffer bypass it, and a message costs a read or two more than with
// net/http's 4 KiB buffers. Most control messages (ack, ping, pong) fit one
// read; a frame header always fits the write buffer.
const (
	listenReadBuffer  = 512
	listenWriteBuffer = 128
)

// hijackedConn is the http.ResponseWriter the websocket library sees: the
// connection was already taken from net/http, and Hijack hands it over with
// small buffers. The library hijacks at once and never writes through the
// ResponseWriter itself.
type hijackedConn struct {
	conn     net.Conn
	progress *progressReader
	header   http.Header
}

func (h *hijackedConn) Header() http.Header {
	if h.header == nil {
		h.header = http.Header{}
	}
	return h.header
}

func (h *hijackedConn) Write([]byte) (int, error) { return 0, http.ErrHijacked }
func (h *hijackedConn) WriteHeader(int)           {}

func (h *hijackedConn) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.conn, bufio.NewReadWriter(bufio.NewReaderSize(h.progress, listenReadBuffer), bufio.NewWriterSize(h.conn, listenWriteBuffer)), nil
}
