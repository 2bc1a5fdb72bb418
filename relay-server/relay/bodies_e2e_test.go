package relay_test

import (
	"crypto/sha256"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/tunnel/wire"
	"github.com/hookctl/hookctl/tunnel/wire/wiretest"
)

// TestStoredLargeBodiesExact: bodies one byte either side of the store's
// chunk sizes, captured while no CLI listens, reach the CLI read back from
// the store with the exact bytes sent, in order.
func TestStoredLargeBodiesExact(t *testing.T) {
	r := startRelay(t, relay.Config{Open: true, MaxBody: 2 << 20})
	var sums [][32]byte
	for _, n := range []int{256<<10 - 1, 256 << 10, 256<<10 + 1, 512<<10 - 1, 512<<10 + 1, 1<<20 + 1} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(rand.N(256))
		}
		if status, _, b := r.send(t, "POST", "/h/stored/up", body, nil); status != 202 {
			t.Fatalf("%d bytes: sender got %d %s, want 202", n, status, b)
		}
		sums = append(sums, sha256.Sum256(body))
	}
	l := dialFrames(t, r.URL)
	l.helloBinary("stored", nil)
	for i, want := range sums {
		f := l.frame()
		var m wire.Message
		if f.Opcode() != wiretest.OpText || json.Unmarshal(f.Payload, &m) != nil || m.Type != wire.TypeEvent {
			t.Fatalf("event %d: got frame %#x, want the event's JSON", i, f.First)
		}
		bf := l.frame()
		if bf.Opcode() != wiretest.OpBinary || sha256.Sum256(bf.Payload) != want {
			t.Fatalf("event %d: body frame %#x of %d bytes differs from the body sent", i, bf.First, len(bf.Payload))
		}
	}
}
