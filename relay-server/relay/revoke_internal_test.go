package relay

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
)

// BenchmarkRevocationCheck is one revocation check of a relay with 10,000
// connected sessions of 100 tokens, none revoked: the whole periodic cost,
// which does not grow per session beyond a map walk.
func BenchmarkRevocationCheck(b *testing.B) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "relay.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	for i := range 100 {
		h := sha256.Sum256(fmt.Appendf(nil, "hkt_%d", i))
		if err := st.CreateToken(ctx, store.Token{ID: fmt.Sprintf("tok_%d", i), Name: "t", Hash: h[:], CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	r, err := New(Config{}, st)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10_000 {
		name := fmt.Sprintf("ep-%d", i)
		r.hub.sessions[name] = &session{endpoint: name, owner: fmt.Sprintf("tok_%d", i%100), final: make(chan farewell, 1)}
	}
	b.ResetTimer()
	for b.Loop() {
		if err := r.endRevoked(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
