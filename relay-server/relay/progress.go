package relay

import (
	"bufio"
	"io"
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
	r    io.Reader
	conn net.Conn
	idle atomic.Int64 // time.Duration; 0 = do not extend
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if d := time.Duration(p.idle.Load()); n > 0 && d > 0 {
		p.conn.SetReadDeadline(time.Now().Add(d))
	}
	return n, err
}

// progressHijacker hands the websocket library a connection whose reads go
// through a progressReader.
type progressHijacker struct {
	http.ResponseWriter
	progress *progressReader
}

func (h *progressHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	rwc, buf, err := h.ResponseWriter.(http.Hijacker).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.progress.r, h.progress.conn = buf.Reader, rwc
	// Frame payloads are read in large chunks, which bufio passes straight
	// through, so a minimal buffer costs nothing.
	return rwc, bufio.NewReadWriter(bufio.NewReaderSize(h.progress, 16), buf.Writer), nil
}
