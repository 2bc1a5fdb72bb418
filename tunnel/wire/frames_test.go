package wire_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/hookctl/hookctl/tunnel/wire"
	"github.com/hookctl/hookctl/tunnel/wire/wiretest"
)

// readers gives every way the bytes may arrive: at once, a byte at a time,
// and in reads of 7.
func readers(b []byte) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":    bytes.NewReader(b),
		"one byte": iotest.OneByteReader(bytes.NewReader(b)),
		"sevens":   &chunkReader{b: b, n: 7},
	}
}

type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := min(r.n, len(p), len(r.b))
	copy(p, r.b[:k])
	r.b = r.b[k:]
	return k, nil
}

// goodFrames is what peers send: data frames of every length form, control
// frames, masked or not.
func goodFrames(mask bool) []byte {
	text := wiretest.FIN | wiretest.OpText
	var b []byte
	b = wiretest.AppendFrame(b, text, []byte(`{"type":"ack","id":"evt_1"}`), mask)
	b = wiretest.AppendFrame(b, wiretest.FIN|wiretest.OpPing, []byte("p"), mask)
	b = wiretest.AppendFrame(b, text, bytes.Repeat([]byte("a"), 300), mask)   // 16-bit length
	b = wiretest.AppendFrame(b, text, bytes.Repeat([]byte("b"), 70000), mask) // 64-bit length
	b = wiretest.AppendFrame(b, wiretest.FIN|wiretest.OpBinary, nil, mask)
	b = wiretest.AppendFrame(b, wiretest.FIN|wiretest.OpPong, nil, mask)
	return wiretest.AppendFrame(b, wiretest.FIN|wiretest.OpClose, []byte{0x03, 0xe8}, mask)
}

func TestFrameCheckerPassesGoodFrames(t *testing.T) {
	for _, fromClient := range []bool{true, false} {
		want := goodFrames(fromClient)
		input := want
		if !fromClient {
			input = append([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), want...)
		}
		for name, r := range readers(input) {
			c := wire.NewFrameChecker(r)
			if !fromClient {
				c = wire.NewClientFrameChecker(r)
			}
			got, err := io.ReadAll(c)
			if err != nil {
				t.Errorf("client %v, %s: %v", fromClient, name, err)
			}
			if !fromClient {
				got = got[bytes.Index(got, []byte("\r\n\r\n"))+4:]
			}
			if !bytes.Equal(got, want) {
				t.Errorf("client %v, %s: bytes changed (%d of %d)", fromClient, name, len(got), len(want))
			}
		}
	}
}

func TestFrameCheckerRefuses(t *testing.T) {
	good := wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpText, []byte(`{"type":"pong"}`), true)
	text := wiretest.FIN | wiretest.OpText
	cases := []struct {
		name   string
		frame  []byte
		client bool // read by a CLI
		reason string
	}{
		{"rsv1", wiretest.AppendFrame(nil, text|wiretest.RSV1, []byte("{}"), true), false, "RSV1 set"},
		{"rsv2 and rsv3", wiretest.AppendFrame(nil, text|wiretest.RSV2|wiretest.RSV3, []byte("{}"), true), false, "RSV2, RSV3 set"},
		{"reserved data opcode", wiretest.AppendFrame(nil, wiretest.FIN|3, []byte("{}"), true), false, "reserved opcode 0x3"},
		{"reserved control opcode", wiretest.AppendFrame(nil, wiretest.FIN|0xb, nil, true), false, "reserved opcode 0xb"},
		{"fragment", wiretest.AppendFrame(nil, wiretest.OpText, []byte("{"), true), false, "fragmented message"},
		{"continuation", wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpContinuation, []byte("}"), true), false, "continuation frame"},
		{"fragmented ping", wiretest.AppendFrame(nil, wiretest.OpPing, nil, true), false, "fragmented control frame"},
		{"long ping", wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpPing, make([]byte, 126), true), false, "longer than 125"},
		{"unmasked to the relay", wiretest.AppendFrame(nil, text, []byte("{}"), false), false, "unmasked frame"},
		{"masked to the CLI", wiretest.AppendFrame(nil, text, []byte("{}"), true), true, "masked frame from a server"},
		{"length over 2^63", append([]byte{text, 0xff}, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4), false, "most significant bit"},
	}
	for _, c := range cases {
		prefix := good
		if c.client {
			prefix = wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpText, []byte(`{"type":"pong"}`), false)
		}
		input := append(append(bytes.Clone(prefix), c.frame...), prefix...)
		for name, r := range readers(input) {
			var fc *wire.FrameChecker
			if c.client {
				fc = wire.NewClientFrameChecker(io.MultiReader(strings.NewReader("HTTP/1.1 101 OK\r\n\r\n"), r))
			} else {
				fc = wire.NewFrameChecker(r)
			}
			got, err := io.ReadAll(fc)
			var fe *wire.FrameError
			if !errors.As(err, &fe) || !strings.Contains(fe.Reason, c.reason) || len(fe.Reason) > 123 {
				t.Errorf("%s, %s: got %v, want a FrameError naming %q", c.name, name, err, c.reason)
				continue
			}
			if c.client {
				got = bytes.TrimPrefix(got, []byte("HTTP/1.1 101 OK\r\n\r\n"))
			}
			// Everything before the bad frame passed, nothing after it;
			// a byte or so of its header may have.
			if !bytes.HasPrefix(got, prefix) || len(got) > len(prefix)+len(c.frame)-1 {
				t.Errorf("%s, %s: passed %d bytes, want the %d before the bad frame", c.name, name, len(got), len(prefix))
			}
			if _, err2 := fc.Read(make([]byte, 10)); err2 != err {
				t.Errorf("%s, %s: read after the error gave %v", c.name, name, err2)
			}
		}
	}
}

// FuzzFrameChecker: for any bytes, read whole or in pieces of any size, the
// checker passes a prefix of them and ends in the same verdict, and an
// error is always a FrameError.
func FuzzFrameChecker(f *testing.F) {
	small := func(mask bool) []byte { // goodFrames without its 70,000-byte frame
		b := wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpText, []byte(`{"type":"ack"}`), mask)
		b = wiretest.AppendFrame(b, wiretest.FIN|wiretest.OpPing, []byte("p"), mask)
		b = wiretest.AppendFrame(b, wiretest.FIN|wiretest.OpBinary, bytes.Repeat([]byte("a"), 130), mask)
		return wiretest.AppendFrame(b, wiretest.FIN|wiretest.OpClose, []byte{0x03, 0xe8}, mask)
	}
	f.Add(small(true), uint8(1), true)
	f.Add(small(false), uint8(3), false)
	f.Add(wiretest.AppendFrame(small(true), wiretest.OpText, []byte("{"), true), uint8(5), true)
	f.Add(append([]byte{0x81, 0xff, 0, 0, 0, 0, 0, 1, 0, 0}, 1, 2, 3, 4), uint8(7), true)
	f.Add(wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpText|wiretest.RSV2, []byte("{}"), true), uint8(2), true)
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8, fromClient bool) {
		verdict := func(r io.Reader) ([]byte, string) {
			c := wire.NewFrameChecker(r)
			if !fromClient {
				c = wire.NewClientFrameChecker(io.MultiReader(strings.NewReader("HTTP/1.1 101 OK\r\n\r\n"), r))
			}
			got, err := io.ReadAll(c)
			if !fromClient {
				got = bytes.TrimPrefix(got, []byte("HTTP/1.1 101 OK\r\n\r\n"))
			}
			if !bytes.HasPrefix(b, got) {
				t.Fatalf("passed bytes that are not a prefix of the input")
			}
			if err == nil {
				if len(got) != len(b) {
					t.Fatalf("no error, but %d of %d bytes passed", len(got), len(b))
				}
				return got, ""
			}
			var fe *wire.FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a FrameError", err)
			}
			return got, fe.Reason
		}
		_, whole := verdict(bytes.NewReader(b))
		_, pieces := verdict(&chunkReader{b: b, n: int(chunk%16) + 1})
		if whole != pieces {
			t.Fatalf("whole: %q, in pieces of %d: %q", whole, chunk%16+1, pieces)
		}
	})
}
