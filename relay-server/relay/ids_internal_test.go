package relay

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"testing"

	"github.com/hookctl/hookctl/tunnel/wire"
)

// bigULIDString is ulidString by big-integer division, as it was written
// first.
func bigULIDString(u [16]byte) string {
	n := new(big.Int).SetBytes(u[:])
	out := make([]byte, 26)
	mask := big.NewInt(31)
	for i := 25; i >= 0; i-- {
		d := new(big.Int).And(n, mask)
		out[i] = crockford[d.Int64()]
		n.Rsh(n, 5)
	}
	return string(out)
}

func TestULIDString(t *testing.T) {
	cases := [][16]byte{{}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	for i := range 128 {
		var u [16]byte
		u[i/8] = 1 << (i % 8) // each bit alone
		cases = append(cases, u)
	}
	for range 1000 {
		var u [16]byte
		rand.Read(u[:])
		cases = append(cases, u)
	}
	for _, u := range cases {
		if got, want := ulidString(u), bigULIDString(u); got != want {
			t.Fatalf("ulidString(%x) = %s, want %s", u, got, want)
		}
	}
}

func BenchmarkULIDString(b *testing.B) {
	u := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	b.ReportAllocs()
	for b.Loop() {
		ulidString(u)
	}
}

func BenchmarkBigULIDString(b *testing.B) {
	u := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	b.ReportAllocs()
	for b.Loop() {
		bigULIDString(u)
	}
}

// Every name the relay can generate follows the rule it enforces on names
// it is given: the longest word pair with the most digits, and every word.
func TestGeneratedEndpointNamesFollowTheRule(t *testing.T) {
	for _, a := range adjectives {
		for _, b := range animals {
			for _, digits := range []int{10, 99, 1000, 9999} {
				if name := fmt.Sprintf("%s-%s-%d", a, b, digits); !wire.ValidEndpointName(name) {
					t.Fatalf("word list makes %q: %v", name, wire.CheckEndpointName(name))
				}
			}
		}
	}
	for attempt := range 10 {
		if name := newEndpointName(attempt); !wire.ValidEndpointName(name) {
			t.Errorf("newEndpointName(%d) = %q: %v", attempt, name, wire.CheckEndpointName(name))
		}
	}
}
