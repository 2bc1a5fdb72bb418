package wire

import (
	"errors"
	"fmt"
	"io"
)

// Binary bodies (FeatureBinaryBody). In JSON a body is base64: a third
// larger, encoded and decoded on both sides, and held whole in several
// forms along the way (the growing encoder buffer, the JSON, the decoded
// bytes). As its own binary frame it is written from, and read into, one
// buffer of its exact size.

// BinaryBodyMin is the smallest body sent as a binary frame; smaller ones
// cost less inside the JSON than as a frame of their own.
const BinaryBodyMin = 4 << 10

// SplitBody prepares m for sending with FeatureBinaryBody: when its event's
// or response's body is at least BinaryBodyMin bytes, it returns a copy of
// m without the body, naming its size in BodyFrame, and the body, to be
// sent as the next frame (binary). Otherwise it returns m and nil. m is not
// changed.
func SplitBody(m *Message) (*Message, []byte) {
	switch {
	case m.Event != nil && len(m.Event.Body) >= BinaryBodyMin:
		c, ev := *m, *m.Event
		c.Event, c.BodyFrame, ev.Body = &ev, int64(len(m.Event.Body)), nil
		return &c, m.Event.Body
	case m.Response != nil && len(m.Response.Body) >= BinaryBodyMin:
		c, r := *m, *m.Response
		c.Response, c.BodyFrame, r.Body = &r, int64(len(m.Response.Body)), nil
		return &c, m.Response.Body
	}
	return m, nil
}

// ReadBody completes a message read from r (the websocket connection) that
// names a body frame: it reads the frame, at most max bytes, into the
// message's event or response. fc is the connection's FrameChecker, which
// confirms that the bytes read were one binary frame of that size.
func ReadBody(r io.Reader, fc *FrameChecker, m *Message, max int64) error {
	n := m.BodyFrame
	var dst *[]byte
	switch {
	case n <= 0:
		return nil
	case m.Type == TypeEvent && m.Event != nil:
		dst = &m.Event.Body
	case m.Type == TypeResponse && m.Response != nil:
		dst = &m.Response.Body
	default:
		return &BodyError{fmt.Sprintf("body_frame on a %s message without an event or response", m.Type)}
	}
	if len(*dst) > 0 {
		return &BodyError{"body_frame on a message that has a body"}
	}
	if n > max {
		return &BodyError{fmt.Sprintf("body frame of %d bytes, over the limit of %d", n, max)}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		return err
	}
	if err := fc.Took(true, n); err != nil {
		return err
	}
	*dst = body
	return nil
}

// A BodyError is a message whose body frame cannot be read: a protocol
// violation.
type BodyError struct{ Text string }

func (e *BodyError) Error() string { return e.Text }
