package relay_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
	"github.com/hookctl/hookctl/tunnel/wire/wiretest"
)

// frame reads the next frame other than a ping message.
func (c *rawListener) frame() wiretest.Frame {
	c.t.Helper()
	for {
		f, err := wiretest.ReadFrame(c.br)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		var m wire.Message
		if f.Opcode() == wiretest.OpText && json.Unmarshal(f.Payload, &m) == nil && m.Type == wire.TypePing {
			continue
		}
		return f
	}
}

func (c *rawListener) helloBinary(endpoint string, reply *wire.ReplyOptions) wire.Message {
	c.t.Helper()
	m := c.hello(endpoint, reply, wire.NewFeatures(wire.FeatureResponseAck, wire.FeatureBinaryBody))
	if !m.Features.Has(wire.FeatureBinaryBody) {
		c.t.Fatalf("welcome %+v, want %s", m, wire.FeatureBinaryBody)
	}
	return m
}

// TestBinaryBodies: with FeatureBinaryBody, an event's body of at least
// BinaryBodyMin bytes follows its JSON as one binary frame of raw bytes, and
// so may a response's; smaller bodies stay in the JSON. The sender gets the
// app's body back exactly, and the store has both.
func TestBinaryBodies(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true, MaxBody: 1 << 20})
	l := dialFrames(t, r.URL)
	l.helloBinary("bin", nil)
	for _, size := range []int{wire.BinaryBodyMin - 1, wire.BinaryBodyMin, 1 << 20} {
		body := make([]byte, size)
		for i := range body {
			body[i] = byte(rand.N(256))
		}
		type answer struct {
			status int
			body   []byte
		}
		got := make(chan answer, 1)
		go func() {
			s, _, b := r.send(t, "POST", "/h/bin/up", body, nil)
			got <- answer{s, b}
		}()
		f := l.frame()
		var m wire.Message
		if f.Opcode() != wiretest.OpText || json.Unmarshal(f.Payload, &m) != nil || m.Type != wire.TypeEvent {
			t.Fatalf("size %d: got frame %#x, want the event's JSON", size, f.First)
		}
		if size < wire.BinaryBodyMin {
			if m.BodyFrame != 0 || !bytes.Equal(m.Event.Body, body) {
				t.Errorf("size %d: body_frame %d, %d body bytes in the JSON; want the body in the JSON", size, m.BodyFrame, len(m.Event.Body))
			}
		} else {
			if m.BodyFrame != int64(size) || len(m.Event.Body) != 0 || bytes.Contains(f.Payload, []byte(`"body":"`)) {
				t.Fatalf("size %d: body_frame %d and %d body bytes in the JSON; want the body in a frame of its own", size, m.BodyFrame, len(m.Event.Body))
			}
			bf := l.frame()
			if bf.Opcode() != wiretest.OpBinary || !bytes.Equal(bf.Payload, body) {
				t.Fatalf("size %d: body frame %#x of %d bytes, want the %d raw bytes in a binary frame", size, bf.First, len(bf.Payload), size)
			}
		}
		// The app answers with the body reversed, as a binary frame too
		// when it is large enough.
		rev := bytes.Clone(body)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		resp := wire.Message{Type: wire.TypeResponse, ID: m.Event.ID, Ack: true,
			Response: &capture.Response{Status: 201, Headers: capture.Headers{{Name: "Content-Type", Value: "application/octet-stream"}}}}
		if size >= wire.BinaryBodyMin {
			resp.BodyFrame = int64(size)
			l.text(resp)
			l.write(wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpBinary, rev, true))
		} else {
			resp.Response.Body = rev
			l.text(resp)
		}
		a := <-got
		if a.status != 201 || !bytes.Equal(a.body, rev) {
			t.Errorf("size %d: sender got %d and %d bytes, want 201 and the app's %d", size, a.status, len(a.body), size)
		}
		waitFor(t, "the event delivered", func() bool {
			rec, err := r.Store.GetEvent(t.Context(), m.Event.ID)
			return err == nil && rec.Response != nil && bytes.Equal(rec.Request.Body, body) && bytes.Equal(rec.Response.Body, rev)
		})
	}
}

// TestBinaryBodyViolations: a body frame the CLI was not allowed, larger
// than the relay takes, or that is not one binary frame of the size named
// ends the connection, and the event is not acked.
func TestBinaryBodyViolations(t *testing.T) {
	logs := &logBuffer{}
	r := startRelay(t, relay.Config{Open: true, MaxBody: 64 << 10, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	body := bytes.Repeat([]byte("b"), 8<<10)
	cases := []struct {
		name    string
		binary  bool // hello asks for FeatureBinaryBody
		size    int64
		frames  []byte
		code    int    // close code; 0: an error message
		reason  string // in the close frame or the error message
		fromLog bool
	}{
		{"not negotiated", false, 8 << 10, wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpBinary, body, true), 0, "without the binary-body feature", false},
		{"over the limit", true, 1 << 20, nil, 0, "over the limit", false},
		{"text frame", true, 8 << 10, wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpText, body, true), 1002, "text frame where the binary body", true},
		{"shorter frame", true, 8 << 10, append(wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpBinary, body[:4<<10], true),
			wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpBinary, body[:4<<10], true)...), 1002, "body frame of 4096 bytes", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ep := "viol-" + strings.ReplaceAll(c.name, " ", "-")
			l := dialFrames(t, r.URL)
			if c.binary {
				l.helloBinary(ep, ackMode)
			} else {
				l.hello(ep, ackMode, "")
			}
			id := l.eventInFlight(r, ep)
			l.text(wire.Message{Type: wire.TypeResponse, ID: id, Ack: true, BodyFrame: c.size, Response: &capture.Response{Status: 200}})
			l.write(c.frames)
			if c.code == 0 {
				if m := l.next(); m.Type != wire.TypeError || m.Code != wire.CodeBadMessage || !strings.Contains(m.Text, c.reason) {
					t.Errorf("got %+v, want bad_message naming %q", m, c.reason)
				}
			} else if f, ok := l.closed(); !ok || f.CloseCode() != c.code || !strings.Contains(f.CloseReason(), c.reason) {
				t.Errorf("closed with %v %d %q, want %d naming %q", ok, f.CloseCode(), f.CloseReason(), c.code, c.reason)
			}
			next := mustListen(t, r.URL, wire.Message{Endpoint: ep, Reply: ackMode})
			if ev := next.expect(wire.TypeEvent).Event; ev.ID != id {
				t.Errorf("next CLI got %s, want %s again", ev.ID, id)
			}
		})
	}
}

// A CLI that does not ask for FeatureBinaryBody gets every body in the
// JSON, however large.
func TestNoBinaryBodiesForOlderCLIs(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true})
	c := mustListen(t, r.URL, wire.Message{Endpoint: "old", Reply: ackMode})
	body := bytes.Repeat([]byte{0xfe}, 256<<10)
	if s, _, _ := r.send(t, "POST", "/h/old", body, nil); s != http.StatusAccepted {
		t.Fatalf("send: %d", s)
	}
	if m := c.expect(wire.TypeEvent); m.BodyFrame != 0 || !bytes.Equal(m.Event.Body, body) {
		t.Errorf("body_frame %d, %d body bytes in the JSON; want all %d there", m.BodyFrame, len(m.Event.Body), len(body))
	}
}
