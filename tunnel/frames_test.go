package tunnel

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
	"github.com/hookctl/hookctl/tunnel/wire/wiretest"
)

// TestBadRelayFramesReconnect: a relay frame with RSV bits, a reserved
// opcode or a fragment ends the connection with an error naming the fault;
// the event it carried is not delivered, and the client reconnects. The
// next connection's well-formed event is delivered.
func TestBadRelayFramesReconnect(t *testing.T) {
	ev := func(id string) []byte {
		b, _ := json.Marshal(wire.Message{Type: wire.TypeEvent, Event: &capture.Request{ID: id, Method: "POST", Path: "/"}})
		return b
	}
	text := wiretest.FIN | wiretest.OpText
	bad := []struct {
		name   string
		frames []byte
		reason string
	}{
		{"rsv1", wiretest.AppendFrame(nil, text|wiretest.RSV1, ev("evt_rsv"), false), "RSV1"},
		{"opcode 3", wiretest.AppendFrame(nil, wiretest.FIN|3, ev("evt_op"), false), "reserved opcode"},
		{"fragment", append(wiretest.AppendFrame(nil, wiretest.OpText, ev("evt_frag")[:9], false),
			wiretest.AppendFrame(nil, wiretest.FIN|wiretest.OpContinuation, ev("evt_frag")[9:], false)...), "fragmented"},
		{"masked", wiretest.AppendFrame(nil, text, ev("evt_mask"), true), "masked"},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		served <- func() error {
			for i := 0; i <= len(bad); i++ {
				conn, err := ln.Accept()
				if err != nil {
					return err
				}
				defer conn.Close()
				if i == len(bad) {
					// The last connection stays open until the client
					// ends it, so the event is delivered, not cut short.
					defer io.Copy(io.Discard, conn)
				}
				conn.SetDeadline(time.Now().Add(20 * time.Second))
				br, err := wiretest.ServerHandshake(conn)
				if err != nil {
					return err
				}
				if _, err := wiretest.ReadFrame(br); err != nil { // the hello
					return err
				}
				welcome, _ := json.Marshal(wire.Message{Type: wire.TypeWelcome, Version: wire.Version, Endpoint: "ep", Session: "s"})
				out := wiretest.AppendFrame(nil, text, welcome, false)
				if i < len(bad) {
					out = append(out, bad[i].frames...)
				} else {
					out = wiretest.AppendFrame(out, text, ev("evt_good"), false)
				}
				if _, err := conn.Write(out); err != nil {
					return err
				}
			}
			return nil
		}()
	}()

	rec := newRecorder()
	c, err := NewClient(Config{RelayURL: "http://" + ln.Addr().String(), Forwarder: ok200, Backoff: fastBackoff, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	rec.waitFor(t, "the good event", func(r *recorder) bool { return len(r.delivered) > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	ln.Close() // a client that took a bad frame for an event does not come back for the rest
	if err := <-served; err != nil {
		t.Errorf("relay: %v", err)
	}
	if len(rec.delivered) != 1 || rec.delivered[0] != "evt_good" {
		t.Errorf("delivered %v, want only evt_good", rec.delivered)
	}
	var reasons []string
	for _, s := range rec.states {
		if s.State == StateReconnecting && s.Err != nil {
			reasons = append(reasons, s.Err.Error())
		}
	}
	if len(reasons) != len(bad) {
		t.Fatalf("reconnected for %q, want once per bad frame (%d)", reasons, len(bad))
	}
	for i, b := range bad {
		if !strings.Contains(reasons[i], "websocket protocol error") || !strings.Contains(reasons[i], b.reason) {
			t.Errorf("%s: reconnected for %q, want the fault named", b.name, reasons[i])
		}
	}
}

// TestBinaryBodiesBothWays: to a relay that accepts wire.FeatureBinaryBody,
// the client reads an event's body from the binary frame after its JSON and
// sends a large response body the same way; a small one stays in the JSON.
func TestBinaryBodiesBothWays(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	big := bytes.Repeat([]byte{0, 0xff, 'x'}, 100<<10)
	text := wiretest.FIN | wiretest.OpText
	served := make(chan error, 1)
	go func() {
		served <- func() error {
			conn, err := ln.Accept()
			if err != nil {
				return err
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			br, err := wiretest.ServerHandshake(conn)
			if err != nil {
				return err
			}
			var hello wire.Message
			if f, err := wiretest.ReadFrame(br); err != nil || json.Unmarshal(f.Payload, &hello) != nil {
				return fmt.Errorf("hello: %v", err)
			}
			if !hello.Features.Has(wire.FeatureBinaryBody) {
				return fmt.Errorf("hello features %v, want %s", hello.Features.List(), wire.FeatureBinaryBody)
			}
			welcome, _ := json.Marshal(wire.Message{Type: wire.TypeWelcome, Version: wire.Version, Endpoint: "ep", Session: "s",
				MaxBody: 1 << 20, Features: wire.NewFeatures(wire.FeatureResponseAck, wire.FeatureBinaryBody)})
			out := wiretest.AppendFrame(nil, text, welcome, false)
			for _, id := range []string{"evt_big", "evt_small"} {
				body := big
				if id == "evt_small" {
					body = []byte("tiny")
				}
				ev, _ := json.Marshal(wire.Message{Type: wire.TypeEvent, BodyFrame: int64(len(body)), Event: &capture.Request{ID: id, Method: "POST", Path: "/"}})
				out = wiretest.AppendFrame(out, text, ev, false)
				out = wiretest.AppendFrame(out, wiretest.FIN|wiretest.OpBinary, body, false)
			}
			if _, err := conn.Write(out); err != nil {
				return err
			}
			// Two responses, in either order: the big one's body in a
			// binary frame after it, the small one's in its JSON.
			for range 2 {
				var m wire.Message
				f, err := wiretest.ReadFrame(br)
				if err != nil {
					return err
				}
				if f.Opcode() != wiretest.OpText || json.Unmarshal(f.Payload, &m) != nil || m.Type != wire.TypeResponse || !m.Ack {
					return fmt.Errorf("got frame %#x %.80q, want a response with its ack", f.First, f.Payload)
				}
				switch m.ID {
				case "evt_big":
					bf, err := wiretest.ReadFrame(br)
					if err != nil {
						return err
					}
					if m.BodyFrame != int64(len(big)) || len(m.Response.Body) != 0 || bf.Opcode() != wiretest.OpBinary || !bytes.Equal(bf.Payload, big) {
						return fmt.Errorf("big response: body_frame %d, then frame %#x of %d bytes", m.BodyFrame, bf.First, len(bf.Payload))
					}
				case "evt_small":
					if m.BodyFrame != 0 || string(m.Response.Body) != "tiny" {
						return fmt.Errorf("small response: body_frame %d, body %q", m.BodyFrame, m.Response.Body)
					}
				default:
					return fmt.Errorf("response for %q", m.ID)
				}
			}
			return nil
		}()
	}()
	echo := funcDeliverer(func(_ context.Context, req *capture.Request) (*capture.Response, error) {
		return &capture.Response{Status: 200, Body: req.Body}, nil
	})
	rec := newRecorder()
	c, err := NewClient(Config{RelayURL: "http://" + ln.Addr().String(), Forwarder: echo, Backoff: fastBackoff, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	if err := <-served; err != nil {
		t.Error(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}
