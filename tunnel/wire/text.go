package wire

import (
	"errors"
	"fmt"
	"io"
)

// ReadText reads the next message, which must be one text frame of at most
// max bytes, from r (the websocket connection, whose Read returns a frame's
// payload) into buf, grown when it is too small, and returns it. fc, the
// connection's FrameChecker, names the frame's size once its header has
// passed, so the payload is read into one buffer of that size instead of
// one grown as it arrives (websocket.Message.Receive, io.ReadAll), and the
// caller can reuse buf: Decode copies what it keeps. A frame over max is a
// *TooLargeError. The websocket library reads past an empty frame to the
// next one: an empty message is returned when that one arrives. A nil fc is
// not allowed.
func ReadText(r io.Reader, fc *FrameChecker, buf []byte, max int) ([]byte, error) {
	if cap(buf) == 0 {
		buf = make([]byte, 0, 512)
	}
	buf = buf[:cap(buf)]
	// The first read passes the frame's header through fc.
	n, err := r.Read(buf)
	if err != nil && n == 0 {
		return nil, err
	}
	if fc.head == len(fc.data) {
		return nil, &FrameError{"a message was read that no frame carried"}
	}
	size := fc.data[fc.head].size
	if size > uint64(max) {
		return nil, &TooLargeError{Max: max}
	}
	if uint64(n) > size {
		// An empty frame: the websocket library went on to the next one.
		// An empty message is malformed; the connection ends with it.
		return buf[:0], fc.Took(false, 0)
	}
	if uint64(cap(buf)) < size {
		buf = append(buf[:n], make([]byte, int(size)-n)...)
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

// A TooLargeError is a message over the size a reader accepts.
type TooLargeError struct{ Max int }

func (e *TooLargeError) Error() string { return fmt.Sprintf("message larger than %d bytes", e.Max) }
