package relay

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"sync"
	"time"
)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idGen makes event ids: "evt_" and a ULID (48-bit millisecond time, 80
// random bits, Crockford base32). Ids from one relay sort in creation order:
// within a millisecond the random part is incremented.
type idGen struct {
	mu   sync.Mutex
	ms   uint64
	hi   uint16 // top 16 of the 80 random bits
	lo   uint64 // low 64
	now  func() time.Time
	seed bool
}

func (g *idGen) next() string {
	g.mu.Lock()
	ms := uint64(g.now().UnixMilli())
	if ms > g.ms || !g.seed {
		var b [10]byte
		rand.Read(b[:])
		g.hi = binary.BigEndian.Uint16(b[:2])
		g.lo = binary.BigEndian.Uint64(b[2:])
		// Leave headroom so increments within a millisecond do not carry
		// into the time.
		g.hi &^= 0x8000
		if ms > g.ms {
			g.ms = ms
		}
		g.seed = true
	} else {
		g.lo++
		if g.lo == 0 {
			g.hi++
		}
	}
	var u [16]byte
	binary.BigEndian.PutUint64(u[:8], g.ms<<16|uint64(g.hi))
	binary.BigEndian.PutUint64(u[8:], g.lo)
	g.mu.Unlock()
	return "evt_" + ulidString(u)
}

// ulidString is u in Crockford base32, most significant digit first: 26
// digits of 5 bits, the first holding the top 3.
func ulidString(u [16]byte) string {
	hi := binary.BigEndian.Uint64(u[:8])
	lo := binary.BigEndian.Uint64(u[8:])
	var out [26]byte
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newToken returns a secret token, its id and its hash. Only the id and
// hash are stored.
func newToken() (secret, id string, hash []byte) {
	var b [20]byte
	rand.Read(b[:])
	secret = "hkt_" + toLower(tokenEncoding.EncodeToString(b[:]))
	var i [6]byte
	rand.Read(i[:])
	return secret, "tok_" + hex.EncodeToString(i[:]), hashToken(secret)
}

func hashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	adjectives = []string{"amber", "bold", "brave", "bright", "calm", "clever", "cosy", "crisp", "eager", "fair",
		"fancy", "gentle", "glad", "golden", "happy", "jolly", "keen", "kind", "lively", "lucky", "merry", "mighty",
		"neat", "nimble", "noble", "plucky", "proud", "quick", "quiet", "rapid", "shiny", "silent", "sleek", "smart",
		"snowy", "steady", "sunny", "swift", "tidy", "vivid", "warm", "wise", "witty", "zesty"}
	animals = []string{"badger", "beaver", "bison", "crane", "dingo", "eagle", "falcon", "ferret", "finch", "fox",
		"gecko", "heron", "ibex", "koala", "lemur", "lynx", "marten", "moose", "newt", "ocelot", "otter", "owl",
		"panda", "puffin", "quail", "raven", "robin", "salmon", "seal", "shrew", "sloth", "stoat", "swan", "tapir",
		"tiger", "toucan", "walrus", "wombat", "wren", "yak", "zebra"}
)

// newEndpointName returns a readable name such as brave-otter-42. After a
// few collisions the caller passes a larger attempt, which adds digits.
func newEndpointName(attempt int) string {
	pick := func(n int) int {
		v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
		return int(v.Int64())
	}
	digits := 10 + pick(90)
	if attempt > 3 {
		digits = 1000 + pick(9000)
	}
	return fmt.Sprintf("%s-%s-%d", adjectives[pick(len(adjectives))], animals[pick(len(animals))], digits)
}
