package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/tunnel/wire"
	"github.com/hookctl/hookctl/tunnel/wire/wsconn"
)

// maxFrame caps one incoming message: a response may carry a body as large
// as an accepted webhook, base64-encoded, plus headers.
func (r *Relay) maxFrame() int {
	n := r.cfg.MaxBody/3*4 + 1<<20
	return int(min(n, 1<<30))
}

func (r *Relay) replyOptions(o *wire.ReplyOptions) (wire.ReplyOptions, error) {
	if o == nil {
		return wire.ReplyOptions{Mode: wire.ReplyPassthrough}, nil
	}
	out := *o
	switch out.Mode {
	case "", wire.ReplyPassthrough:
		out.Mode = wire.ReplyPassthrough
		if out.Timeout < 0 || out.Timeout > maxReplyTimeout {
			return out, fmt.Errorf("reply timeout %v out of range (0 to %v)", out.Timeout, maxReplyTimeout)
		}
		if out.DownStatus != 0 && (out.DownStatus < 200 || out.DownStatus > 599) {
			return out, fmt.Errorf("app-down status %d out of range (200 to 599)", out.DownStatus)
		}
	case wire.ReplyAck:
	case wire.ReplyStatus:
		if out.Status < 200 || out.Status > 599 {
			return out, fmt.Errorf("reply status %d out of range (200 to 599)", out.Status)
		}
	default:
		return out, fmt.Errorf("unknown reply mode %q", out.Mode)
	}
	return out, nil
}

// refuse sends an error before a session exists; the connection is closed
// when serveListen returns.
func (r *Relay) refuse(conn *websocket.Conn, code, text string, permanent bool) {
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	websocket.JSON.Send(conn, wire.Message{Type: wire.TypeError, Code: code, Text: text, Permanent: permanent})
	// The client may still be sending (an oversized hello): closing with
	// unread bytes would reset the connection, and the client could lose
	// the error. Read what follows, within bounds, before closing.
	if p, ok := r.progress.Load(conn.Request()); ok {
		c := p.(*wsconn.ProgressReader).Conn()
		c.SetReadDeadline(time.Now().Add(time.Second))
		io.Copy(io.Discard, io.LimitReader(c, 2*helloMaxBytes))
	}
}

// failFraming ends a connection whose client broke the websocket framing
// (see wire.FrameChecker): a close frame naming the fault, then, so that the
// client can read it rather than lose it to a reset, the end of the write
// side and up to half a second (as net/http waits before closing a
// connection it refused) of whatever the client still sends.
func (r *Relay) failFraming(conn *websocket.Conn, fe *wire.FrameError) {
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	closeFrame := websocket.Codec{Marshal: func(any) ([]byte, byte, error) {
		return append(binary.BigEndian.AppendUint16(nil, wire.CloseProtocolError), fe.Reason...), websocket.CloseFrame, nil
	}}
	closeFrame.Send(conn, nil)
	p, ok := r.progress.Load(conn.Request())
	if !ok {
		conn.Close()
		return
	}
	c := p.(*wsconn.ProgressReader).Conn()
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.Copy(io.Discard, io.LimitReader(c, 1<<20))
	c.Close()
}

// readMessage reads one message: a text frame of JSON and, when it names
// one, the binary body frame after it, of at most maxBody bytes (0: a body
// frame is a protocol violation, as before FeatureBinaryBody was accepted).
// fc, the connection's frame checker, confirms the frames were of those
// kinds.
func readMessage(conn *websocket.Conn, fc *wire.FrameChecker, m *wire.Message, maxBody int64) error {
	bp := messageBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledMessage {
			messageBuffers.Put(bp)
		}
	}()
	data, err := receiveText(conn, fc, *bp)
	if data != nil {
		*bp = data[:0]
	}
	if err != nil {
		if errors.Is(err, websocket.ErrFrameTooLarge) || errors.Is(err, wire.ErrMessageTooLarge) {
			return &badMessage{fmt.Sprintf("message larger than %d bytes", conn.MaxPayloadBytes)}
		}
		return err
	}
	switch {
	case bytes.Equal(data, pingJSON):
		*m = wire.Message{Type: wire.TypePing}
		return nil
	case bytes.Equal(data, pongJSON):
		*m = wire.Message{Type: wire.TypePong}
		return nil
	}
	// wire.Decode is json.Unmarshal, several times cheaper.
	if err := wire.Decode(data, m); err != nil {
		return &badMessage{"malformed message: " + err.Error()}
	}
	if m.Type == "" {
		return &badMessage{"message without a type"}
	}
	if m.BodyFrame != 0 {
		if maxBody == 0 {
			return &badMessage{"body_frame without the " + wire.FeatureBinaryBody + " feature"}
		}
		var be *wire.BodyError
		if err := wire.ReadBody(conn, fc, m, maxBody); errors.As(err, &be) {
			return &badMessage{be.Text}
		} else if err != nil {
			return err
		}
	}
	return nil
}

// receiveText reads one text message into buf: sized by its frame header
// when fc is there (FrameChecker.ReadMessage, as the CLI reads), else by
// the websocket library.
func receiveText(conn *websocket.Conn, fc *wire.FrameChecker, buf []byte) ([]byte, error) {
	if fc != nil {
		return fc.ReadMessage(conn, buf)
	}
	var data []byte
	err := websocket.Message.Receive(conn, &data)
	return data, err
}

// messageBuffers hold the messages read from CLIs while they are decoded
// (wire.Decode copies what it keeps): shared, not one per session, so that
// idle sessions hold none. One over maxPooledMessage (a large response
// body in its JSON) is left to the collector.
var messageBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledMessage = 64 << 10

// framesOf is the frame checker under conn, or nil.
func (r *Relay) framesOf(conn *websocket.Conn) *wire.FrameChecker {
	if p, ok := r.progress.Load(conn.Request()); ok {
		return p.(*wsconn.ProgressReader).Frames()
	}
	return nil
}

// maxBodyFrame is the largest body frame the session reads: a response
// body as large as the relay accepts (the CLI cuts longer ones), or none
// without FeatureBinaryBody.
func (s *session) maxBodyFrame() int64 {
	if !s.binary {
		return 0
	}
	return s.r.cfg.MaxBody
}

// minWriteRate is the slowest link a write is allowed to take: a 25 MiB
// event may take minutes on a slow link without the session being dead.
const minWriteRate = 64 << 10 // bytes per second

// textFrame sends pre-encoded JSON as one text frame.
var textFrame = websocket.Codec{Marshal: func(v any) ([]byte, byte, error) {
	return v.([]byte), websocket.TextFrame, nil
}}

// binaryFrame sends a body as one binary frame (wire.FeatureBinaryBody).
var binaryFrame = websocket.Codec{Marshal: func(v any) ([]byte, byte, error) {
	return v.([]byte), websocket.BinaryFrame, nil
}}

// Keepalive messages as every client encodes them. They are the only
// traffic of an idle session, so they skip encoding/json both ways: its
// reflection would grow the stacks of 10,000 idle sessions' goroutines.
var (
	pingJSON = []byte(`{"type":"ping"}`)
	pongJSON = []byte(`{"type":"pong"}`)
)

func (s *session) write(m wire.Message) error {
	var data []byte
	switch {
	case m.Type == wire.TypePing && m == (wire.Message{Type: wire.TypePing}):
		data = pingJSON
	case m.Type == wire.TypePong && m == (wire.Message{Type: wire.TypePong}):
		data = pongJSON
	default:
		mm, body := &m, []byte(nil)
		if s.binary {
			mm, body = wire.SplitBody(&m)
		}
		var err error
		data, err = wire.Encode(mm)
		if err != nil {
			return fmt.Errorf("encode %s message: %w", m.Type, err)
		}
		if body != nil {
			s.conn.SetWriteDeadline(s.writeDeadline(len(data) + len(body)))
			if err := textFrame.Send(s.conn, data); err != nil {
				return err
			}
			return binaryFrame.Send(s.conn, body)
		}
	}
	s.conn.SetWriteDeadline(s.writeDeadline(len(data)))
	return textFrame.Send(s.conn, data)
}

// writeDeadline is when a write of n bytes starting now is overdue.
func (s *session) writeDeadline(n int) time.Time {
	return time.Now().Add(s.r.cfg.DeadAfter + time.Duration(n)*time.Second/minWriteRate)
}

// finish sets the last message the writer sends before it closes the
// connection. The first one wins.
func (s *session) finish(m wire.Message) {
	select {
	case s.final <- farewell{msg: m}:
	default:
	}
}
