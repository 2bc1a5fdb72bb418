package wire_test

import (
	"bytes"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/tunnel/wire"
	"github.com/hookctl/hookctl/tunnel/wire/wiretest"
	"github.com/hookctl/hookctl/tunnel/wire/wsconn"
)

// relayFrames connects a client websocket, as the CLI's, to a relay that
// answers the handshake and writes frames, times over.
func relayFrames(t testing.TB, frames []byte, times int) (*websocket.Conn, *wsconn.IdleConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		br, err := wiretest.ServerHandshake(conn)
		served <- err
		if err == nil {
			go br.WriteTo(discard{}) // until the client closes
			for range times {
				if _, err := conn.Write(frames); err != nil {
					return
				}
			}
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ic := wsconn.NewIdleConn(nc, 20*time.Second)
	loc := &url.URL{Scheme: "ws", Host: ln.Addr().String(), Path: wire.ListenPath}
	ws, err := websocket.NewClient(&websocket.Config{Location: loc, Origin: &url.URL{Scheme: "http", Host: loc.Host}, Version: websocket.ProtocolVersionHybi13}, ic)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	return ws, ic
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// ReadMessage returns each text frame's payload whole, whatever its size
// against the buffer it is given, with control frames between them
// skipped, and reuses that buffer when the message fits.
func TestReadMessageReadsEachFrame(t *testing.T) {
	text := wiretest.FIN | wiretest.OpText
	msgs := [][]byte{
		[]byte(`{"type":"ping"}`),
		bytes.Repeat([]byte("a"), 300),
		bytes.Repeat([]byte("b"), 4096),  // the library's read buffer
		bytes.Repeat([]byte("c"), 70000), // 64-bit length, larger than the buffer
		bytes.Repeat([]byte("d"), 1000),  // fits the grown buffer
		[]byte("e"),
	}
	var frames []byte
	for i, m := range msgs {
		frames = wiretest.AppendFrame(frames, text, m, false)
		if i == 2 {
			frames = wiretest.AppendFrame(frames, wiretest.FIN|wiretest.OpPong, []byte("p"), false)
		}
	}
	ws, ic := relayFrames(t, frames, 1)
	ws.MaxPayloadBytes = 1 << 20
	buf := make([]byte, 0, 1024)
	for i, want := range msgs {
		got, err := ic.Frames().ReadMessage(ws, buf)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: got %d bytes %.20q…, want %d bytes %.20q…", i, len(got), got, len(want), want)
		}
		if len(want) <= cap(buf) && &got[0] != &buf[:1][0] {
			t.Errorf("message %d of %d bytes: not read into the %d-byte buffer given", i, len(want), cap(buf))
		}
		buf = got[:0]
	}
}

// ReadMessage fails, before reading the payload, on a message over the
// limit, a binary frame where JSON belongs and an empty frame (which would
// otherwise read the next frame as its message); a bad frame header still
// fails through the checker.
func TestReadMessageRefuses(t *testing.T) {
	text := wiretest.FIN | wiretest.OpText
	next := wiretest.AppendFrame(nil, text, []byte(`{"type":"ping"}`), false)
	for _, c := range []struct {
		name   string
		frames []byte
		want   string
	}{
		{"over the limit", wiretest.AppendFrame(nil, text, bytes.Repeat([]byte("x"), 101), false), "over the limit of 100"},
		{"binary", wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpBinary, []byte("{}"), false), "binary frame where a JSON message belongs"},
		{"empty", append(wiretest.AppendFrame(nil, text, nil, false), next...), "empty message"},
		{"rsv1", wiretest.AppendFrame(nil, text|wiretest.RSV1, []byte("{}"), false), "RSV1"},
		{"fragment", append(wiretest.AppendFrame(nil, wiretest.OpText, []byte(`{"type"`), false),
			wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpContinuation, []byte(`:"ping"}`), false)...), "fragmented"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ws, ic := relayFrames(t, c.frames, 1)
			ws.MaxPayloadBytes = 100
			got, err := ic.Frames().ReadMessage(ws, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("ReadMessage = %q, %v; want an error naming %q", got, err, c.want)
			}
			if c.name == "over the limit" && !errors.Is(err, wire.ErrMessageTooLarge) {
				t.Errorf("error %v is not ErrMessageTooLarge", err)
			}
		})
	}
}

// BenchmarkReadMessage reads a 2 KB event message, as the CLI gets per
// event, with ReadMessage and with websocket.Codec.Receive (io.ReadAll).
func BenchmarkReadMessage(b *testing.B) {
	msg := bytes.Repeat([]byte("x"), 2048)
	raw := websocket.Codec{Unmarshal: func(data []byte, _ byte, v any) error {
		*v.(*int) = len(data)
		return nil
	}}
	for _, c := range []struct {
		name string
		read func(ws *websocket.Conn, ic *wsconn.IdleConn, buf []byte) ([]byte, error)
	}{
		{"ReadMessage", func(ws *websocket.Conn, ic *wsconn.IdleConn, buf []byte) ([]byte, error) {
			return ic.Frames().ReadMessage(ws, buf)
		}},
		{"Codec.Receive", func(ws *websocket.Conn, ic *wsconn.IdleConn, buf []byte) ([]byte, error) {
			var n int
			err := raw.Receive(ws, &n)
			if err == nil {
				err = ic.Frames().Took(false, int64(n))
			}
			return buf, err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			frame := wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpText, msg, false)
			ws, ic := relayFrames(b, frame, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			var buf []byte
			for range b.N {
				got, err := c.read(ws, ic, buf)
				if err != nil {
					b.Fatal(err)
				}
				buf = got
			}
		})
	}
}
