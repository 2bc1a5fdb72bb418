package relay_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
	"github.com/hookctl/hookctl/tunnel/wire/wiretest"
)

// logBuffer is a slog handler's output, safe to read while the relay logs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rawListener is a CLI writing websocket frames byte for byte.
type rawListener struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialFrames(t *testing.T, base string) *rawListener {
	t.Helper()
	conn := dialRaw(t, base).conn
	br, err := wiretest.ClientHandshake(conn, conn.RemoteAddr().String(), wire.ListenPath)
	if err != nil {
		t.Fatal(err)
	}
	return &rawListener{t: t, conn: conn, br: br}
}

// hello says hello for endpoint, asking for features, and returns the
// welcome.
func (c *rawListener) hello(endpoint string, reply *wire.ReplyOptions, features wire.Features) wire.Message {
	c.t.Helper()
	c.text(wire.Message{Type: wire.TypeHello, Version: wire.Version, Endpoint: endpoint, Reply: reply, Features: features})
	m := c.next()
	if m.Type != wire.TypeWelcome {
		c.t.Fatalf("hello answered %+v", m)
	}
	return m
}

// eventInFlight posts a webhook to endpoint and reads the event the relay
// sends for it; it returns the event's id.
func (c *rawListener) eventInFlight(r *testRelay, endpoint string) string {
	c.t.Helper()
	st, _, body := r.send(c.t, "POST", "/h/"+endpoint, []byte("{}"), nil)
	id := queuedID(c.t, st, body)
	if m := c.next(); m.Type != wire.TypeEvent || m.Event.ID != id {
		c.t.Fatalf("got %+v, want event %s", m, id)
	}
	return id
}

// text sends m as one masked text frame.
func (c *rawListener) text(m wire.Message) {
	c.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		c.t.Fatal(err)
	}
	c.write(wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpText, b, true))
}

func (c *rawListener) write(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next text message other than a ping.
func (c *rawListener) next() wire.Message {
	c.t.Helper()
	for {
		f, err := wiretest.ReadFrame(c.br)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		var m wire.Message
		if f.Opcode() != wiretest.OpText || json.Unmarshal(f.Payload, &m) != nil {
			c.t.Fatalf("got frame %#x %q, want a message", f.First, f.Payload)
		}
		if m.Type != wire.TypePing {
			return m
		}
	}
}

// closed reads until the relay ends the connection and returns its close
// frame; ok is false when the connection ended without one.
func (c *rawListener) closed() (f wiretest.Frame, ok bool) {
	c.t.Helper()
	for {
		f, err := wiretest.ReadFrame(c.br)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			c.t.Fatal("connection still open")
		case err != nil:
			return wiretest.Frame{}, false
		case f.Opcode() == wiretest.OpClose:
			// Nothing may follow a close frame.
			if g, err := wiretest.ReadFrame(c.br); err == nil {
				c.t.Errorf("frame %#x %q after the close frame", g.First, g.Payload)
			}
			return f, true
		case f.Opcode() == wiretest.OpText:
			var m wire.Message
			if json.Unmarshal(f.Payload, &m) == nil && m.Type == wire.TypePing {
				continue
			}
		}
		c.t.Fatalf("got frame %#x %q, want the connection closed", f.First, f.Payload)
	}
}

// TestBadFramesFailTheConnection: a frame with RSV bits (no extension is
// ever negotiated), a reserved opcode, a fragmented message (this protocol
// sends each message in one frame; see the tunnel/wire package comment) or
// a continuation frame fails the connection with close code 1002 and a log
// line. Each carries an ack of the event in flight, which must not count: the
// event is sent again to the next CLI.
func TestBadFramesFailTheConnection(t *testing.T) {
	logs := &logBuffer{}
	r := startRelay(t, relay.Config{Open: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	text := wiretest.FIN | wiretest.OpText
	cases := []struct {
		name   string
		frames func(ack []byte) []byte
		reason string // in the close frame and the log
	}{
		{"rsv1", func(ack []byte) []byte { return wiretest.AppendFrame(nil, text|wiretest.RSV1, ack, true) }, "RSV1"},
		{"rsv2", func(ack []byte) []byte { return wiretest.AppendFrame(nil, text|wiretest.RSV2, ack, true) }, "RSV2"},
		{"rsv3", func(ack []byte) []byte { return wiretest.AppendFrame(nil, text|wiretest.RSV3, ack, true) }, "RSV3"},
		{"fragmented with a ping between", func(ack []byte) []byte {
			b := wiretest.AppendFrame(nil, wiretest.OpText, ack[:5], true)
			b = wiretest.AppendFrame(b, wiretest.FIN|wiretest.OpPing, []byte("p"), true)
			return wiretest.AppendFrame(b, wiretest.FIN|wiretest.OpContinuation, ack[5:], true)
		}, "fragmented"},
		{"continuation without a start", func(ack []byte) []byte {
			return wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpContinuation, ack, true)
		}, "continuation"},
		{"fragmented ping", func(ack []byte) []byte { return wiretest.AppendFrame(nil, wiretest.OpPing, nil, true) }, "control frame"},
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		cases = append(cases, struct {
			name   string
			frames func(ack []byte) []byte
			reason string
		}{"opcode " + string("0123456789abcdef"[op]), func(ack []byte) []byte { return wiretest.AppendFrame(nil, wiretest.FIN|op, ack, true) }, "reserved opcode"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ep := "frames-" + strings.ReplaceAll(c.name, " ", "-")
			l := dialFrames(t, r.URL)
			l.hello(ep, ackMode, "")
			id := l.eventInFlight(r, ep)
			ack, _ := json.Marshal(wire.Message{Type: wire.TypeAck, ID: id})
			l.write(c.frames(ack))
			f, ok := l.closed()
			if !ok || f.CloseCode() != 1002 || !strings.Contains(f.CloseReason(), c.reason) {
				t.Errorf("closed with %v %d %q, want close frame 1002 naming %s", ok, f.CloseCode(), f.CloseReason(), c.reason)
			}
			waitFor(t, "the log line", func() bool {
				return strings.Contains(logs.String(), "websocket protocol error") && strings.Contains(logs.String(), "endpoint="+ep)
			})
			// Not acked: the next CLI gets it.
			next := mustListen(t, r.URL, wire.Message{Endpoint: ep, Reply: ackMode})
			if ev := next.expect(wire.TypeEvent).Event; ev.ID != id {
				t.Errorf("next CLI got %s, want %s again", ev.ID, id)
			}
		})
	}
}

// TestFragmentedHelloOverLimit: fragments each under the hello's limit
// that sum over it are refused at the first fragment, like any other.
func TestFragmentedHelloOverLimit(t *testing.T) {
	logs := &logBuffer{}
	r := startRelay(t, relay.Config{Open: true, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	l := dialFrames(t, r.URL)
	part := bytes.Repeat([]byte("x"), 40<<10) // the hello's limit is 64 KiB
	b := wiretest.AppendFrame(nil, wiretest.OpText, append([]byte(`{"type":"hello","version":1,"token":"`), part...), true)
	b = wiretest.AppendFrame(b, wiretest.FIN|wiretest.OpContinuation, append(part, `"}`...), true)
	go l.conn.Write(b) // the relay stops reading at the first header
	f, ok := l.closed()
	// The relay closes with most of the message unread, so the socket may be
	// reset before the close frame is read; the log says why either way.
	if ok && (f.CloseCode() != 1002 || !strings.Contains(f.CloseReason(), "fragmented")) {
		t.Errorf("closed with %d %q, want 1002 naming fragmentation", f.CloseCode(), f.CloseReason())
	}
	waitFor(t, "the log line", func() bool {
		return strings.Contains(logs.String(), "websocket protocol error") && strings.Contains(logs.String(), "fragmented")
	})
}

// TestMessagesOfEverySize: messages from a CLI are read by their frame's
// size, into buffers reused from message to message. Responses of sizes
// around and past every buffer size, several per socket write with pings
// between them, each reach their sender whole; an empty frame is a
// malformed message.
func TestMessagesOfEverySize(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	l := dialFrames(t, r.URL)
	l.hello("sizes", nil, "")
	// The relay answers each ping with a pong.
	next := func() wire.Message {
		t.Helper()
		for {
			f, err := wiretest.ReadFrame(l.br)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			var m wire.Message
			if f.Opcode() == wiretest.OpPong {
				continue
			}
			if f.Opcode() != wiretest.OpText || json.Unmarshal(f.Payload, &m) != nil {
				t.Fatalf("got frame %#x %q, want a message", f.First, f.Payload)
			}
			if m.Type != wire.TypePing {
				return m
			}
		}
	}
	sizes := []int{0, 1, 300, 511, 512, 513, 1000, 1024, 1500, 4000, 70 << 10, 10, 200 << 10, 3}
	type answer struct {
		body []byte
		err  error
	}
	answers := make([]chan answer, len(sizes))
	var frames []byte
	for i, n := range sizes {
		answers[i] = make(chan answer, 1)
		go func() {
			resp, err := r.client.Post(r.URL+"/h/sizes", "text/plain", strings.NewReader("x"))
			if err != nil {
				answers[i] <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			answers[i] <- answer{b, err}
		}()
		ev := next()
		if ev.Type != wire.TypeEvent {
			t.Fatalf("got %+v, want an event", ev)
		}
		body := bytes.Repeat([]byte{byte('a' + i)}, n)
		b, err := json.Marshal(wire.Message{Type: wire.TypeResponse, ID: ev.Event.ID, Response: &capture.Response{Status: 200, Body: body}})
		if err != nil {
			t.Fatal(err)
		}
		frames = wiretest.AppendFrame(frames, wiretest.FIN|wiretest.OpPing, []byte("p"), true)
		frames = wiretest.AppendFrame(frames, wiretest.FIN|wiretest.OpText, b, true)
		if i%3 == 2 || i == len(sizes)-1 {
			l.write(frames)
			frames = nil
		}
	}
	for i, n := range sizes {
		a := <-answers[i]
		if want := bytes.Repeat([]byte{byte('a' + i)}, n); a.err != nil || !bytes.Equal(a.body, want) {
			t.Errorf("sender %d got %d bytes (%v), want %d bytes of %c", i, len(a.body), a.err, n, 'a'+i)
		}
	}
	// The websocket library reads past an empty frame to the next one: the
	// empty message fails the connection, as a framing fault, as that one
	// arrives.
	empty := wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpText, nil, true)
	l.write(wiretest.AppendFrame(empty, wiretest.FIN|wiretest.OpText, []byte(`{"type":"ping"}`), true))
	for {
		f, err := wiretest.ReadFrame(l.br)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if f.Opcode() == wiretest.OpPong {
			continue
		}
		if f.Opcode() != wiretest.OpClose || len(f.Payload) < 2 || binary.BigEndian.Uint16(f.Payload) != 1002 || !bytes.Contains(f.Payload, []byte("empty message")) {
			t.Errorf("empty frame answered with frame %#x %q, want close 1002 naming the empty message", f.First, f.Payload)
		}
		break
	}
}
