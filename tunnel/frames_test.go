package tunnel

import (
	"context"
	"encoding/json"
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
