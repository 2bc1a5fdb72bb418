package wire

import (
	"fmt"
	"io"
	"strings"
)

// Frames. Each message of this protocol travels in one websocket frame,
// text (or binary), never fragmented, and no extension is ever negotiated.
// golang.org/x/net/websocket accepts more than that: it ignores the RSV bits,
// hands a frame with a reserved opcode to the reader as if it were data, and
// reads a fragmented message's first frame as a whole message. A
// FrameChecker sits under the websocket library, on the bytes it reads, and
// fails the connection at the first frame header this protocol never sends
// (RFC 6455 §5.2, §5.4, §5.5): the peer is told why with close code
// CloseProtocolError.

// CloseProtocolError is the websocket close code for a protocol violation.
const CloseProtocolError = 1002

// A FrameError is a frame header no peer of this protocol sends.
type FrameError struct {
	Reason string // for the close frame: at most 123 bytes
}

func (e *FrameError) Error() string { return "websocket protocol error: " + e.Reason }

// A FrameChecker reads a websocket connection's incoming bytes from R and
// checks every frame header as it passes, without copying or holding the
// payloads. After a bad header, Read returns the bytes before that frame,
// then the *FrameError.
type FrameChecker struct {
	r          io.Reader
	fromClient bool // frames must be masked; otherwise they must not be
	handshake  int  // bytes of "\r\n\r\n" matched while skipping an HTTP response head; -1 when done

	hdr     [14]byte
	hn      int    // header bytes seen
	payload uint64 // bytes of the current frame still to pass
	err     error

	// data holds the data frames whose headers passed and that the reader
	// has not yet said it took (Took), oldest first. The websocket
	// library's read buffer bounds how far ahead of the reader this runs.
	data []dataFrame
	head int // data[head:] are not taken
}

type dataFrame struct {
	binary bool
	size   uint64
}

// Took tells the checker that the reader took the oldest data frame not
// yet taken, as a binary frame or a text one, of size bytes (any size when
// size is negative), and fails when that frame was something else. A nil
// checker checks nothing.
func (c *FrameChecker) Took(binary bool, size int64) error {
	if c == nil {
		return nil
	}
	if c.head == len(c.data) {
		return &FrameError{"a message was read that no frame carried"}
	}
	f := c.data[c.head]
	c.head++
	if c.head == len(c.data) {
		c.data, c.head = c.data[:0], 0
	}
	switch {
	case f.binary && !binary:
		return &FrameError{"a binary frame where a JSON message belongs"}
	case !f.binary && binary:
		return &FrameError{"a text frame where the binary body named by body_frame belongs"}
	case size >= 0 && f.size != uint64(size):
		return &FrameError{fmt.Sprintf("a body frame of %d bytes where body_frame named %d", f.size, size)}
	}
	return nil
}

// NewFrameChecker checks the frames a relay reads from a CLI: masked, as
// clients send. r starts at the first frame.
func NewFrameChecker(r io.Reader) *FrameChecker {
	return &FrameChecker{r: r, fromClient: true, handshake: -1}
}

// NewClientFrameChecker checks the frames a CLI reads from a relay:
// unmasked. r starts at the relay's answer to the websocket handshake, whose
// head it passes through unchecked.
func NewClientFrameChecker(r io.Reader) *FrameChecker {
	return &FrameChecker{r: r}
}

func (c *FrameChecker) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if good, ferr := c.scan(p[:n]); ferr != nil {
		c.err = ferr
		if good > 0 {
			return good, nil
		}
		return 0, ferr
	}
	return n, err
}

// scan follows the frames through b. On a bad header it returns how many
// bytes of b come before that header.
func (c *FrameChecker) scan(b []byte) (int, error) {
	i := 0
	for c.handshake >= 0 && i < len(b) {
		switch {
		case b[i] == "\r\n\r\n"[c.handshake]:
			c.handshake++
		case b[i] == '\r':
			c.handshake = 1
		default:
			c.handshake = 0
		}
		i++
		if c.handshake == 4 {
			c.handshake = -1
		}
	}
	start := i // where the header being read began in b, if it did
	for i < len(b) {
		if c.payload > 0 {
			k := uint64(len(b) - i)
			if k > c.payload {
				k = c.payload
			}
			c.payload -= k
			i += int(k)
			continue
		}
		if c.hn == 0 {
			start = i
		}
		c.hdr[c.hn] = b[i]
		c.hn++
		i++
		done, err := c.header()
		if err != nil {
			if c.hn > i-start { // the header began in an earlier read
				return 0, err
			}
			return start, err
		}
		if done {
			c.hn = 0
		}
	}
	return len(b), nil
}

// header checks the header bytes seen so far and reports whether the header
// is complete, setting the payload to follow.
func (c *FrameChecker) header() (bool, error) {
	h := c.hdr[:c.hn]
	if len(h) == 1 {
		return false, checkFirst(h[0])
	}
	masked := h[1]&0x80 != 0
	if len(h) == 2 && masked != c.fromClient {
		if c.fromClient {
			return false, &FrameError{"unmasked frame from a client"}
		}
		return false, &FrameError{"masked frame from a server"}
	}
	n := uint64(h[1] & 0x7f)
	if len(h) == 2 && h[0]&0x08 != 0 && n > 125 {
		return false, &FrameError{"control frame longer than 125 bytes"}
	}
	ext := 0
	switch n {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	size := 2 + ext
	if masked {
		size += 4
	}
	if len(h) < size {
		return false, nil
	}
	switch ext {
	case 2:
		n = uint64(h[2])<<8 | uint64(h[3])
	case 8:
		n = 0
		for _, x := range h[2:10] {
			n = n<<8 | uint64(x)
		}
		if n>>63 != 0 {
			return false, &FrameError{"frame length with its most significant bit set"}
		}
	}
	c.payload = n
	if op := h[0] & 0x0f; op == 0x1 || op == 0x2 {
		c.data = append(c.data, dataFrame{binary: op == 0x2, size: n})
	}
	return true, nil
}

// checkFirst checks a frame's first byte: FIN, RSV1-3 and the opcode.
func checkFirst(b byte) error {
	if rsv := b & 0x70; rsv != 0 {
		var set []string
		for i, bit := range []byte{0x40, 0x20, 0x10} {
			if rsv&bit != 0 {
				set = append(set, fmt.Sprintf("RSV%d", i+1))
			}
		}
		return &FrameError{strings.Join(set, ", ") + " set, but no extension was negotiated"}
	}
	fin := b&0x80 != 0
	switch op := b & 0x0f; op {
	case 0x1, 0x2: // text, binary
		if !fin {
			return &FrameError{"fragmented message: this protocol sends each message in one frame"}
		}
	case 0x0:
		return &FrameError{"continuation frame, but this protocol never fragments a message"}
	case 0x8, 0x9, 0xa: // close, ping, pong
		if !fin {
			return &FrameError{"fragmented control frame"}
		}
	default:
		return &FrameError{fmt.Sprintf("reserved opcode %#x", op)}
	}
	return nil
}
