package wire

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/net/websocket"
)

// ReadMessage reads the next JSON message from ws (its Read returns the
// payload of one data frame, the next one's once that one is done), whose
// incoming bytes fc checks, and returns its bytes: in buf when they fit,
// else in a slice of their own. The message's length comes from its frame
// header, which fc has seen by the time ws returns the first byte of the
// payload, so the message is read into one buffer of its size. websocket.Codec.Receive
// instead reads it with io.ReadAll, growing a buffer from 512 bytes: most
// of what the CLI allocated per event.
//
// A message longer than ws.MaxPayloadBytes (websocket's default when 0,
// as its Receive has it) is not read: ReadMessage returns
// ErrMessageTooLarge. Like Took (which it calls), it fails on a binary
// frame.
func (fc *FrameChecker) ReadMessage(ws *websocket.Conn, buf []byte) ([]byte, error) {
	limit := int64(ws.MaxPayloadBytes)
	if limit <= 0 {
		limit = websocket.DefaultMaxPayloadBytes
	}
	var r io.Reader = ws
	buf = buf[:cap(buf)]
	if len(buf) == 0 {
		buf = make([]byte, 512)
	}
	var n int
	var err error
	for n == 0 && err == nil {
		n, err = r.Read(buf)
	}
	if err != nil {
		return nil, err
	}
	if fc.head == len(fc.data) {
		return nil, &FrameError{"a message was read that no frame carried"}
	}
	f := fc.data[fc.head]
	switch {
	case uint64(n) > f.size:
		// r went on past an empty frame, which ends no message of this
		// protocol.
		return nil, &FrameError{"an empty message"}
	case f.size > uint64(limit):
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrMessageTooLarge, f.size, limit)
	}
	size := int(f.size)
	if size > len(buf) {
		b := make([]byte, size)
		copy(b, buf[:n])
		buf = b
	}
	buf = buf[:size]
	if _, err := io.ReadFull(r, buf[n:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		return nil, err
	}
	if err := fc.Took(false, int64(size)); err != nil {
		return nil, err
	}
	return buf, nil
}

// ErrMessageTooLarge is a message longer than the reader's limit.
var ErrMessageTooLarge = errors.New("websocket message too large")
